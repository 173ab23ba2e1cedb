"""One decoded 2-D image (`Frame`) and, for a slice of a volume, where it lies and whom it belongs to."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SliceFacts:
    """Where a frame of a volume lies and whom it belongs to (raw identifiers: in memory only).

    `volume_key`: the series it belongs to (None: the file itself is the volume). `group_key`: the
    patient-level identity (PatientID, else StudyInstanceUID, else the series; None: decided by folder).
    `position`: distance along the slice normal in mm (None: keep the file's frame order).
    """

    volume_key: str | None
    group_key: str | None
    position: float | None
    orientation: tuple[float, ...] | None
    localizer: bool = False


@dataclass
class Frame:
    """One decoded 2-D image: float32 (H, W, C) in [0, 1], C = 1 or 3.

    `foreground`: the share of the slice that is not air/background (volumes only, else None).
    """

    pixels: np.ndarray
    bit_depth: int
    source_channels: int
    facts: SliceFacts | None = None
    foreground: float | None = None
