"""Each loss against a straightforward loop computation on fixed small inputs, and at its known limits."""
from __future__ import annotations

import math

import pytest
import torch

from workbench.tasks.losses import (barlow_twins_loss, dino_loss, info_nce_loss, masked_reconstruction_loss,
                                    vicreg_terms)


def _fixed(*shape, seed=3):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _cross_entropy(logits, target):
    return -logits[target] + math.log(sum(math.exp(v) for v in logits))


def _rows(t):
    return t.tolist()


def test_info_nce_with_batch_negatives_matches_loops():
    q, k = _fixed(5, 4, seed=1), _fixed(5, 4, seed=2)
    expected = [_cross_entropy([_cosine(qi, kj) / 0.3 for kj in _rows(k)], i) for i, qi in enumerate(_rows(q))]
    torch.testing.assert_close(info_nce_loss(q.float(), k.float(), 0.3), torch.tensor(expected).float(),
                               atol=1e-5, rtol=0)


def test_info_nce_with_a_queue_matches_loops():
    q, k, queue = _fixed(4, 3, seed=1), _fixed(4, 3, seed=2), _fixed(6, 3, seed=4)
    expected = [_cross_entropy([_cosine(qi, ki) / 0.2] + [_cosine(qi, n) / 0.2 for n in _rows(queue)], 0)
                for qi, ki in zip(_rows(q), _rows(k))]
    loss = info_nce_loss(q.float(), k.float(), 0.2, negatives=queue.float())
    torch.testing.assert_close(loss, torch.tensor(expected).float(), atol=1e-5, rtol=0)


def test_info_nce_limits():
    keys = torch.eye(4)
    assert info_nce_loss(keys, keys, 0.05).max() < 1e-6  # perfect matches, orthogonal negatives
    same = torch.ones(4, 3)
    torch.testing.assert_close(info_nce_loss(same, same, 0.1), torch.full((4,), math.log(4)))


def _standardised_columns(z):
    batch = len(z)
    columns = list(zip(*_rows(z)))
    result = []
    for column in columns:
        mean = sum(column) / batch
        var = sum((v - mean) ** 2 for v in column) / batch
        result.append([(v - mean) / math.sqrt(var + 1e-5) for v in column])
    return result  # feature-major


def test_barlow_twins_matches_loops():
    z1, z2 = _fixed(6, 3, seed=5), _fixed(6, 3, seed=6)
    a, b = _standardised_columns(z1), _standardised_columns(z2)
    dim, batch = len(a), len(a[0])
    c = [[sum(a[i][n] * b[j][n] for n in range(batch)) / batch for j in range(dim)] for i in range(dim)]
    on = sum((1 - c[i][i]) ** 2 for i in range(dim))
    off = sum(c[i][j] ** 2 for i in range(dim) for j in range(dim) if i != j)
    loss, on_term, off_term = barlow_twins_loss(z1.float(), z2.float(), 0.5)
    assert on_term.item() == pytest.approx(on, abs=1e-5)
    assert off_term.item() == pytest.approx(off, abs=1e-5)
    assert loss.item() == pytest.approx(on + 0.5 * off, abs=1e-5)


def test_barlow_twins_of_identical_decorrelated_features_is_zero():
    # Two +-1 features over 4 samples: zero mean, unit variance, uncorrelated with each other.
    features = torch.tensor([[1.0, 1], [1, -1], [-1, 1], [-1, -1]])
    loss, on, off = barlow_twins_loss(features, features, 1.0)
    assert off.item() == pytest.approx(0.0, abs=1e-8)
    assert on.item() == pytest.approx(0.0, abs=1e-4)  # only the 1e-5 eps keeps c_ii a hair below 1


