"""Step 5, Export: write a run's encoder in a format other tools can load, with a model card."""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QRadioButton, QVBoxLayout, QWidget, QFileDialog)

from workbench.engine.checkpoint_choice import checkpoint_choices
from workbench.engine.runs import RunFolder
from workbench.gui.icons import icon
from workbench.gui.widgets import Banner, panel_layout
from workbench.gui.workers import JobSlot, WhileBusy

FORMAT_HELP = {
    "safetensors": "Weights only, with the config to rebuild the encoder in Python (PyTorch). Smallest, safest.",
    "torchscript": "A self-contained PyTorch program: load with torch.jit.load, no Workbench code needed.",
    "onnx": "Runs anywhere ONNX Runtime does (C++, C#, Java, web), and in many DICOM viewers' AI plug-ins.",
}


class ExportPanel(QWidget):
    """Choose the run and a format, export on a worker thread, see where the files went."""

    exported = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("exportPanel")
        self._exports = JobSlot(WhileBusy.IGNORE, self)
        self.last_export: Path | None = None
        layout = panel_layout(
            self, "Export", "Save the trained encoder so other programs can turn images into embeddings. Images go "
                            "in as [0, 1] pixels at the training size; normalisation is built in.", spacing=12)
        run_box = QGroupBox("Run", self)
        run_form = QFormLayout(run_box)
        run_row = QHBoxLayout()
        self.run_edit = QLineEdit(run_box)
        self.run_edit.setObjectName("exportRunFolder")
        self.run_edit.setAccessibleName("Run folder to export")
        self.run_edit.setPlaceholderText("Train a run first, or choose a run folder")
        run_row.addWidget(self.run_edit, 1)
        browse = QPushButton("Browse…", run_box)
        browse.setAccessibleName("Browse for a run folder")
        browse.clicked.connect(self._browse)
        run_row.addWidget(browse)
        run_form.addRow("Run folder", run_row)
        self.checkpoint_box = QComboBox(self)
        self.checkpoint_box.setObjectName("exportCheckpoint")
        self.checkpoint_box.setAccessibleName("Checkpoint to export")
        self.checkpoint_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # first shown empty
        self.checkpoint_box.setToolTip("Which of the run's checkpoints to export: by default the best one by RankMe "
                                       "(or kNN accuracy when the data have labels), else the last")
        self.run_edit.textChanged.connect(self._list_checkpoints)
        layout.addWidget(run_box)

        format_box = QGroupBox("Format", self)
        format_layout = QVBoxLayout(format_box)
        self.format_group = QButtonGroup(self)
        self.format_buttons: dict[str, QRadioButton] = {}
        from workbench.export import FORMATS

        for fmt in FORMATS:
            button = QRadioButton(fmt, format_box)
            button.setObjectName(f"exportFormat.{fmt}")
            button.setAccessibleName(f"Export as {fmt}")
            self.format_group.addButton(button)
            format_layout.addWidget(button)
            caption = QLabel(FORMAT_HELP.get(fmt, ""), format_box)
            caption.setProperty("role", "caption")
            caption.setWordWrap(True)
            caption.setContentsMargins(24, 0, 0, 6)
            format_layout.addWidget(caption)
            self.format_buttons[fmt] = button
        self.format_buttons[FORMATS[0]].setChecked(True)
        layout.addWidget(format_box)

        row = QHBoxLayout()
        self.export_button = QPushButton(icon("export"), "Export", self)
        self.export_button.setObjectName("exportButton")
        self.export_button.setAccessibleName("Export the encoder")
        self.export_button.setProperty("primary", True)
        self.export_button.clicked.connect(self.export)
        row.addWidget(self.export_button)
        checkpoint_label = QLabel("Checkpoint", self)
        checkpoint_label.setBuddy(self.checkpoint_box)
        row.addWidget(checkpoint_label)
        row.addWidget(self.checkpoint_box)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("exportProgress")
        self.progress.setAccessibleName("Export progress")
        self.progress.setVisible(False)
        row.addWidget(self.progress, 1)
        self.open_button = QPushButton(icon("folder"), "Open export folder", self)
        self.open_button.setObjectName("openExportFolder")
        self.open_button.setAccessibleName("Open the export folder")
        self.open_button.setVisible(False)
        self.open_button.clicked.connect(self._open_folder)
        row.addWidget(self.open_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.banner = Banner("Export message", self)
        layout.addWidget(self.banner)
        layout.addStretch(1)

    def set_run(self, run_dir: str | Path) -> None:
        """Choose the run `run_dir`; the same run again re-lists its checkpoints (it may have saved more)."""
        if self.run_edit.text() == str(run_dir):
            self._list_checkpoints()
        self.run_edit.setText(str(run_dir))

    def _list_checkpoints(self) -> None:
        """Offer the run folder's checkpoints: its default first (the best, else the last), then the others."""
        self.checkpoint_box.clear()
        text = self.run_edit.text().strip()
        found = checkpoint_choices(RunFolder(text)) if text else []
        for position, choice in enumerate(found):
            self.checkpoint_box.addItem(choice.label, None if position == 0 else str(choice.path))
        self.checkpoint_box.setEnabled(bool(found))

    def chosen_checkpoint(self) -> str | None:
        """The checkpoint file chosen for export; None means the run's default (`choose_checkpoint`)."""
        return self.checkpoint_box.currentData()

    def chosen_format(self) -> str:
        return next(fmt for fmt, button in self.format_buttons.items() if button.isChecked())

    def set_format(self, fmt: str) -> None:
        self.format_buttons[fmt].setChecked(True)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Run folder to export", self.run_edit.text())
        if folder:
            self.set_run(folder)

    def exporting(self) -> bool:
        return self._exports.busy

    def export(self) -> None:
        """Export the chosen run in the chosen format, off the GUI thread."""
        from workbench.export import export_run

        run_dir = self.run_edit.text().strip()
        if not run_dir:
            self.banner.show_message("Choose a run folder to export (train one first).", "error")
            return
        fmt, checkpoint = self.chosen_format(), self.chosen_checkpoint()
        started = self._exports.run(
            lambda cancel, progress: export_run(run_dir, fmt, checkpoint, cancel=cancel, progress=progress),
            progress=lambda done, total, _eta: (self.progress.setRange(0, total), self.progress.setValue(done)),
            succeeded=self._on_exported,
            failed=lambda message, _details: self.banner.show_message(
                f"<b>Export failed.</b> {html.escape(message)}", "error"),
            ended=self._on_ended)
        if not started:
            return
        self.banner.clear()
        self.open_button.setVisible(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.export_button.setEnabled(False)

    def _on_exported(self, path: Path) -> None:
        self.last_export = Path(path)
        self.banner.show_message(f"Exported to <b>{html.escape(str(path))}</b><br>The folder also holds "
                                 "encoder.json (input size, channels, normalisation) and MODEL_CARD.md.", "info")
        self.open_button.setVisible(True)
        self.exported.emit(str(path))

    def _on_ended(self) -> None:
        self.progress.setVisible(False)
        self.export_button.setEnabled(True)

    def _open_folder(self) -> None:
        if self.last_export is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_export.parent)))
