"""Radiology round 2: every volume of a 4-D NIfTI, CIFTI-2 refused in words, enhanced MR frames split by echo
time, and the Siemens CSA b-value of single-slice files. Real files only: nibabel's and pydicom's test data."""
from __future__ import annotations

import copy
import gzip
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from data_helpers import DICOM_FILES, write_nifti
from workbench.config import DataConfig
from workbench.data import read_frames, scan_folder
from workbench.data.cache import load_dataset, settings_fingerprint
from workbench.data.sampling import context_stacks
from workbench.data.splits import group_split

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"
NIBABEL_DICOM = Path(nibabel.__file__).parent / "nicom" / "tests" / "data"
EXAMPLE_4D = NIBABEL_DATA / "example4d.nii.gz"  # 128 x 96 x 24 voxels, 2 volumes
MANUAL = {"dicom_window": "manual", "window_center": 2048.0, "window_width": 4096.0}


def volumes_of(report) -> dict[str, list[tuple[str, int]]]:
    """Each volume's (file, frame) in slice order."""
    volumes: dict[str, list[tuple[str, int]]] = {}
    for record in report.images:
        volumes.setdefault(record.volume, []).append((record.path, record.frame))
    return volumes


def notices(report) -> dict[str, str]:
    return {item.path: item.reason for item in report.notices}


# --- 4-D NIfTI ---------------------------------------------------------------------------------------------

def test_a_4d_nifti_keeps_its_first_volume_by_default_and_every_volume_when_asked(tmp_path):
    shutil.copyfile(EXAMPLE_4D, tmp_path / "fmri.nii.gz")
    first = scan_folder(tmp_path, DataConfig(root=str(tmp_path))).report
    assert first.skipped == [] and len(first.images) == 24 and len(volumes_of(first)) == 1
    assert notices(first) == {"fmri.nii.gz": "4-D NIfTI: kept 1 of 2 volumes (the first; the setting "
                                             "\"4-D NIfTI volumes: all\" reads each)"}
    every = scan_folder(tmp_path, DataConfig(root=str(tmp_path), nifti_volumes="all")).report
    assert every.skipped == [] and notices(every) == {
        "fmri.nii.gz": "4-D NIfTI: 2 volumes, each read as a volume of its own"}
    volumes = list(volumes_of(every).values())
    assert [len(frames) for frames in volumes] == [24, 24]
    assert volumes[0] == [("fmri.nii.gz", index) for index in range(24)]  # volume 1's slices, in order
    assert volumes[1] == [("fmri.nii.gz", 24 + index) for index in range(24)]
    assert len({record.group for record in every.images}) == 1  # one file: one group


def test_each_volume_of_a_4d_nifti_is_read_as_nibabel_reads_it_with_its_own_window(tmp_path):
    frames = read_frames(EXAMPLE_4D, DataConfig(nifti_volumes="all", **MANUAL))
    data = nibabel.as_closest_canonical(nibabel.load(EXAMPLE_4D)).get_fdata()
    assert len(frames) == 48
    for number, frame in enumerate(frames):
        volume, index = divmod(number, 24)
        expected = np.clip(np.flip(data[:, :, index, volume].T, (0, 1)) / 4096.0, 0.0, 1.0)  # manual: 0..4096
        np.testing.assert_allclose(frame.pixels[..., 0], expected, atol=1e-4)
        assert dict(frame.facts.split) == {"dimension": str(volume + 1)}
    auto = read_frames(EXAMPLE_4D, DataConfig(nifti_volumes="all", dicom_window="auto"))
    for volume in range(2):  # the automatic window spans each volume: each reaches full white somewhere
        assert max(float(frame.pixels.max()) for frame in auto[volume * 24:(volume + 1) * 24]) == 1.0


