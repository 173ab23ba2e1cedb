"""The backbone registry: `create_backbone(cfg, in_channels, image_size)` builds an `Encoder` by name.

Adding a backbone is one decorated function that returns an Encoder, registered with its kind: "conv"
(a convolutional network: trains channels-last, takes any image size) or "vit" (a vision transformer:
cuts images into patches), and with the per-backbone `model.*` settings its builder reads (`backbone_settings`:
the app shows only those). Validation and the trainer read the kind from here, and the config's choices of
`model.backbone` are the names registered here, plus any installed timm architecture as "timm/<name>"
(`workbench.models.timm_nets`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from workbench.config.fields import Choices
from workbench.config.schema import ModelConfig, use_backbone_registry
from workbench.models import timm_nets
from workbench.models.encoder import Encoder
from workbench.models.small_cnn import small_cnn
from workbench.models.torchvision_nets import ResNetFamily, VitFamily, resnet_body, vit_body
from workbench.models.weights import load_encoder_weights

BackboneBuilder = Callable[[ModelConfig, int, int], Encoder]
BACKBONE_KINDS = ("conv", "vit")
BACKBONE_SETTINGS = ("small_image_stem", "patch_size", "pooling")
"""The `model.*` settings that apply to some backbones only (`backbone_settings` says which apply to one)."""
_BACKBONES: dict[str, BackboneBuilder] = {}
_KINDS: dict[str, str] = {}
_SETTINGS: dict[str, tuple[str, ...]] = {}


def register_backbone(name: str, kind: str,
                      settings: tuple[str, ...] = ()) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator: make `builder(cfg, in_channels, image_size) -> Encoder` available under `name`, a backbone
    of `kind` ("conv" or "vit") whose builder reads `settings` (of BACKBONE_SETTINGS, e.g. "patch_size").
    A name registered twice is an error."""
    if kind not in BACKBONE_KINDS:
        raise ValueError(f"backbone kind must be one of {', '.join(BACKBONE_KINDS)}, not {kind!r}")
    if name in _BACKBONES:
        raise ValueError(f"a backbone named {name!r} is already registered")
    unknown = sorted(set(settings) - set(BACKBONE_SETTINGS))
    if unknown:
        raise ValueError(f"backbone settings must be among {', '.join(BACKBONE_SETTINGS)}, not {', '.join(unknown)}")

    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        _BACKBONES[name], _KINDS[name], _SETTINGS[name] = builder, kind, tuple(settings)
        return builder

    return decorate


def _timm_name(name: str) -> str | None:
    return name[len(timm_nets.PREFIX):] if name.startswith(timm_nets.PREFIX) else None


def backbone_needs_timm(name: str) -> bool:
    """Whether checking, describing or building `name` imports timm (seconds the first time: a GUI does it off its
    own thread)."""
    return _timm_name(name) is not None


def backbone_problem(name: str) -> str | None:
    """Why `name` is not a backbone that can be built here (with close names for a timm one), or None."""
    timm_name = _timm_name(name)
    if timm_name is not None:
        return timm_nets.timm_problem(timm_name)
    if name not in _BACKBONES:
        return f"unknown backbone {name!r}; known: {', '.join(backbone_names())} or {timm_nets.PREFIX}<timm model>"
    return None


def backbone_kind(name: str) -> str:
    """"conv" or "vit" for a registered or timm backbone; KeyError naming the problem otherwise."""
    problem = backbone_problem(name)
    if problem:
        raise KeyError(problem)
    timm_name = _timm_name(name)
    return timm_nets.timm_spec(timm_name).kind if timm_name is not None else _KINDS[name]


def backbone_settings(name: str) -> tuple[str, ...]:
    """Those of BACKBONE_SETTINGS that apply to backbone `name`: the ones its builder reads (registered with it;
    a timm architecture fixes its own), and `pooling` for every ViT. Imports timm for a timm backbone."""
    own = _SETTINGS.get(name, ())
    return tuple(dict.fromkeys(own + ("pooling",))) if backbone_kind(name) == "vit" else own


