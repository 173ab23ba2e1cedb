"""What a newcomer meets, on the real main window: the welcome strip of the first launch (closed for good by its
✕, back with File ▸ Reset to defaults), and Export and Evaluate following a run renamed or deleted on the
Runs step (the name is typed into the real rename dialog; only the delete confirmation is scripted)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QToolButton  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from gui_helpers import use_private_settings  # noqa: E402
from runs_helpers import YES, Dialogs, rename_to, select, use_trash  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.app import MainWindow  # noqa: E402
from workbench.gui.workers import finish_running_jobs  # noqa: E402


@pytest.fixture
def launch(qtbot, monkeypatch, tmp_path):
    """Opens the main window as a launch of the app does, on settings kept in `tmp_path` across launches."""
    use_private_settings(monkeypatch, tmp_path)
    windows = []

    def open_window() -> MainWindow:
        window = MainWindow(scan_on_open=False)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield open_window
    for window in windows:
        window.close()
    finish_running_jobs()


def test_the_welcome_strip_shows_on_the_first_launch_only_until_closed(qtbot, launch):
    first = launch()
    assert first.stack.currentWidget() is first.dataset_panel
    assert first.welcome.isVisible() and "Train on this dataset ▸" in first.welcome.text()
    qtbot.mouseClick(first.welcome.findChild(QToolButton), Qt.MouseButton.LeftButton)
    assert not first.welcome.isVisible()
    first.close()

    second = launch()
    assert second.dataset_panel.isVisible() and not second.welcome.isVisible()
    second.findChild(type(second.start_action), "actionResetDefaults").trigger()
    assert second.welcome.isVisible() and "Welcome" in second.welcome.text()
    second.close()
    assert launch().welcome.isVisible()  # not closed since the reset


@pytest.fixture
def runs(tmp_path) -> Path:
    """A runs folder with two finished tiny runs, "alpha" and "beta"."""
    data = tiny_dataset(tmp_path / "scans", per_class=3)
    trainer = Trainer(tiny_config(data, tmp_path / "made", train={"steps": 2, "log_every": 1, "warmup_steps": 1},
                                  eval={"every_steps": 2}))
    trainer.run()
    for name in ("alpha", "beta"):
        shutil.copytree(trainer.run_dir, tmp_path / "runs" / name)
    return tmp_path / "runs"


def test_export_and_evaluate_follow_a_renamed_run_and_forget_a_deleted_one(qtbot, launch, runs, monkeypatch,
                                                                           tmp_path):
    window = launch()
    window.runs_panel.set_out_dir(runs)
    window.show_step("Runs")
    select(qtbot, window.runs_panel, "alpha")
    qtbot.mouseClick(window.runs_panel.export_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.export_panel
    assert window.evaluate_panel.run_dir == runs / "alpha"

    window.show_step("Runs")
    rename_to(qtbot, window.runs_panel, "baseline")
    assert window.export_panel.run_edit.text() == str(runs / "baseline")
    assert window.evaluate_panel.run_dir == runs / "baseline"
    assert window.evaluate_panel.run_label.full_text() == "Run: baseline"

    use_trash(monkeypatch, tmp_path, exists=True)
    Dialogs(monkeypatch, YES, YES)
    select(qtbot, window.runs_panel, "beta")
    qtbot.mouseClick(window.runs_panel.delete_button, Qt.MouseButton.LeftButton)
    assert not (runs / "beta").exists()
    assert window.export_panel.run_edit.text() == str(runs / "baseline")  # another run's deletion: unchanged

    select(qtbot, window.runs_panel, "baseline")
    qtbot.mouseClick(window.runs_panel.delete_button, Qt.MouseButton.LeftButton)
    assert window.export_panel.run_edit.text() == "" and window.evaluate_panel.run_dir is None
    for page in (window.export_panel, window.evaluate_panel):
        assert "“baseline” was deleted" in page.banner.text()
