"""Radiology series: what is an image (SOP Class), 4-D NIfTI, scouts, splitting series into volumes, MOSAIC."""
from __future__ import annotations

import gzip
from pathlib import Path

import nibabel

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

from data_helpers import DICOM_FILES, copy_dicom, write_multiframe_ct, write_nifti
from workbench.config import DataConfig
from workbench.data import read_frames, scan_folder
from workbench.data.cache import load_dataset
from workbench.data.sampling import context_stacks
from workbench.data.volumes import DUPLICATE_NOTICE, LOCALIZER_REASON, ORIENTATION_REASON

AXIAL, CORONAL = [1, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, -1]  # normals: +z and +y
NIBABEL_DICOM = Path(nibabel.__file__).parent / "nicom" / "tests" / "data"
SERIES = "1.2.826.0.1.3680043.8.498.77.1"


def mr_slice(path: Path, position: float, orientation=AXIAL, series: str = SERIES, **tags) -> Path:
    """pydicom's MR_small as a slice of `series` at `position` mm along its normal, with `tags` changed."""
    dataset = pydicom.dcmread(DICOM_FILES / "MR_small.dcm")
    dataset.SeriesInstanceUID, dataset.SOPInstanceUID = series, generate_uid()
    dataset.ImageOrientationPatient = orientation
    dataset.ImagePositionPatient = [0.0, position, 0.0] if orientation == CORONAL else [0.0, 0.0, position]
    for keyword, value in tags.items():
        setattr(dataset, keyword, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path)
    return path


def volumes_of(report) -> dict[str, list[str]]:
    """Each volume's file names (with frame numbers of multi-frame files), in slice order."""
    volumes: dict[str, list[str]] = {}
    for record in report.images:
        volumes.setdefault(record.volume, []).append(record.path)
    return volumes


def reasons(report) -> dict[str, str]:
    return {item.path: item.reason for item in report.skipped}


def test_non_image_objects_are_skipped_by_sop_class_with_a_plain_reason(tmp_path):
    names = ("CT_small.dcm", "liver_1frame.dcm", "rtdose.dcm", "rtplan.dcm", "rtstruct.dcm", "test-SR.dcm",
             "reportsi.dcm", "waveform_ecg.dcm")
    for name in names:
        copy_dicom(name, tmp_path / name)
    report = scan_folder(tmp_path, DataConfig()).report
    assert [record.path for record in report.images] == ["CT_small.dcm"]
    skipped = reasons(report)
    assert skipped == {
        "liver_1frame.dcm": "segmentation mask, not an image (the images it refers to are not in this folder)",
        "rtdose.dcm": "radiotherapy dose grid, not an image",
        "rtplan.dcm": "radiotherapy plan, not an image",
        "rtstruct.dcm": "radiotherapy structure set (contours), not an image (the images it refers to are not in "
                        "this folder)",
        "test-SR.dcm": "structured report, not an image",
        "reportsi.dcm": "structured report, not an image",
        "waveform_ecg.dcm": "waveform (ECG or another signal), not an image"}
    for name in skipped:  # each reason matches the class pydicom names for the file
        assert "Storage" in UID(pydicom.dcmread(DICOM_FILES / name, stop_before_pixels=True, force=True).SOPClassUID).name


def test_presentation_state_and_key_objects_are_not_images(tmp_path):
    """A CT slice re-labelled as a presentation state or a key object selection is listed, not read."""
    for name, uid in (("pr.dcm", "1.2.840.10008.5.1.4.1.1.11.1"), ("ko.dcm", "1.2.840.10008.5.1.4.1.1.88.59")):
        dataset = pydicom.dcmread(DICOM_FILES / "CT_small.dcm")
        dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = uid
        dataset.save_as(tmp_path / name)
    report = scan_folder(tmp_path, DataConfig()).report
    assert report.images == []
    assert reasons(report) == {"pr.dcm": "presentation state (display settings for other images), not an image",
                               "ko.dcm": "key object selection (a list of other images), not an image"}


def test_a_4d_nifti_says_how_many_volumes_were_left_out_also_from_the_cache(tmp_path):
    folder = tmp_path / "data"
    series = np.random.default_rng(0).normal(size=(6, 5, 4, 3)).astype(np.float32)  # 3 volumes of 4 slices
    write_nifti(folder / "fmri.nii.gz", series)
    write_nifti(folder / "anatomy.nii.gz", series[..., 0])
    config = DataConfig(root=str(folder), cache_dir=str(tmp_path / "cache"), image_size=8)
    for _ in range(2):  # the second load reads the decoded cache
        report = load_dataset(config).report
        assert report.skipped == [] and {item.path: item.reason for item in report.notices} == {
            "fmri.nii.gz": "4-D NIfTI: kept 1 of 3 volumes (the first; the setting \"4-D NIfTI volumes: all\" reads each)"}
        assert [record.path for record in report.images].count("fmri.nii.gz") == 4


