"""Intensity windows: radiology presets, the file's own window, a manual one, or automatic percentiles.

A window maps values in the modality's units (Hounsfield units for CT) linearly to 0..1: from
`level - width/2` (black) to `level + width/2` (white), clipped. Windows act on float32 values; nothing is
flattened to 8 bits before the window is applied.
"""
from __future__ import annotations

import numpy as np

from workbench.config import DataConfig

#: Named CT windows as (level, width) in Hounsfield units.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (480.0, 2500.0),
    "brain": (40.0, 80.0),
    "liver": (90.0, 150.0),
}

AUTO_PERCENTILES = (1.0, 99.0)


def chosen_window(data_cfg: DataConfig, file_window: tuple[float, float] | None) -> tuple[float, float] | None:
    """(level, width) that `data_cfg.dicom_window` asks for; None means automatic percentiles."""
    mode = data_cfg.dicom_window
    if mode in WINDOW_PRESETS:
        return WINDOW_PRESETS[mode]
    if mode == "manual":
        return data_cfg.window_center, data_cfg.window_width
    if mode == "file":
        return file_window
    return None


def apply_window(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Linear window of modality values to float32 in [0, 1]."""
    level, width = window
    low = level - width / 2.0
    return np.clip((values.astype(np.float32) - np.float32(low)) / np.float32(width), 0.0, 1.0)


def percentile_range(values: np.ndarray) -> tuple[float, float]:
    """The automatic window's (low, high): the 1st and 99th percentile, else the full range."""
    low, high = (float(v) for v in np.percentile(values, AUTO_PERCENTILES))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    return low, high


def auto_window(values: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Map `value_range` (default: this array's 1st..99th percentile) to 0..1; a flat image becomes zeros."""
    low, high = value_range if value_range is not None else percentile_range(values)
    if high <= low:
        return np.zeros(values.shape, dtype=np.float32)
    return apply_window(values, ((low + high) / 2.0, high - low))


def window_values(values: np.ndarray, data_cfg: DataConfig, file_window: tuple[float, float] | None,
                  auto_range: tuple[float, float] | None = None) -> np.ndarray:
    """Window modality values as the config asks; float32 in [0, 1]."""
    window = chosen_window(data_cfg, file_window)
    if window is None:
        return auto_window(values, auto_range)
    return apply_window(values, window)


#: Hounsfield units above which a CT pixel is body, not air (lung parenchyma is about -850).
AIR_LEVEL_HU = -500.0
#: Windowed intensity above which a pixel of data not in HU counts as foreground.
FOREGROUND_LEVEL = 0.1


def foreground_share(values: np.ndarray, windowed: np.ndarray, hounsfield: bool) -> float:
    """The share of a slice that is not air/background: HU above -500 for CT, else windowed value above 0.1."""
    return float(np.mean(values > AIR_LEVEL_HU) if hounsfield else np.mean(windowed > FOREGROUND_LEVEL))
