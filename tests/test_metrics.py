"""Embedding health measures on tensors whose answers are known."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.metrics import alignment, effective_rank, embedding_std, knn_accuracy, uniformity


@pytest.fixture
def gaussian():
    return torch.randn(4000, 32, generator=torch.Generator().manual_seed(0))


def test_collapsed_embeddings_have_no_spread_and_rank_one():
    same_point = torch.ones(50, 16) * torch.linspace(1, 2, 16)
    assert embedding_std(same_point) == pytest.approx(0.0, abs=1e-6)
    assert effective_rank(same_point) == 1.0
    one_direction = torch.linspace(-3, 3, 50)[:, None] * torch.randn(1, 16)
    assert effective_rank(one_direction) == pytest.approx(1.0, abs=1e-4)


def test_isotropic_gaussian_is_spread_and_full_rank(gaussian):
    assert embedding_std(gaussian) == pytest.approx(1.0, abs=0.05)
    assert effective_rank(gaussian) > 0.95 * 32


def test_effective_rank_counts_equal_directions():
    # three orthogonal directions with equal variance: rank exactly 3
    basis = torch.eye(8)[:3]
    z = torch.cat([basis, -basis]) * 5
    assert effective_rank(z) == pytest.approx(3.0, rel=1e-5)


def test_metrics_compute_in_float32_for_bfloat16_input(gaussian):
    assert embedding_std(gaussian.bfloat16()) == pytest.approx(embedding_std(gaussian), abs=0.01)
    assert effective_rank(gaussian[:500].bfloat16()) == pytest.approx(effective_rank(gaussian[:500]), rel=0.01)


def test_knn_is_perfect_on_clustered_data_and_ignores_unlabelled():
    centres = torch.eye(4) * 10
    labels = torch.arange(4).repeat_interleave(10)
    points = centres[labels] + 0.1 * torch.randn(40, 4)
    train_labels = labels.clone()
    train_labels[::5] = -1  # unlabelled samples must neither vote nor be scored
    assert knn_accuracy(points, train_labels, points + 0.01, labels, k=5) == 1.0
    test_labels = labels.clone()
    test_labels[:10] = -1
    assert knn_accuracy(points, labels, points, test_labels, k=3) == 1.0
    assert math.isnan(knn_accuracy(points, labels, points, torch.full((40,), -1), k=3))


def _knn_by_loops(train_z, train_y, test_z, test_y, k, temperature=0.07):
    correct = total = 0
    train = [(F.normalize(z, dim=0), int(y)) for z, y in zip(train_z, train_y) if y >= 0]
    for z, y in zip(test_z, test_y):
        if y < 0:
            continue
        z = F.normalize(z, dim=0)
        nearest = sorted(train, key=lambda item: -float(z @ item[0]))[:k]
        votes: dict[int, float] = {}
        for neighbour, label in nearest:
            votes[label] = votes.get(label, 0.0) + math.exp(float(z @ neighbour) / temperature)
        correct += max(votes, key=votes.get) == int(y)
        total += 1
    return correct / total


@pytest.mark.parametrize("k", [1, 4, 200])
def test_knn_matches_a_brute_force_loop(k):
    generator = torch.Generator().manual_seed(3)
    train_z, test_z = torch.randn(60, 6, generator=generator), torch.randn(25, 6, generator=generator)
    train_y = torch.randint(-1, 4, (60,), generator=generator) * 3  # non-contiguous labels, some unlabelled
    test_y = torch.randint(-1, 4, (25,), generator=generator) * 3
    expected = _knn_by_loops(train_z, train_y, test_z, test_y, k)
    assert knn_accuracy(train_z, train_y, test_z, test_y, k) == pytest.approx(expected)
    assert 0 < expected < 1


def test_alignment_and_uniformity(gaussian):
    z = gaussian[:300]
    assert alignment(z, 2 * z) == pytest.approx(0.0, abs=1e-6)
    assert alignment(z, -z) == pytest.approx(4.0)
    assert uniformity(torch.ones(10, 4)) == pytest.approx(0.0, abs=1e-6)
    assert uniformity(z) < -3.5  # spread over the sphere: squared distances near 2 on average