def test_scouts_by_image_type_or_series_description_and_projections_kept_as_their_own_volume(tmp_path):
    for z in (0.0, 5.0, 10.0):
        mr_slice(tmp_path / f"axial_{z:02.0f}.dcm", z)
    mr_slice(tmp_path / "loc.dcm", 0.0, SeriesDescription="FAST LOCALIZER")  # ImageType without LOCALIZER
    mr_slice(tmp_path / "survey.dcm", 20.0, CORONAL, series=SERIES + ".2", SeriesDescription="Survey_MST")
    for angle, name in enumerate(("mip_a.dcm", "mip_b.dcm")):  # rotating MIPs: each its own orientation
        mr_slice(tmp_path / name, 0.0, CORONAL if angle else AXIAL, ImageType=["DERIVED", "SECONDARY",
                                                                          "PROJECTION IMAGE", "MIP"])
    report = scan_folder(tmp_path, DataConfig()).report
    assert reasons(report) == {"loc.dcm": LOCALIZER_REASON, "survey.dcm": LOCALIZER_REASON}
    assert sorted(volumes_of(report).values()) == [["axial_00.dcm", "axial_05.dcm", "axial_10.dcm"],
                                                   ["mip_a.dcm", "mip_b.dcm"]]


def test_orientation_decides_scouts_the_same_whatever_the_file_names(tmp_path):
    for first, last in (("a", "z"), ("z", "a")):  # the odd one out sorts first, then last
        folder = tmp_path / first
        for z in (0.0, 5.0, 10.0):
            mr_slice(folder / f"m_{z:02.0f}.dcm", z)
        mr_slice(folder / f"{first}_coronal.dcm", 0.0, CORONAL)
        for z in (0.0, 5.0):  # a second series: two axial, two coronal slices, no majority
            mr_slice(folder / f"{first}_tie_axial_{z:02.0f}.dcm", z, series=SERIES + ".3")
            mr_slice(folder / f"{last}_tie_coronal_{z:02.0f}.dcm", z, CORONAL, series=SERIES + ".3")
        report = scan_folder(folder, DataConfig()).report
        assert reasons(report) == {f"{first}_coronal.dcm": ORIENTATION_REASON}
        assert sorted(volumes_of(report).values()) == sorted([
            [f"{first}_tie_axial_00.dcm", f"{first}_tie_axial_05.dcm"],
            [f"{last}_tie_coronal_00.dcm", f"{last}_tie_coronal_05.dcm"], ["m_00.dcm", "m_05.dcm", "m_10.dcm"]])


def test_a_series_splits_by_b_value_and_echo_where_positions_repeat_but_not_by_a_counting_acquisition(tmp_path):
    for z in (0.0, 4.0, 8.0):
        for b in (0, 1000):
            mr_slice(tmp_path / "dwi" / f"b{b}_{z:02.0f}.dcm", z, DiffusionBValue=b)
        for echo in (1, 2):
            mr_slice(tmp_path / "echoes" / f"e{echo}_{z:02.0f}.dcm", z, series=SERIES + ".4", EchoNumbers=echo)
        mr_slice(tmp_path / "t1" / f"{z:02.0f}.dcm", -z, series=SERIES + ".5", AcquisitionNumber=int(z) + 1)
    report = scan_folder(tmp_path, DataConfig()).report
    assert report.skipped == []
    assert sorted(volumes_of(report).values()) == sorted(
        [[f"{folder}/{prefix}_{z:02.0f}.dcm" for z in (0.0, 4.0, 8.0)]
         for folder, prefix in (("dwi", "b0"), ("dwi", "b1000"), ("echoes", "e1"), ("echoes", "e2"))]
        + [[f"t1/{z:02.0f}.dcm" for z in (8.0, 4.0, 0.0)]])


