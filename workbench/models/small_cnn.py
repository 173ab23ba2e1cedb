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


class GlobalAveragePool(nn.Module):
    """(B, C, H, W) -> (B, C), the mean over the image. Unlike `AdaptiveAvgPool2d`, whose gradient comes back
    in the plain layout, its gradient keeps the channels-last layout, so the last block's backward pass stays on
    the fast kernels (measured: that ReLU's backward 4.8 -> 0.17 ms at batch 256, bf16)."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not features.is_contiguous(memory_format=torch.channels_last) or features.is_contiguous():
            return features.mean(dim=(2, 3))
        batch, channels = features.shape[:2]
        return features.permute(0, 2, 3, 1).reshape(batch, -1, channels).mean(dim=1)  # a view: no copy


def small_cnn(in_channels: int, widths: tuple[int, ...] = (32, 64, 128, 256)) -> nn.Sequential:
    """Stride-2 conv blocks (3x3 conv, BatchNorm, ReLU) then global average pooling -> (B, widths[-1])."""
    blocks = []
    previous = in_channels
    for width in widths:
        blocks.append(_conv_block(previous, width))
        previous = width
    return nn.Sequential(*blocks, GlobalAveragePool())

