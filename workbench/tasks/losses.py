"""Loss functions of the built-in tasks: pure functions of tensors, computed in float32."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent (SimCLR): each view must pick its partner out of the other 2B-1 views by cosine similarity.

    `z1[i]` and `z2[i]` are projections of two views of image i. Returns (mean loss, (B,) loss per image,
    the mean of the image's two views' cross-entropies).
    """
    batch = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is never its own candidate
    partner = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
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
