"""Image sequences: which images are frames of one sequence, and in what order.

A volume (DICOM series, multi-frame file, NIfTI) is always a sequence, in slice order. With
`data.sequences: folders`, the plain images directly inside one folder form a sequence too (video frames,
an exported slice stack), ordered by file name with numbers compared as numbers ("frame_2" before
"frame_10"), then by frame within the file. Positions count the images the dataset kept, so they stay in
order (and without gaps) when slices are thinned out by `slices_per_volume` or `min_foreground`.

`SequenceTable` answers "the frame at position p of image i's sequence" with tensor indexing only.
"""
from __future__ import annotations

import re

import torch

from workbench.data.records import ImageRecord

SEQUENCE_MODES = ("none", "folders")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """A sort key that compares runs of digits as numbers: frame_2 < frame_10 < Frame_11."""
    parts = _DIGITS.split(name)  # text, digits, text, ...: the types alternate in the same places
    return tuple(int(part) if index % 2 else part.casefold() for index, part in enumerate(parts)) + (name,)


def sequence_numbers(records: list[ImageRecord], mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(sequence index, position) of each record, both (N,) int64; index -1 and position 0 outside any.

    Sequences are numbered in order of first appearance. Volumes are ordered by `slice_index`; folder
    sequences (mode "folders", plain images only) by the natural order of the file name.
    """
    if mode not in SEQUENCE_MODES:
        raise ValueError(f"unknown sequence mode {mode!r}; choose one of {', '.join(SEQUENCE_MODES)}")
    members: dict[tuple, list[int]] = {}
    for index, record in enumerate(records):
        if record.volume is not None:
            members.setdefault(("volume", record.volume), []).append(index)
        elif mode == "folders":
            folder = record.path.rpartition("/")[0]
            members.setdefault(("folder", folder), []).append(index)
    ids = torch.full((len(records),), -1, dtype=torch.int64)
    positions = torch.zeros(len(records), dtype=torch.int64)
    for number, ((kind, _), indices) in enumerate(members.items()):
        if kind == "volume":
            indices = sorted(indices, key=lambda i: (records[i].slice_index, i))
        else:
            indices = sorted(indices, key=lambda i: (natural_key(records[i].path.rpartition("/")[2]),
                                                     records[i].frame))
        for position, index in enumerate(indices):
            ids[index], positions[index] = number, position
    return ids, positions


class SequenceTable:
    """Every dataset row's sequence as a contiguous run of rows in frame order (for a non-empty dataset).

    An image outside any sequence (index -1) is a sequence of one frame of its own here, so every row
    has a `length` >= 1 and `rows(anchors, positions)` works for all of them.
    """

    def __init__(self, sequence_index: torch.Tensor, sequence_position: torch.Tensor):
        count = len(sequence_index)
        singles = int(sequence_index.max().clamp_min(-1)) + 1 + torch.arange(count)
        keys = torch.where(sequence_index >= 0, sequence_index, singles)
        span = int(sequence_position.max()) + 1
        self.order = torch.argsort(keys * span + sequence_position, stable=True)
        """Dataset rows sorted by (sequence, position)."""
        sizes = torch.bincount(keys)
        first = torch.cumsum(sizes, 0) - sizes
        self.start = first[keys]
        """(N,) where each row's sequence begins in `order`."""
        self.length = sizes[keys]
        """(N,) frames in each row's sequence (1 outside any)."""
        self.position = torch.empty(count, dtype=torch.int64)
        self.position[self.order] = torch.arange(count) - self.start[self.order]
        """(N,) each row's place in its sequence, 0 = first."""

    @property
    def longest(self) -> int:
        """Frames in the longest sequence (1 when there are only single images)."""
        return int(self.length.max())

    def rows(self, anchors: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Dataset rows of the frames at `positions` (B, k) in the sequences of rows `anchors` (B,).

        Positions outside a sequence are clamped to its first or last frame.
        """
        last = (self.length[anchors] - 1).unsqueeze(1)
        clamped = torch.minimum(positions.clamp_min(0), last)
        return self.order[self.start[anchors].unsqueeze(1) + clamped]
