"""The encoder interface every backbone follows, and `Family`: how it reaches into one family of networks."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Family:
    """What the Encoder needs to know about one family of networks (small CNN, torchvision ResNet or ViT, timm
    CNN or ViT). A plain object (no parameters), so the encoder's state dict stays `body.*` whatever the family.

    The default is a `nn.Sequential` that ends in its pooling layer (the small CNN)."""

    is_vit = False

    def input_size(self, body: nn.Module) -> int | None:
        """The one image side the network accepts, or None when any size works."""
        return None

    def patch_size(self, body: nn.Module) -> int | None:
        """A ViT's patch side in pixels; None for other networks."""
        return None

    def tokens(self, body: nn.Module, images: torch.Tensor, keep: torch.Tensor | None,
               attn_mask: torch.Tensor | None) -> torch.Tensor:
        raise ValueError("token outputs need a ViT backbone (vit_tiny, vit_small or a timm ViT)")

    def feature_map(self, body: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return body[:-1](images)  # the body ends in its pooling layer

    def first_conv(self, body: nn.Module) -> str | None:
        """The name of the module that first sees the image channels (in `body`), or None."""
        return "0.0"

    def architecture(self, body: nn.Module, in_channels: int) -> dict[str, Any]:
        """How to build the bare network elsewhere: library, architecture name and its arguments."""
        return {"library": "workbench", "architecture": "small_cnn", "in_chans": in_channels}


class Encoder(nn.Module):
    """An image encoder: (B, C, H, W) float images -> (B, embed_dim) pooled features.

    Wraps a network `body` that already ends in pooled features (its classifier removed), so every backbone
    has the same state-dict layout (`body.*`, then the network's own keys) and the same attributes; `family`
    says how to reach its spatial features and tokens. Tasks that need spatial features use `feature_map`;
    ViT-only tasks (MAE) use `tokens`.
    """

    def __init__(self, body: nn.Module, embed_dim: int, in_channels: int, family: Family | None = None):
        super().__init__()
        self.body = body
        self.embed_dim = embed_dim
        self.in_channels = in_channels
        self.family = family or Family()
        self.pooling = "cls"
        """ViTs: the embedding is the class token ("cls") or the mean of the patch tokens ("mean_patches");
        set from `model.pooling` by the engine (`workbench.tasks.pooling`)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.pooling == "mean_patches" and self.is_vit:
            return self.tokens(images)[:, 1:].mean(dim=1)
        return self.body(images)

    @property
    def is_vit(self) -> bool:
        return self.family.is_vit

    @property
    def input_size(self) -> int | None:
        """The one image side the encoder accepts (ViTs), or None when any size works (CNNs)."""
        return self.family.input_size(self.body)

    @property
    def patch_size(self) -> int | None:
        """The ViT's patch side in pixels; None for CNNs."""
        return self.family.patch_size(self.body)

    def tokens(self, images: torch.Tensor, keep: torch.Tensor | None = None,
               attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ViTs only: (B, 1 + N, D) output tokens, class token first; `keep` (B, K) runs only those patches;
        `attn_mask` (L, L) or (B, L, L) bool, True = may not attend, limits what each token sees."""
        return self.family.tokens(self.body, images, keep, attn_mask)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) spatial features before pooling; a ViT's patch tokens laid out on their grid."""
        if self.is_vit:
            patches = self.tokens(images)[:, 1:]
            side = images.shape[-1] // self.patch_size
            return patches.transpose(1, 2).reshape(patches.shape[0], -1, side, side)
        return self.family.feature_map(self.body, images)

    def first_conv(self) -> str | None:
        """The state-dict prefix of the layer that first sees the image channels (e.g. `body.stem.0`), or None."""
        name = self.family.first_conv(self.body)
        return f"body.{name}" if name else None

    def architecture(self) -> dict[str, Any]:
        """How to rebuild the bare network without this package, e.g. `{"library": "timm", "architecture":
        "convnext_atto", "in_chans": 1}`; the state dict without its `body.` prefix is in that library's layout."""
        return self.family.architecture(self.body, self.in_channels)

    @torch.no_grad()
    def feature_stride(self) -> int:
        """How many input pixels one step of `feature_map` covers (measured once on a blank image)."""
        side = self.input_size or 64
        was_training = self.training
        self.eval()  # no BatchNorm statistics updates from the probe
        probe = next(self.parameters())
        features = self.feature_map(torch.zeros(1, self.in_channels, side, side, device=probe.device,
                                                dtype=probe.dtype))
        self.train(was_training)
        return side // features.shape[-1]
