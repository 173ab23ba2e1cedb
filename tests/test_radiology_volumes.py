"""Series and volumes: grouping, ordering along the normal, scouts, multi-frame files, NIfTI, groups."""
from __future__ import annotations

import shutil
from pathlib import Path

import nibabel
import numpy as np

from data_helpers import (CT_POSITIONS, SECRET_TAGS, copy_dicom, slice_hounsfield, write_ct_study,
                          write_gray_png, write_multiframe_ct, write_nifti)
from workbench.config import DataConfig
from workbench.data import read_frames, scan_folder
from workbench.data.volumes import LOCALIZER_REASON, ORIENTATION_REASON

LUNG = DataConfig(dicom_window="manual", window_center=0.0, window_width=1000.0)  # 10 * z HU, z in -40..-15


def hounsfield_back(pixels: np.ndarray) -> np.ndarray:
    """Undo the manual (LINEAR, PS3.3 C.11.2.1.2.1) window of `LUNG`: back to HU."""
    return (pixels - 0.5) * 999.0 - 0.5


def test_series_ordered_by_position_not_instance_number_and_scouts_left_out(tmp_path):
    write_ct_study(tmp_path / "study")
    result = scan_folder(tmp_path, LUNG, keep_pixels_at=16)
    report = result.report
    assert [record.slice_index for record in report.images] == list(range(len(CT_POSITIONS)))
    assert len({record.volume for record in report.images}) == 1
    # Each slice's pixels say its z: rescaled (slope 2, intercept -1024) back to HU, then ordered by z.
    read_z = [float(hounsfield_back(pixels / 65535.0).mean()) / 10 for pixels in result.pixels]
    np.testing.assert_allclose(read_z, CT_POSITIONS, atol=0.05)
    assert {(item.path, item.reason) for item in report.skipped} == {("study/scout.dcm", LOCALIZER_REASON),
                                                                    ("study/reformat.dcm", ORIENTATION_REASON)}


def test_hounsfield_units_from_rescale(tmp_path):
    files = write_ct_study(tmp_path)
    frame = read_frames(files[0], LUNG)[0]
    z = frame.facts.position
    assert z in CT_POSITIONS
    np.testing.assert_allclose(hounsfield_back(frame.pixels[..., 0]), slice_hounsfield(z), atol=1e-3)


def test_two_series_stay_apart_and_plain_images_keep_their_place(tmp_path):
    write_ct_study(tmp_path / "a", uids=("1.2.3.1", "1.2.3.1.1"))
    write_ct_study(tmp_path / "b", identity={"PatientID": "other"}, uids=("1.2.3.2", "1.2.3.2.1"))
    write_gray_png(tmp_path / "aa.png")
    report = scan_folder(tmp_path, LUNG).report
    volumes = [record.volume for record in report.images]
    assert report.images[6].path == "aa.png" and volumes[6] is None  # between a/ and b/, as paths sort
    assert volumes[:6] == [volumes[0]] * 6 and volumes[7:] == [volumes[7]] * 6 and volumes[0] != volumes[7]
    assert [record.slice_index for record in report.images[7:]] == list(range(6))
    assert report.images[0].group != report.images[7].group  # two patients


def test_multiframe_file_is_one_volume_ordered_by_per_frame_position(tmp_path):
    positions = (30.0, 10.0, 20.0, 0.0)
    write_multiframe_ct(tmp_path / "enhanced.dcm", positions)
    result = scan_folder(tmp_path, LUNG, keep_pixels_at=8)
    records = result.report.images
    assert [record.frame for record in records] == [3, 1, 2, 0]  # frames in the file, listed foot to head
    assert [record.slice_index for record in records] == [0, 1, 2, 3]
    read_z = [float(hounsfield_back(pixels / 65535.0).mean()) / 10 for pixels in result.pixels]
    np.testing.assert_allclose(read_z, sorted(positions), atol=0.05)