def test_volumes_of_a_4d_nifti_are_sequences_of_their_own_but_share_a_side_of_every_split(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("calm", "tense"):
        for subject in range(2):
            write_nifti(tmp_path / "data" / label / f"s{subject}.nii.gz", rng.normal(size=(6, 6, 4, 3)))
    config = DataConfig(root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), image_size=16,
                        nifti_volumes="all", context_slices=1)
    dataset = load_dataset(config)
    records = dataset.report.images
    assert len(dataset) == 4 * 3 * 4 and dataset.channels == 3
    assert int(dataset.volume_index.max()) + 1 == 12 and int(dataset.sequence_index.max()) + 1 == 12
    file_of = {record.group: record.path for record in records}
    assert len(file_of) == 4 and all(record.path == file_of[record.group] for record in records)
    labels = [record.label for record in records]
    for seed in range(5):
        train, test = group_split(dataset.groups, labels, 0.5, seed)
        assert {records[index].path for index in train}.isdisjoint(records[index].path for index in test)
    stacks = context_stacks(records, list(range(len(records))), 1)
    for record, stack in zip(records, stacks):  # 2.5-D context never reaches into the next volume
        assert {records[index].volume for index in stack} == {record.volume}
    assert stacks[4] == [4, 4, 5]  # the first slice of the file's second volume repeats itself, not volume 1


def test_the_decoded_cache_keeps_the_4d_setting_apart(tmp_path):
    shutil.copyfile(EXAMPLE_4D, tmp_path / "fmri.nii.gz")
    config = DataConfig(root=str(tmp_path), cache_dir=str(tmp_path / "cache"), image_size=16)
    every = DataConfig(**{**vars(config), "nifti_volumes": "all"})
    assert settings_fingerprint(tmp_path, config) != settings_fingerprint(tmp_path, every)
    for _ in range(2):  # the second round reads both from the cache
        assert len(load_dataset(config)) == 24
        report = load_dataset(every).report
        assert len(report.images) == 48 and "2 volumes" in notices(report)["fmri.nii.gz"]


def cifti_series(path: Path) -> Path:
    """A CIFTI-2 dense time series written by nibabel: 3 time points over 5 cortical vertices."""
    from nibabel import cifti2

    brain = cifti2.BrainModelAxis.from_mask(np.ones(5, dtype=bool), name="CortexLeft")
    series = cifti2.SeriesAxis(start=0.0, step=2.0, size=3)
    image = cifti2.Cifti2Image(np.arange(15, dtype=np.float32).reshape(3, 5), header=(series, brain))
    image.nifti_header.set_intent("NIFTI_INTENT_CONNECTIVITY_DENSE_SERIES")
    nibabel.save(image, str(path))
    return path


@pytest.mark.parametrize("volumes", ["first", "all"])
def test_cifti_files_get_a_plain_reason_whatever_the_4d_setting(tmp_path, volumes):
    shutil.copyfile(NIBABEL_DATA / "row_major.dconn.nii", tmp_path / "connectivity.dconn.nii")
    cifti_series(tmp_path / "rest.dtseries.nii")
    report = scan_folder(tmp_path, DataConfig(root=str(tmp_path), nifti_volumes=volumes)).report
    assert report.images == [] and report.notices == []
    reason = "Cifti2 file: surface or grayordinate data, not an image volume"
    assert {(item.path, item.reason) for item in report.skipped} == {("connectivity.dconn.nii", reason),
                                                                    ("rest.dtseries.nii", reason)}


# --- enhanced MR: frames split by echo time ----------------------------------------------------------------

