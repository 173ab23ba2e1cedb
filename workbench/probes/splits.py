"""The probes' splits: per seed, a held-out test set and label fractions of the rest, all of whole groups
(patients, series, folders; single images when the data has none), made by `workbench.data.splits`."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.data.splits import classes_in_one_group, describe_split, group_fraction, group_id, group_split

DEFAULT_TEST_FRACTION = 0.3
VALIDATION_FRACTION = 0.15
"""The share of a split's training labels that the trained baselines hold out for early stopping."""


@dataclass(frozen=True)
class ProbeSplit:
    """Indices into the dataset: `train` (the labels a probe may use) and `test` (held out)."""

    fraction: float
    seed: int
    train: torch.Tensor
    test: torch.Tensor


def _labelled(labels: torch.Tensor, groups: list[str], class_names: list[str] | None):
    """Dataset indices of the labelled images, with their group ids and class names (numbers when unnamed)."""
    indices = torch.nonzero(labels >= 0).flatten()
    if len(indices) == 0 or len(torch.unique(labels[indices])) < 2:
        raise ValueError("probing needs labelled images of at least two classes")
    names = [class_names[label] if class_names else label for label in labels[indices].tolist()]
    return indices, [groups[index] for index in indices.tolist()], names


def probe_splits(labels: torch.Tensor, groups: list[str], fractions: list[float], seeds: int,
                 test_fraction: float = DEFAULT_TEST_FRACTION,
                 class_names: list[str] | None = None) -> list[ProbeSplit]:
    """For each seed a held-out test split (`group_split`), and for each label fraction whole groups of its
    train side (`group_fraction`). `groups[i]` is dataset image i's group id ("" for none)."""
    indices, held_groups, names = _labelled(labels, groups, class_names)
    splits = []
    for seed in range(seeds):
        train, test = group_split(held_groups, names, test_fraction, seed)
        for fraction in fractions:
            kept = group_fraction([held_groups[i] for i in train], [names[i] for i in train], fraction, seed)
            splits.append(ProbeSplit(fraction, seed, indices[[train[i] for i in kept]], indices[test]))
    return splits


def label_counts(splits: list[ProbeSplit], fractions: list[float]) -> list[list[int]]:
    """Per fraction, the labelled training images each seed's split used (a share is taken per class, rounded
    up: at least one image, or one group, per class)."""
    return [[len(split.train) for split in splits if split.fraction == fraction] for fraction in fractions]


def split_description(labels: torch.Tensor, groups: list[str], splits: list[ProbeSplit]) -> str:
    """How `splits` held images out, e.g. 'split by patient (20 patients: 14 train, 6 test)'."""
    indices, held_groups, _ = _labelled(labels, groups, None)
    place = {index: number for number, index in enumerate(indices.tolist())}
    return describe_split(held_groups, [[place[index] for index in split.test.tolist()] for split in splits])


def validation_split(train: torch.Tensor, labels: torch.Tensor, groups: list[str], seed: int,
                     fraction: float = VALIDATION_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's training indices as sorted (fit, validation): about `fraction` of each class's labels held out
    for early stopping, as whole groups (`group_split`: at least one group per class, never the test set). A
    class with a single group (one image, at 1 % labels) cannot be validated and stays whole in fit, as does
    any group holding such a class; the validation part is empty when no class has two groups."""
    positions = train.tolist()
    ids = [groups[index] or group_id("image", f"#{index}") for index in positions]
    names = labels[train].tolist()
    kept = list(range(len(positions)))
    while lonely := classes_in_one_group([ids[i] for i in kept], [names[i] for i in kept]):
        blocked = {ids[i] for i in kept if names[i] in lonely}
        kept = [i for i in kept if ids[i] not in blocked]
    try:
        _, held = group_split([ids[i] for i in kept], [names[i] for i in kept], fraction, seed)
    except ValueError:  # fewer than two groups left, or a class that whole groups cannot put on both sides
        held = []
    validation = {positions[kept[i]] for i in held}
    return (torch.tensor(sorted(set(positions) - validation), dtype=torch.long),
            torch.tensor(sorted(validation), dtype=torch.long))
