"""Smaller views for tasks that look at parts of an image: random local crops, and feeding them to any encoder."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def random_resized_crops(views: torch.Tensor, scale: tuple[float, float], size: int) -> torch.Tensor:
    """One random square crop per image covering `scale` (min, max) of its area, resized to `size` pixels.

    All crops come out of one batched `grid_sample`, so there is no per-image Python work.
    """
    batch = views.shape[0]
    area = torch.empty(batch, device=views.device).uniform_(*scale)
    side = area.sqrt()  # as a fraction of the image side
    centre = (torch.rand(batch, 2, device=views.device) * 2 - 1) * (1 - side).unsqueeze(1)
    theta = torch.zeros(batch, 2, 3, device=views.device, dtype=views.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = side
    theta[:, :, 2] = centre
    grid = F.affine_grid(theta, [batch, views.shape[1], size, size], align_corners=False)
    return F.grid_sample(views, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def encode_any_size(encoder: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Pooled features of images of any side: resized first for encoders that take one size only (ViTs)."""
    size = getattr(encoder, "input_size", None)
    if size is not None and images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return encoder(images)

