"""Any timm model as a backbone: `model.backbone: "timm/<name>"` (e.g. timm/convnext_atto, timm/resnet18,
timm/vit_small_patch14_reg4_dinov2). Never downloads weights (pretrained=False always).

timm adapts the input channels itself (`in_chans`, 1 for grayscale, 3 for RGB or 2.5-D stacks). Models with a
fixed input size (ViTs, Swin) are built for the run's image size (`img_size`). timm VisionTransformers with a
class token are "vit" backbones: their tokens serve MAE and the other token tasks; register tokens (DINOv2's
`reg4`) take part in attention but are dropped from the tokens the tasks see (class token, then patches), and
under an attention mask they see and are seen like the class token. Every other timm model is a "conv"
backbone: its spatial features come from `forward_features` (NHWC maps and token grids laid out as NCHW).

timm is imported only when a timm backbone is built, described or listed (it takes about 1.5 s).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from workbench.models.encoder import Encoder, Family

PREFIX = "timm/"


@dataclass(frozen=True)
class TimmSpec:
    """What a timm architecture is, read from a parameter-free (meta device) instance."""

    name: str
    kind: str
    """"vit" (a timm VisionTransformer with a class token) or "conv" (any other)."""
    patch_size: int | None
    """The ViT's patch side (from the architecture's name, e.g. 14 for *_patch14_*); None otherwise."""
    fixed_input_size: bool
    """Whether the model is built for one image size (ViTs, Swin): then it is given the run's."""
    num_features: int
    parameters: int
    """Parameters at 3 input channels and timm's default input size."""
    default_input_size: int


def timm_names() -> list[str]:
    """Every architecture the installed timm can build (without weights)."""
    import timm

    return timm.list_models()


def close_timm_names(name: str, limit: int = 5) -> list[str]:
    """Installed timm architectures whose names look like `name` (its stem as a pattern, then spelling)."""
    import timm

    stem = name.split("_")[0]
    pattern_hits = timm.list_models(f"*{stem}*") if stem else []
    spelled = difflib.get_close_matches(name, timm.list_models(), n=limit, cutoff=0.6)
    ranked = spelled + sorted(pattern_hits, key=lambda hit: -difflib.SequenceMatcher(None, name, hit).ratio())
    return list(dict.fromkeys(ranked))[:limit]


def timm_problem(name: str) -> str | None:
    """Why `name` is not an installed timm architecture (with close names), or None."""
    import timm

    if name in timm.list_models():
        return None
    close = close_timm_names(name)
    hint = f"; close names: {', '.join(PREFIX + n for n in close)}" if close else ""
    return f"timm {timm.__version__} has no model {name!r}{hint}"


@lru_cache(maxsize=64)
def timm_spec(name: str) -> TimmSpec:
    """The facts about architecture `name` (ValueError when timm has none such); fast: nothing is allocated."""
    problem = timm_problem(name)
    if problem:
        raise ValueError(problem)
    import timm

    with torch.device("meta"):
        net = timm.create_model(name, pretrained=False, num_classes=0)
    vit = _is_timm_vit(net)
    return TimmSpec(name=name, kind="vit" if vit else "conv", patch_size=_patch_side(net) if vit else None,
                    fixed_input_size=bool(net.pretrained_cfg.get("fixed_input_size", False)),
                    num_features=int(net.num_features), parameters=sum(p.numel() for p in net.parameters()),
                    default_input_size=int(net.pretrained_cfg.get("input_size", (3, 224, 224))[-1]))


def count_parameters(name: str, in_channels: int, image_size: int) -> int:
    """Parameters of `name` as this package builds it (channels and, for fixed-size models, image size)."""
    with torch.device("meta"):
        net = timm_body(name, in_channels, image_size)
    return sum(p.numel() for p in net.parameters())


def timm_body(name: str, in_channels: int, image_size: int) -> nn.Module:
    """A fresh, untrained timm `name` without classifier, for `in_channels` x `image_size`² images."""
    spec = timm_spec(name)
    if spec.patch_size and image_size % spec.patch_size:
        raise ValueError(f"timm/{name}: data.image_size ({image_size}) is not a multiple of its patch size "
                         f"{spec.patch_size}")
    import timm

    size = {"img_size": image_size} if spec.fixed_input_size else {}
    return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **size)


def family_of(name: str, image_size: int) -> Family:
    """The Encoder family for a timm architecture built for `image_size`."""
    spec = timm_spec(name)
    if spec.kind == "vit":
        return TimmVitFamily(name, image_size)
    return TimmFamily(name, image_size, spec.fixed_input_size)


