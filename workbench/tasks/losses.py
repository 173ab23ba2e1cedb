"""Loss functions of the built-in tasks: pure functions of tensors, computed in float32."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float,
                 exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent (SimCLR): each view must pick its partner out of the other 2B-1 views by cosine similarity.

    `z1[i]` and `z2[i]` are projections of two views of image i. `exclude` (B, B) bool, optional: where
    True, images i and j are no negatives of each other (e.g. slices of one volume): neither of i's views
    is a candidate for j's views. Its diagonal is ignored, so a positive pair stays. Returns (mean loss,
    (B,) loss per image, the mean of the image's two views' cross-entropies).
    """
    batch = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is never its own candidate
    if exclude is not None:
        logits = logits.masked_fill(_off_diagonal(exclude).repeat(2, 2), float("-inf"))
    partner = torch.arange(2 * batch, device=z.device).roll(batch)  # view i's partner is i + B (mod 2B)
    per_view = F.cross_entropy(logits, partner, reduction="none")
    per_sample = (per_view[:batch] + per_view[batch:]) / 2
    return per_sample.mean(), per_sample


def negative_cosine_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's regression loss per sample: 2 - 2 cos(prediction, target), between 0 (aligned) and 4."""
    cosine = F.cosine_similarity(prediction.float(), target.float(), dim=1)
    return 2 - 2 * cosine


def pair_cosines(z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cosine similarity of positive pairs (z1[i], z2[i]) and of all other pairs among the 2B views.

    Health signals for contrastive learning: positives should approach 1, negatives stay near 0.
    Computed in O(B * D) without the full similarity matrix.
    """
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    count = z.shape[0]
    positive_sum = (z[: count // 2] * z[count // 2:]).sum()
    all_pairs_sum = z.sum(0).square().sum()  # sum over all i, j of z_i . z_j
    self_sum = z.square().sum()  # the diagonal, i == j
    negative_sum = all_pairs_sum - self_sum - 2 * positive_sum
    return positive_sum / (count // 2), negative_sum / (count * (count - 2))


def info_nce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float,
                  negatives: torch.Tensor | None = None, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE (MoCo) per query: pick `key[i]` for `query[i]` by cosine similarity / temperature.

    Without `negatives` the candidates are all B keys of the batch (MoCo v3), less those where `exclude`
    (B, B) bool is True off the diagonal (e.g. slices of the query's volume); with `negatives` (Q, D) they
    are the own key plus those queued keys (MoCo v2; `exclude` is not used). Returns the (B,) cross-entropies.
    """
    q = F.normalize(query.float(), dim=1)
    k = F.normalize(key.float(), dim=1)
    if negatives is None:
        logits = q @ k.T
        if exclude is not None:
            logits = logits.masked_fill(_off_diagonal(exclude), float("-inf"))
        target = torch.arange(q.shape[0], device=q.device)
    else:
        positive = (q * k).sum(1, keepdim=True)
        logits = torch.cat([positive, q @ F.normalize(negatives.float(), dim=1).T], dim=1)
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits / temperature, target, reduction="none")


def _off_diagonal(mask: torch.Tensor) -> torch.Tensor:
    """A square bool mask with its diagonal cleared."""
    return mask & ~torch.eye(mask.shape[0], dtype=torch.bool, device=mask.device)


def standardize_batch(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each feature to zero mean and unit (biased) variance over the batch, like affine-free BatchNorm."""
    z = z.float()
    return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor,
                      off_diagonal_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Barlow Twins: the cross-correlation of the batch-standardised views should be the identity matrix.

    Returns (loss, on-diagonal term sum (1 - c_ii)^2, off-diagonal term sum_{i != j} c_ij^2), with
    loss = on + off_diagonal_weight * off.
    """
    c = standardize_batch(z1).T @ standardize_batch(z2) / z1.shape[0]
    diagonal = torch.diagonal(c)
    on = (1 - diagonal).square().sum()
    off = c.square().sum() - diagonal.square().sum()
    return on + off_diagonal_weight * off, on, off


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-4) -> dict[str, torch.Tensor]:
    """VICReg's three terms, unweighted.

    invariance: mean squared distance of the paired views; variance: mean over features of
    max(0, 1 - std) (std = sqrt(var + eps), unbiased), averaged over the two views; covariance: sum of the
    squared off-diagonal covariances divided by the feature count, summed over the two views.
    """
    z1, z2 = z1.float(), z2.float()
    invariance = F.mse_loss(z1, z2)
    variance = torch.zeros((), device=z1.device)
    covariance = torch.zeros((), device=z1.device)
    batch, dim = z1.shape
    for z in (z1, z2):
        variance = variance + F.relu(1 - torch.sqrt(z.var(0) + eps)).mean() / 2
        centred = z - z.mean(0)
        cov = centred.T @ centred / (batch - 1)
        covariance = covariance + (cov.square().sum() - torch.diagonal(cov).square().sum()) / dim
    return {"invariance": invariance, "variance": variance, "covariance": covariance}


def dino_loss(student: torch.Tensor, teacher: torch.Tensor, center: torch.Tensor, student_temperature: float,
              teacher_temperature: float) -> torch.Tensor:
    """DINO's cross-entropy between the sharpened, centred teacher and the student, per image.

    `student` (Vs, B, K) logits of all views, `teacher` (Vt, B, K) logits of the global views, which are the
    first Vt student views too. Every (teacher view, student view) pair of different views counts; returns
    the (B,) mean over those pairs of -sum_k p_teacher log p_student.
    """
    targets = F.softmax((teacher.float() - center) / teacher_temperature, dim=-1)
    log_student = F.log_softmax(student.float() / student_temperature, dim=-1)
    cross = -torch.einsum("tbk,sbk->tsb", targets, log_student)  # (Vt, Vs, B)
    # every pair but a view with itself (the diagonal): sums, not a boolean mask, whose indexing waits for the GPU
    teacher_views, student_views = teacher.shape[0], student.shape[0]
    pairs = teacher_views * student_views - min(teacher_views, student_views)
    return (cross.sum(dim=(0, 1)) - cross.diagonal(dim1=0, dim2=1).sum(-1)) / pairs


def masked_reconstruction_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                               kind: str = "mse") -> torch.Tensor:
    """Per-sample mean error over the masked elements only ("mse" or "l1").

    `mask` (1 = counted) broadcasts to `prediction`'s shape, e.g. (B, N, 1) for patches or (B, 1, H, W)
    for pixels. A sample without masked elements counts 0.
    """
    error = prediction.float() - target.float()
    error = error.square() if kind == "mse" else error.abs()
    weights = mask.float().expand_as(error)
    dims = tuple(range(1, error.ndim))
    return (error * weights).sum(dims) / weights.sum(dims).clamp_min(1)
