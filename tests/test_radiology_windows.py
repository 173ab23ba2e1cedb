"""The DICOM display window: each frame's own VOI window, the VOI LUT functions of PS3.3 C.11.2.1 (checked
against pydicom's `apply_windowing`), and one automatic window per volume (a series, a multi-frame file,
a NIfTI volume), decided before the slices are cached."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_windowing
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from data_helpers import copy_dicom, write_nifti
from workbench.config import DataConfig
from workbench.data import WINDOW_PRESETS, load_dataset, read_frames, scan_folder

FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"


def pydicom_window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """pydicom's windowing of modality values, scaled from its output range to 0..1."""
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored, ds.PixelRepresentation = "MONOCHROME2", 16, 1
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = center, width, function
    with np.errstate(over="ignore"):
        low, high = apply_windowing(np.array([-1e30, 1e30]), ds)
        return (apply_windowing(values.astype(np.float64), ds) - low) / (high - low)


def item(**values) -> Dataset:
    element = Dataset()
    for keyword, value in values.items():
        setattr(element, keyword, value)
    return element


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_files_voi_function_is_applied_as_pydicom_does(tmp_path, function):
    path = copy_dicom("MR_small.dcm", tmp_path / "mr.dcm")
    dataset = pydicom.dcmread(path)
    dataset.VOILUTFunction = function
    dataset.save_as(path)
    values = apply_modality_lut(dataset.pixel_array, dataset)
    expected = pydicom_window(values, float(dataset.WindowCenter), float(dataset.WindowWidth), function)
    pixels = read_frames(path, DataConfig(dicom_window="file"))[0].pixels[..., 0]
    np.testing.assert_allclose(pixels, expected, atol=1e-5)
    if function == "SIGMOID":  # no longer drawn as linear: the two differ visibly
        linear = pydicom_window(values, float(dataset.WindowCenter), float(dataset.WindowWidth), "LINEAR")
        assert np.abs(pixels - linear).max() > 0.05


@pytest.mark.parametrize("preset", ["soft_tissue", "lung"])
def test_presets_are_linear_whatever_function_the_file_names(tmp_path, preset):
    path = copy_dicom("CT_small.dcm", tmp_path / "ct.dcm")
    dataset = pydicom.dcmread(path)
    dataset.WindowCenter, dataset.WindowWidth, dataset.VOILUTFunction = 40, 400, "SIGMOID"
    dataset.save_as(path)
    level, width = WINDOW_PRESETS[preset]
    expected = pydicom_window(apply_modality_lut(dataset.pixel_array, dataset), level, width, "LINEAR")
    pixels = read_frames(path, DataConfig(dicom_window=preset))[0].pixels[..., 0]
    np.testing.assert_allclose(pixels, expected, atol=1e-5)


def multiframe_copy(path) -> Dataset:
    """pydicom's real 15-frame, 32-bit RT dose file relabelled as an Enhanced CT image (an RT dose grid is no
    image to train on)."""
    dataset = pydicom.dcmread(copy_dicom("rtdose.dcm", path))
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = ENHANCED_CT
    dataset.Modality = "CT"
    dataset.save_as(path)
    return dataset


def enhanced_file(path, shared_window: tuple[float, float, str], own_windows: int) -> list[Dataset]:
    """`multiframe_copy` with per-frame rescales, a window of its own for each of the first `own_windows`
    frames and the shared window for the rest. Returns each frame's rescale and window."""
    dataset = multiframe_copy(path)
    stored = dataset.pixel_array
    per_frame, expected = [], []
    for index, frame in enumerate(stored):
        rescale = item(RescaleSlope=0.001 * (index + 1), RescaleIntercept=-100.0 * index)
        values = frame * rescale.RescaleSlope + rescale.RescaleIntercept
        group = item(PixelValueTransformationSequence=Sequence([rescale]))
        window = item(WindowCenter=shared_window[0], WindowWidth=shared_window[1], VOILUTFunction=shared_window[2])
        if index < own_windows:
            window = item(WindowCenter=round(float(np.median(values)), 2), WindowWidth=20.0 * (index + 1),
                          VOILUTFunction=FUNCTIONS[index % 3])
            group.FrameVOILUTSequence = Sequence([window])
        per_frame.append(group)
        expected.append(item(RescaleSlope=rescale.RescaleSlope, RescaleIntercept=rescale.RescaleIntercept,
                             WindowCenter=window.WindowCenter, WindowWidth=window.WindowWidth,
                             VOILUTFunction=window.VOILUTFunction))
    dataset.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    shared = item(WindowCenter=shared_window[0], WindowWidth=shared_window[1], VOILUTFunction=shared_window[2])
    dataset.SharedFunctionalGroupsSequence = Sequence([item(FrameVOILUTSequence=Sequence([shared]))])
    dataset.save_as(path)
    return expected


