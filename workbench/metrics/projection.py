"""2-D projections of embeddings for maps a person can look at."""
from __future__ import annotations

import torch


def pca_2d(z: torch.Tensor) -> torch.Tensor:
    """The first two principal components of `z` (N, D) as (N, 2) float32 coordinates.

    Signs are fixed (each component's largest-magnitude loading is positive) so that maps of
    successive evaluations do not flip back and forth."""
    z = z.float()
    centred = z - z.mean(dim=0, keepdim=True)
    if z.shape[0] < 2:
        return torch.zeros(z.shape[0], 2)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:2]
    if components.shape[0] < 2:
        components = torch.cat([components, torch.zeros(2 - components.shape[0], z.shape[1], device=z.device)])
    strongest = components.abs().argmax(dim=1)
    signs = torch.sign(components[torch.arange(2), strongest])
    signs[signs == 0] = 1
    return (centred @ (components * signs.view(2, 1)).T).cpu()
