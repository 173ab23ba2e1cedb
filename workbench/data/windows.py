"""Intensity windows: radiology presets, the file's own window, a manual one, or automatic percentiles.

A window maps values in the modality's units (Hounsfield units for CT) linearly to 0..1: from
`level - width/2` (black) to `level + width/2` (white), clipped. Windows act on float32 values; nothing is
flattened to 8 bits before the window is applied. The app's window drag and its HU hints for the intensity
augmentations are computed here too (pure functions, no Qt).
"""
from __future__ import annotations

import math

import numpy as np

from workbench.config import DataConfig
from workbench.config.window_presets import WINDOW_PRESETS

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


#: How the window choices (`DataConfig.dicom_window`) read in a chooser.
WINDOW_NAMES: dict[str, str] = {
    "soft_tissue": "Soft tissue", "lung": "Lung", "bone": "Bone", "brain": "Brain", "liver": "Liver",
    "file": "The file's own window (else automatic)", "auto": "Automatic (1st–99th percentile)",
    "manual": "Custom (dragged or typed below)",
}
#: Dragging this many screen pixels to the right doubles the width (to the left halves it).
DRAG_PIXELS_PER_DOUBLING = 150.0
#: Dragging one screen pixel down raises the level by the width at the drag's start over this.
DRAG_PIXELS_PER_WIDTH = 250.0
MIN_WIDTH = 1e-3


def window_choice_text(mode: str) -> str:
    """A window choice as a chooser lists it, e.g. 'Lung  W 1500 L −600'."""
    name = WINDOW_NAMES.get(mode, mode)
    return f"{name}   {format_window(WINDOW_PRESETS[mode])}" if mode in WINDOW_PRESETS else name


def format_window(window: tuple[float, float]) -> str:
    """(level, width) as radiology viewers show it: 'W 400 L 40' (a true minus sign for negative levels)."""
    level, width = round_window(window)
    return f"W {width:g} L {level:g}".replace("-", "−")


def round_window(window: tuple[float, float]) -> tuple[float, float]:
    """Level and width rounded to three significant digits of the width (1 HU at W 400, 10 HU at W 2500)."""
    level, width = window
    step = 10.0 ** (math.floor(math.log10(max(width, MIN_WIDTH))) - 2)
    return round(level / step) * step + 0.0, max(round(width / step) * step, MIN_WIDTH)


def dragged_window(start: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    """The window after a drag of (dx, dy) screen pixels from `start` (level, width), as radiology viewers do:
    right widens and left narrows (x2 per DRAG_PIXELS_PER_DOUBLING), down raises the level and up lowers it
    (by the starting width per DRAG_PIXELS_PER_WIDTH). Multiplying the width keeps it positive and makes a
    drag feel the same at W 80 and at W 2500."""
    level, width = start
    new_width = max(width * 2.0 ** (dx / DRAG_PIXELS_PER_DOUBLING), MIN_WIDTH)
    return round_window((level + dy * width / DRAG_PIXELS_PER_WIDTH, new_width))


def measured_window(values: np.ndarray, windowed: np.ndarray) -> tuple[float, float] | None:
    """The linear window that took `values` to `windowed` (the file's own or an automatic one), fitted on the
    pixels it did not clip; None when too few are left to tell."""
    inside = (windowed > 1e-3) & (windowed < 1.0 - 1e-3)
    x, y = values[inside].astype(np.float64), windowed[inside].astype(np.float64)
    if x.size < 2 or float(x.max() - x.min()) <= 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    if slope <= 0:
        return None
    width = 1.0 / slope
    return round_window((-intercept * width + width / 2.0, width))


def describe_jitter_in_hu(brightness: float, contrast: float, window: tuple[float, float]) -> str:
    """The brightness and contrast jitter bounds in HU under `window`. Both act on windowed values in 0..1:
    brightness multiplies them (a pixel at the window's top moves by up to ± brightness x W, one at the level
    by half that), contrast scales differences from the image mean (100 HU apart becomes 100 x (1 ± contrast))."""
    width = round_window(window)[1]
    at_top = brightness * width
    low, high = 100.0 * max(1.0 - contrast, 0.0), 100.0 * (1.0 + contrast)
    return (f"At {format_window(window)}: brightness ±{brightness:g} ≈ ±{at_top:.0f} HU at the window's top, "
            f"±{at_top / 2:.0f} HU at the level (it scales); contrast ±{contrast:g} turns a 100 HU difference "
            f"into {low:.0f}–{high:.0f} HU.")
