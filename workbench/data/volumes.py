"""Putting slices together into volumes: grouping, localizer removal and ordering along the slice normal.

Slices belong together when they share a volume id (a DICOM series, a multi-frame file, a NIfTI file).
Within a volume they are ordered by their position along the slice normal (ImagePositionPatient projected
on the row x column direction of ImageOrientationPatient), not by InstanceNumber, which scanners and
exports often get wrong. Localizer/scout images are left out: those whose ImageType says LOCALIZER (or
SCOUT), and those whose orientation differs from the majority of their series.
"""
from __future__ import annotations

from collections import Counter

from workbench.data.records import FrameInfo, ImageRecord, SkippedFile

LOCALIZER_REASON = "localizer/scout image left out"


def assemble_volumes(records: list[ImageRecord], infos: list[FrameInfo]) -> tuple[list[int], list[SkippedFile]]:
    """The order to keep records in, and the files left out as `SkippedFile`s.

    Each volume's slices come together, in order along the normal, where its first slice was; their
    `slice_index` is set to 0, 1, ... Plain 2-D images keep their place.
    """
    left_out = {records[index].path for index, info in enumerate(infos) if info.localizer}
    members: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        if record.volume is not None and record.path not in left_out:
            members.setdefault(record.volume, []).append(index)
    for indices in members.values():
        left_out.update(records[index].path for index in _off_orientation(indices, infos))
    ordered: dict[str, list[int]] = {}
    for volume, indices in members.items():
        kept = [index for index in indices if records[index].path not in left_out]
        kept.sort(key=lambda index: _slice_key(index, infos[index].position))
        for slice_index, index in enumerate(kept):
            records[index].slice_index = slice_index
        ordered[volume] = kept

    order: list[int] = []
    for index, record in enumerate(records):
        if record.path in left_out:
            continue
        if record.volume is None:
            order.append(index)
        elif record.volume in ordered:
            order.extend(ordered.pop(record.volume))  # the whole volume, once, at its first slice
    skipped = [SkippedFile(path, LOCALIZER_REASON) for path in sorted(left_out)]
    return order, skipped


def _off_orientation(indices: list[int], infos: list[FrameInfo]) -> list[int]:
    """Slices whose orientation differs from their volume's most common one."""
    counts = Counter(tuple(infos[index].orientation) for index in indices if infos[index].orientation is not None)
    if len(counts) < 2:
        return []
    majority = counts.most_common(1)[0][0]
    return [index for index in indices
            if infos[index].orientation is not None and tuple(infos[index].orientation) != majority]


def _slice_key(index: int, position: float | None) -> tuple:
    """Sort by position; slices without one keep their scan order, after those with one."""
    return (position is None, position if position is not None else 0.0, index)
