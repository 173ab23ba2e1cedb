"""One decoded 2-D image (`Frame`) and, for a slice of a volume, where it lies and whom it belongs to."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.data.privacy import Pseudonymizer
from workbench.data.records import FrameInfo
from workbench.data.splits import group_id, group_kind


@dataclass
class SliceFacts:
    """Where a frame of a volume lies and whom it belongs to (raw identifiers: in memory only).

    `volume_key`: the series it belongs to (None: the file itself is the volume). `group_key`: the
    patient-level identity (PatientID, else StudyInstanceUID, else the series; None: decided by folder).
    `position`: distance along the slice normal in mm (None: keep the file's frame order).
    `split`: (name, value) of attributes that may tell volumes of one series apart (see `series_facts`).
    """

    volume_key: str | None
    group_key: str | None
    position: float | None
    orientation: tuple[float, ...] | None
    localizer: bool = False
    split: tuple[tuple[str, str], ...] = ()


@dataclass
class Frame:
    """One decoded 2-D image: float32 (H, W, C) in [0, 1], C = 1 or 3.

    `foreground`: the share of the slice that is not air/background (volumes only, else None).
    `note`: what a scan should tell about the file besides its frames (e.g. volumes of a 4-D NIfTI left out).
    `spacing`: the in-plane pixel spacing in mm (between rows, between columns); None when unknown.
    """

    pixels: np.ndarray
    bit_depth: int
    source_channels: int
    facts: SliceFacts | None = None
    foreground: float | None = None
    note: str | None = None
    spacing: tuple[float, float] | None = None


def frame_info(frame: Frame, relative: str, pseudonymizer: Pseudonymizer) -> FrameInfo:
    """A frame's facts with its series and patient identities as pseudonyms."""
    height, width, channels = frame.pixels.shape
    info = FrameInfo(height, width, channels, frame.bit_depth, foreground=frame.foreground, note=frame.note,
                     spacing=list(frame.spacing) if frame.spacing else None)
    facts = frame.facts
    if facts is None:
        return info
    if facts.volume_key is not None:
        info.volume = pseudonymizer.pseudonym("volume", facts.volume_key or f"file:{relative}")
    if facts.group_key is not None:
        info.group = group_id(group_kind(facts.group_key), pseudonymizer.pseudonym("group", facts.group_key))
    info.position = facts.position
    info.orientation = list(facts.orientation) if facts.orientation is not None else None
    info.localizer = facts.localizer
    info.split = dict(facts.split)
    return info
