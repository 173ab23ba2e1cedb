"""The automatic window of a DICOM series: one range over all its slices, decided before any slice is windowed.

A series stored one slice per file would otherwise get each slice's own 1st..99th percentile, so the same HU
would be a different gray from slice to slice. Here a header pass finds the single-frame slices whose window
is automatic (`dicom.auto_window_facts`) and puts them into volumes as the scan will (`volumes.assemble_volumes`:
scouts out, a series split by orientation, echo, b-value...); a volume's range is then computed once,
when its first slice is decoded, by the volume rule NIfTI volumes and multi-frame files use
(`windows.percentile_range` over all the values). A `RangeStore` (the decoded cache) keeps each range under
the names, sizes and modification times of the series' files, so a folder opened again is not decoded for it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from workbench.config import DataConfig
from workbench.data.frame import Frame, frame_info
from workbench.data.privacy import Pseudonymizer
from workbench.data.readers import DICOM_EXTENSIONS, looks_like_dicom
from workbench.data.records import ImageRecord
from workbench.data.volumes import assemble_volumes
from workbench.data.windows import percentile_range

#: The window modes under which a slice's window can be automatic.
_AUTO_MODES = ("auto", "file")


class RangeStore(Protocol):
    """A place that remembers series ranges under a key naming the series' files and their versions."""

    def lookup_range(self, members: list[tuple[str, int, int]]) -> tuple[float, float] | None: ...

    def store_range(self, members: list[tuple[str, int, int]], value_range: tuple[float, float]) -> None: ...


class SeriesRanges:
    """The automatic window's range of each single-frame DICOM slice's series, by the slice's relative path."""

    def __init__(self, root: Path, candidates: list[str], data_cfg: DataConfig, store: RangeStore | None = None):
        self.root = Path(root)
        self.store = store
        self.series_of: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        self.ranges: dict[str, tuple[float, float] | None] = {}
        if data_cfg.dicom_window not in _AUTO_MODES:
            return
        from workbench.data.dicom import auto_window_facts  # pydicom loads only when needed

        pseudonymizer = Pseudonymizer.ephemeral()
        records, infos = [], []
        for relative in candidates:
            path = self.root / relative
            if path.suffix.lower() not in DICOM_EXTENSIONS and not looks_like_dicom(path):
                continue
            try:
                facts = auto_window_facts(path, data_cfg)
            except Exception:  # an unreadable file: its own decode says why
                continue
            if facts is not None and facts.volume_key:
                info = frame_info(Frame(np.zeros((1, 1, 1), np.float32), 16, 1, facts), relative, pseudonymizer)
                records.append(ImageRecord(relative, 0, None, 1, 1, 1, 16, info.volume))
                infos.append(info)
        order, _ = assemble_volumes(records, infos)
        for index in order:
            self.series_of[records[index].path] = records[index].volume
            self.members.setdefault(records[index].volume, []).append(records[index].path)

    def range_for(self, relative: str) -> tuple[float, float] | None:
        """The range of the series `relative` is a slice of; None: not such a slice (its reader decides)."""
        series = self.series_of.get(relative)
        if series is None or len(self.members[series]) < 2:  # a lone slice: its reader's range is the same
            return None
        if series not in self.ranges:
            self.ranges[series] = self._series_range(self.members[series])
        return self.ranges[series]

    def _series_range(self, members: list[str]) -> tuple[float, float] | None:
        versions = []
        for relative in members:
            try:
                stat = os.stat(self.root / relative)
            except OSError:
                continue
            versions.append((relative, stat.st_size, stat.st_mtime_ns))
        known = self.store.lookup_range(versions) if self.store is not None else None
        if known is not None:
            return known
        value_range = series_range([self.root / relative for relative, _, _ in versions])
        if value_range is not None and self.store is not None:
            self.store.store_range(versions, value_range)
        return value_range


def series_range(paths: list[Path]) -> tuple[float, float] | None:
    """The volume rule over the readable slices among `paths`; None when none is readable."""
    from workbench.data.dicom import slice_modality_values

    values = []
    for path in paths:
        try:
            values.append(slice_modality_values(path).ravel())
        except Exception:  # unreadable: left out here, reported by its own decode
            continue
    return percentile_range(np.concatenate(values)) if values else None
