"""Intensity windows: radiology presets, the file's own window, a manual one, or automatic percentiles.

A window maps values in the modality's units (Hounsfield units for CT) to 0..1 by a VOI LUT function of
PS3.3 C.11.2.1: LINEAR (presets, manual windows and files that name none), LINEAR_EXACT or SIGMOID (as the
file's own window names them). The automatic window maps a volume's 1st..99th percentile exactly to 0..1
(the same rule for a NIfTI volume, a multi-frame file and a DICOM series). Windows act on float32 values;
nothing is flattened to 8 bits before the window is applied. The app's window drag and its HU hints for
the intensity augmentations are computed here too (pure functions, no Qt).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from workbench.config import DataConfig
from workbench.config.window_presets import WINDOW_PRESETS

AUTO_PERCENTILES = (1.0, 99.0)
LINEAR, LINEAR_EXACT, SIGMOID = "LINEAR", "LINEAR_EXACT", "SIGMOID"
VOI_FUNCTIONS = (LINEAR, LINEAR_EXACT, SIGMOID)


class FileWindow(NamedTuple):
    """A window a file carries: (level, width) and the VOI LUT function it names."""

    level: float
    width: float
    function: str = LINEAR


def voi_function(name: object) -> str:
    """A VOILUTFunction value as one of `VOI_FUNCTIONS`; absent or unknown is LINEAR, the standard's default."""
    text = str(name or "").strip().upper()
    return text if text in VOI_FUNCTIONS else LINEAR


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


def apply_window(values: np.ndarray, window: tuple[float, float], function: str = LINEAR) -> np.ndarray:
    """Window modality values to float32 in [0, 1] by a VOI LUT function of PS3.3 C.11.2.1.

    LINEAR (C.11.2.1.2.1) maps with level - 0.5 and width - 1, so integer values in [L - W/2, L + W/2) span
    the output; it needs W >= 1, and a narrower window (float data, e.g. NIfTI intensities in 0..1) is
    mapped exactly. LINEAR_EXACT (C.11.2.1.3.2): (x - L) / W + 0.5, clipped. SIGMOID (C.11.2.1.3.1):
    1 / (1 + exp(-4 (x - L) / W)).
    """
    level, width = float(window[0]), float(window[1])
    x = values.astype(np.float32)
    if function == SIGMOID:
        with np.errstate(over="ignore"):  # far below the level exp overflows to inf: the output is 0
            return (1.0 / (1.0 + np.exp(np.float32(-4.0 / width) * (x - np.float32(level))))).astype(np.float32)
    if function == LINEAR and width >= 1.0:
        level, width = level - 0.5, width - 1.0
    if width <= 0:  # LINEAR's W = 1: a step at the level
        return (x > np.float32(level)).astype(np.float32)
    return np.clip((x - np.float32(level)) / np.float32(width) + np.float32(0.5), 0.0, 1.0)


def unapply_window(windowed: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The modality values that LINEAR `window` took to `windowed` (those it did not clip), as float64."""
    level, width = float(window[0]), float(window[1])
    if width >= 1.0:
        level, width = level - 0.5, width - 1.0
    return (windowed.astype(np.float64) - 0.5) * width + level


def percentile_range(values: np.ndarray) -> tuple[float, float]:
    """The automatic window's (low, high) over all of `values` (a whole volume): the 1st and 99th
    percentile, else the full range."""
    low, high = (float(v) for v in np.percentile(values, AUTO_PERCENTILES))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    return low, high


def auto_window(values: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Map `value_range` (default: this array's 1st..99th percentile) exactly to 0..1; a flat image becomes zeros."""
    low, high = value_range if value_range is not None else percentile_range(values)
    if high <= low:
        return np.zeros(values.shape, dtype=np.float32)
    return apply_window(values, ((low + high) / 2.0, high - low), LINEAR_EXACT)


def window_values(values: np.ndarray, data_cfg: DataConfig, file_window: FileWindow | None,
                  auto_range: tuple[float, float] | None = None) -> np.ndarray:
    """Window modality values as the config asks; float32 in [0, 1]. A preset or manual window is LINEAR;
    the file's own window uses the file's function; the automatic one maps `auto_range` (the volume's)."""
    if data_cfg.dicom_window == "file" and file_window is not None:
        return apply_window(values, file_window[:2], file_window.function)
    window = chosen_window(data_cfg, None)
    if window is None:
        return auto_window(values, auto_range)
    return apply_window(values, window)


def needs_auto_window(data_cfg: DataConfig, has_own_window: bool) -> bool:
    """Whether the automatic window applies: asked for, or the file's own asked for and missing."""
    return data_cfg.dicom_window == "auto" or (data_cfg.dicom_window == "file" and not has_own_window)


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
