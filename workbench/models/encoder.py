"""The encoder interface every backbone follows."""
from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """An image encoder: (B, C, H, W) float images -> (B, embed_dim) pooled features.

    Wraps a network `body` that already ends in pooled features (its classifier replaced by Identity),
    so every backbone has the same state-dict layout (`body.*`) and the same attributes.
    """

    def __init__(self, body: nn.Module, embed_dim: int, in_channels: int):
        super().__init__()
        self.body = body
        self.embed_dim = embed_dim
        self.in_channels = in_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)