def test_classic_multiframe_without_positions_keeps_frame_order(tmp_path):
    copy_dicom("examples_ybr_color.dcm", tmp_path / "ultrasound.dcm")
    records = scan_folder(tmp_path, DataConfig()).report.images
    assert [record.frame for record in records] == list(range(30))
    assert len({record.volume for record in records}) == 1


def test_nifti_is_reoriented_to_canonical_and_sliced_along_the_last_axis(tmp_path):
    volume = np.zeros((6, 5, 4), dtype=np.float32)  # (x, y, z), stored with x running right-to-left
    volume[0, 1, :] = 1000.0  # stored x = 0 with x running right-to-left: the patient's far right
    volume[:, :, 2] += 50.0
    write_nifti(tmp_path / "scan.nii.gz", volume, flip_x=True)
    write_nifti(tmp_path / "same_ras.nii", volume[::-1], flip_x=False)  # the same anatomy stored as RAS
    cfg = DataConfig(dicom_window="manual", window_center=500.0, window_width=1000.0)
    flipped, ras = read_frames(tmp_path / "scan.nii.gz", cfg), read_frames(tmp_path / "same_ras.nii", cfg)
    assert len(flipped) == 4 and flipped[0].pixels.shape == (5, 6, 1)  # rows: y, columns: x
    for one, other in zip(flipped, ras):
        np.testing.assert_allclose(one.pixels, other.pixels)
    # Shown as radiology viewers do: the patient's right on the image's left, anterior (high y) at the top.
    bright = np.argwhere(flipped[0].pixels[..., 0] == 1.0)
    assert bright.tolist() == [[3, 0]]  # y = 1 of 5 is row 3; the far right is column 0
    report = scan_folder(tmp_path, cfg).report
    assert [(record.path, record.slice_index) for record in report.images][:4] == [
        ("same_ras.nii", 0), ("same_ras.nii", 1), ("same_ras.nii", 2), ("same_ras.nii", 3)]
    assert report.images[0].volume != report.images[4].volume
    assert [round(frame.pixels.mean(), 3) for frame in ras][2] > [round(frame.pixels.mean(), 3) for frame in ras][1]


def test_groups_patient_then_folder(tmp_path):
    write_ct_study(tmp_path / "patients" / "one", uids=("1.2.9.1", "1.2.9.1.1"))
    write_ct_study(tmp_path / "patients" / "two", uids=("1.2.9.2", "1.2.9.2.1"))  # same PatientID as one
    write_gray_png(tmp_path / "photos" / "caseA" / "x.png")
    write_gray_png(tmp_path / "photos" / "caseA" / "y.png")
    write_gray_png(tmp_path / "photos" / "caseB" / "z.png")
    report = scan_folder(tmp_path, LUNG).report
    groups = {record.path: record.group for record in report.images}
    ct_groups = {group for path, group in groups.items() if path.startswith("patients/")}
    assert len(ct_groups) == 1  # one PatientID, two studies: one group
    assert groups["photos/caseA/x.png"] == groups["photos/caseA/y.png"] != groups["photos/caseB/z.png"]
    assert all(SECRET_TAGS["PatientID"] not in group for group in groups.values())


def test_a_cifti_file_is_skipped_with_a_reason_a_user_can_read(tmp_path):
    """CIFTI-2 (`.dconn.nii`, `.dtseries.nii`) holds surface and grayordinate data: it used to be skipped as
    "AttributeError: 'Cifti2Image' object has no attribute 'as_reoriented'"."""
    shutil.copyfile(Path(nibabel.__file__).parent / "tests" / "data" / "row_major.dconn.nii",
                    tmp_path / "connectivity.dconn.nii")
    report = scan_folder(tmp_path, DataConfig(root=str(tmp_path))).report
    assert report.images == []
    assert [(skipped.path, skipped.reason) for skipped in report.skipped] == [
        ("connectivity.dconn.nii", "Cifti2 file: surface or grayordinate data, not an image volume")]
