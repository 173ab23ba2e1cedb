"""A light decoder from an encoder's feature map back to pixels: one 1x1 conv, then pixel shuffle."""
from __future__ import annotations

import torch
import torch.nn.functional as F
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


def predict_pixels(encoder: nn.Module, head: PixelShuffleHead, images: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels predicted from the encoder's feature map of `images` (resized to their size when the sides are
    not a multiple of the stride), and the pooled features as the images' embeddings."""
    features = encoder.feature_map(images)
    prediction = head(features)
    if prediction.shape[-2:] != images.shape[-2:]:
        prediction = F.interpolate(prediction, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return prediction, features.mean(dim=(2, 3))
