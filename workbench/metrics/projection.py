"""2-D projections of embeddings for maps a person can look at: PCA always, t-SNE and UMAP when their
optional packages are installed (`pip install 'pretext-workbench[maps]'`)."""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch

from workbench.config.extras import MAP_METHOD_PACKAGES, installed, map_method_problem

MAP_METHODS = ("pca", "tsne", "umap")
METHOD_TITLES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
MIN_NEIGHBOUR_POINTS = 5
"""t-SNE and UMAP need a few neighbours per point; smaller maps fall back to PCA."""


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


def available_map_methods() -> tuple[str, ...]:
    """The projections that can run on this machine (PCA always)."""
    return tuple(method for method in MAP_METHODS
                 if method not in MAP_METHOD_PACKAGES or installed(MAP_METHOD_PACKAGES[method][0]))


def project_2d(z: torch.Tensor, method: str = "pca", seed: int = 0,
               fit: Callable[[np.ndarray, str, int], np.ndarray] | None = None) -> torch.Tensor:
    """`z` (N, D) as (N, 2) float32 map coordinates on the CPU, by `method` (pca, tsne or umap).

    t-SNE and UMAP are computed by `fit` (default: `neighbour_map`, here; the trainer runs it in a helper
    process) and seeded with `seed`, so the same embeddings give the same map. With fewer than
    MIN_NEIGHBOUR_POINTS points every method gives the PCA map. Raises ValueError for an unknown method or
    a missing package."""
    if method not in MAP_METHODS:
        raise ValueError(f"unknown map method {method!r}; choose one of {', '.join(MAP_METHODS)}")
    problem = map_method_problem(method)
    if problem:
        raise ValueError(problem)
    if method == "pca" or len(z) < MIN_NEIGHBOUR_POINTS:
        return pca_2d(z)
    points = (fit or neighbour_map)(z.detach().float().cpu().numpy(), method, seed)
    return torch.from_numpy(np.asarray(points, dtype=np.float32))


def neighbour_map(data: np.ndarray, method: str, seed: int) -> np.ndarray:
    """t-SNE or UMAP of `data` (N, D) to (N, 2), seeded, both starting from the PCA layout (which keeps
    successive maps of a run roughly in place). Plain NumPy in and out, so it can run in another process."""
    neighbours = min(15, len(data) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state" and similar notices
        if method == "tsne":
            from sklearn.manifold import TSNE

            estimator = TSNE(n_components=2, perplexity=min(30.0, (len(data) - 1) / 3), init="pca",
                             random_state=seed)
        else:
            from umap import UMAP

            estimator = UMAP(n_components=2, n_neighbors=neighbours, init="pca", random_state=seed)
        return estimator.fit_transform(data)
