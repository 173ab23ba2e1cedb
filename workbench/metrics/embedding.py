"""Health measures of embeddings: spread, effective rank (RankMe), LiDAR, kNN accuracy, alignment and uniformity.

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
    """RankMe (Garrido et al. 2023): exp(entropy) of the normalised singular values of the embeddings, the
    effective rank of Roy & Vetterli (2007) taken on the embeddings as they are (not centred), as in the paper.

    Between 1 (all embeddings along one direction) and min(N, D) (spread evenly); higher tends to go with
    better downstream accuracy. Singular values within float32 rounding of the embeddings' size are not
    counted, so embeddings with no real variation give 1.
    """
    raw = z.detach().float()
    singular = torch.linalg.svdvals(raw)
    return _entropy_rank(singular, torch.finfo(torch.float32).eps * max(raw.shape) * float(torch.linalg.norm(raw)))


def lidar(views: torch.Tensor, delta: float = 1e-4) -> float:
    """LiDAR (Thilak et al. 2024): the effective rank of the LDA matrix of augmented views.

    `views` is (images, views per image, dim): each image is a class whose members are its views. The value
    is exp(entropy) of the normalised eigenvalues of Sw^-1/2 Sb Sw^-1/2, Sb the scatter of the images' mean
    embeddings, Sw the mean scatter of views around their image's mean plus `delta` times the identity.
    High: many directions tell images apart more than augmentation moves them; 1: one or none do.
    """
    z = views.detach().double()
    count, per_image, dim = z.shape
    if count < 2 or per_image < 2:
        raise ValueError("lidar needs at least two images with at least two views each")
    means = z.mean(dim=1)
    centred_means = means - means.mean(dim=0)
    spread = (z - means[:, None]).reshape(-1, dim)
    within = spread.T @ spread / (count * per_image) + delta * torch.eye(dim, dtype=z.dtype)
    # Sb = M^T M / count (M the centred means), so the non-zero eigenvalues of Sw^-1/2 Sb Sw^-1/2 are those of
    # the small (images x images) M Sw^-1 M^T / count
    solved = torch.cholesky_solve(centred_means.T, torch.linalg.cholesky(within))
    eigenvalues = torch.linalg.eigvalsh(centred_means @ solved / count)
    # a ratio below float32 rounding is no separation, whatever the scale (identical views give 1)
    return _entropy_rank(eigenvalues, torch.finfo(torch.float32).eps * dim * max(1.0, float(eigenvalues.max())))


def _entropy_rank(values: torch.Tensor, tolerance: float) -> float:
    """exp(entropy) of `values` (singular values or eigenvalues) normalised to sum 1, those <= `tolerance`
    left out; 1 when none is left."""
    values = values[values > tolerance]
    if len(values) == 0:
        return 1.0
    p = values / values.sum()
    return float(torch.exp(-(p * p.log()).sum()))


KNN_TEMPERATURE = 0.07
"""kNN votes weigh each neighbour by exp(cosine similarity / this): the training kNN accuracy, the kNN probe and
the app's "Try an image" vote all use it."""


def knn_accuracy(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor, test_y: torch.Tensor,
                 k: int, temperature: float = KNN_TEMPERATURE) -> float:
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
                    temperature: float = KNN_TEMPERATURE) -> torch.Tensor:
    """The label `knn_accuracy`'s classifier gives each test embedding (training samples with a label < 0
    are ignored; there must be at least one labelled)."""
    train_keep = train_y >= 0
    train_z, train_y = _normalised(train_z[train_keep]), train_y[train_keep].long()
    test_z = _normalised(test_z)
    classes, train_class = torch.unique(train_y, return_inverse=True)
    votes = weighted_votes(test_z @ train_z.T, train_class, len(classes), k, temperature)
    return classes[votes.argmax(dim=1)]


def weighted_votes(similarity: torch.Tensor, train_class: torch.Tensor, num_classes: int, k: int,
                   temperature: float = KNN_TEMPERATURE) -> torch.Tensor:
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
