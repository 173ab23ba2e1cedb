"""Choosing slices of volumes for 2-D training, and the neighbours that make 2.5-D input.

Plain 2-D images are always kept. Of a volume, slices below `min_foreground` (mostly air) are dropped
first, then at most `slices_per_volume` are taken, evenly spaced from first to last, so a 600-slice scan
weighs no more than a 60-slice one.

With `context_slices = k`, each kept slice becomes a stack of 1 + 2k gray channels: the slices k below to
k above it in its volume (repeating the end slice at the volume's edges; a plain image repeats itself).
Neighbours are taken from all the volume's slices, not only the kept ones.
"""
from __future__ import annotations

from workbench.config import DataConfig
from workbench.config.io import stacked_channels_problem
from workbench.data.records import ImageRecord

EMPTY_REASON = "mostly air (below the minimum foreground)"
SPACING_REASON = "beyond the slices per volume"


def select_slices(records: list[ImageRecord], data_cfg: DataConfig) -> tuple[list[int], dict[str, int]]:
    """Indices of the records to use, in order, and how many slices were left out for each reason."""
    volumes: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        if record.volume is not None:
            volumes.setdefault(record.volume, []).append(index)
    dropped = set()
    counts = {EMPTY_REASON: 0, SPACING_REASON: 0}
    for indices in volumes.values():
        full = [index for index in indices
                if records[index].foreground is None or records[index].foreground >= data_cfg.min_foreground]
        counts[EMPTY_REASON] += len(indices) - len(full)
        chosen = set(evenly_spaced(full, data_cfg.slices_per_volume))
        counts[SPACING_REASON] += len(full) - len(chosen)
        dropped.update(index for index in indices if index not in chosen)
    kept = [index for index in range(len(records)) if index not in dropped]
    return kept, {reason: count for reason, count in counts.items() if count}


def evenly_spaced(items: list, count: int) -> list:
    """`count` items spread evenly from the first to the last (all of them when count is 0 or enough)."""
    if count <= 0 or len(items) <= count:
        return list(items)
    if count == 1:
        return [items[len(items) // 2]]
    return [items[round(step * (len(items) - 1) / (count - 1))] for step in range(count)]


def context_stacks(records: list[ImageRecord], kept: list[int], context: int) -> list[list[int]]:
    """For each kept record, the record indices of its channels: itself, or its 2.5-D neighbourhood."""
    if context == 0:
        return [[index] for index in kept]
    by_slice = {(record.volume, record.slice_index): index for index, record in enumerate(records)
                if record.volume is not None}
    length: dict[str, int] = {}
    for volume, slice_index in by_slice:
        length[volume] = max(length.get(volume, 0), slice_index + 1)
    stacks = []
    for index in kept:
        record = records[index]
        if record.volume is None:
            stacks.append([index] * (2 * context + 1))
            continue
        last = length[record.volume] - 1
        stacks.append([by_slice.get((record.volume, min(max(record.slice_index + offset, 0), last)), index)
                       for offset in range(-context, context + 1)])
    return stacks


def stacked_channels(data_cfg: DataConfig) -> int | None:
    """The channel count 2.5-D input gives (None without context slices); raises if `channels` disagrees."""
    if data_cfg.context_slices == 0:
        return None
    problem = stacked_channels_problem(data_cfg)
    if problem:
        raise ValueError(problem)
    return 1 + 2 * data_cfg.context_slices