def test_each_frame_of_an_enhanced_file_gets_its_own_window(tmp_path):
    path = tmp_path / "enhanced.dcm"
    frames_windows = enhanced_file(path, (1500.0, 900.0, "SIGMOID"), own_windows=10)
    stored = pydicom.dcmread(path).pixel_array
    frames = read_frames(path, DataConfig(dicom_window="file"))
    assert len(frames) == len(stored) == 15
    for frame, raw, window in zip(frames, stored, frames_windows):
        values = raw.astype(np.float64) * window.RescaleSlope + window.RescaleIntercept
        expected = pydicom_window(values, float(window.WindowCenter), float(window.WindowWidth),
                                  window.VOILUTFunction)
        np.testing.assert_allclose(frame.pixels[..., 0], expected, atol=1e-5)
    centers = {float(window.WindowCenter) for window in frames_windows}
    assert len(centers) == 11  # ten windows of their own, then the shared one


def test_a_multiframe_files_automatic_window_spans_all_its_frames(tmp_path):
    path = tmp_path / "dose.dcm"
    dataset = multiframe_copy(path)
    values = apply_modality_lut(dataset.pixel_array, dataset).astype(np.float64)
    low, high = np.percentile(values, [1, 99])
    frames = read_frames(path, DataConfig(dicom_window="auto"))
    for frame, frame_values in zip(frames, values):
        np.testing.assert_allclose(frame.pixels[..., 0], np.clip((frame_values - low) / (high - low), 0, 1),
                                   atol=1e-5)


def write_series(folder, offsets: tuple[int, ...]) -> list[np.ndarray]:
    """Copies of CT_small as one axial series, slice k 5 mm above slice k-1, its HU raised by `offsets[k]`
    (so every slice has different percentiles); returns each slice's HU, foot to head."""
    series = generate_uid()
    hounsfield = []
    for number, offset in enumerate(offsets):
        path = copy_dicom("CT_small.dcm", folder / f"slice_{number}.dcm")
        dataset = pydicom.dcmread(path)
        dataset.PixelData = (dataset.pixel_array + offset).astype(np.int16).tobytes()
        dataset.SeriesInstanceUID, dataset.SOPInstanceUID = series, generate_uid()
        dataset.ImagePositionPatient = [-158.135803, -179.035797, -75.7 + 5.0 * number]
        dataset.save_as(path)
        hounsfield.append(apply_modality_lut(dataset.pixel_array, dataset).astype(np.float64))
    return hounsfield


def volume_windowed(hounsfield: list[np.ndarray]) -> np.ndarray:
    """The volume rule evaluated here: 1st..99th percentile of all the series' values mapped to 0..1."""
    low, high = np.percentile(np.stack(hounsfield), [1, 99])
    return np.clip((np.stack(hounsfield) - low) / (high - low), 0, 1)


@pytest.mark.parametrize("mode", ["auto", "file"])  # CT_small has no window: "file" falls back to automatic
def test_a_series_shares_one_automatic_window(tmp_path, mode):
    hounsfield = write_series(tmp_path / "series", (0, 150, 400))
    result = scan_folder(tmp_path, DataConfig(dicom_window=mode), keep_pixels_at=128)
    pixels = np.stack([frame[..., 0] for frame in result.pixels]) / 65535.0
    np.testing.assert_allclose(pixels, volume_windowed(hounsfield), atol=1.0 / 65535 + 1e-6)
    per_slice = [np.percentile(values, [1, 99]) for values in hounsfield]
    assert not np.allclose(per_slice[0], per_slice[2])  # slices alone would each get their own window


def test_the_cache_keeps_the_series_window_and_a_new_slice_changes_it(tmp_path):
    hounsfield = write_series(tmp_path / "data" / "series", (0, 150, 400))
    cfg = DataConfig(root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), image_size=128,
                     dicom_window="auto")
    first = load_dataset(cfg).images[:, 0].numpy() / 65535.0
    np.testing.assert_allclose(first, volume_windowed(hounsfield), atol=1.0 / 65535 + 1e-6)
    assert len(list((tmp_path / "cache").rglob("*.range"))) == 1
    np.testing.assert_allclose(load_dataset(cfg).images[:, 0].numpy() / 65535.0, first, atol=0)  # from the cache
    hounsfield = write_series(tmp_path / "data" / "series", (0, 150, 400, 900))  # the series gains a slice
    again = load_dataset(cfg).images[:, 0].numpy() / 65535.0
    np.testing.assert_allclose(again, volume_windowed(hounsfield), atol=1.0 / 65535 + 1e-6)
    assert np.abs(again[0] - first[0]).max() > 0.01  # the cached slices were windowed again


def test_a_nifti_volume_and_a_dicom_series_follow_the_same_rule(tmp_path):
    hounsfield = write_series(tmp_path / "series", (0, 150, 400))
    write_nifti(tmp_path / "volume.nii.gz", np.stack(hounsfield, axis=-1))
    series = scan_folder(tmp_path / "series", DataConfig(dicom_window="auto"), keep_pixels_at=128).pixels
    nifti = read_frames(tmp_path / "volume.nii.gz", DataConfig(dicom_window="auto"))
    assert len(nifti) == len(series) == 3
    np.testing.assert_allclose(np.sort(np.concatenate([frame.pixels.ravel() for frame in nifti])),
                               np.sort(np.concatenate([frame.ravel() for frame in series])) / 65535.0,
                               atol=1.0 / 65535 + 1e-6)
