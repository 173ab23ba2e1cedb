"""A scan's resized frames, held in memory up to a byte budget and in a temporary file beyond it.

The cache can assemble its tensor only once the scan is done (the order of a volume's slices, the choice
of slices, the dtype and the channel count depend on every file), so it must keep every frame until then.
Frames are packed back to back, in memory while they fit the budget; past it they move to an unnamed
temporary file (gone when the spool is closed, or the process ends). Each frame costs its pixels plus
9 bytes (offset and kind), not a Python array object each.
"""
from __future__ import annotations

import tempfile
from array import array
from pathlib import Path

import numpy as np


class FrameSpool:
    """Frames appended in order and read back by position (a `FrameSink` for `scan_folder`).

    Read frames only after the last append. Use it as a context manager, so the file is closed."""

    def __init__(self, budget_bytes: int, folder: Path) -> None:
        self.budget_bytes = budget_bytes
        self.folder = Path(folder)
        self._packed: bytearray | None = bytearray()
        self._file = None
        self._size = 0
        self._offsets = array("q")
        self._kinds = array("B")
        self._kind_table: list[tuple[np.dtype, tuple[int, ...]]] = []

    @property
    def spilled(self) -> bool:
        """Whether the frames are in the temporary file rather than in memory."""
        return self._file is not None

    def __len__(self) -> int:
        return len(self._offsets)

    def append(self, pixels: np.ndarray) -> None:
        kind = (pixels.dtype, pixels.shape)
        if kind not in self._kind_table:
            self._kind_table.append(kind)
        self._offsets.append(self._size)
        self._kinds.append(self._kind_table.index(kind))
        data = np.ascontiguousarray(pixels).reshape(-1).view(np.uint8).data
        self._size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._packed += data
        if self._size > self.budget_bytes:
            self._spill()

    def reserve(self, nbytes: int) -> None:
        """Make room for `nbytes` more in memory: when the frames held and `nbytes` would pass the budget,
        the frames move to the temporary file (call after the last append)."""
        if self._file is None and self._size + nbytes > self.budget_bytes:
            self._spill()

    def __getitem__(self, index: int) -> np.ndarray:
        dtype, shape = self._kind_table[self._kinds[index]]
        start, count = self._offsets[index], int(np.prod(shape))
        if self._file is None:
            return np.frombuffer(self._packed, dtype, count, start).reshape(shape).copy()
        self._file.seek(start)
        return np.frombuffer(self._file.read(count * dtype.itemsize), dtype).reshape(shape)

    def close(self) -> None:
        self._packed = None
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> FrameSpool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _spill(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(prefix=".frames-", dir=self.folder)
        self._file.write(self._packed)
        self._packed = None