def adapt_input_channels(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """A first-conv weight (out, C, kh, kw) made to take `in_channels` as timm does for pretrained weights:
    summed to 1 channel, or repeated and rescaled for more (`timm.models.adapt_input_conv`)."""
    from timm.models import adapt_input_conv

    return adapt_input_conv(in_channels, weight, base_chans=weight.shape[1])


def adapt_first_conv(encoder: Encoder, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` (in the encoder's own layout, `body.*`) with its first conv's weight made to take the encoder's
    channels when it was saved for another count (e.g. RGB weights into a grayscale encoder); else unchanged."""
    first = encoder.first_conv()
    key = f"{first}.weight" if first else None
    if key is None or key not in state or state[key].ndim != 4 or state[key].shape[1] == encoder.in_channels:
        return state
    return {**state, key: adapt_input_channels(state[key], encoder.in_channels)}


class TimmFamily(Family):
    """A timm model other than a class-token ViT: pooled features from its forward, maps from `forward_features`."""

    def __init__(self, name: str, image_size: int, fixed_input_size: bool):
        self.name, self.image_size, self.fixed_input_size = name, image_size, fixed_input_size

    def input_size(self, body: nn.Module) -> int | None:
        return self.image_size if self.fixed_input_size else None

    def feature_map(self, body: nn.Module, images: torch.Tensor) -> torch.Tensor:
        features = body.forward_features(images)
        if features.ndim == 3:  # tokens (B, prefix + h*w, D), e.g. EVA: the patch tokens on their grid
            patches = features[:, getattr(body, "num_prefix_tokens", 0):]
            side = round(patches.shape[1] ** 0.5)
            return patches.transpose(1, 2).reshape(patches.shape[0], -1, side, side)
        if getattr(body, "output_fmt", "NCHW") == "NHWC":  # Swin and friends
            return features.permute(0, 3, 1, 2)
        return features

    def first_conv(self, body: nn.Module) -> str | None:
        return _first_conv(body)

    def architecture(self, body: nn.Module, in_channels: int) -> dict[str, Any]:
        arch = {"library": "timm", "architecture": self.name, "in_chans": in_channels, "num_classes": 0}
        return {**arch, "img_size": self.image_size} if self.fixed_input_size else arch


class TimmVitFamily(TimmFamily):
    """A timm VisionTransformer with a class token: tokens for MAE-style masking and attention masks."""

    is_vit = True

    def __init__(self, name: str, image_size: int):
        super().__init__(name, image_size, fixed_input_size=True)

    def patch_size(self, body: nn.Module) -> int:
        return _patch_side(body)

    def tokens(self, body: nn.Module, images: torch.Tensor, keep: torch.Tensor | None,
               attn_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, 1 + N, D): class token then patch tokens (or only the `keep` (B, K) ones, each with its own
        position); registers are dropped from the result. `attn_mask` (L, L) or (B, L, L) bool over those
        1 + K tokens, True = may not attend; registers see and are seen like the class token."""
        prefix = body.num_prefix_tokens
        tokens = body._pos_embed(body.patch_embed(images))  # [class, registers, patches] with positions
        if keep is not None:
            patches = tokens[:, prefix:].gather(1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
            tokens = torch.cat([tokens[:, :prefix], patches], dim=1)
        tokens = body.norm_pre(body.patch_drop(tokens))
        if attn_mask is None:
            tokens = body.blocks(tokens)
        else:
            allowed = _with_registers(~attn_mask, prefix - 1)
            allowed = allowed.unsqueeze(1) if allowed.ndim == 3 else allowed  # one mask per image, all heads
            for block in body.blocks:
                tokens = block(tokens, attn_mask=allowed)
        tokens = body.norm(tokens)
        return torch.cat([tokens[:, :1], tokens[:, prefix:]], dim=1)


def _with_registers(allowed: torch.Tensor, registers: int) -> torch.Tensor:
    """A (…, L, L) may-attend mask over [class, patches] grown to [class, registers, patches]: each register's
    row and column copy the class token's."""
    if registers == 0:
        return allowed
    rows = torch.cat([allowed[..., :1, :], allowed[..., :1, :].expand(*allowed.shape[:-2], registers, -1),
                      allowed[..., 1:, :]], dim=-2)
    return torch.cat([rows[..., :1], rows[..., :1].expand(*rows.shape[:-1], registers), rows[..., 1:]], dim=-1)


def _is_timm_vit(net: nn.Module) -> bool:
    from timm.models.vision_transformer import VisionTransformer

    return isinstance(net, VisionTransformer) and net.cls_token is not None and not net.dynamic_img_size


def _patch_side(net: nn.Module) -> int:
    height, width = net.patch_embed.patch_size
    if height != width:
        raise ValueError(f"only square patches are supported, not {height}x{width}")
    return int(height)


def _first_conv(net: nn.Module) -> str | None:
    first = net.pretrained_cfg.get("first_conv")
    return first[0] if isinstance(first, (list, tuple)) else first
