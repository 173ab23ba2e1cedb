"""The modality values (Hounsfield units for CT) of one frame, kept as float32 so a window can be re-applied
many times a second (the app's level/width drag) without decoding the file again.

The values come from the engine's own reader (`read_frames`), so orientation, multi-frame files, per-frame
rescales and NIfTI scaling are exactly as in training: the frame is decoded once through a linear window
so wide that nothing is clipped (±131072 units, steps of about 0.02), and the window is undone. The app
re-windows them with LINEAR, as the reader applies presets and manual windows.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from workbench.config import DataConfig
from workbench.data.readers import DICOM_EXTENSIONS, PILLOW_EXTENSIONS, looks_like_dicom, read_frames
from workbench.data.windows import apply_window, unapply_window

#: (level, width) of the identity-like window the values are read through.
WIDE_WINDOW = (0.0, 2.0 ** 18)


@dataclass
class ModalityImage:
    """One frame's modality values (H, W) float32; `inverted`: MONOCHROME1, shown white for low values."""

    values: np.ndarray
    inverted: bool = False

    def windowed(self, window: tuple[float, float]) -> np.ndarray:
        """The frame as the engine shows it under `window` (level, width): float32 in [0, 1]."""
        scaled = apply_window(self.values, window)
        return 1.0 - scaled if self.inverted else scaled


def read_modality_image(path: Path, frame: int, data_cfg: DataConfig) -> ModalityImage:
    """Frame `frame` of a DICOM or NIfTI file as modality values; raises `UnreadableImage` for a bad file."""
    level, width = WIDE_WINDOW
    wide = replace(data_cfg, dicom_window="manual", window_center=level, window_width=width)
    frames = read_frames(Path(path), wide)
    pixels = frames[min(frame, len(frames) - 1)].pixels[..., 0]
    inverted = is_monochrome1(Path(path))
    scaled = 1.0 - pixels if inverted else pixels
    return ModalityImage(unapply_window(scaled, WIDE_WINDOW).astype(np.float32), inverted)


def is_monochrome1(path: Path) -> bool:
    """A DICOM file whose photometric interpretation is MONOCHROME1 (the reader inverts it after the window)."""
    if path.suffix.lower() not in DICOM_EXTENSIONS and not looks_like_dicom(path):
        return False
    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return str(header.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"


def carries_modality_values(record) -> bool:
    """Whether a scanned image (`ImageRecord`) has values a window acts on: a gray DICOM or NIfTI frame of more
    than 8 bits (CT in HU, MR). PNG, JPEG and TIFF files are used as stored: a window does not apply."""
    return (record.channels == 1 and record.bit_depth > 8
            and Path(record.path).suffix.lower() not in PILLOW_EXTENSIONS)
