"""PCA map: the two directions of largest spread, with stable signs."""
import torch

from workbench.metrics import pca_2d


def test_pca_finds_the_spread_directions_with_fixed_signs():
    generator = torch.Generator().manual_seed(0)
    coords = torch.randn(200, 2, generator=generator) * torch.tensor([5.0, 2.0])
    basis = torch.linalg.qr(torch.randn(16, 16, generator=generator))[0][:2]  # 2 orthonormal rows in 16-D
    z = coords @ basis + 0.01 * torch.randn(200, 16, generator=generator)
    points = pca_2d(z)
    assert points.shape == (200, 2)
    stds = points.std(dim=0)
    assert abs(stds[0] - 5.0) < 0.8 and abs(stds[1] - 2.0) < 0.4
    # signs are tied to the data, not to the SVD routine: a slightly changed input gives the same map
    nudged = z + 1e-4 * torch.randn(200, 16, generator=generator)
    assert torch.allclose(pca_2d(nudged), points, atol=1e-2)
    assert torch.allclose(pca_2d(-z), -points, atol=1e-3)


def test_pca_of_tiny_inputs():
    assert pca_2d(torch.ones(1, 4)).shape == (1, 2)
    assert pca_2d(torch.randn(5, 1)).shape == (5, 2)
