"""Patient-level splits: slices of one patient are near-duplicates, so they stay on one side."""
from __future__ import annotations

import random


def group_split(groups: list[str], test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split positions 0..len(groups)-1 into (train, test) so that no group is on both sides.

    Whole groups, in a seeded random order, go to the test side until it holds about `test_fraction` of
    the items (at least one group when there are two or more; none when there is only one). Both lists
    are sorted. The same groups, fraction and seed give the same split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    members: dict[str, list[int]] = {}
    for position, group in enumerate(groups):
        members.setdefault(group, []).append(position)
    names = sorted(members)
    random.Random(seed).shuffle(names)
    target = test_fraction * len(groups)
    test: list[int] = []
    for name in names[:-1]:  # the last group always trains
        if test and abs(len(test) + len(members[name]) - target) >= abs(len(test) - target):
            continue
        test.extend(members[name])
    test_set = set(test)
    return [position for position in range(len(groups)) if position not in test_set], sorted(test)