def backbone_patch_size(cfg: ModelConfig) -> int | None:
    """The patch side of the ViT `cfg` describes (`model.patch_size` for the built-in ViTs, the architecture's
    own for timm ones), None for convolutional backbones."""
    timm_name = _timm_name(cfg.backbone)
    if timm_name is not None:
        return timm_nets.timm_spec(timm_name).patch_size
    return cfg.patch_size if backbone_kind(cfg.backbone) == "vit" else None


def backbone_names(include_timm: bool = False) -> list[str]:
    """Names of the registered backbones; with `include_timm`, then every installed timm architecture
    as "timm/<name>" (imports timm)."""
    names = sorted(_BACKBONES)
    return names + [timm_nets.PREFIX + name for name in timm_nets.timm_names()] if include_timm else names


# The config's choices, in registration order; "timm/..." names pass there and are checked by the validator.
use_backbone_registry(lambda: Choices(_BACKBONES, open_prefixes=(timm_nets.PREFIX,)))


@dataclass(frozen=True)
class BackboneFacts:
    """What a backbone is, for people choosing one: its size and what it expects."""

    name: str
    kind: str
    parameters: int
    """At 3 channels and `image_size`."""
    embed_dim: int
    image_size: int
    fixed_input_size: bool
    """Whether it is built for one image side (ViTs, Swin); else any side works."""
    patch_size: int | None
    """A ViT's patch (built-in ViTs: at the default `model.patch_size`); the image side must be a multiple."""
    settings: tuple[str, ...] = ()
    """The per-backbone `model.*` settings that apply to it (`backbone_settings`)."""


def describe_backbone(name: str) -> BackboneFacts:
    """Facts about backbone `name` from a parameter-free (meta device) instance: fast, but imports timm for a
    timm one. ValueError naming close names when there is no such backbone."""
    problem = backbone_problem(name)
    if problem:
        raise ValueError(problem)
    timm_name = _timm_name(name)
    size = timm_nets.timm_spec(timm_name).default_input_size if timm_name is not None else 224
    with torch.device("meta"):
        encoder = _build(ModelConfig(backbone=name), 3, size)
    fixed = encoder.input_size is not None
    return BackboneFacts(name, backbone_kind(name), sum(p.numel() for p in encoder.parameters()),
                         encoder.embed_dim, size, fixed, encoder.patch_size, backbone_settings(name))


def create_backbone(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    """Build the encoder `cfg.backbone` for images of `in_channels` x `image_size` x `image_size`.

    Loads `cfg.init_weights` when set (ValueError when the file does not fit); what was loaded and adapted is
    then in `encoder.weights_report` (a `WeightsReport`; None without starting weights), for the log.
    """
    problem = backbone_problem(cfg.backbone)
    if problem:
        raise ValueError(problem)
    if in_channels < 1:
        raise ValueError(f"encoders take at least 1 channel, not {in_channels}")
    encoder = _build(cfg, in_channels, image_size)
    encoder.weights_report = load_encoder_weights(encoder, cfg.init_weights) if cfg.init_weights else None
    return encoder


def _build(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    timm_name = _timm_name(cfg.backbone)
    if timm_name is None:
        return _BACKBONES[cfg.backbone](cfg, in_channels, image_size)
    body = timm_nets.timm_body(timm_name, in_channels, image_size)
    return Encoder(body, int(body.num_features), in_channels, timm_nets.family_of(timm_name, image_size))


@register_backbone("small_cnn", "conv")
def _small_cnn(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(small_cnn(in_channels), 256, in_channels)


@register_backbone("resnet18", "conv", settings=("small_image_stem",))
def _resnet18(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*resnet_body(18, in_channels, cfg.small_image_stem), in_channels,
                   ResNetFamily(18, cfg.small_image_stem))


@register_backbone("resnet50", "conv", settings=("small_image_stem",))
def _resnet50(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*resnet_body(50, in_channels, cfg.small_image_stem), in_channels,
                   ResNetFamily(50, cfg.small_image_stem))


@register_backbone("vit_tiny", "vit", settings=("patch_size",))
def _vit_tiny(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*vit_body(in_channels, image_size, cfg.patch_size, hidden_dim=192, depth=12, heads=3),
                   in_channels, VitFamily())


@register_backbone("vit_small", "vit", settings=("patch_size",))
def _vit_small(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*vit_body(in_channels, image_size, cfg.patch_size, hidden_dim=384, depth=12, heads=6),
                   in_channels, VitFamily())
