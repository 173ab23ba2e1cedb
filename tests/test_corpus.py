"""The corpus of broken and odd files (tests/corpus.py): scanned and trained on, nothing crashes, every bad
file is reported with its reason and every good one is used."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from corpus import HUGE_SIDE, NON_UTF8_NAME, write_corpus
from engine_helpers import tiny_config
from workbench.config import DataConfig
from workbench.data import scan_folder
from workbench.data.cache import load_dataset
from workbench.data.readers import read_frames
from workbench.engine.events import FinishedEvent
from workbench.engine.trainer import Trainer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, write_corpus(folder)


@pytest.fixture(scope="module")
def report(corpus):
    folder, _ = corpus
    return scan_folder(folder, DataConfig(), keep_pixels_at=16).report


def outcomes(expected, kind):
    return {path: outcome for path, outcome in expected.items() if outcome.kind == kind}


def test_every_bad_file_is_reported_with_its_reason(corpus, report):
    folder, expected = corpus
    skipped = {item.path: item.reason for item in report.skipped}
    wrong = {path: skipped.get(path) for path, outcome in outcomes(expected, "bad").items()
             if outcome.reason not in skipped.get(path, "")}
    assert not wrong, f"expected reason keywords not found: {wrong}"
    assert all(len(reason) < 200 and "\n" not in reason and str(folder) not in reason for reason in skipped.values())
    assert len(outcomes(expected, "bad")) >= 40


def test_every_good_file_is_used_with_all_its_frames(corpus, report):
    _, expected = corpus
    frames: dict[str, int] = {}
    for record in report.images:
        frames[record.path] = frames.get(record.path, 0) + 1
    assert frames == {path: outcome.frames for path, outcome in outcomes(expected, "good").items()}
    assert os.fsdecode(NON_UTF8_NAME) in frames
    reported = set(frames) | {item.path for item in report.skipped}
    assert not reported & set(outcomes(expected, "ignored"))
    assert reported == set(expected) - set(outcomes(expected, "ignored"))  # nothing unexpected, nothing twice


def test_odd_images_keep_their_size_depth_and_channels(report):
    by_path = {record.path: record for record in report.images}
    assert (by_path["huge_6000.png"].height, by_path["huge_6000.png"].width) == (HUGE_SIDE, HUGE_SIDE)
    assert (by_path["one_pixel.png"].height, by_path["one_by_2000.png"].height) == (1, 2000)
    assert {by_path[name].bit_depth for name in ("gray16.png", "gray16.tif", "float32.tif", "int32_signed.tif")} == {16}
    assert {by_path[name].channels for name in ("cmyk.jpg", "cmyk.tif", "palette.png", "png_named.dcm")} == {3}
    assert by_path["ct_named.png"].bit_depth == 16  # read as the DICOM it is, whatever its name


@pytest.mark.parametrize("name, white_half", [("exif_rotate_6.jpg", "top"), ("exif_rotate_8.jpg", "bottom")])
def test_exif_orientation_is_applied(corpus, name, white_half):
    folder, _ = corpus
    [frame] = read_frames(folder / name, DataConfig())
    assert frame.pixels.shape == (16, 8, 3)  # stored 16 wide x 8 high, shown standing up
    top, bottom = frame.pixels[:8].mean(), frame.pixels[8:].mean()
    assert (top > 0.9 and bottom < 0.1) if white_half == "top" else (bottom > 0.9 and top < 0.1)


def test_training_on_the_corpus_uses_every_good_frame(corpus, tmp_path, private_cache):
    folder, expected = corpus
    config = tiny_config(folder, tmp_path / "runs", data={"image_size": 16},
                         train={"steps": 3, "checkpoint_every": 100}, eval={"every_steps": 100, "subset_size": 16})
    trainer = Trainer(config)
    final = trainer.run()
    assert isinstance(final, FinishedEvent) and final.step == 3, getattr(final, "message", final)
    good_frames = sum(outcome.frames for outcome in outcomes(expected, "good").values())
    assert len(trainer.dataset) == good_frames
    assert len(trainer.dataset.report.skipped) == len(outcomes(expected, "bad"))
    again = load_dataset(config.data)  # from the decoded cache this time: the same images
    assert len(again) == good_frames and np.array_equal(again.images.numpy(), trainer.dataset.images.numpy())


@pytest.mark.parametrize("cached", [False, True], ids=["plain scan", "cached load"])
def test_files_that_vanish_or_change_during_the_scan(tmp_path, private_cache, cached):
    """The scan's progress callback deletes, truncates and replaces files it has not reached yet."""
    root = tmp_path / "moving"
    root.mkdir()
    for name in ("a.png", "b.png", "c_vanishes.png", "d_cut_short.png", "e_replaced.png"):
        Image.fromarray(np.random.default_rng(len(name)).integers(0, 256, (20, 20), dtype=np.uint8)).save(root / name)

    def meddle(done, _total):
        if done == 1:
            (root / "c_vanishes.png").unlink()
            data = (root / "d_cut_short.png").read_bytes()
            (root / "d_cut_short.png").write_bytes(data[: len(data) // 2])
            Image.new("L", (40, 30), 7).save(root / "e_replaced.png")

    config = DataConfig(root=str(root), image_size=16)
    if cached:
        report = load_dataset(config, progress=meddle).report
    else:
        report = scan_folder(root, config, progress=meddle).report
    skipped = {item.path: item.reason for item in report.skipped}
    assert skipped == {"c_vanishes.png": "file vanished during the scan", "d_cut_short.png": "truncated PNG"}
    sizes = {record.path: (record.height, record.width) for record in report.images}
    assert sizes == {"a.png": (20, 20), "b.png": (20, 20), "e_replaced.png": (30, 40)}


def test_the_dataset_step_lists_the_corpus(qtbot, window, corpus):
    """The window scans the corpus too: every good frame counted, every bad file in the skipped table with its
    reason, and thumbnails drawn for the first rows."""
    folder, expected = corpus
    panel = window.dataset_panel
    with qtbot.waitSignal(panel.scanned, timeout=60000):
        window.open_dataset(str(folder))
    good_frames = sum(outcome.frames for outcome in outcomes(expected, "good").values())
    assert f"{good_frames:,} images" in panel.summary_label.text()
    bad = outcomes(expected, "bad")
    rows = [(panel.skipped_table.item(row, 0).text(), panel.skipped_table.item(row, 1).text())
            for row in range(panel.skipped_table.rowCount())]
    skipped = {path: reason for path, reason in rows if not reason.startswith("kept, but")}
    assert skipped.keys() == bad.keys()
    assert all(outcome.reason in skipped[path] for path, outcome in bad.items())
    notices = panel.scan_result.report.notices  # the corpus holds copies of one slice: duplicate positions
    assert len(rows) == len(bad) + len(notices) and notices
    assert f"{len(notices)} to look at" in panel.summary_label.text()
    model = panel.thumbnails
    first = range(min(8, model.rowCount()))
    for row in first:
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)  # what the view asks for visible rows
    qtbot.waitUntil(lambda: all(model.is_loaded(row) for row in first), timeout=30000)
