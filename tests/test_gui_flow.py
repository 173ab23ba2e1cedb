"""The whole flow in the real window: scan, choose a task, change a setting, start, watch the curves, pause,
resume, stop, resume the stopped run from the Runs list, export, and reopen the finished run."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from gui_helpers import tiny_settings, write_class_folder  # noqa: E402
from workbench.engine.events import FinishedEvent  # noqa: E402
from workbench.engine.runs import RunFolder  # noqa: E402
from workbench.gui.app import STEPS  # noqa: E402
from workbench.tasks import load_config  # noqa: E402

pytestmark = pytest.mark.slow


def test_click_through_the_whole_flow(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "images", per_class=4)
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))
    tiny_settings(window, tmp_path / "runs")

    window.show_step("Pretext tasks")
    cards = window.tasks_panel.cards
    cards["simclr"].checkbox.setChecked(False)
    assert window.validate()[0][0] == "tasks"
    assert window.tasks_panel.banner.level() == "error"
    cards["rotation"].checkbox.setChecked(True)
    assert window.validate() == []
    window.train_panel.train_form.editor("lr").setValue(1e-3)

    train = window.train_panel
    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is train
    qtbot.waitUntil(lambda: train.history.last_step is not None, timeout=30000)
    qtbot.mouseClick(train.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.state == "paused", timeout=15000)
    assert train.pause_button.text() == "Resume"
    paused_at = train.history.last_step.step
    qtbot.mouseClick(train.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.history.last_step.step > paused_at, timeout=15000)
    qtbot.waitUntil(lambda: train.history.last_eval is not None and train.history.last_eval.step > 0,
                    timeout=15000)
    with qtbot.waitSignal(train.run_ended, timeout=30000) as ended:
        qtbot.mouseClick(train.stop_button, Qt.MouseButton.LeftButton)
    run_dir = Path(ended.args[0])
    assert isinstance(train.final_event, FinishedEvent) and train.final_event.stopped
    assert "resumed" in train.banner.text()
    assert train.plots.point_count("loss") > 0
    assert train.plots.point_count("embedding_std") > 0
    assert train.start_button.isEnabled()
    assert load_config(RunFolder(run_dir).config_path).train.lr == 1e-3
    assert list(load_config(RunFolder(run_dir).config_path).tasks) == ["rotation"]

    runs = window.runs_panel
    qtbot.waitUntil(lambda: not runs.loading() and runs.select_run(run_dir), timeout=10000)
    assert runs.selected_runs()[0].status == "stopped"
    with qtbot.waitSignal(train.run_ended, timeout=60000):
        qtbot.mouseClick(runs.resume_button, Qt.MouseButton.LeftButton)
    assert isinstance(train.final_event, FinishedEvent) and not train.final_event.stopped
    assert train.final_event.step == 150

    window.show_step("Export")
    exporter = window.export_panel
    assert Path(exporter.run_edit.text()) == run_dir
    with qtbot.waitSignal(exporter.exported, timeout=60000) as exported:
        qtbot.mouseClick(exporter.export_button, Qt.MouseButton.LeftButton)
    assert Path(exported.args[0]).is_file()
    assert str(exported.args[0]) in exporter.banner.text()

    window.show_step("Runs")
    qtbot.waitUntil(lambda: not runs.loading(), timeout=10000)
    runs.table.clearSelection()
    assert runs.select_run(run_dir)
    assert runs.selected_runs()[0].status == "finished"
    assert runs.plots.point_count("loss") > 0
    runs.watch(run_dir)
    assert runs.watching().last_step.step == 150
    assert "Watching" in runs.banner.text()


def test_settings_problems_block_start_and_point_at_the_field(qtbot, window, tmp_path):
    tiny_settings(window, tmp_path / "runs")
    augment = window.augment_panel.form
    augment.editor("crop_scale_min").setValue(0.9)
    augment.editor("crop_scale_max").setValue(0.4)
    window.start_training()
    assert not window.train_panel.is_training()
    assert window.stack.currentWidget() is window.augment_panel
    assert "crop_scale_max" in augment.problem_at("crop_scale_min")
    assert "augment.crop_scale_min" in window.train_panel.banner.text()


def test_config_saved_from_the_window_loads_back(qtbot, window, tmp_path):
    tiny_settings(window, tmp_path / "runs")
    window.apply_preset("Self-distillation (BYOL)")
    assert list(window.current_config().tasks) == ["byol"]
    assert window.current_config().data.image_size == 32  # presets keep the chosen data settings
    path = tmp_path / "config.yaml"
    assert window.save_config_file(path)
    window.apply_preset("Quick CPU demo")
    assert window.load_config_file(path)
    assert list(window.current_config().tasks) == ["byol"]
    assert load_config(path) == window.current_config()

    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  batch_size: 1\ntasks: {byol: {}}\n", encoding="utf-8")
    assert not window.load_config_file(bad)
    assert "train.batch_size" in window.tasks_panel.banner.text()
    assert STEPS[window.steps.currentRow()] == "Pretext tasks"
