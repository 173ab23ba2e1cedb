"""A light decoder from an encoder's feature map back to pixels: one 1x1 conv, then pixel shuffle."""
from __future__ import annotations

import torch
from torch import nn


class PixelShuffleHead(nn.Module):
    """(B, D, h, w) features -> (B, C, h * stride, w * stride) pixels; each feature cell predicts its own
    stride x stride block linearly (SimMIM's one-layer prediction head)."""

    def __init__(self, in_dim: int, out_channels: int, stride: int):
        super().__init__()
        self.project = nn.Conv2d(in_dim, out_channels * stride * stride, kernel_size=1)
        self.shuffle = nn.PixelShuffle(stride)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.project(features))
