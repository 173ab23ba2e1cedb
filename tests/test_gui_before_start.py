"""Before Start, in the real window (issue 19): one click from the dataset to moving curves, the step list marks
what Start still needs, the folder box shows the folder in use, a folder that cannot train is refused before any
run folder is made, Start after Stop offers to continue, and the session is remembered between launches."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from gui_helpers import tiny_settings, write_class_folder  # noqa: E402
from workbench.gui import settings  # noqa: E402
from workbench.gui.app import STEPS, MainWindow  # noqa: E402

pytestmark = pytest.mark.slow


def scan(qtbot, window, folder) -> None:
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))
    window.validate()


def step_text(window, title: str) -> str:
    return window.steps.item(STEPS.index(title)).text()


def type_folder(qtbot, window, text: str) -> None:
    """Type `text` into the folder box as a user does (select all, type), without pressing Enter."""
    edit = window.dataset_panel.folder_edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def stop_and_wait(qtbot, train) -> str:
    with qtbot.waitSignal(train.run_ended, timeout=30000) as ended:
        qtbot.mouseClick(train.stop_button, Qt.MouseButton.LeftButton)
    return ended.args[0]


def test_train_on_this_dataset_starts_in_one_click_and_steps_mark_what_is_missing(qtbot, window, tmp_path):
    scan(qtbot, window, write_class_folder(tmp_path / "images", per_class=4))
    tiny_settings(window, tmp_path / "runs")
    dataset = window.dataset_panel

    window.tasks_panel.cards["simclr"].checkbox.setChecked(False)  # no task chosen: Start cannot run
    window.validate()
    assert step_text(window, "Pretext tasks").endswith("⚠")
    assert "tasks" in window.steps.item(STEPS.index("Pretext tasks")).toolTip()
    assert not step_text(window, "Dataset").endswith("⚠")
    assert not dataset.train_button.isEnabled() and "tasks" in dataset.train_button.toolTip()

    window.tasks_panel.cards["simclr"].checkbox.setChecked(True)
    window.validate()
    assert not any(window.steps.item(row).text().endswith("⚠") for row in range(len(STEPS)))
    assert STEPS[window.steps.currentRow()] == "Dataset"
    qtbot.mouseClick(dataset.train_button, Qt.MouseButton.LeftButton)
    train = window.train_panel
    assert window.stack.currentWidget() is train
    qtbot.waitUntil(lambda: train.history.last_step is not None, timeout=30000)
    stop_and_wait(qtbot, train)
    assert train.plots.point_count("loss") > 0


def test_the_folder_box_shows_the_folder_in_use_and_a_bad_path_keeps_start_disabled(qtbot, window, tmp_path):
    good = write_class_folder(tmp_path / "images")
    scan(qtbot, window, good)
    dataset, train = window.dataset_panel, window.train_panel
    assert train.start_button.isEnabled()

    type_folder(qtbot, window, str(tmp_path / "elsewhere"))
    window.validate()
    assert not train.start_button.isEnabled() and "press Enter" in train.start_reason.text()

    qtbot.keyClick(dataset.folder_edit, Qt.Key.Key_Return)
    bad = str(tmp_path / "elsewhere")
    assert dataset.folder_edit.text() == bad == window.current_config().data.root  # what trains is what is shown
    window.validate()
    assert not train.start_button.isEnabled()
    assert "not a folder that exists" in train.start_reason.text() and bad in train.start_reason.text()
    assert dataset.banner.level() == "error" and step_text(window, "Dataset").endswith("⚠")
    assert dataset.thumbnails.rowCount() == 0  # no other folder's images beside it
    window.start_training()
    assert not train.is_training() and STEPS[window.steps.currentRow()] == "Dataset"

    type_folder(qtbot, window, str(good))
    with qtbot.waitSignal(dataset.scanned, timeout=30000):
        qtbot.keyClick(dataset.folder_edit, Qt.Key.Key_Return)
    window.validate()
    assert train.start_button.isEnabled() and window.current_config().data.root == str(good)


def _empty(folder: Path) -> str:
    folder.mkdir()
    return "no image files"


def _text_files(folder: Path) -> str:
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    (folder / "scan.png").write_text("not a PNG either", encoding="utf-8")
    return "1 file skipped (scan.png:"


def _one_image(folder: Path) -> str:
    folder.mkdir()
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(folder / "only.png")
    return "only 1 readable image"


@pytest.mark.parametrize("make", [_empty, _text_files, _one_image], ids=["empty", "text files", "one image"])
def test_a_folder_that_cannot_train_is_refused_before_any_run_folder(qtbot, window, tmp_path, make):
    folder = tmp_path / "bad" / "data"
    tmp_path.joinpath("bad").mkdir()
    reason = make(folder)
    runs = tmp_path / "runs"
    tiny_settings(window, runs)
    scan(qtbot, window, folder)

    train = window.train_panel
    assert not train.start_button.isEnabled()
    shown = train.start_reason.text()
    assert str(folder) in shown and reason in shown and "training needs at least 2" in shown
    assert "0 files skipped" not in shown and ".." not in shown
    assert reason in window.dataset_panel.banner.text() and window.dataset_panel.banner.level() == "error"
    window.start_training()  # Ctrl+R, the Run menu
    qtbot.wait(200)
    assert not train.is_training()
    assert not runs.exists() or not any(runs.iterdir())
    assert STEPS[window.steps.currentRow()] == "Dataset"


def test_start_after_stop_offers_to_continue_the_run_or_begin_a_new_one(qtbot, window, tmp_path):
    scan(qtbot, window, write_class_folder(tmp_path / "images", per_class=4))
    tiny_settings(window, tmp_path / "runs", steps=400)
    train = window.train_panel
    assert not train.continue_button.isVisible() and train.start_button.text() == "Start"

    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.history.last_step is not None, timeout=30000)
    first = stop_and_wait(qtbot, train)
    assert train.continue_button.isVisible() and train.start_button.text() == "New run"

    with qtbot.waitSignal(train.run_started, timeout=30000) as started:
        qtbot.mouseClick(train.continue_button, Qt.MouseButton.LeftButton)
    assert started.args[0] == first
    assert not train.continue_button.isVisible()
    assert stop_and_wait(qtbot, train) == first

    with qtbot.waitSignal(train.run_started, timeout=30000) as started:
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    assert started.args[0] != first
    stop_and_wait(qtbot, train)


def reopen(qtbot) -> MainWindow:
    """A second launch: a new window on the same settings file."""
    again = MainWindow(scan_on_open=False)
    qtbot.addWidget(again)
    return again


def test_the_last_folder_settings_and_step_are_remembered_and_reset_to_defaults(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "images")
    scan(qtbot, window, folder)
    window.apply_preset("Self-distillation (BYOL)")
    window.train_panel.train_form.editor("lr").setValue(3e-4)
    window.validate()
    window.show_step("Augmentations")
    window.close()

    again = reopen(qtbot)
    config = again.current_config()
    assert config.data.root == str(folder) and again.dataset_panel.folder_edit.text() == str(folder)
    assert list(config.tasks) == ["byol"] and config.train.lr == 3e-4
    assert STEPS[again.steps.currentRow()] == "Augmentations"

    again.findChild(type(again.start_action), "actionResetDefaults").trigger()
    assert again.current_config().data.root == "" and list(again.current_config().tasks) == ["simclr"]
    assert STEPS[again.steps.currentRow()] == "Dataset"
    again.close()
    assert list(reopen(qtbot).current_config().tasks) == ["simclr"]


@pytest.mark.parametrize("remembered", ["train:\n  batch_size: 1\ntasks: {simclr: {}}\n", "tasks: [unclosed\n",
                                        "tasks: {no_such_task: {}}\n"])
def test_settings_remembered_by_an_older_version_fall_back_to_defaults_with_a_message(qtbot, window, remembered):
    window.close()
    settings.remember_config(remembered)
    settings.remember_step("Runs")
    again = reopen(qtbot)
    assert list(again.current_config().tasks) == ["simclr"] and again.current_config().train.batch_size != 1
    assert "could not be restored" in again.statusBar().currentMessage()
    assert again.validate() == []


def test_a_rule_across_fields_is_shown_at_its_field_and_keeps_start_disabled(qtbot, window, tmp_path):
    scan(qtbot, window, write_class_folder(tmp_path / "images", per_class=4))
    train = window.train_panel
    assert train.start_button.isEnabled()
    card = window.tasks_panel.cards["jigsaw"]
    card.checkbox.setChecked(True)
    card.form.editor("grid").setValue(2)  # a 2x2 grid has 24 orders, not the default 64 permutations
    window.validate()
    assert "only 24" in card.form.problem_at("permutations")
    assert not train.start_button.isEnabled() and "tasks.jigsaw.permutations" in train.start_reason.text()
    assert step_text(window, "Pretext tasks").endswith("⚠")
    window.start_training()
    assert not train.is_training()

    card.form.editor("permutations").setValue(24)
    window.validate()
    assert card.form.problem_at("permutations") == "" and train.start_button.isEnabled()


def test_settings_that_go_against_the_images_are_named_on_the_dataset_step(qtbot, window, tmp_path):
    qtbot.waitUntil(lambda: "checking" not in window.device_label.text(), timeout=60_000)  # the trainer's imports
    scan(qtbot, window, write_class_folder(tmp_path / "digits", per_class=3, size=8))
    banner = window.dataset_panel.banner
    qtbot.waitUntil(lambda: "enlarges them 8x" in banner.text(), timeout=10_000)  # 8 px images at 64 px
    assert banner.level() == "warning" and "Suggest a recipe" in banner.text() and "proposes 16 px" in banner.text()
    assert window.train_panel.start_button.isEnabled()  # a note, not a refusal: the value is the user's

    assert banner.action.isVisible() and banner.action.text() == "Use 16 px"
    qtbot.mouseClick(banner.action, Qt.MouseButton.LeftButton)  # the fitting value in one click
    qtbot.waitUntil(banner.isHidden, timeout=10_000)  # fitting now: the note goes
    assert window.dataset_panel.reading_form.editor("image_size").value() == 16
    assert window.current_config().data.image_size == 16 and window.train_panel.start_button.isEnabled()

    size = window.dataset_panel.reading_form.editor("image_size")
    size.setValue(64)  # the user's choice again: the note comes back, and goes when they type a fitting size
    size.editingFinished.emit()
    qtbot.waitUntil(lambda: "enlarges them 8x" in banner.text(), timeout=10_000)
    size.setValue(16)
    size.editingFinished.emit()
    qtbot.waitUntil(banner.isHidden, timeout=10_000)
