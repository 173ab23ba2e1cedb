""""Choose weights…": the button under the starting-weights field. Its menu picks a weights file or a folder
(Hugging Face layout, an earlier run's export) and lists the recent choices, remembered between launches. The
field beside it keeps a minimum width, so that a path can be read."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit, QMenu, QToolButton, QWidget

from workbench.gui import settings

WEIGHTS_FILTER = "Weights (*.safetensors *.pt *.pth *.bin *.tar);;All files (*)"
MENU_TEXT_WIDTH = 460
"""Pixels a recent path may take in the menu before its middle is elided (the full path is its tooltip)."""
FIELD_MIN_WIDTH = 220
"""Pixels the starting-weights field keeps however narrow the form: room for a folder and file name."""


class WeightsChooser(QToolButton):
    """A button whose menu sets `line` to a weights file or folder, chosen in a dialog or among recent ones."""

    def __init__(self, line: QLineEdit, label: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.line, self.label = line, label
        line.setMinimumWidth(FIELD_MIN_WIDTH)
        self.setText("Choose weights…")
        self.setAccessibleName(f"Choose {label.lower()}")
        self.setToolTip("A weights file, or a folder holding one; recent choices are listed")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")  # it covered the "…"
        self.setMenu(QMenu(self))
        self.menu().aboutToShow.connect(self.fill_menu)
        self.fill_menu()

    def fill_menu(self) -> None:
        """The menu as it is now: File…, Folder…, then the recent choices (missing ones greyed out), Clear."""
        menu = self.menu()
        menu.clear()
        menu.addAction("File…", self.choose_file)
        menu.addAction("Folder…", self.choose_folder)
        menu.addSeparator()
        recent = settings.recent_weights()
        if not recent:
            menu.addAction("No recent weights").setEnabled(False)
        metrics = menu.fontMetrics()
        for path in recent:
            text = metrics.elidedText(path, Qt.TextElideMode.ElideMiddle, MENU_TEXT_WIDTH)
            exists = Path(path).exists()
            action = menu.addAction(text if exists else f"{text} (missing)", lambda chosen=path: self.choose(chosen))
            action.setToolTip(path)
            action.setEnabled(exists)
        menu.addSeparator()
        menu.addAction("None (random initialisation)", lambda: self.choose(""))
        menu.setToolTipsVisible(True)

    def choose_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, self.label, self._start_folder(), WEIGHTS_FILTER)
        if chosen:
            self.choose(chosen)

    def choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.label, self._start_folder())
        if chosen:
            self.choose(chosen)

    def choose(self, path: str) -> None:
        """Put `path` in the field (as if typed; '' clears it) and at the top of the recent choices."""
        self.line.setText(path)
        self.line.editingFinished.emit()
        if path:
            settings.remember_weights(path)

    def _start_folder(self) -> str:
        current = self.line.text() or next(iter(settings.recent_weights()), "")
        return str(Path(current).parent) if current and Path(current).is_file() else current
