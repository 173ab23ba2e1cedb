"""A small, fast CNN: enough to learn something on a laptop CPU in a few minutes."""
from __future__ import annotations

import torch
from torch import nn


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def small_cnn(in_channels: int, widths: tuple[int, ...] = (32, 64, 128, 256)) -> nn.Sequential:
    """Stride-2 conv blocks (3x3 conv, BatchNorm, ReLU) then global average pooling -> (B, widths[-1])."""
    blocks = []
    previous = in_channels
    for width in widths:
        blocks.append(_conv_block(previous, width))
        previous = width
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))


def small_cnn_feature_map(body: nn.Sequential, images: torch.Tensor) -> torch.Tensor:
    """The last conv block's (B, widths[-1], H/16, W/16) map of a `small_cnn` body, before pooling."""
    return body[:-2](images)  # the body ends in AdaptiveAvgPool2d, Flatten
