"""Scanning folders: what is read, what is skipped and why, labels, progress, cancellation, privacy."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from data_helpers import (copy_dicom, write_gray_png, write_png_header_only, write_rgb, write_tiff16,
                          write_truncated_png)
from workbench.config import DataConfig
from workbench.control import CancelledError, CancelToken
from workbench.data import scan_folder
from workbench.data.scan import MISSING_FROM_CSV


@pytest.fixture
def messy_folder(tmp_path):
    """Two class folders of good images, one root-level image, and every kind of bad file."""
    root = tmp_path / "study"
    write_gray_png(root / "healthy" / "h1.png", seed=1)
    write_rgb(root / "healthy" / "h2.jpg", seed=2)
    write_tiff16(root / "sick" / "s1.tif", seed=3)
    write_rgb(root / "sick" / "nested" / "s2.bmp", seed=4)
    copy_dicom("CT_small.dcm", root / "sick" / "ct_export")  # no extension: found by its preamble
    write_gray_png(root / "loose.png", seed=5)
    (root / "healthy" / "empty.png").write_bytes(b"")
    write_truncated_png(root / "sick" / "cut.png")
    (root / "sick" / "noise.png").write_bytes(np.random.default_rng(0).bytes(700))
    write_png_header_only(root / "sick" / "bomb.png", 12000, 9000)
    (root / "notes.txt").write_text("not an image")
    (root / "healthy" / ".DS_Store").write_bytes(b"\0" * 64)
    write_gray_png(root / ".hidden" / "x.png")
    os.symlink(root, root / "sick" / "loop")  # a link back up: must not loop or duplicate
    return root


def test_messy_folder_report(messy_folder):
    report = scan_folder(messy_folder, DataConfig()).report
    paths = [record.path for record in report.images]
    assert paths == ["healthy/h1.png", "healthy/h2.jpg", "loose.png", "sick/ct_export", "sick/nested/s2.bmp",
                     "sick/s1.tif"]
    skipped = {item.path: item.reason for item in report.skipped}
    assert skipped == {"healthy/empty.png": "zero-byte file", "sick/cut.png": "truncated PNG",
                       "sick/noise.png": "not an image",
                       "sick/bomb.png": "decompression bomb: 12000x9000 pixels exceeds the limit"}
    by_path = {record.path: record for record in report.images}
    assert by_path["loose.png"].label is None and by_path["sick/nested/s2.bmp"].label == "sick"
    assert report.labels == {"healthy": 2, "sick": 3}
    assert (by_path["sick/s1.tif"].bit_depth, by_path["sick/s1.tif"].channels) == (16, 1)
    assert (by_path["sick/ct_export"].height, by_path["healthy/h2.jpg"].channels) == (128, 3)


def test_report_json_is_private_and_summarised(messy_folder):
    summary = scan_folder(messy_folder, DataConfig()).report.to_json()
    text = json.dumps(summary)
    assert str(messy_folder.parent) not in text
    assert "CompressedSamples" not in text  # CT_small's PatientName
    assert summary["readable"] == 6 and summary["labels"] == {"healthy": 2, "sick": 3}
    assert summary["unlabelled"] == 1 and len(summary["skipped"]) == 4
    assert summary["channels"] == {"1": 4, "3": 2} and summary["bit_depths"] == {"16": 2, "8": 4}
    assert summary["height"] == {"min": 24, "median": 24.0, "max": 128}


def test_single_class_folder_is_unlabelled(tmp_path):
    write_gray_png(tmp_path / "only" / "a.png")
    write_gray_png(tmp_path / "b.png")
    report = scan_folder(tmp_path, DataConfig()).report
    assert report.labels is None and all(record.label is None for record in report.images)


def test_labels_from_csv(tmp_path):
    root = tmp_path / "flat"
    for name in ("a.png", "b.png", "c.png", "sub/d.png"):
        write_gray_png(root / name)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,label\na.png,cat\nsub/d.png,dog\nb.png,cat\ngone.png,dog\n")
    report = scan_folder(root, DataConfig(labels_csv=str(csv_path))).report
    labels = {record.path: record.label for record in report.images}
    assert labels == {"a.png": "cat", "b.png": "cat", "c.png": None, "sub/d.png": "dog"}
    assert report.labels == {"cat": 2, "dog": 1}
    assert [(item.path, item.reason) for item in report.skipped] == [("gone.png", MISSING_FROM_CSV)]


def test_csv_without_header_is_a_clear_error(tmp_path):
    write_gray_png(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("a.png,cat\n")
    with pytest.raises(ValueError, match="path,label"):
        scan_folder(tmp_path, DataConfig(labels_csv="labels.csv"))


def test_multiframe_dicom_frames_are_images(tmp_path):
    copy_dicom("SC_rgb_rle_2frame.dcm", tmp_path / "two.dcm")
    report = scan_folder(tmp_path, DataConfig()).report
    assert [record.frame for record in report.images] == [0, 1]


def test_max_images_progress_and_kept_pixels(tmp_path):
    for number in range(5):
        write_gray_png(tmp_path / f"{number}.png", seed=number)
    calls = []
    result = scan_folder(tmp_path, DataConfig(max_images=3), progress=lambda done, total: calls.append((done, total)),
                         keep_pixels_at=16)
    assert result.report.readable == 3 and len(result.pixels) == 3
    assert all(pixels.shape == (16, 16, 1) and pixels.dtype == np.uint8 for pixels in result.pixels)
    assert calls[-1] == (5, 5) and [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_kept_pixels_are_center_cropped_then_resized(tmp_path):
    wide = np.zeros((20, 40), dtype=np.uint8)
    wide[:, :10] = wide[:, 30:] = 255  # bright outer quarters, cropped away by a center crop
    Image.fromarray(wide).save(tmp_path / "wide.png")
    write_tiff16(tmp_path / "deep.tif")
    pixels = scan_folder(tmp_path, DataConfig(), keep_pixels_at=8).pixels
    assert pixels[1].shape == (8, 8, 1) and pixels[1].max() == 0
    assert pixels[0].dtype == np.uint16


def test_cancel_stops_the_scan(tmp_path):
    write_gray_png(tmp_path / "a.png")
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        scan_folder(tmp_path, DataConfig(), cancel=token)
