"""The backbone registry: `create_backbone(cfg, in_channels, image_size)` builds an `Encoder` by name.

Adding a backbone is one decorated function that returns an Encoder, registered with its kind: "conv"
(a convolutional network: trains channels-last, takes any image size) or "vit" (a vision transformer:
cuts images into `model.patch_size` patches). Validation and the trainer read the kind from here, and the
config's choices of `model.backbone` are the names registered here.
"""
from __future__ import annotations

from typing import Callable

from workbench.config.schema import ModelConfig, use_backbone_registry
from workbench.models.encoder import Encoder
from workbench.models.small_cnn import small_cnn
from workbench.models.torchvision_nets import resnet_body, vit_body
from workbench.models.weights import load_encoder_weights

BackboneBuilder = Callable[[ModelConfig, int, int], Encoder]
BACKBONE_KINDS = ("conv", "vit")
_BACKBONES: dict[str, BackboneBuilder] = {}
_KINDS: dict[str, str] = {}


def register_backbone(name: str, kind: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator: make `builder(cfg, in_channels, image_size) -> Encoder` available under `name`, a backbone
    of `kind` ("conv" or "vit"). A name registered twice is an error."""
    if kind not in BACKBONE_KINDS:
        raise ValueError(f"backbone kind must be one of {', '.join(BACKBONE_KINDS)}, not {kind!r}")
    if name in _BACKBONES:
        raise ValueError(f"a backbone named {name!r} is already registered")

    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        _BACKBONES[name], _KINDS[name] = builder, kind
        return builder

    return decorate


def backbone_kind(name: str) -> str:
    """"conv" or "vit" for a registered backbone; KeyError naming the known ones otherwise."""
    if name not in _KINDS:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(backbone_names())}")
    return _KINDS[name]


def backbone_names() -> list[str]:
    """Names of the registered backbones."""
    return sorted(_BACKBONES)


use_backbone_registry(lambda: list(_BACKBONES))  # the config's choices, in registration order


def create_backbone(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    """Build the encoder `cfg.backbone` for images of `in_channels` x `image_size` x `image_size`.

    Loads `cfg.init_weights` when set (ValueError when the file does not fit).
    """
    if cfg.backbone not in _BACKBONES:
        raise ValueError(f"unknown backbone {cfg.backbone!r}; known: {', '.join(backbone_names())}")
    if in_channels < 1:
        raise ValueError(f"encoders take at least 1 channel, not {in_channels}")
    encoder = _BACKBONES[cfg.backbone](cfg, in_channels, image_size)
    if cfg.init_weights:
        load_encoder_weights(encoder, cfg.init_weights)
    return encoder


@register_backbone("small_cnn", "conv")
def _small_cnn(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(small_cnn(in_channels), 256, in_channels)


@register_backbone("resnet18", "conv")
def _resnet18(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*resnet_body(18, in_channels, cfg.small_image_stem), in_channels)


@register_backbone("resnet50", "conv")
def _resnet50(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*resnet_body(50, in_channels, cfg.small_image_stem), in_channels)


@register_backbone("vit_tiny", "vit")
def _vit_tiny(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*vit_body(in_channels, image_size, cfg.patch_size, hidden_dim=192, depth=12, heads=3),
                   in_channels)


@register_backbone("vit_small", "vit")
def _vit_small(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*vit_body(in_channels, image_size, cfg.patch_size, hidden_dim=384, depth=12, heads=6),
                   in_channels)
