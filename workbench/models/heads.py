"""MLP heads: the projectors and predictors that self-supervised tasks put on top of the encoder."""
from __future__ import annotations

import torch
from torch import nn


class MLPHead(nn.Module):
    """`num_layers` linear layers; between them BatchNorm (optional) and ReLU.

    Example: a SimCLR projector 512 -> 2048 -> 128 is `MLPHead(512, 2048, 128)`; `num_layers=1` is a plain
    linear layer. `last_batch_norm` adds an affine-free BatchNorm after the last layer (as some methods use).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2, batch_norm: bool = True,
                 last_batch_norm: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"an MLP head needs at least one layer, not {num_layers}")
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(width, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim, bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.layers = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)
