"""The backbone registry: `create_backbone(cfg, in_channels, image_size)` builds an `Encoder` by name.

Adding a backbone is one decorated function that returns an Encoder.
"""
from __future__ import annotations

from typing import Callable

from workbench.config.schema import ModelConfig
from workbench.models.encoder import Encoder
from workbench.models.small_cnn import small_cnn
from workbench.models.torchvision_nets import resnet_body, vit_body
from workbench.models.weights import load_encoder_weights

BackboneBuilder = Callable[[ModelConfig, int, int], Encoder]
_BACKBONES: dict[str, BackboneBuilder] = {}


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator: make `builder(cfg, in_channels, image_size) -> Encoder` available under `name`."""

    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        _BACKBONES[name] = builder
        return builder

    return decorate


def backbone_names() -> list[str]:
    """Names of the registered backbones."""
    return sorted(_BACKBONES)


def create_backbone(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    """Build the encoder `cfg.backbone` for images of `in_channels` x `image_size` x `image_size`.

    Loads `cfg.init_weights` when set (ValueError when the file does not fit).
    """
    if cfg.backbone not in _BACKBONES:
        raise ValueError(f"unknown backbone {cfg.backbone!r}; known: {', '.join(backbone_names())}")
    if in_channels not in (1, 3):
        raise ValueError(f"encoders take 1 or 3 channels, not {in_channels}")
    encoder = _BACKBONES[cfg.backbone](cfg, in_channels, image_size)
    if cfg.init_weights:
        load_encoder_weights(encoder, cfg.init_weights)
    return encoder


@register_backbone("small_cnn")
def _small_cnn(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(small_cnn(in_channels), 256, in_channels)


@register_backbone("resnet18")
def _resnet18(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*resnet_body(18, in_channels, cfg.small_image_stem), in_channels)


@register_backbone("resnet50")
def _resnet50(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*resnet_body(50, in_channels, cfg.small_image_stem), in_channels)


@register_backbone("vit_tiny")
def _vit_tiny(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*vit_body(in_channels, image_size, cfg.patch_size, hidden_dim=192, depth=12, heads=3),
                   in_channels)


@register_backbone("vit_small")
def _vit_small(cfg: ModelConfig, in_channels: int, image_size: int) -> Encoder:
    return Encoder(*vit_body(in_channels, image_size, cfg.patch_size, hidden_dim=384, depth=12, heads=6),
                   in_channels)
