"""Held-out splits that keep each group on one side: slices of one patient (or series, or folder of frames)
are near-duplicates, so a test image whose patient also trains would flatter any probe.

A group id is `<kind>:<pseudonym>` (see `group_id`); the kind (patient, study, series, folder, file or
image) only names the split in reports. Live evaluation and the probes split with `group_split`; the
probes take their label fractions with `group_fraction`.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Hashable, Sequence

GROUP_KINDS = {"patient": "patients", "study": "studies", "series": "series", "folder": "folders",
               "file": "files", "image": "images", "group": "groups"}
"""Singular -> plural of each kind of group; "group" stands for ids of mixed or unknown kind."""
_ATTEMPTS = 20
"""Seeded draws `group_split` tries before giving up on putting every class on both sides."""


def group_id(kind: str, pseudonym: str) -> str:
    """The group id of an image: the kind of group (a key of `GROUP_KINDS`) and its pseudonym."""
    return f"{kind}:{pseudonym}"


def group_kind(group: str) -> str:
    """The kind of a group id made by `group_id`; "group" for any other id."""
    kind, separator, _ = group.partition(":")
    return kind if separator and kind in GROUP_KINDS else "group"


def _members(groups: Sequence[str]) -> dict[str, list[int]]:
    """The positions of each group, groups in order of first appearance; an empty id is a group of its own."""
    members: dict[str, list[int]] = {}
    for position, group in enumerate(groups):
        members.setdefault(group or group_id("image", f"#{position}"), []).append(position)
    return members


def _unit(members: dict[str, list[int]]) -> str:
    """What the groups are, in one word: "image" when each holds one image of its own file, else their
    common kind, else "group"."""
    kinds = {"image" if group_kind(key) == "file" and len(positions) == 1 else group_kind(key)
             for key, positions in members.items()}
    return kinds.pop() if len(kinds) == 1 else "group"


def _count(number: int, unit: str) -> str:
    """'1 patient', '6 patients'."""
    return f"{number} {unit if number == 1 else GROUP_KINDS[unit]}"


def _by_rarest_class(members: dict[str, list[int]], labels: Sequence[Hashable]) -> dict[Hashable, list[str]]:
    """The groups under the rarest class among their images (fewest images overall), classes sorted: splitting
    each class's groups apart spreads a rare class over both sides even when it shares groups."""
    counts = Counter(labels)
    buckets: dict[Hashable, list[str]] = {}
    for key, positions in members.items():
        rarest = min({labels[position] for position in positions}, key=lambda label: (counts[label], label))
        buckets.setdefault(rarest, []).append(key)
    return dict(sorted(buckets.items()))


def classes_in_one_group(groups: Sequence[str], labels: Sequence[Hashable]) -> set[Hashable]:
    """The classes whose images all belong to one group: no split can test them on a group not trained on."""
    holders: dict[Hashable, set[str]] = {}
    for key, positions in _members(groups).items():
        for position in positions:
            holders.setdefault(labels[position], set()).add(key)
    return {label for label, keys in holders.items() if len(keys) < 2}


def _require_two_groups_per_class(groups: Sequence[str], labels: Sequence[Hashable]) -> None:
    """Raise ValueError, naming the numbers and what to do, when a split cannot hold every class on both sides."""
    members = _members(groups)
    unit = _unit(members)
    units = GROUP_KINDS[unit]
    if len(members) < 2:
        raise ValueError(f"the labelled images come from only {_count(len(members), unit)}: a held-out test set "
                         f"needs at least 2 {units}, since one never sits on both sides; label images of more {units}")
    lonely = sorted(classes_in_one_group(groups, labels))
    if lonely:
        images = sum(1 for label in labels if label == lonely[0])
        raise ValueError(f"class {lonely[0]!r} has its {images} labelled image(s) from only 1 {unit}: a held-out "
                         f"split keeps each {unit} on one side, so every class needs at least 2 {units} (one to "
                         f"train on, one to test on); label images of this class from more {units}, or leave the "
                         f"class out")


