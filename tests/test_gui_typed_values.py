"""Issue 19: a value typed out of range is refused at its field, with the allowed range, never clamped or dropped;
Start is disabled, saying why, while a field holds a refused value."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel, QWidget  # noqa: E402

from gui_helpers import tiny_settings  # noqa: E402
from workbench.gui.forms import NumberEdit  # noqa: E402

STEP_OF = {"data": "Dataset", "train": "Train & monitor"}


def type_into(qtbot, window, path: str, text: str) -> NumberEdit:
    """Select what the field at `path` holds and type `text` over it, as a user would."""
    window.show_step(STEP_OF[path.split(".")[0]])
    editor = window.findChild(QWidget, path)
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    return editor


def message_at(window, path: str) -> str:
    label = window.findChild(QLabel, f"{path}.error")
    return label.text() if not label.isHidden() else ""


@pytest.mark.parametrize("path, typed, typed_value, message, fixed", [
    ("train.batch_size", "-16", -16, "Must be between 2 and 65,536", "16"),
    ("data.image_size", "100000", 100000, "Must be between 16 and 1,024", "32"),
    ("train.lr", "50", 50.0, "Must be between 1e-07 and 10", "0.001"),
])
def test_a_value_out_of_range_is_refused_at_the_field_and_blocks_start(qtbot, window, tmp_path, path, typed,
                                                                       typed_value, message, fixed):
    tiny_settings(window, tmp_path / "runs")
    start = window.train_panel.start_button
    assert start.isEnabled()
    editor = type_into(qtbot, window, path, typed)
    assert editor.text() == typed  # kept as typed: not clamped, not replaced by the last good value
    assert message_at(window, path) == message and editor.property("invalid") is True
    section, name = path.split(".")
    assert getattr(getattr(window.current_config(), section), name) == typed_value
    qtbot.waitUntil(lambda: not start.isEnabled(), timeout=5000)
    assert f"{path}: {message[0].lower()}{message[1:]}" in window.train_panel.start_reason.text()
    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    assert not window.train_panel.is_training()
    assert not window.save_config_file(tmp_path / "config.yaml")
    assert not (tmp_path / "config.yaml").exists()

    type_into(qtbot, window, path, fixed)
    assert message_at(window, path) == "" and not editor.property("invalid")
    qtbot.waitUntil(start.isEnabled, timeout=5000)
    assert not window.train_panel.start_reason.isVisible()


def test_text_that_is_not_a_number_is_refused_too(qtbot, window):
    type_into(qtbot, window, "train.steps", "1.5")
    assert message_at(window, "train.steps") == "Must be a whole number"
    type_into(qtbot, window, "train.steps", "1,500")  # commas may group thousands
    assert message_at(window, "train.steps") == "" and window.current_config().train.steps == 1500
    type_into(qtbot, window, "train.lr", "0,5")
    assert message_at(window, "train.lr") == "Must be a number"


@pytest.mark.parametrize("value", [0.1 + 0.2, 1 / 3, 2e-4, 1e-7, 123456.789])
def test_a_number_shown_reads_back_exactly(qtbot, value):
    edit = NumberEdit(float, None, None)
    qtbot.addWidget(edit)
    edit.setValue(value)
    assert edit.value() == value and edit.problem() == ""


def test_a_task_the_backbone_cannot_train_is_shown_on_the_tasks_page_and_blocks_start(qtbot, window, tmp_path):
    tiny_settings(window, tmp_path / "runs")
    window.tasks_panel.cards["mae"].checkbox.setChecked(True)  # MAE on the small CNN: it needs a ViT
    start = window.train_panel.start_button
    qtbot.waitUntil(lambda: not start.isEnabled(), timeout=5000)
    assert "tasks.mae: MAE needs a ViT backbone" in window.train_panel.start_reason.text()
    assert "MAE needs a ViT backbone" in window.tasks_panel.banner.text()
    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    assert not window.train_panel.is_training() and not (tmp_path / "runs").exists()  # no run folder made


def test_the_run_menu_and_the_status_bar_follow_what_is_chosen(qtbot, window):
    """The Run menu's Pause and Stop were enabled with nothing running; the status bar kept "bf16 autocast"
    after fp32 was chosen."""
    assert not window.pause_action.isEnabled() and not window.stop_action.isEnabled()
    qtbot.waitUntil(lambda: "checking" not in window.device_label.text(), timeout=60_000)
    precision = window.train_panel.train_form.editor("precision")
    for choice, shown in (("bf16", "bf16 autocast"), ("fp32", "fp32")):
        precision.setCurrentIndex(precision.findData(choice))
        qtbot.waitUntil(lambda shown=shown: window.device_label.text().endswith(shown), timeout=5_000)
