"""Health measures of embeddings: spread, effective rank, kNN accuracy, alignment and uniformity.

Pure functions of tensors; the maths is done in float32 whatever the input precision.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _normalised(z: torch.Tensor) -> torch.Tensor:
    return F.normalize(z.detach().float(), dim=1)


def embedding_std(z: torch.Tensor) -> float:
    """Spread of the L2-normalised embeddings: per-dimension std over samples, averaged, times sqrt(dim).

    About 1 for healthy, isotropic embeddings; near 0 when all images map to the same point (collapse).
    """
    if z.shape[0] < 2:
        raise ValueError("embedding_std needs at least two embeddings")
    zn = _normalised(z)
    return float(zn.std(dim=0).mean() * math.sqrt(zn.shape[1]))


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values of the centred embeddings (Roy & Vetterli, 2007).

    Between 1 (all variation along one direction) and min(N, D) (variation spread evenly). Singular values
    within float32 rounding of the raw embeddings' size are not counted as spread, so embeddings with no
    real variation give 1, the smallest value.
    """
    raw = z.detach().float()
    singular = torch.linalg.svdvals(raw - raw.mean(dim=0, keepdim=True))
    tolerance = torch.finfo(torch.float32).eps * max(raw.shape) * torch.linalg.norm(raw)
    singular = singular[singular > tolerance]
    if len(singular) == 0:
        return 1.0
    p = singular / singular.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def knn_accuracy(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor, test_y: torch.Tensor,
                 k: int, temperature: float = 0.07) -> float:
    """Accuracy of a k-nearest-neighbour classifier on cosine similarity.

    Each test embedding takes the label with the largest summed vote among its k most similar training
    embeddings, a neighbour's vote weighing exp(similarity / temperature) (Wu et al. 2018), so closer
    neighbours count more. Samples with a label < 0 (unlabelled) are ignored on both sides. Returns NaN
    when there is no labelled training or test sample.
    """
    test_keep = test_y >= 0
    test_y = test_y[test_keep].long()
    if not bool((train_y >= 0).any()) or len(test_y) == 0:
        return float("nan")
    predicted = knn_predictions(train_z, train_y, test_z[test_keep], k, temperature)
    return float((predicted == test_y).float().mean())


def knn_predictions(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor, k: int,
                    temperature: float = 0.07) -> torch.Tensor:
    """The label `knn_accuracy`'s classifier gives each test embedding (training samples with a label < 0
    are ignored; there must be at least one labelled)."""
    train_keep = train_y >= 0
    train_z, train_y = _normalised(train_z[train_keep]), train_y[train_keep].long()
    test_z = _normalised(test_z)
    classes, train_class = torch.unique(train_y, return_inverse=True)
    votes = weighted_votes(test_z @ train_z.T, train_class, len(classes), k, temperature)
    return classes[votes.argmax(dim=1)]


def weighted_votes(similarity: torch.Tensor, train_class: torch.Tensor, num_classes: int, k: int,
                   temperature: float = 0.07) -> torch.Tensor:
    """(T, num_classes) votes of each test row's k most similar training samples, each weighing
    exp(similarity / temperature); `similarity` is (T, N), `train_class` the (N,) class of each sample."""
    values, neighbour = similarity.topk(min(k, similarity.shape[1]), dim=1)
    votes = torch.zeros(len(similarity), num_classes, device=similarity.device)
    return votes.scatter_add_(1, train_class[neighbour], torch.exp(values / temperature))


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Mean distance^alpha between normalised positive pairs (Wang & Isola, 2020); 0 = views map together."""
    return float((_normalised(z1) - _normalised(z2)).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """log mean exp(-t * squared distance) over pairs of normalised embeddings (Wang & Isola, 2020).

    0 when collapsed to one point; more negative as embeddings spread over the sphere.
    """
    distances = torch.pdist(_normalised(z), p=2)
    return float(distances.square().mul(-t).exp().mean().log())
