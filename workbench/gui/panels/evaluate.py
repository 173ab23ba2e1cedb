"""Evaluate: does the pretraining help? The probe table and bar chart, the HTML report, and what to label next.

Self-contained: `EvaluatePanel(parent)`, then `set_run(run_dir)`; probes and rankings run on a BackgroundJob."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from workbench.gui.thumbnails import THUMBNAIL_SIZE, pixels_to_qimage
from workbench.gui.widgets import panel_header
from workbench.gui.workers import BackgroundJob
from workbench.probes.finetune import SCRATCH, Schedule
from workbench.probes.svg import PALETTE
from workbench.probes.table import PROBE_NAME, fraction_label, percent, read_probe_json

COLUMNS = ("method", "labels", "training images", "accuracy", "balanced accuracy")


class EvaluatePanel(QWidget):
    """Probe a run (linear/kNN, random init and supervised baselines), open its report, rank images to label."""

    probe_finished = Signal(dict)
    ranking_finished = Signal(list)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, fractions=(0.01, 0.1, 1.0), seeds: int = 3,
                 scratch: Schedule = SCRATCH):
        super().__init__(parent)
        self.setObjectName("evaluatePanel")
        self.fractions, self.seeds, self.scratch = list(fractions), seeds, scratch
        self.run_dir: Path | None = None
        self._job: BackgroundJob | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.addWidget(panel_header("Evaluate", "How good is the encoder with few labels, compared with an "
                                                  "untrained one and with training from scratch?"))
        buttons = QHBoxLayout()
        self.probe_button = QPushButton("Run probe", self)
        self.report_button = QPushButton("Open report", self)
        self.run_label = QLabel("No run selected", self)
        for widget in (self.probe_button, self.report_button):
            buttons.addWidget(widget)
        buttons.addWidget(self.run_label, 1)
        layout.addLayout(buttons)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 2)
        self.chart = pg.PlotWidget(self)
        self.chart.setBackground("w")
        self.chart.setYRange(0, 1)
        self.chart.addLegend()
        layout.addWidget(self.chart, 2)
        ranking = QHBoxLayout()
        ranking.addWidget(QLabel("What to label next:", self))
        self.strategy = QComboBox(self)
        self.strategy.addItems(["mixed", "loss", "diversity"])
        self.count = QSpinBox(self)
        self.count.setRange(1, 1000)
        self.count.setValue(24)
        self.rank_button = QPushButton("Rank images", self)
        for widget in (self.strategy, self.count, self.rank_button):
            ranking.addWidget(widget)
        ranking.addStretch(1)
        layout.addLayout(ranking)
        self.grid = QListWidget(self)
        self.grid.setViewMode(QListWidget.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.grid.setResizeMode(QListWidget.ResizeMode.Adjust)
        layout.addWidget(self.grid, 2)
        self.probe_button.clicked.connect(self.start_probe)
        self.report_button.clicked.connect(self.open_report)
        self.rank_button.clicked.connect(self.start_ranking)
        self._set_enabled(False)

    # ------------------------------------------------------------------ run
    def set_run(self, run_dir: str | Path | None) -> None:
        """Show the run's probe table (if probed before) and enable the actions."""
        self.run_dir = Path(run_dir) if run_dir else None
        self.run_label.setText(self.run_dir.name if self.run_dir else "No run selected")
        self._set_enabled(self.run_dir is not None)
        self.grid.clear()
        record = read_probe_json(self.run_dir / PROBE_NAME) if self.run_dir else None
        self.show_probe(record)

    def _set_enabled(self, enabled: bool) -> None:
        busy = self._job is not None and self._job.is_running()
        for button in (self.probe_button, self.report_button, self.rank_button):
            button.setEnabled(enabled and not busy)

    # ---------------------------------------------------------------- probe
    def start_probe(self) -> None:
        from workbench.probes.probe import run_probe

        run_dir, fractions, seeds, scratch = self.run_dir, self.fractions, self.seeds, self.scratch
        self._start(lambda cancel, progress: run_probe(run_dir, fractions=fractions, seeds=seeds, scratch=scratch,
                                                       cancel=cancel, progress=progress),
                    self._probe_done, "Probing…")

    def _probe_done(self, record: dict) -> None:
        self.show_probe(record)
        self.probe_finished.emit(record)

    def show_probe(self, record: dict | None) -> None:
        """Fill the table and the bar chart from a probe.json record (clear them for None)."""
        summary = record["summary"] if record else []
        self.table.setRowCount(len(summary))
        for row, entry in enumerate(summary):
            cells = (entry["method"], fraction_label(entry["fraction"]), f"{entry['train_size']:g}",
                     percent(entry["accuracy"], entry["accuracy_std"]),
                     percent(entry["balanced_accuracy"], entry["balanced_accuracy_std"]))
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.chart.clear()
        fractions = list(dict.fromkeys(entry["fraction"] for entry in summary))
        methods = list(dict.fromkeys(entry["method"] for entry in summary))
        width = 0.8 / max(1, len(methods))
        for number, method in enumerate(methods):
            values = {e["fraction"]: e["accuracy"] for e in summary if e["method"] == method}
            xs = [i + (number - (len(methods) - 1) / 2) * width for i, f in enumerate(fractions) if f in values]
            heights = [values[f] for f in fractions if f in values]
            self.chart.addItem(pg.BarGraphItem(x=xs, height=heights, width=width * 0.9, name=method,
                                               brush=PALETTE[number % len(PALETTE)]))
        self.chart.getAxis("bottom").setTicks([[(i, f"{fraction_label(f)} labels") for i, f in enumerate(fractions)]])
        self.status.setText("" if record else "No probe yet: press Run probe.")

    # --------------------------------------------------------------- report
    def open_report(self) -> Path | None:
        """Write the run's report.html and open it in the web browser; returns its path."""
        from workbench.probes.report import build_report

        if self.run_dir is None:
            return None
        path = build_report(self.run_dir)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.resolve())))
        return path

    # -------------------------------------------------------------- ranking
    def start_ranking(self) -> None:
        run_dir, strategy, count = self.run_dir, self.strategy.currentText(), self.count.value()

        def work(cancel, progress):
            from workbench.probes.context import open_run
            from workbench.probes.ranking import rank_run

            context = open_run(run_dir, cancel=cancel)
            rows, scores = rank_run(context, strategy, count, cancel=cancel)
            return [(context.dataset.report.images[r].path, s, context.dataset.images[r].numpy())
                    for r, s in zip(rows, scores)]

        self._start(work, self._ranking_done, "Ranking images…")

    def _ranking_done(self, ranked: list) -> None:
        self.grid.clear()
        for path, score, pixels in ranked:
            scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
            image = pixels_to_qimage(pixels.transpose(1, 2, 0).astype(np.float32) / scale)
            icon = QIcon(QPixmap.fromImage(image).scaled(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            item = QListWidgetItem(icon, f"{Path(path).name}\n{score:.3g}")
            item.setToolTip(path)
            self.grid.addItem(item)
        self.ranking_finished.emit([(path, score) for path, score, _ in ranked])

    # ----------------------------------------------------------------- jobs
    def _start(self, work, on_success, message: str) -> None:
        if self.run_dir is None or (self._job is not None and self._job.is_running()):
            return
        self._job = BackgroundJob(work, self)
        self._job.progress.connect(lambda done, total, eta: (self.progress.setMaximum(max(total, 1)),
                                                              self.progress.setValue(done)))
        self._job.succeeded.connect(on_success)
        self._job.failed.connect(self._failed)
        self._job.ended.connect(self._ended)
        self.progress.setVisible(True)
        self.status.setText(message)
        self._job.start()
        self._set_enabled(True)

    def _failed(self, message: str, details: str) -> None:
        self.status.setText(message)
        self.failed.emit(message)

    def _ended(self) -> None:
        self.progress.setVisible(False)
        if self.status.text().endswith("…"):
            self.status.setText("")
        self._set_enabled(self.run_dir is not None)

    def wait(self) -> None:
        """Block until a running job ends (shutdown and tests)."""
        if self._job is not None:
            self._job.wait()