def test_duplicates_and_gaps_are_flagged_and_context_slices_never_cross_a_gap(tmp_path):
    positions = (0.0, 5.0, 10.0, 15.0, 35.0, 40.0, 45.0)
    for z in positions:
        mr_slice(tmp_path / f"s_{z:02.0f}.dcm", z)
    mr_slice(tmp_path / "s_10_again.dcm", 10.0)
    report = scan_folder(tmp_path, DataConfig()).report
    notices = {item.path: item.reason for item in report.notices}
    assert report.skipped == [] and notices.keys() == {"s_10_again.dcm", "s_35.dcm"}
    assert notices["s_10_again.dcm"] == DUPLICATE_NOTICE
    assert notices["s_35.dcm"].startswith("gap of 20.0 mm before this slice (usual spacing 5.0 mm)")
    assert list(volumes_of(report).values()) == [["s_00.dcm", "s_05.dcm", "s_10.dcm", "s_10_again.dcm", "s_15.dcm"],
                                                 [f"s_{z:02.0f}.dcm" for z in positions[4:]]]
    records = report.images
    stacks = context_stacks(records, list(range(len(records))), 1)
    neighbours = {records[index].path: [records[other].path for other in stack] for index, stack in
                  zip(range(len(records)), stacks)}
    assert neighbours["s_15.dcm"] == ["s_10_again.dcm", "s_15.dcm", "s_15.dcm"]  # the edge repeats, no jump to 35
    assert neighbours["s_35.dcm"] == ["s_35.dcm", "s_35.dcm", "s_40.dcm"]


def test_an_enhanced_file_splits_by_its_dimension_index_values_but_not_by_the_in_stack_position(tmp_path):
    path = tmp_path / "enhanced.dcm"
    write_multiframe_ct(path, (20.0, 0.0, 10.0) * 2)  # two time points of three slices
    dataset = pydicom.dcmread(path)
    pointers = (0x00209128, 0x00209057)  # TemporalPositionIndex, InStackPositionNumber
    dataset.DimensionIndexSequence = [Dataset() for _ in pointers]
    for item, pointer in zip(dataset.DimensionIndexSequence, pointers):
        item.DimensionIndexPointer = pointer
    for frame, group in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        group.FrameContentSequence = [Dataset()]
        group.FrameContentSequence[0].DimensionIndexValues = [frame // 3 + 1, (0, 2, 1)[frame % 3] + 1]
    dataset.save_as(path)
    report = scan_folder(tmp_path, DataConfig()).report
    frames: dict[str, list[int]] = {}
    for record in report.images:
        frames.setdefault(record.volume, []).append(record.frame)
    assert report.skipped == [] and sorted(frames.values()) == [[1, 2, 0], [4, 5, 3]]


def siemens_mosaic(name: str, target: Path) -> Path:
    """One of nibabel's Siemens DWI mosaics (48 slices of 128 x 128 in a 7 x 7 grid), unzipped, with each tile
    holding 500 + 10 x its slice number + its row, so slices and their orientation can be told apart."""
    dataset = pydicom.dcmread(gzip.open(NIBABEL_DICOM / name))
    mosaic = np.zeros((dataset.Rows, dataset.Columns), dtype=np.uint16)
    for number in range(48):
        row, column = divmod(number, 7)
        mosaic[row * 128:(row + 1) * 128, column * 128:(column + 1) * 128] = 500 + 10 * number + np.arange(128)[:, None]
    dataset.PixelData = mosaic.tobytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(target)
    return target


def test_a_siemens_mosaic_is_unpacked_into_its_slices_as_nibabel_reads_them(tmp_path):
    from nibabel.nicom.dicomwrappers import wrapper_from_data

    path = siemens_mosaic("siemens_dwi_1000.dcm.gz", tmp_path / "dwi" / "b1000.dcm")
    siemens_mosaic("siemens_dwi_0.dcm.gz", tmp_path / "dwi" / "b0.dcm")
    frames = read_frames(path, DataConfig(dicom_window="manual", window_center=2048.0, window_width=4096.0))
    reference = wrapper_from_data(pydicom.dcmread(path))
    values = reference.get_data()
    assert len(frames) == values.shape[2] == 48
    for number, frame in enumerate(frames):
        np.testing.assert_allclose(frame.pixels[..., 0] * 4096.0, values[..., number], atol=0.5)
    orientation = np.asarray(reference.get("ImageOrientationPatient"), dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    expected = [float(np.dot((reference.affine @ [0, 0, number, 1])[:3], normal)) for number in range(48)]
    np.testing.assert_allclose([frame.facts.position for frame in frames], expected, atol=1e-3)
    split = dict(frames[0].facts.split)  # b-value and direction from the CSA header
    assert split["b-value"] == "1000" and len(split["direction"].split(",")) == 3
    report = scan_folder(tmp_path, DataConfig()).report
    assert report.skipped == [] and sorted(len(paths) for paths in volumes_of(report).values()) == [48, 48]
