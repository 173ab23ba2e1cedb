"""The real window when the dataset folder disappears (a USB stick pulled, a network share gone): before
training, Start says so and the window stays usable; during training, the run goes on from the decoded
images and the Dataset step, rescanned, shows the folder as missing."""
from __future__ import annotations

import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from gui_helpers import tiny_settings, write_class_folder  # noqa: E402
from workbench.engine.events import FailedEvent, FinishedEvent  # noqa: E402

pytestmark = pytest.mark.slow
MISSING = "does not exist"


def scan(qtbot, window, folder) -> None:
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))


def start_and_wait_for_the_end(qtbot, window) -> None:
    with qtbot.waitSignal(window.train_panel.run_ended, timeout=60000):
        qtbot.mouseClick(window.train_panel.start_button, Qt.MouseButton.LeftButton)


def test_folder_deleted_after_the_scan_start_says_so_and_the_window_stays_usable(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "usb-stick", per_class=3)
    scan(qtbot, window, folder)
    tiny_settings(window, tmp_path / "runs", steps=6)
    shutil.rmtree(folder)

    train = window.train_panel
    start_and_wait_for_the_end(qtbot, window)
    assert isinstance(train.final_event, FailedEvent)
    assert MISSING in train.banner.text() and train.banner.level() == "error"
    assert train.start_button.isEnabled() and train.state == "idle"
    assert not train.continue_button.isVisible()  # it failed before its run folder held anything to continue

    write_class_folder(folder, per_class=3)  # the stick is back: the same window trains
    start_and_wait_for_the_end(qtbot, window)
    assert isinstance(train.final_event, FinishedEvent) and train.final_event.step == 6


def test_folder_deleted_during_training_the_run_goes_on_and_a_rescan_shows_it_missing(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "share", per_class=3)
    scan(qtbot, window, folder)
    tiny_settings(window, tmp_path / "runs", steps=30)
    train, dataset = window.train_panel, window.dataset_panel

    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.history.last_step is not None, timeout=30000)
    shutil.rmtree(folder)
    qtbot.mouseClick(train.pause_button, Qt.MouseButton.LeftButton)  # hold the run while the window is used
    qtbot.waitUntil(lambda: train.state == "paused", timeout=15000)

    window.show_step("Dataset")
    qtbot.mouseClick(dataset.rescan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: MISSING in dataset.banner.text(), timeout=15000)
    assert dataset.banner.level() == "error" and str(folder) in dataset.banner.text()
    assert train.is_training()

    with qtbot.waitSignal(train.run_ended, timeout=60000):
        qtbot.mouseClick(train.pause_button, Qt.MouseButton.LeftButton)
    assert isinstance(train.final_event, FinishedEvent) and not train.final_event.stopped
    assert train.final_event.step == 30 and train.plots.point_count("loss") > 0
