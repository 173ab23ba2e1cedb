"""Putting slices together into volumes: grouping, scouts, splitting a series by what varies, ordering.

Slices belong together when they share a volume id (a DICOM series, a multi-frame file, a NIfTI file).
Localizer/scout images (decided from the header, see `series_facts`) are left out. A series is then split:

- by orientation: the orientation most slices share is the volume, slices in any less common one are
  scouts; orientations tied for most slices each become a volume (nothing depends on names or order);
- by an attribute that varies (stack, b-value, gradient direction, echo, temporal position, acquisition,
  other dimension indices) when the same slice position occurs under two of its values;
- at a gap wider than `GAP_FACTOR` x the usual slice spacing (listed as a notice).

Within a volume slices are ordered by their position along the slice normal (ImagePositionPatient on the
row x column direction), not by InstanceNumber, which scanners and exports often get wrong. Slices at the
same position are kept and flagged as duplicates. Volumes split from one id get ids `<id>.1`, `<id>.2`, ...
so that 2.5-D context slices and sequences never cross a sub-volume boundary or a gap.
"""
from __future__ import annotations

import statistics
from collections import Counter

from workbench.data.records import FrameInfo, ImageRecord, SkippedFile
from workbench.data.sequences import natural_key

LOCALIZER_REASON = "localizer/scout image left out"
ORIENTATION_REASON = "localizer/scout image left out (its orientation differs from the rest of its series)"
DUPLICATE_NOTICE = "same slice position as another slice of its volume (a duplicate?)"
SPLIT_ORDER = ("stack", "b-value", "direction", "echo", "temporal", "acquisition", "dimension")
GAP_FACTOR = 1.5
POSITION_DECIMALS = 2


def assemble_volumes(records: list[ImageRecord], infos: list[FrameInfo],
                     notices: list[SkippedFile] | None = None) -> tuple[list[int], list[SkippedFile]]:
    """The order to keep records in, and the images left out; `notices`, when given, receives what is odd
    about kept ones (duplicate positions, gaps).

    Each volume's slices come together, in order along the normal, where its first slice was; their
    `slice_index` is set to 0, 1, ... and a split volume's records get their sub-volume id. Plain 2-D images
    keep their place.
    """
    dropped = {index: LOCALIZER_REASON for index, info in enumerate(infos) if info.localizer}
    flagged: list[tuple[int, str]] = []
    members: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        if record.volume is not None and index not in dropped:
            members.setdefault(record.volume, []).append(index)
    placed: dict[int, list[int]] = {}  # a volume's first slice in scan order: the volume's slices in order
    for volume, indices in members.items():
        stacks = split_series(indices, infos, dropped, flagged)
        for number, stack in enumerate(stacks):
            for slice_index, index in enumerate(stack):
                records[index].volume = volume if len(stacks) == 1 else f"{volume}.{number + 1}"
                records[index].slice_index = slice_index
        placed[indices[0]] = [index for stack in stacks for index in stack]
    in_volume = {index for indices in members.values() for index in indices}
    order: list[int] = []
    for index in range(len(records)):
        if index in placed:
            order.extend(placed[index])
        elif index not in in_volume and index not in dropped:
            order.append(index)
    if notices is not None:
        notices.extend(_listed(records, flagged))
    return order, _listed(records, sorted(dropped.items()))


def split_series(indices: list[int], infos: list[FrameInfo], dropped: dict[int, str],
                 notices: list[tuple[int, str]]) -> list[list[int]]:
    """One volume id's slices as ordered stacks (see the module docstring); fills `dropped` and `notices`."""
    groups = _by_orientation(indices, infos, dropped)
    for name in SPLIT_ORDER:
        groups = [part for group in groups for part in _split_by(group, infos, name)]
    stacks = []
    for group in groups:
        group.sort(key=lambda index: _slice_key(index, infos[index].position))
        _flag_duplicates(group, infos, notices)
        stacks.extend(_cut_at_gaps(group, infos, notices))
    return stacks


def _by_orientation(indices: list[int], infos: list[FrameInfo], dropped: dict[int, str]) -> list[list[int]]:
    """Slices grouped by orientation: the groups with the most slices; the others are left out as scouts."""
    groups: dict[tuple, list[int]] = {}
    for index in indices:
        orientation = infos[index].orientation
        groups.setdefault(tuple(orientation) if orientation is not None else (), []).append(index)
    most = max(len(group) for group in groups.values())
    for group in groups.values():
        if len(group) < most:
            dropped.update((index, ORIENTATION_REASON) for index in group)
    return [groups[key] for key in sorted(groups) if len(groups[key]) == most]


def _split_by(group: list[int], infos: list[FrameInfo], name: str) -> list[list[int]]:
    """`group` split by the values of attribute `name`, when the same position occurs under two values."""
    parts: dict[str, list[int]] = {}
    for index in group:
        parts.setdefault(infos[index].split.get(name, ""), []).append(index)
    if len(parts) < 2:
        return [group]
    seen: Counter = Counter()
    for part in parts.values():
        positions = {_rounded(infos[index].position) for index in part}
        if None in positions:
            break  # without positions, a varying value is all there is to go by
        seen.update(positions)
    else:
        if max(seen.values()) < 2:
            return [group]  # e.g. AcquisitionNumber counting slices: one stack
    return [parts[value] for value in sorted(parts, key=natural_key)]


def _flag_duplicates(stack: list[int], infos: list[FrameInfo], notices: list[tuple[int, str]]) -> None:
    positions = [_rounded(infos[index].position) for index in stack]
    for index, before, position in zip(stack[1:], positions, positions[1:]):
        if position is not None and position == before:
            notices.append((index, DUPLICATE_NOTICE))


def _cut_at_gaps(stack: list[int], infos: list[FrameInfo], notices: list[tuple[int, str]]) -> list[list[int]]:
    """The stack cut where a slice lies more than `GAP_FACTOR` x the usual (median) spacing past the previous."""
    positions = [infos[index].position for index in stack]
    steps = [after - before for before, after in zip(positions, positions[1:]) if None not in (before, after)]
    if len(steps) < 2 or len(steps) < len(stack) - 1:
        return [stack]
    usual = statistics.median(step for step in steps if step > 0) if any(steps) else 0.0
    stacks = [[stack[0]]]
    for index, step in zip(stack[1:], steps):
        if usual > 0 and step > GAP_FACTOR * usual:
            notices.append((index, f"gap of {step:.1f} mm before this slice (usual spacing {usual:.1f} mm): "
                                   "a new volume starts here, so 2.5-D context does not cross the gap"))
            stacks.append([])
        stacks[-1].append(index)
    return stacks


def _listed(records: list[ImageRecord], entries: list[tuple[int, str]]) -> list[SkippedFile]:
    """One `SkippedFile` per file and reason; a frame of a multi-frame file is named in the reason."""
    frames = Counter(record.path for record in records)
    listed = []
    for index, reason in entries:
        record = records[index]
        prefix = f"frame {record.frame + 1}: " if frames[record.path] > 1 and not reason.startswith("localizer") else ""
        listed.append(SkippedFile(record.path, prefix + reason))
    return list({(item.path, item.reason): item for item in listed}.values())


def _rounded(position: float | None) -> float | None:
    return None if position is None else round(position, POSITION_DECIMALS) + 0.0


def _slice_key(index: int, position: float | None) -> tuple:
    """Sort by position; slices without one keep their scan order, after those with one."""
    return (position is None, position if position is not None else 0.0, index)
