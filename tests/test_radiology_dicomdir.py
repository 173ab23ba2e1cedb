"""DICOMDIR: a folder with an index is read through its records, and the folder walk still finds the rest."""
from __future__ import annotations

import shutil
from pathlib import Path

import pydicom

from data_helpers import DICOM_FILES, copy_dicom
from workbench.config import DataConfig
from workbench.data import scan_folder
from workbench.data.dicomdir import MISSING_FROM_DICOMDIR, referenced_files
from workbench.data.scan_summary import ScanSummary
from workbench.gui.panels.dataset import describe_summary

EXPORT = DICOM_FILES / "dicomdirtests"


def copy_export(target: Path) -> list[str]:
    """pydicom's DICOMDIR test export (the index and the files it lists) under `target`; the listed names."""
    listed = referenced_files(EXPORT / "DICOMDIR")
    copy_dicom(EXPORT / "DICOMDIR", target / "DICOMDIR")
    for name in listed:
        copy_dicom(EXPORT / name, target / name)
    return listed


def test_a_dicomdir_export_is_read_through_its_records(tmp_path):
    listed = copy_export(tmp_path)
    missing = listed[0]
    (tmp_path / missing).unlink()
    renamed = listed[1].lower()  # a CD copied to a case-sensitive disk
    (tmp_path / listed[1]).rename(tmp_path / "tmp-rename")
    (tmp_path / renamed).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "tmp-rename").rename(tmp_path / renamed)
    copy_dicom("CT_small.dcm", tmp_path / "extra" / "copied_later.dcm")

    report = scan_folder(tmp_path, DataConfig(dicom_window="auto")).report

    used = {record.path for record in report.images} | {item.path for item in report.skipped}
    assert "DICOMDIR" not in used  # the index is not an image, nor a skipped file
    assert {item.path for item in report.skipped if item.reason == MISSING_FROM_DICOMDIR} == {missing}
    assert renamed in used and "extra/copied_later.dcm" in {record.path for record in report.images}
    assert set(listed[2:]) <= used
    assert report.found_through == [f"DICOMDIR: {len(listed) - 1} files listed", "1 more file found by the folder walk"]
    summary = ScanSummary.of(report)
    assert summary.found_through == report.found_through
    assert "Found through DICOMDIR" in describe_summary(summary)


def test_an_index_in_a_sub_folder_lists_paths_relative_to_itself(tmp_path):
    listed = copy_export(tmp_path / "cd1")
    report = scan_folder(tmp_path, DataConfig()).report
    used = {record.path for record in report.images} | {item.path for item in report.skipped}
    assert {f"cd1/{name}" for name in listed} == used
    assert report.found_through == [f"cd1/DICOMDIR: {len(listed)} files listed"]


def test_a_damaged_dicomdir_leaves_the_walk_to_decide(tmp_path):
    listed = copy_export(tmp_path)
    index = pydicom.dcmread(tmp_path / "DICOMDIR")
    del index.DirectoryRecordSequence  # an index that lost its records
    index.save_as(tmp_path / "DICOMDIR")
    shutil.rmtree(tmp_path / listed[0].split("/")[0])

    report = scan_folder(tmp_path, DataConfig()).report

    damaged = [item.reason for item in report.skipped if item.path == "DICOMDIR"]
    assert len(damaged) == 1 and damaged[0].startswith("DICOMDIR unreadable")
    assert not report.found_through
    walked = {record.path for record in report.images} | {item.path for item in report.skipped}
    assert walked - {"DICOMDIR"} == {name for name in listed if (tmp_path / name).exists()}
