"""Runs: every run folder under the runs folder, with status and final metrics; overlay curves of several
runs; watch a folder being written by the CLI or a `torchrun` job, live."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QSplitter, QTableWidget, QTabWidget, QTableWidgetItem, QWidget)

from workbench.config import DataConfig
from workbench.engine.embedding_map import MAP_NAME
from workbench.engine.task_examples import EXAMPLES_NAME
from workbench.engine.events import (EmbeddingMapEvent, FailedEvent, FinishedEvent, TaskExamplesEvent)
from workbench.engine.runs import RESUMABLE_STATES, MetricsTail, RunFolder, list_runs, run_status
from workbench.gui.embedding import EmbeddingView
from workbench.gui.task_examples import TaskExamplesView
from workbench.gui.history import MetricHistory
from workbench.gui.plots import MonitorPlots
from workbench.gui.widgets import Banner, action_button, panel_layout
from workbench.gui.workers import BackgroundJob

WATCH_POLL_MS = 1000
COLUMNS = ("Run", "Status", "Step", "Last loss", "kNN accuracy", "Last change")
COLUMN_TIPS = {"Last loss": "The training loss at the run's last logged step, as logged (not smoothed).",
               "kNN accuracy": "The kNN probe accuracy at the run's last evaluation."}


@dataclass
class RunSummary:
    """One run folder as the list shows it."""

    path: Path
    status: str
    step: int
    total_steps: int
    history: MetricHistory
    modified: float
    data: DataConfig | None
    """How the run read its images (folder, DICOM window), for the embedding map; None if unreadable."""


def summarise_run(folder: RunFolder) -> RunSummary:
    """Status and curves of a run folder, from its metrics.jsonl."""
    history = MetricHistory()
    events = folder.read_events()
    for event in events:
        history.add(event)
    status = run_status(events)
    modified = folder.metrics_path.stat().st_mtime if folder.metrics_path.exists() else \
        folder.config_path.stat().st_mtime
    return RunSummary(folder.path, status.state, status.step, status.total_steps, history, modified,
                      _data_config(folder))


def _data_config(folder: RunFolder) -> DataConfig | None:
    from workbench.tasks import load_config

    try:
        return load_config(folder.config_path).data
    except Exception:  # a run written by another version still lists; it only lacks its map
        return None


class RunsPanel(QWidget):
    """The run list with overlaid curves of the selected runs."""

    resume_requested = Signal(str)
    export_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self.out_dir = Path("runs")
        self.runs: list[RunSummary] = []
        self._job: BackgroundJob | None = None
        self._watch_tail: MetricsTail | None = None
        self._watch_history: MetricHistory | None = None
        self._watch_folder: RunFolder | None = None
        self._watch_data: DataConfig | None = None
        self._stale = False
        layout = panel_layout(
            self, "Runs", "Every run in the runs folder. Select several to compare their curves; resume a stopped "
                          "run; or watch a run folder that a command-line or cluster job is writing.")
        buttons = QHBoxLayout()
        self.refresh_button = action_button(self, "Refresh", "refreshRuns", "Refresh the run list", self.refresh,
                                            "refresh")
        self.watch_button = action_button(self, "Watch folder…", "watchRun", "Watch a run folder live",
                                          self.choose_watch, "watch")
        self.resume_button = action_button(self, "Resume", "resumeRun", "Resume the selected run", self._resume,
                                           "start")
        self.export_button = action_button(self, "Export…", "exportRun", "Export the selected run", self._export,
                                           "export")
        self.open_button = action_button(self, "Open folder", "openRunFolder", "Open the selected run folder",
                                         self._open_folder, "folder")
        for button in (self.refresh_button, self.watch_button, self.resume_button, self.export_button,
                       self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.folder_label = QLabel(self)
        self.folder_label.setProperty("role", "caption")
        buttons.addWidget(self.folder_label)
        layout.addLayout(buttons)
        self.banner = Banner("Runs message", self)
        layout.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("runList")
        self.table.setAccessibleName("Run list")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, title in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(column).setToolTip(COLUMN_TIPS.get(title, ""))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_selected)
        splitter.addWidget(self.table)
        self.tabs = QTabWidget(self)
        self.plots = MonitorPlots(self)
        self.tabs.addTab(self.plots, "Curves")
        self.embedding_view = EmbeddingView(self)
        self.tabs.addTab(self.embedding_view, "Embedding map")
        self.examples_view = TaskExamplesView(self)
        self.tabs.addTab(self.examples_view, "What the model sees")
        splitter.addWidget(self.tabs)
        splitter.setSizes([220, 480])
        layout.addWidget(splitter, 1)
        self._watch_timer = QTimer(self)
        self._watch_timer.setInterval(WATCH_POLL_MS)
        self._watch_timer.timeout.connect(self._poll_watched)
        self._update_buttons()

    # -- listing --------------------------------------------------------------------------------------
    def set_out_dir(self, out_dir: str | Path) -> None:
        if Path(out_dir) != self.out_dir:
            self.out_dir = Path(out_dir)
            self.refresh()

    def refresh_when_shown(self) -> None:
        """Re-read the run folders now if the list is on screen, else when it is next shown (so a training
        run does not share the CPU with reading every other run's records)."""
        self._stale = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        """Re-read the run folders (off the GUI thread: metrics files can be long)."""
        self._stale = False
        if self._job is not None:
            return
        out_dir = self.out_dir
        self.folder_label.setText(f"Runs folder: {out_dir.resolve()}")
        job = BackgroundJob(lambda _cancel, _progress: [summarise_run(run) for run in list_runs(out_dir)], self)
        job.succeeded.connect(self._show_runs)
        job.failed.connect(lambda message, _details: self.banner.show_message(
            f"The runs folder could not be read: {message}", "error"))
        job.ended.connect(self._on_job_ended)
        self._job = job
        job.start()

    def _on_job_ended(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.deleteLater()

    def loading(self) -> bool:
        return self._job is not None

    def _show_runs(self, runs: list[RunSummary]) -> None:
        selected = {run.path for run in self.selected_runs()}
        self.runs = runs
        self.table.blockSignals(True)
        self.table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            loss = run.history.latest("loss")
            knn = run.history.latest("knn_accuracy")
            cells = (run.path.name, run.status, f"{run.step:,} / {run.total_steps:,}",
                     "–" if loss is None else f"{loss:.4f}", "–" if knn is None else f"{knn:.1%}",
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(run.modified)))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(run.path))
                self.table.setItem(row, column, item)
            if run.path in selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._show_selected()

    def selected_runs(self) -> list[RunSummary]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self.runs[row] for row in rows if row < len(self.runs)]

    def select_run(self, path: str | Path) -> bool:
        """Select the run in `path` (True when it is in the list)."""
        for row, run in enumerate(self.runs):
            if run.path.resolve() == Path(path).resolve():
                self.table.selectRow(row)
                return True
        return False

    def _show_selected(self) -> None:
        if self._watch_folder is not None:
            self.stop_watching()
        selected = self.selected_runs()
        self.plots.set_runs([(run.path.name, run.history) for run in selected])
        if len(selected) == 1:
            self._show_evaluation_views(selected[0].path, selected[0].data)
        else:
            self.embedding_view.clear()
            self.examples_view.clear()
        self._update_buttons()

    def _show_evaluation_views(self, run_dir: Path, data: DataConfig | None) -> None:
        """The selected (or watched) run's latest embedding map and task examples, where it has them."""
        if data is None or not self.embedding_view.show_map(run_dir / MAP_NAME, data):
            self.embedding_view.clear()
        if not self.examples_view.show_examples(run_dir / EXAMPLES_NAME):
            self.examples_view.clear()

    def _update_buttons(self) -> None:
        selected = self.selected_runs()
        one = len(selected) == 1
        self.resume_button.setEnabled(one and selected[0].status in RESUMABLE_STATES)
        self.export_button.setEnabled(one)
        self.open_button.setEnabled(one)

    # -- actions --------------------------------------------------------------------------------------
    def _resume(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            self.resume_requested.emit(str(selected[0].path))

    def _export(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            self.export_requested.emit(str(selected[0].path))

    def _open_folder(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(selected[0].path)))

    # -- watching -------------------------------------------------------------------------------------
    def choose_watch(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Watch a run folder", str(self.out_dir))
        if folder:
            self.watch(folder)

    def watch(self, folder: str | Path) -> None:
        """Follow the run folder `folder` live (polling its metrics.jsonl once a second)."""
        run = RunFolder(folder)
        if not run.exists() and not run.metrics_path.exists():
            self.banner.show_message(f"“{folder}” is not a run folder (it has no config.yaml or metrics.jsonl).",
                                     "error")
            return
        self.table.clearSelection()
        self._watch_folder = run
        self._watch_tail = MetricsTail(run.metrics_path)
        self._watch_history = MetricHistory()
        self._watch_data = _data_config(run)
        self.plots.set_runs([(run.name, self._watch_history)])
        self._show_evaluation_views(run.path, self._watch_data)
        self._poll_watched()
        self._watch_timer.start()

    def watching(self) -> MetricHistory | None:
        """The history of the watched run, or None."""
        return self._watch_history

    def shutdown(self) -> None:
        """Stop background work (window closing)."""
        self._watch_timer.stop()
        self.embedding_view.shutdown()

    def stop_watching(self) -> None:
        self._watch_timer.stop()
        self._watch_folder = self._watch_tail = self._watch_history = None
        self.banner.clear()

    def _poll_watched(self) -> None:
        if self._watch_tail is None or self._watch_history is None:
            return
        events: list[Any] = self._watch_tail.poll()
        self._watch_history.extend(events)
        if any(isinstance(event, (EmbeddingMapEvent, TaskExamplesEvent)) for event in events):
            self._show_evaluation_views(self._watch_folder.path, self._watch_data)
        last = self._watch_history.last_step
        progress = f" — step {last.step:,} of {last.total_steps:,}" if last else " — waiting for the first step"
        ended = next((e for e in reversed(events) if isinstance(e, (FinishedEvent, FailedEvent))), None)
        if ended is not None:
            progress += " (the run has ended)"
        self.banner.show_message(f"Watching <b>{self._watch_folder.path}</b>{progress}", "info")