def philips_two_echoes(path: Path, top_level_echo: bool = False) -> Path:
    """nibabel's real Philips enhanced MR (MPRAGE) cut to three slices of 32 x 32 (every 8th pixel), written
    twice: as echo 3.513 ms (its own) and as echo 9 ms (the same slices at half the signal), the echo time set
    per frame in MREchoSequence. `top_level_echo`: also an EchoNumbers of 1 at the top, as some exports keep."""
    dataset = pydicom.dcmread(gzip.open(NIBABEL_DICOM / "philips_mprage.dcm.gz"))
    slices = dataset.pixel_array[80:83, ::8, ::8]
    groups = list(dataset.PerFrameFunctionalGroupsSequence[80:83])
    late = [copy.deepcopy(group) for group in groups]
    for group in late:
        group.MREchoSequence[0].EffectiveEchoTime = 9.0
    for group in groups + late:
        group.PixelMeasuresSequence[0].PixelSpacing = [8, 8]
    dataset.PerFrameFunctionalGroupsSequence = groups + late
    dataset.NumberOfFrames, dataset.Rows, dataset.Columns = 6, 32, 32
    dataset.PixelData = np.concatenate([slices, slices // 2]).astype(np.uint16).tobytes()
    if top_level_echo:
        dataset.EchoNumbers = 1
    dataset.save_as(path)
    return path


@pytest.mark.parametrize("top_level_echo", [False, True])
def test_an_enhanced_mr_file_splits_into_one_volume_per_echo_time(tmp_path, top_level_echo):
    path = philips_two_echoes(tmp_path / "multi_echo.dcm", top_level_echo)
    frames = read_frames(path, DataConfig(**MANUAL))
    assert [dict(frame.facts.split)["echo"] for frame in frames] == ["3.513"] * 3 + ["9"] * 3
    report = scan_folder(tmp_path, DataConfig()).report
    assert report.skipped == [] and report.notices == []
    assert list(volumes_of(report).values()) == [[("multi_echo.dcm", frame) for frame in range(3)],
                                                 [("multi_echo.dcm", frame) for frame in range(3, 6)]]
    first = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(first[3:], first[:3] // 2)  # the later echo's volume holds the later frames


# --- Siemens CSA b-value of single-slice files -------------------------------------------------------------

def siemens_slice(path: Path, csa: str, position: float, series: str) -> Path:
    """pydicom's MR_small as a single (non-mosaic) slice of `series` carrying one of nibabel's real Siemens CSA
    image headers (`csa2_b0.bin` or `csa2_b1000.bin`) in (0029,1010), as Siemens writes it."""
    dataset = pydicom.dcmread(DICOM_FILES / "MR_small.dcm")
    dataset.SeriesInstanceUID, dataset.SOPInstanceUID = series, generate_uid()
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    dataset.ImageOrientationPatient, dataset.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0.0, 0.0, position]
    block = dataset.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    block.add_new(0x10, "OB", (NIBABEL_DICOM / csa).read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path)
    return path


def test_the_csa_b_value_of_single_slice_files_splits_their_series_into_b0_and_b1000(tmp_path):
    series = generate_uid()
    for z in (0.0, 5.0, 10.0):
        siemens_slice(tmp_path / f"b1000_{z:02.0f}.dcm", "csa2_b1000.bin", z, series)
        siemens_slice(tmp_path / f"b0_{z:02.0f}.dcm", "csa2_b0.bin", z, series)
    split = dict(read_frames(tmp_path / "b1000_05.dcm", DataConfig()).pop().facts.split)
    assert split["b-value"] == "1000" and split["direction"] == "1,0.005,-0.005"
    assert dict(read_frames(tmp_path / "b0_05.dcm", DataConfig()).pop().facts.split)["b-value"] == "0"
    report = scan_folder(tmp_path, DataConfig()).report
    assert report.skipped == [] and report.notices == []
    assert [[path for path, _ in frames] for frames in volumes_of(report).values()] == [
        ["b0_00.dcm", "b0_05.dcm", "b0_10.dcm"], ["b1000_00.dcm", "b1000_05.dcm", "b1000_10.dcm"]]


def test_the_dataset_page_rescans_when_the_4d_setting_changes(qtbot, monkeypatch, tmp_path):
    from gui_helpers import use_private_settings
    from workbench.gui.panels.dataset import DatasetPanel

    use_private_settings(monkeypatch, tmp_path)
    (tmp_path / "data").mkdir()
    shutil.copyfile(EXAMPLE_4D, tmp_path / "data" / "fmri.nii.gz")
    panel = DatasetPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    with qtbot.waitSignal(panel.scanned, timeout=30000):
        panel.open_folder(str(tmp_path / "data"))
    assert "24 images" in panel.summary_label.text()
    editor = panel.volume_form.editor("nifti_volumes")
    with qtbot.waitSignal(panel.scanned, timeout=30000):
        editor.setCurrentIndex(editor.findData("all"))
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=5000)
    assert "48 images" in panel.summary_label.text()
    rows = {panel.skipped_table.item(row, 1).text() for row in range(panel.skipped_table.rowCount())}
    assert rows == {"kept, but: 4-D NIfTI: 2 volumes, each read as a volume of its own"}
    panel.shutdown()
