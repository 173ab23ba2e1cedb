"""The Dataset preview shows a slice with its series' automatic window, and a file's stored window as stored."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from data_helpers import DICOM_FILES  # noqa: E402
from workbench.config import DataConfig  # noqa: E402
from workbench.data import scan_folder  # noqa: E402
from workbench.data.dicom import modality_values  # noqa: E402
from workbench.data.windows import format_window, percentile_range  # noqa: E402
from workbench.gui.window_preview import WindowPreview  # noqa: E402

SERIES = generate_uid()


def mr_slice(path: Path, position: float, slope: float, **tags) -> np.ndarray:
    """pydicom's MR_small as a slice of one series at `position` mm, its values scaled by `slope`; the values."""
    dataset = pydicom.dcmread(DICOM_FILES / "MR_small.dcm")
    dataset.SeriesInstanceUID, dataset.SOPInstanceUID = SERIES, generate_uid()
    dataset.ImageOrientationPatient, dataset.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0.0, 0.0, position]
    dataset.RescaleSlope, dataset.RescaleIntercept = slope, 0
    for keyword, value in tags.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path)
    return modality_values(dataset.pixel_array, dataset, 0)


def previewed_label(qtbot, folder: Path, data_cfg: DataConfig, path: str) -> str:
    report = scan_folder(folder, data_cfg).report
    preview = WindowPreview()
    qtbot.addWidget(preview)
    preview.set_windowable(True)
    preview.show_image(folder, next(record for record in report.images if record.path == path), data_cfg,
                       report.images)
    qtbot.waitUntil(lambda: not preview.loading() and bool(preview.window_label.text()), timeout=10000)
    preview.shutdown()
    return preview.window_label.text()


def test_auto_mode_previews_a_slice_with_its_series_window(qtbot, tmp_path):
    values = [mr_slice(tmp_path / f"s{index}.dcm", float(index), slope) for index, slope in enumerate((1, 2, 4))]
    low, high = percentile_range(np.concatenate([value.ravel() for value in values]))
    own_low, own_high = percentile_range(values[0])

    label = previewed_label(qtbot, tmp_path, DataConfig(dicom_window="auto"), "s0.dcm")

    assert label == f"{format_window(((low + high) / 2, high - low))} (this image)"
    assert label != f"{format_window(((own_low + own_high) / 2, own_high - own_low))} (this image)"


def test_a_stored_linear_window_is_shown_as_stored(qtbot, tmp_path):
    level, width = 600.0, 800.0
    mr_slice(tmp_path / "own.dcm", 0.0, 1, WindowCenter=level, WindowWidth=width)

    label = previewed_label(qtbot, tmp_path, DataConfig(dicom_window="file"), "own.dcm")

    assert label == f"{format_window((level, width))} (this image)"
