"""Shared pieces of the Runs page tests: scripted confirmation answers, selecting, renaming through the real
dialog, a private trash folder."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from workbench.gui.panels.runs import RunsPanel

YES, NO = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


class Dialogs:
    """Scripted answers for the confirmation dialogs (each call takes the next answer) and the questions asked."""

    def __init__(self, monkeypatch, *answers):
        self.answers = list(answers)
        self.asked: list[str] = []
        monkeypatch.setattr(QMessageBox, "question", self._answer)
        monkeypatch.setattr(QMessageBox, "warning", self._answer)

    def _answer(self, _parent, title, text, *_buttons):
        self.asked.append(f"{title}: {text}")
        return self.answers.pop(0)


def select(qtbot, panel: RunsPanel, name: str) -> None:
    qtbot.waitUntil(lambda: not panel.loading(), timeout=15000)
    panel.table.clearSelection()
    assert panel.select_run(panel.out_dir / name)


def rename_to(qtbot, panel: RunsPanel, name: str) -> None:
    """Click Rename and type `name` into the real name dialog."""
    typed = []

    def type_name():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, type_name)
            return
        typed.append(dialog.textValue())
        dialog.setTextValue(name)
        dialog.accept()

    QTimer.singleShot(0, type_name)
    qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    assert typed == [panel.selected_runs()[0].path.name]  # the dialog offered the current name


def use_trash(monkeypatch, tmp_path: Path, exists: bool) -> Path:
    """A private home and freedesktop trash folder (none at all when not `exists`); returns the trash."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    if exists:
        (home / "share" / "Trash").mkdir(parents=True)
        monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    else:
        (home / "not-a-folder").write_text("", encoding="utf-8")
        monkeypatch.setenv("XDG_DATA_HOME", str(home / "not-a-folder" / "share"))
    return home / "share" / "Trash"
