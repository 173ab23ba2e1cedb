"""LiDAR and RankMe on embeddings whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.metrics import effective_rank, lidar


def _views(directions: int, dim: int = 8, per_image: int = 32, noise: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Images at +-5 along `directions` axes, each with `per_image` views scattered by `noise`."""
    generator = torch.Generator().manual_seed(seed)
    basis = torch.eye(dim)[:directions] * 5
    centres = torch.cat([basis, -basis])
    return centres[:, None] + noise * torch.randn(len(centres), per_image, dim, generator=generator)


def _lidar_by_formula(views: torch.Tensor, delta: float = 1e-4) -> float:
    """The paper's formula in numpy: Sw^-1/2 Sb Sw^-1/2 through an eigendecomposition of Sw."""
    z = views.double().numpy()
    count, per_image, dim = z.shape
    means = z.mean(axis=1)
    between = np.cov(means.T, bias=True)
    spread = (z - means[:, None]).reshape(-1, dim)
    within = spread.T @ spread / (count * per_image) + delta * np.eye(dim)
    values, vectors = np.linalg.eigh(within)
    root = vectors @ np.diag(values ** -0.5) @ vectors.T
    eigenvalues = np.linalg.eigvalsh(root @ between @ root)
    eigenvalues = eigenvalues[eigenvalues > 1e-9 * eigenvalues.max()]
    p = eigenvalues / eigenvalues.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


@pytest.mark.parametrize("directions", [1, 3, 5])
def test_lidar_counts_the_directions_that_tell_images_apart(directions):
    assert lidar(_views(directions)) == pytest.approx(directions, rel=0.02)


def test_lidar_matches_the_papers_formula():
    generator = torch.Generator().manual_seed(4)
    views = torch.randn(10, 1, 6, generator=generator) + 0.5 * torch.randn(10, 4, 6, generator=generator)
    assert lidar(views) == pytest.approx(_lidar_by_formula(views), rel=1e-6)


def test_lidar_ignores_a_linear_change_of_coordinates():
    views = _views(3)
    mixing = torch.randn(8, 8, generator=torch.Generator().manual_seed(2))
    assert lidar(views @ mixing) == pytest.approx(lidar(views), rel=0.01)


def test_identical_views_of_identical_images_give_one():
    assert lidar(torch.ones(8, 4, 16) * torch.linspace(1, 2, 16)) == 1.0
    with pytest.raises(ValueError):
        lidar(torch.randn(8, 1, 16))


def test_rankme_is_taken_on_the_embeddings_as_they_are():
    # RankMe does not centre: a shared offset is a direction of its own
    basis = torch.eye(8)[:2] * 5
    centred = torch.cat([basis, -basis])
    assert effective_rank(centred) == pytest.approx(2.0, rel=1e-5)
    offset = torch.eye(8)[5] * 5 / 2 ** 0.5  # its singular value then equals the other two
    assert effective_rank(centred + offset) == pytest.approx(3.0, rel=1e-5)
