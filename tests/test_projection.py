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


def _two_clusters(count: int = 40) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(count, 12, generator=generator)
    z[: count // 2, 0] += 8.0
    return z


def test_unknown_map_methods_are_refused_and_tiny_maps_use_pca():
    import pytest

    from workbench.metrics.projection import project_2d

    with pytest.raises(ValueError, match="unknown map method"):
        project_2d(torch.randn(10, 4), "mds")
    tiny = torch.randn(4, 6)
    assert torch.equal(project_2d(tiny, "pca"), pca_2d(tiny))


def _check_neighbour_map(method: str, fit=None) -> None:
    """A map of two clusters by `method`: (N, 2), finite, the same again for the same seed (computed by
    `fit` the second time), and the clusters kept apart."""
    from workbench.metrics.projection import available_map_methods, project_2d

    assert method in available_map_methods()
    z = _two_clusters()
    points = project_2d(z, method, seed=3)
    assert points.shape == (40, 2) and points.dtype == torch.float32 and torch.isfinite(points).all()
    assert torch.equal(project_2d(z, method, seed=3, fit=fit), points)  # deterministic for a seed
    # every point is nearer to its own cluster's centre
    first, second = points[:20].mean(0), points[20:].mean(0)
    own = torch.cat([(points[:20] - first).norm(dim=1), (points[20:] - second).norm(dim=1)])
    other = torch.cat([(points[:20] - second).norm(dim=1), (points[20:] - first).norm(dim=1)])
    assert (own < other).all()


def test_tsne_maps_are_finite_deterministic_and_the_same_from_the_trainer_s_helper_process():
    import pytest

    pytest.importorskip("sklearn")
    from workbench.engine.map_worker import fit_in_helper_process

    _check_neighbour_map("tsne", fit=fit_in_helper_process)
    with pytest.raises(ValueError, match="NaN"):  # the helper's error reaches the caller; the helper lives on
        fit_in_helper_process(torch.full((10, 3), float("nan")).numpy(), "tsne", 0)
    assert fit_in_helper_process(_two_clusters(12).numpy(), "tsne", 0).shape == (12, 2)


def test_umap_maps_are_finite_deterministic_and_keep_clusters_apart():
    import pytest

    pytest.importorskip("umap")
    _check_neighbour_map("umap")