def test_vicreg_terms_match_loops():
    z1, z2 = _fixed(5, 3, seed=7), _fixed(5, 3, seed=8)
    batch, dim = 5, 3
    invariance = sum((x - y) ** 2 for r1, r2 in zip(_rows(z1), _rows(z2)) for x, y in zip(r1, r2)) / (batch * dim)
    variance = covariance = 0.0
    for z in (z1, z2):
        columns = list(zip(*_rows(z)))
        means = [sum(c) / batch for c in columns]
        cov = [[sum((columns[i][n] - means[i]) * (columns[j][n] - means[j]) for n in range(batch)) / (batch - 1)
                for j in range(dim)] for i in range(dim)]
        variance += sum(max(0.0, 1 - math.sqrt(cov[i][i] + 1e-4)) for i in range(dim)) / dim / 2
        covariance += sum(cov[i][j] ** 2 for i in range(dim) for j in range(dim) if i != j) / dim
    terms = vicreg_terms(z1.float(), z2.float())
    assert terms["invariance"].item() == pytest.approx(invariance, abs=1e-5)
    assert terms["variance"].item() == pytest.approx(variance, abs=1e-5)
    assert terms["covariance"].item() == pytest.approx(covariance, abs=1e-5)


def test_vicreg_variance_term_is_zero_when_every_std_is_at_least_one():
    z = _fixed(16, 4, seed=9).float() * 3
    assert (z.std(0) >= 1).all()
    assert vicreg_terms(z, z)["variance"].item() == 0.0
    assert vicreg_terms(z, z)["invariance"].item() == 0.0
    collapsed = torch.zeros(16, 4)
    assert vicreg_terms(collapsed, collapsed)["variance"].item() == pytest.approx(1 - 1e-2, abs=1e-6)


def test_dino_loss_matches_loops():
    student, teacher = _fixed(4, 3, 5, seed=10), _fixed(2, 3, 5, seed=11)
    center = _fixed(1, 5, seed=12)
    ts, tt = 0.1, 0.04

    def softmax(values, temperature):
        exps = [math.exp(v / temperature) for v in values]
        return [e / sum(exps) for e in exps]

    expected = []
    for b in range(3):
        pair_losses = []
        for t in range(2):
            target = softmax([v - c for v, c in zip(teacher[t, b].tolist(), center[0].tolist())], tt)
            for s in range(4):
                if s == t:
                    continue
                probs = softmax(student[s, b].tolist(), ts)
                pair_losses.append(-sum(p * math.log(q) for p, q in zip(target, probs)))
        expected.append(sum(pair_losses) / len(pair_losses))
    loss = dino_loss(student.float(), teacher.float(), center.float(), ts, tt)
    torch.testing.assert_close(loss, torch.tensor(expected).float(), atol=1e-5, rtol=1e-5)


def test_dino_loss_limits():
    uniform = torch.zeros(2, 3, 8)
    torch.testing.assert_close(dino_loss(uniform, uniform, torch.zeros(1, 8), 0.1, 0.04),
                               torch.full((3,), math.log(8)))
    # Identical teacher and student logits at equal temperatures: the loss is the entropy of that distribution,
    # its minimum over student outputs; a constant center changes nothing.
    logits = _fixed(2, 3, 8, seed=13).float()
    same_views = logits[:1].expand(2, -1, -1)
    probs = torch.softmax(same_views[0] / 0.1, dim=-1)
    entropy = -(probs * probs.log()).sum(-1)
    torch.testing.assert_close(dino_loss(same_views, same_views, torch.full((1, 8), 0.7), 0.1, 0.1), entropy)
    worse = dino_loss(same_views + _fixed(2, 3, 8, seed=14).float(), same_views, torch.zeros(1, 8), 0.1, 0.1)
    assert (worse > entropy).all()


def test_masked_reconstruction_loss_matches_loops():
    prediction, target = _fixed(2, 4, 3, seed=15), _fixed(2, 4, 3, seed=16)
    mask = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 1]])
    for kind, error in (("mse", lambda d: d * d), ("l1", abs)):
        expected = []
        for b in range(2):
            values = [error(p - t) for n in range(4) if mask[b, n]
                      for p, t in zip(prediction[b, n].tolist(), target[b, n].tolist())]
            expected.append(sum(values) / len(values))
        loss = masked_reconstruction_loss(prediction.float(), target.float(), mask.unsqueeze(-1), kind)
        torch.testing.assert_close(loss, torch.tensor(expected).float(), atol=1e-5, rtol=0)
    nothing_masked = masked_reconstruction_loss(prediction, target, torch.zeros(2, 4, 1))
    assert torch.equal(nothing_masked, torch.zeros(2, dtype=nothing_masked.dtype))
