"""Cheap, bounded health checks during training: embedding spread, RankMe, LiDAR, alignment and uniformity,
and kNN and linear probes on a fixed evaluation subset."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from workbench.control import CancelToken
from workbench.data.splits import classes_in_one_group, group_split
from workbench.metrics import alignment, effective_rank, embedding_std, knn_accuracy, lidar, uniformity
from workbench.metrics.linear_probe import linear_probe

VIEW_IMAGES = 64
"""Images of the evaluation subset whose augmented views give LiDAR and alignment."""
VIEWS_PER_IMAGE = 4


@dataclass(frozen=True)
class EvalSubset:
    """A fixed sample of the dataset, and a fixed train/test split of its labelled part for the kNN probe."""

    indices: torch.Tensor
    knn_train: torch.Tensor
    knn_test: torch.Tensor

    @property
    def has_probe(self) -> bool:
        return len(self.knn_train) > 0 and len(self.knn_test) > 0


def choose_eval_subset(labels: torch.Tensor, size: int, test_fraction: float, seed: int,
                       groups: list[str] | None = None) -> EvalSubset:
    """Pick the evaluation subset (labelled images first) and split it for the probe, reproducibly.

    The split is `group_split`'s: with `groups` (pseudonymous patient, series or folder ids) images of one
    group never sit on both sides, since slices of one patient are near-duplicates and would flatter the
    accuracy; without, each image is a group of its own. A class whose subset images all share one group
    is left out of the probe (it cannot be tested on an unseen group); fewer than two classes left: no probe."""
    generator = torch.Generator().manual_seed(seed + 7919)
    order = torch.randperm(len(labels), generator=generator)
    labelled = order[labels[order] >= 0]
    unlabelled = order[labels[order] < 0]
    indices = torch.cat([labelled, unlabelled])[:size]
    subset_labels = labels[indices]
    positions = torch.nonzero(subset_labels >= 0).flatten()
    picked = [groups[i] for i in indices[positions].tolist()] if groups is not None else [""] * len(positions)
    lonely = classes_in_one_group(picked, subset_labels[positions].tolist())
    kept = [place for place, label in enumerate(subset_labels[positions].tolist()) if label not in lonely]
    positions = positions[kept]
    empty = torch.empty(0, dtype=torch.long)
    if len(torch.unique(subset_labels[positions])) < 2:
        return EvalSubset(indices, empty, empty)
    try:
        train, test = group_split([picked[place] for place in kept], subset_labels[positions].tolist(),
                                  test_fraction, seed)
    except ValueError:  # classes that share every group with other classes: training goes on without a probe
        return EvalSubset(indices, empty, empty)
    return EvalSubset(indices, positions[train], positions[test])


@torch.no_grad()
def embed(encoder: nn.Module, images: torch.Tensor, normalize, device: torch.device, batch_size: int,
          autocast_context=contextlib.nullcontext, cancel: CancelToken | None = None) -> torch.Tensor:
    """Embeddings (float32, on the device) of cached images, in evaluation mode and without augmentation:
    `normalize` turns a batch of cached images into the encoder's input; `cancel` is checked between batches."""
    was_training = encoder.training
    encoder.eval()
    chunks = []
    for start in range(0, len(images), batch_size):
        if cancel:
            cancel.raise_if_cancelled()
        batch = normalize(images[start:start + batch_size].to(device, non_blocking=True))
        with autocast_context():
            chunks.append(encoder(batch).float())
    encoder.train(was_training)
    return torch.cat(chunks)


def augmented_views(encoder: nn.Module, images: torch.Tensor, augment, device: torch.device, batch_size: int,
                    autocast_context=contextlib.nullcontext, count: int = VIEWS_PER_IMAGE) -> torch.Tensor:
    """(images, count, dim) embeddings of `count` augmented views of each image (`augment` as `embed`'s
    `normalize`: it draws fresh views at each call)."""
    return torch.stack([embed(encoder, images, augment, device, batch_size, autocast_context)
                        for _ in range(count)], dim=1)


def health_values(embeddings: torch.Tensor, labels: torch.Tensor, subset: EvalSubset, k: int,
                  views: torch.Tensor | None = None) -> dict[str, float]:
    """embedding_std, effective_rank (RankMe), uniformity; with `views` (`augmented_views` of some subset
    images) lidar and the alignment of consecutive views; when the subset has labels, knn_accuracy and
    linear_accuracy (an online linear probe on the same split)."""
    values = {"embedding_std": embedding_std(embeddings), "effective_rank": effective_rank(embeddings),
              "uniformity": uniformity(embeddings)}
    if views is not None:
        values["lidar"] = lidar(views)
        values["alignment"] = alignment(views[:, :-1].flatten(0, 1), views[:, 1:].flatten(0, 1))
    if subset.has_probe:
        labels = labels.to(embeddings.device)
        train_z, train_y = embeddings[subset.knn_train], labels[subset.knn_train]
        test_z, test_y = embeddings[subset.knn_test], labels[subset.knn_test]
        values["knn_accuracy"] = knn_accuracy(train_z, train_y, test_z, test_y, k)
        values["linear_accuracy"] = linear_probe(train_z, train_y, test_z, test_y, int(labels.max()) + 1).accuracy
    return values
