"""Stratified splits for probes: a held-out test set, and label fractions of the rest, per seed."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DEFAULT_TEST_FRACTION = 0.3


@dataclass(frozen=True)
class ProbeSplit:
    """Indices into the dataset: `train` (the labels a probe may use) and `test` (held out)."""

    fraction: float
    seed: int
    train: torch.Tensor
    test: torch.Tensor


def _by_class(indices: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """The indices of each class, each list shuffled."""
    groups = []
    for label in torch.unique(labels[indices]).tolist():
        members = indices[labels[indices] == label]
        groups.append(members[torch.randperm(len(members), generator=generator)])
    return groups


def stratified_holdout(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices of the labelled images; each class keeps at least one image on each side."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    labelled = torch.nonzero(labels >= 0).flatten()
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for members in _by_class(labelled, labels, generator):
        if len(members) < 2:
            raise ValueError("each class needs at least 2 labelled images for a held-out test set")
        count = min(len(members) - 1, max(1, round(len(members) * test_fraction)))
        test.append(members[:count])
        train.append(members[count:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(test)).values


def label_fraction(train: torch.Tensor, labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A stratified `fraction` of `train` (rounded up per class, so every class keeps at least one label)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fractions must be in (0, 1], got {fraction}")
    generator = torch.Generator().manual_seed(seed * 7919 + 17)
    kept = [members[:max(1, math.ceil(len(members) * fraction - 1e-9))]
            for members in _by_class(train, labels, generator)]
    return torch.sort(torch.cat(kept)).values


def probe_splits(labels: torch.Tensor, fractions: list[float], seeds: int,
                 test_fraction: float = DEFAULT_TEST_FRACTION) -> list[ProbeSplit]:
    """For each seed a held-out test split, and for each label fraction a stratified subset of its train side."""
    if int((labels >= 0).sum()) == 0 or len(torch.unique(labels[labels >= 0])) < 2:
        raise ValueError("probing needs labelled images of at least two classes")
    splits = []
    for seed in range(seeds):
        train, test = stratified_holdout(labels, test_fraction, seed)
        for fraction in fractions:
            splits.append(ProbeSplit(fraction, seed, label_fraction(train, labels, fraction, seed), test))
    return splits
