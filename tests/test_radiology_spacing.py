"""Pixel spacing: read from DICOM and NIfTI, shown in the scan summary, and resampled to one spacing."""
from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from data_helpers import DICOM_FILES, write_gray_png, write_nifti
from workbench.config import ConfigError, DataConfig, to_dict
from workbench.data import read_frames, scan_folder
from workbench.data.dicom import modality_values
from workbench.data.scan_summary import ScanSummary
from workbench.gui.panels.dataset import describe_summary
from workbench.tasks import config_from_dict, default_config

SIZE = 32


def ct_copy(path: Path, spacing: float | None, crop: int = 0, step: int = 1, **tags) -> Path:
    """pydicom's CT_small (a series of its own) with `crop` pixels cut from each side, every `step`-th pixel
    kept and PixelSpacing set to `spacing` mm (removed when None)."""
    dataset = pydicom.dcmread(DICOM_FILES / "CT_small.dcm")
    stored = dataset.pixel_array
    stored = stored[crop:stored.shape[0] - crop, crop:stored.shape[1] - crop][::step, ::step]
    dataset.PixelData, (dataset.Rows, dataset.Columns) = np.ascontiguousarray(stored).tobytes(), stored.shape
    dataset.SeriesInstanceUID, dataset.SOPInstanceUID = generate_uid(), generate_uid()
    if spacing is None:
        del dataset.PixelSpacing
    else:
        dataset.PixelSpacing = [spacing, spacing]
    for keyword, value in tags.items():
        setattr(dataset, keyword, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path)
    return path


def window_of_ct() -> dict:
    """A manual window spanning CT_small's values (1st to 99th percentile), so every copy is windowed alike."""
    dataset = pydicom.dcmread(DICOM_FILES / "CT_small.dcm")
    low, high = np.percentile(modality_values(dataset.pixel_array, dataset, 0), [1, 99])
    return {"dicom_window": "manual", "window_center": float(low + high) / 2, "window_width": float(high - low)}


def decoded(folder: Path, spacing_mm: float) -> dict[str, np.ndarray]:
    """Each file's cached pixels (float, [0, 1]) at SIZE x SIZE."""
    result = scan_folder(folder, DataConfig(image_size=SIZE, resample_spacing_mm=spacing_mm, **window_of_ct()),
                         keep_pixels_at=SIZE)
    return {record.path: pixels[..., 0] / 65535.0 for record, pixels in zip(result.report.images, result.pixels)}


def test_resampling_shows_anatomy_at_one_scale(tmp_path):
    source = float(pydicom.dcmread(DICOM_FILES / "CT_small.dcm").PixelSpacing[0])
    ct_copy(tmp_path / "full.dcm", source)
    ct_copy(tmp_path / "centre.dcm", source, crop=32)  # a smaller field of view at the same spacing
    ct_copy(tmp_path / "coarse.dcm", 2 * source, step=2)  # the whole field at half the resolution
    target = source * 128 / SIZE  # SIZE pixels of the target spacing cover the full scan

    plain, spaced = decoded(tmp_path, 0.0), decoded(tmp_path, target)

    inner = slice(SIZE // 4, 3 * SIZE // 4)  # where the centre's 64 of 128 pixels land
    plain_gap = np.abs(plain["full.dcm"][inner, inner] - plain["centre.dcm"][::2, ::2]).mean()
    spaced_gap = np.abs(spaced["full.dcm"][inner, inner] - spaced["centre.dcm"][inner, inner]).mean()
    assert spaced_gap < plain_gap / 4
    border = spaced["centre.dcm"].copy()
    border[inner, inner] = 0.0
    assert not border.any()  # black beyond the smaller scan
    assert np.abs(spaced["full.dcm"] - spaced["coarse.dcm"]).mean() < plain_gap / 2  # aliasing of ::2 aside


def test_the_summary_shows_the_spacings_found(tmp_path):
    finer, coarser = 0.6, 0.9
    ct_copy(tmp_path / "fine.dcm", finer)
    ct_copy(tmp_path / "coarse.dcm", coarser)
    write_gray_png(tmp_path / "photo.png")

    summary = ScanSummary.of(scan_folder(tmp_path, DataConfig()).report)

    assert (summary.spacing["min"], summary.spacing["max"], summary.spacing["images"]) == (finer, coarser, 2)
    assert f"Spacing: {finer:.2f}–{coarser:.2f} mm (2 of the images record one)" in describe_summary(summary)


def test_spacing_comes_from_imager_spacing_and_nifti_zooms(tmp_path):
    radiograph = ct_copy(tmp_path / "cr.dcm", None, ImagerPixelSpacing=[0.15, 0.2])
    assert read_frames(radiograph, DataConfig())[0].spacing == (0.15, 0.2)
    assert read_frames(ct_copy(tmp_path / "none.dcm", None), DataConfig())[0].spacing is None

    write_nifti(tmp_path / "volume.nii.gz", np.arange(6 * 5 * 3, dtype=np.float32).reshape(6, 5, 3))
    zooms = nibabel.as_closest_canonical(nibabel.load(tmp_path / "volume.nii.gz")).header.get_zooms()
    assert {read.spacing for read in read_frames(tmp_path / "volume.nii.gz", DataConfig())} == {(zooms[1], zooms[0])}


def test_a_negative_spacing_is_refused():
    data = to_dict(default_config())
    data["data"]["resample_spacing_mm"] = -0.5
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    assert dict(caught.value.problems) == {"data.resample_spacing_mm": "must be >= 0.0, got -0.5"}