def _draw_test_groups(members: dict[str, list[int]], buckets: dict[Hashable, list[str]], test_fraction: float,
                      rng: random.Random) -> set[str]:
    """Per class bucket, whole groups in a random order go to the test side while that brings it nearer
    `test_fraction` of the bucket's images; the first always does and the last always trains (a lone group
    goes to a random side: its classes have other groups, in other buckets)."""
    test: set[str] = set()
    for keys in buckets.values():
        order = list(keys)
        rng.shuffle(order)
        if len(order) == 1 and rng.random() < 0.5:
            test.add(order[0])
        target = test_fraction * sum(len(members[key]) for key in keys)
        taken = 0
        for key in order[:-1]:
            size = len(members[key])
            if taken and abs(taken + size - target) >= abs(taken - target):
                continue
            test.add(key)
            taken += size
    return test


def _one_sided_class(members: dict[str, list[int]], labels: Sequence[Hashable], test: set[str]) -> Hashable | None:
    """A class found on one side of the split only (the first in sorted order), or None."""
    sides: dict[Hashable, set[bool]] = {}
    for key, positions in members.items():
        for position in positions:
            sides.setdefault(labels[position], set()).add(key in test)
    return next((label for label, seen in sorted(sides.items()) if len(seen) < 2), None)


def group_split(groups: Sequence[str], labels: Sequence[Hashable], test_fraction: float,
                seed: int) -> tuple[list[int], list[int]]:
    """Split labelled images (positions 0..n-1) into sorted (train, test): no group on both sides, every
    class on both sides and near `test_fraction` of each class held out, as far as whole groups allow.

    `groups[i]` and `labels[i]` are image i's group id and class; an empty id is a group of its own (plain
    images: a per-image stratified split). The same input and seed give the same split (group ids are
    taken in order of appearance, so the pseudonyms' salt does not matter). Raises ValueError, with the
    numbers and what to do, when there are too few groups: fewer than 2, or a class in only one.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} group ids for {len(labels)} labels")
    _require_two_groups_per_class(groups, labels)
    members = _members(groups)
    buckets = _by_rarest_class(members, labels)
    rng = random.Random(seed)
    for _ in range(_ATTEMPTS):
        test = _draw_test_groups(members, buckets, test_fraction, rng)
        missing = _one_sided_class(members, labels, test)
        if missing is None:
            test_positions = sorted(position for key in test for position in members[key])
            held_out = set(test_positions)
            return [position for position in range(len(groups)) if position not in held_out], test_positions
    unit = _unit(members)
    raise ValueError(f"class {missing!r} could not be put on both sides with whole {GROUP_KINDS[unit]}: it "
                     f"shares its {GROUP_KINDS[unit]} with other classes; label images of it from more "
                     f"{GROUP_KINDS[unit]}")


def group_fraction(groups: Sequence[str], labels: Sequence[Hashable], fraction: float, seed: int) -> list[int]:
    """Sorted positions of about `fraction` of the labelled images, as whole groups stratified by class.

    Per class bucket (as `group_split` has them), groups in a seeded order until the bucket has at least its
    share of images (rounded up: at least one group); then one group for any class still without a label.
    Without group ids this is a per-class share of single images, rounded up.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fractions must be in (0, 1], got {fraction}")
    members = _members(groups)
    rng = random.Random(seed * 7919 + 17)
    chosen: list[str] = []
    for keys in _by_rarest_class(members, labels).values():
        order = list(keys)
        rng.shuffle(order)
        target, taken = fraction * sum(len(members[key]) for key in keys) - 1e-9, 0
        for key in order:
            if taken >= target:
                break
            chosen.append(key)
            taken += len(members[key])
    present = {labels[position] for key in chosen for position in members[key]}
    for label in sorted(set(labels) - present):
        chosen.append(next(key for key in members if any(labels[p] == label for p in members[key])))
    return sorted(position for key in set(chosen) for position in members[key])


def describe_split(groups: Sequence[str], tests: Sequence[Sequence[int]]) -> str:
    """'split by patient (20 patients: 14 train, 6 test)', or 'split by image (...)' when images have no
    shared group; `groups` are the split images' ids and `tests` the test positions of each seed's split."""
    members = _members(groups)
    unit = _unit(members)
    group_of = {position: key for key, positions in members.items() for position in positions}
    held_out = sorted({len({group_of[position] for position in test}) for test in tests})
    trained = sorted({len(members) - count for count in held_out})

    def span(values: list[int]) -> str:
        return str(values[0]) if values[0] == values[-1] else f"{values[0]}–{values[-1]}"

    return f"split by {unit} ({_count(len(members), unit)}: {span(trained)} train, {span(held_out)} test)"
