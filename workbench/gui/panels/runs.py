"""Runs: every run folder under the runs folder, with its tasks, backbone, dataset, status and final metrics;
overlay curves of several runs; rename, archive or delete runs; watch a folder being written by the CLI or a
`torchrun` job, live."""
from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QFile, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog,
                               QLabel, QLineEdit, QMessageBox, QSplitter, QTableWidget, QTabWidget,
                               QTableWidgetItem, QWidget)

from workbench.config import DataConfig, RunConfig
from workbench.config.schema import DEFAULT_RUNS_FOLDER
from workbench.engine.best_checkpoint import format_score
from workbench.engine.embedding_map import MAP_NAME
from workbench.engine.heartbeat import is_training_now
from workbench.engine.run_admin import (RunChangeRefused, check_deletable, delete_run, is_archived, rename_run,
                                        set_archived)
from workbench.engine.sweep import RunScore, run_score
from workbench.engine.task_examples import EXAMPLES_NAME
from workbench.engine.events import (EmbeddingMapEvent, FailedEvent, FinishedEvent, TaskExamplesEvent)
from workbench.engine.runs import RESUMABLE_STATES, MetricsTail, RunFolder, can_resume, list_runs
from workbench.gui.embedding import EmbeddingView
from workbench.gui.task_examples import TaskExamplesView
from workbench.gui.history import MetricHistory
from workbench.gui.plots import MonitorPlots
from workbench.gui.style import ERROR_COLOUR, OK_COLOUR, WARNING_COLOUR
from workbench.gui.widgets import Banner, action_button, panel_layout
from workbench.gui.workers import JobSlot, WhileBusy

WATCH_POLL_MS = 1000
RUNNING_CHECK_MS = 5000
"""How often the shown list looks for runs that started or stopped training (their heartbeats)."""
COLUMNS = ("Run", "Task", "Backbone", "Dataset", "Status", "Step", "Last loss", "kNN accuracy", "Score",
           "Last change")
COLUMN_TIPS = {"Status": "running: a process is training the run now (this app, the command line or torchrun); "
                         "interrupted: its training process ended without finishing (it can be resumed).",
               "Last loss": "The training loss at the run's last logged step, as logged (not smoothed).",
               "kNN accuracy": "The kNN probe accuracy at the run's last evaluation.",
               "Score": "The score of the run's best checkpoint (else its last evaluation): kNN accuracy "
                        "when the data has labels, else RankMe; what a sweep ranks its trials by. Click a column "
                        "title to sort by it."}
STATUS_COLOURS = {"running": OK_COLOUR, "interrupted": WARNING_COLOUR, "failed": ERROR_COLOUR}
DEMO_DATASET = "Demo dataset"
MIN_VISIBLE_RUNS = 4
"""Rows of the run list kept in view however tall the curves below are."""


@dataclass
class RunSummary:
    """One run folder as the list shows it."""

    path: Path
    status: str
    step: int
    total_steps: int
    history: MetricHistory
    modified: float
    config: RunConfig | None
    """The run's settings (tasks, backbone, dataset); None if its config.yaml cannot be read here."""
    archived: bool
    score: RunScore | None = None
    """The run's score (`run_score`), None before its first evaluation."""
    job: str = ""
    """Where the cluster job training it stands (`RunStatus.job`): "" when it was not submitted as a job."""
    resumable: bool = False
    """Whether Resume can continue it (`runs.can_resume`)."""

    @property
    def data(self) -> DataConfig | None:
        """How the run read its images (folder, DICOM window), for the embedding map."""
        return self.config.data if self.config is not None else None


def summarise_run(folder: RunFolder) -> RunSummary:
    """Status, settings and curves of a run folder, from the folder alone."""
    history = MetricHistory()
    events = folder.read_events()
    for event in events:
        history.add(event)
    status = folder.status(events)
    modified = folder.metrics_path.stat().st_mtime if folder.metrics_path.exists() else \
        folder.config_path.stat().st_mtime
    return RunSummary(folder.path, status.state, status.step, status.total_steps, history, modified,
                      _run_config(folder), is_archived(folder), run_score(folder, events), status.job,
                      can_resume(folder, status.state))


def summarise_runs(out_dir: Path) -> list[RunSummary]:
    """Every run under `out_dir`, newest first; a run removed while being read is left out."""
    summaries = []
    for folder in list_runs(out_dir):
        try:
            summaries.append(summarise_run(folder))
        except FileNotFoundError:
            continue
    return summaries


def _run_config(folder: RunFolder) -> RunConfig | None:
    """The run's settings as its config.yaml holds them, without the registries' rules (it was checked when it
    trained, and those rules may import timm, which the GUI thread never does)."""
    from workbench.tasks import load_config

    try:
        return load_config(folder.config_path, registry_checks=False)
    except Exception:  # a run written by another version still lists; it only lacks its settings and map
        return None


def settings_cells(config: RunConfig | None) -> list[tuple[str, str]]:
    """The Task, Backbone and Dataset cells of a run: (text, tooltip) each; tasks by their human names."""
    from workbench.tasks import task_title

    if config is None:
        unknown = ("?", "The run's config.yaml cannot be read by this version of the app.")
        return [unknown] * 3
    tasks = " + ".join(task_title(name) for name in config.tasks)
    task_tip = "In config.yaml: " + ", ".join(config.tasks)
    root = config.data.root
    dataset = (Path(root).name, root) if root else (DEMO_DATASET, "The built-in demo dataset")
    return [(tasks, task_tip), (config.model.backbone, "model.backbone"), dataset]


def row_cells(run: RunSummary) -> list[tuple[str, str, Any]]:
    """The cells of a run's row, one per column of `COLUMNS`: (text, tooltip, the value the list sorts by, None
    when the run has none)."""
    loss = run.history.latest("loss")
    knn = run.history.latest("knn_accuracy")
    score = run.score
    status = f"{run.status}, archived" if run.archived else run.status
    status = f"{status} ({run.job})" if run.job else status
    return [(run.path.name, str(run.path), run.path.name.lower()),
            *((text, tip, text.lower()) for text, tip in settings_cells(run.config)), (status, run.status, status),
            (f"{run.step:,} / {run.total_steps:,}", "", run.step), ("–" if loss is None else f"{loss:.4f}", "", loss),
            ("–" if knn is None else f"{knn:.1%}", "", knn),
            ("–", "", None) if score is None else
            (format_score(score.metric, score.score), f"At step {score.step:,}", (score.metric, score.score)),
            (time.strftime("%Y-%m-%d %H:%M", time.localtime(run.modified)), "", run.modified)]


class RunsPanel(QWidget):
    """The run list with overlaid curves of the selected runs."""

    resume_requested = Signal(str)
    export_requested = Signal(str)
    run_renamed = Signal(str, str)
    """A run folder was renamed: its old path, its new path."""
    runs_deleted = Signal(list)
    """Run folders were deleted (or moved to the trash): their paths, as str."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self.out_dir = Path(DEFAULT_RUNS_FOLDER)
        self.runs: list[RunSummary] = []
        """The runs in the list as shown (archived ones only with "Show archived")."""
        self.all_runs: list[RunSummary] = []
        self._readings = JobSlot(WhileBusy.LATEST, self)
        self._select_after: set[Path] | None = None
        self._watch_tail: MetricsTail | None = None
        self._watch_history: MetricHistory | None = None
        self._watch_folder: RunFolder | None = None
        self._watch_data: DataConfig | None = None
        self._stale = False
        layout = panel_layout(
            self, "Runs", "Every run in the runs folder. Select several to compare their curves; resume a stopped "
                          "run; rename, archive or delete runs; or watch a run folder that a command-line or "
                          "cluster job is writing.")
        buttons = QHBoxLayout()
        self.refresh_button = action_button(self, "Refresh", "refreshRuns", "Refresh the run list", self.refresh,
                                            "refresh")
        self.watch_button = action_button(self, "Watch folder…", "watchRun", "Watch a run folder live",
                                          self.choose_watch, "watch")
        self.resume_button = action_button(self, "Resume", "resumeRun", "Resume the selected run", self._resume,
                                           "start")
        self.export_button = action_button(self, "Export…", "exportRun", "Export the selected run", self._export,
                                           "export")
        self.cluster_button = action_button(self, "Run on cluster…", "runOnCluster",
                                            "Run the selected run on a cluster", self.run_on_cluster, "start")
        self.cluster_button.setToolTip("Run on cluster…: train the selected run as a SLURM job, or as a job on "
                                       "this machine, continuing from its last checkpoint")
        self.open_button = action_button(self, "Open folder", "openRunFolder", "Open the selected run folder",
                                         self._open_folder, "folder")
        self.rename_button = action_button(self, "Rename…", "renameRun", "Rename the selected run",
                                           self.rename_selected, "rename")
        self.archive_button = action_button(self, "Archive", "archiveRun", "Archive or un-archive the selected runs",
                                            self.toggle_archived, "archive")
        self.delete_button = action_button(self, "Delete…", "deleteRun", "Delete the selected runs",
                                           self.delete_selected, "delete")
        for button in (self.refresh_button, self.watch_button, self.resume_button,
                       self.export_button, self.open_button, self.rename_button, self.archive_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.show_archived = QCheckBox("Show archived", self)
        self.show_archived.setObjectName("showArchivedRuns")
        self.show_archived.setAccessibleName("Show archived runs")
        self.show_archived.toggled.connect(lambda _on: self._show_runs(self.all_runs))
        buttons.addWidget(self.show_archived)
        layout.addLayout(buttons)
        self.folder_label = QLabel(self)
        self.folder_label.setProperty("role", "caption")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        folder_row = QHBoxLayout()  # beside the folder: the button row above is full at 1280 px
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.cluster_button)
        layout.addLayout(folder_row)
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
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # listed newest first until a title is clicked
        header.sortIndicatorChanged.connect(lambda _column, _order: self._show_runs(self.all_runs))
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.table.setMinimumHeight(self.table.verticalHeader().defaultSectionSize() * MIN_VISIBLE_RUNS
                                    + header.sizeHint().height() + 2 * self.table.frameWidth())
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
        self._running_timer = QTimer(self)
        self._running_timer.setInterval(RUNNING_CHECK_MS)
        self._running_timer.timeout.connect(self.recheck_running)
        self._update_buttons()

    # -- listing --------------------------------------------------------------------------------------
    def set_out_dir(self, out_dir: str | Path) -> None:
        """List the runs under `out_dir`; an empty one (a field being typed, refused by validation) changes nothing."""
        if str(out_dir).strip() and Path(out_dir) != self.out_dir:
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
        self._running_timer.start()
        if self._stale:
            self.refresh()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        self._running_timer.stop()

    def refresh(self) -> None:
        """Re-read the run folders (off the GUI thread: metrics files can be long); asked while a reading is
        under way, read again once it ends."""
        self._stale = False
        out_dir = self.out_dir
        self.folder_label.setText(f"Runs folder: {out_dir.resolve()}")
        self._readings.run(lambda _cancel, _progress: summarise_runs(out_dir), succeeded=self._show_runs,
                           failed=lambda message, _details: self.banner.show_message(
                               f"The runs folder could not be read: {message}", "error"))

    def loading(self) -> bool:
        return self._readings.busy

    def recheck_running(self) -> None:
        """Re-read the list when a listed run started or stopped being trained since it was read (cheap: one
        small heartbeat file per run)."""
        if not self._readings.busy and any(is_training_now(run.path) != (run.status == "running")
                                     for run in self.all_runs if run.path.is_dir()):
            self.refresh()

    def _show_runs(self, runs: list[RunSummary]) -> None:
        selected = self._select_after or {run.path for run in self.selected_runs()}
        self._select_after = None
        self.all_runs = runs
        self.runs = self._sorted([run for run in runs if self.show_archived.isChecked() or not run.archived])
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            self._fill_row(row, run)
            if run.path in selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        hidden = len(runs) - len(self.runs)
        self.show_archived.setText(f"Show archived ({sum(run.archived for run in runs)})")
        self.table.setToolTip(f"{hidden} archived run(s) hidden." if hidden else "")
        self._show_selected()

    def _sorted(self, runs: list[RunSummary]) -> list[RunSummary]:
        """`runs` in the order of the clicked column title (runs without a value last), else as given."""
        header = self.table.horizontalHeader()
        column = header.sortIndicatorSection()
        if not 0 <= column < len(COLUMNS):
            return runs
        keyed = [(row_cells(run)[column][2], run) for run in runs]
        present = sorted(((value, run) for value, run in keyed if value is not None), key=lambda pair: pair[0],
                         reverse=header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder)
        return [run for _, run in present] + [run for value, run in keyed if value is None]

    def _fill_row(self, row: int, run: RunSummary) -> None:
        for column, (text, tip, _) in enumerate(row_cells(run)):
            item = QTableWidgetItem(text)
            item.setToolTip(tip or str(run.path))
            if run.archived:
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
                item.setForeground(QBrush(QColor(128, 128, 128)))
            self.table.setItem(row, column, item)
        colour = STATUS_COLOURS.get(run.status)
        if colour:
            status_item = self.table.item(row, COLUMNS.index("Status"))
            status_item.setForeground(QBrush(QColor(colour)))
            font = status_item.font()
            font.setBold(run.status == "running")
            status_item.setFont(font)

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
        running = any(run.status == "running" for run in selected)
        self.resume_button.setEnabled(one and selected[0].resumable)
        self.cluster_button.setEnabled(one and selected[0].status in (*RESUMABLE_STATES, "not started"))
        self.export_button.setEnabled(one)
        self.open_button.setEnabled(one)
        self.rename_button.setEnabled(one and not running)
        self.archive_button.setEnabled(bool(selected) and not running)
        self.delete_button.setEnabled(bool(selected) and not running)
        self.archive_button.setText("Un-archive" if selected and all(run.archived for run in selected)
                                    else "Archive")
        why = "A run being trained cannot be renamed, archived or deleted." if running else ""
        for button in (self.rename_button, self.archive_button, self.delete_button):
            button.setToolTip(why or button.accessibleName())

    # -- actions --------------------------------------------------------------------------------------
    def _resume(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            self.resume_requested.emit(str(selected[0].path))

    def run_on_cluster(self) -> None:
        """Run on cluster…: the selected run (continued from its last checkpoint) as a SLURM or local job."""
        from workbench.gui.cluster_dialog import ClusterDialog

        selected = self.selected_runs()
        if len(selected) == 1:
            self.cluster_dialog = ClusterDialog(selected[0].path, self)
            self.cluster_dialog.finished.connect(lambda _result: self.refresh())
            self.cluster_dialog.open()

    def _export(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            self.export_requested.emit(str(selected[0].path))

    def _open_folder(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(selected[0].path)))

    def rename_selected(self) -> None:
        """Ask for a new name for the selected run and rename its folder (a bad name is refused, saying why)."""
        selected = self.selected_runs()
        if len(selected) != 1:
            return
        old = selected[0].path
        name, ok = QInputDialog.getText(self, "Rename run", f"New name for the run “{old.name}”:",
                                        QLineEdit.EchoMode.Normal, old.name)
        if not ok or name == old.name:
            return
        try:
            renamed = rename_run(RunFolder(old), name)
        except (RunChangeRefused, OSError) as error:
            self._refused(f"The run “{old.name}” was not renamed", error)
            return
        self._select_after = {renamed.path}
        self.run_renamed.emit(str(old), str(renamed.path))
        self.banner.show_message(f"Renamed “{html.escape(old.name)}” to “{html.escape(renamed.name)}”.", "info")
        self.refresh()

    def toggle_archived(self) -> None:
        """Archive the selected runs, or un-archive them when all of them are archived."""
        selected = self.selected_runs()
        archive = not all(run.archived for run in selected)
        done = []
        for run in selected:
            try:
                set_archived(RunFolder(run.path), archive)
            except (RunChangeRefused, OSError) as error:
                self._refused(f"The run “{run.path.name}” was not {'archived' if archive else 'un-archived'}",
                              error)
                break
            done.append(run.path.name)
        if done:
            hint = " Tick “Show archived” to see archived runs." if archive and not self.show_archived.isChecked() \
                else ""
            self.banner.show_message(f"{'Archived' if archive else 'Un-archived'}: "
                                     f"{html.escape(', '.join(done))}.{hint}", "info")
        self.refresh()

    def delete_selected(self) -> None:
        """Move the selected runs to the trash, after a confirmation; where there is no trash, say so and
        offer to delete them for good, after a second confirmation."""
        selected = [RunFolder(run.path) for run in self.selected_runs()]
        try:
            for folder in selected:
                check_deletable(folder)
        except RunChangeRefused as error:
            self._refused("Nothing was deleted", error)
            return
        if not selected or not _confirm(self, "Delete runs", f"Move {_runs_named(selected)} to the trash?",
                                        "Runs in the trash can be restored from there."):
            return
        no_trash = [folder for folder in selected if not QFile(str(folder.path)).moveToTrash()]
        trashed = [folder for folder in selected if folder not in no_trash]
        if no_trash and _confirm(self, "No trash", f"{_runs_named(no_trash)} could not be moved to the trash: "
                                 "this system (or this drive) has no trash. Delete for good instead?",
                                 "This cannot be undone.", warning=True):
            try:
                for folder in list(no_trash):
                    delete_run(folder)
                    no_trash.remove(folder)
            except (RunChangeRefused, OSError) as error:
                self._refused("A run was not deleted", error)
        gone = [folder for folder in selected if folder not in no_trash]
        if gone:
            self.runs_deleted.emit([str(folder.path) for folder in gone])
            where = "moved to the trash" if len(trashed) == len(gone) else "deleted"
            self.banner.show_message(f"{html.escape(_runs_named(gone, capital=True))} {where}.", "info")
        self.refresh()

    def _refused(self, what: str, error: Exception) -> None:
        reason = str(error) if isinstance(error, RunChangeRefused) else (error.strerror or str(error))
        self.banner.show_message(f"{html.escape(what)}: {html.escape(reason)}", "error")

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
        config = _run_config(run)
        self._watch_data = config.data if config is not None else None
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
        self._readings.cancel()
        self._readings.wait()
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


def _runs_named(folders: list[RunFolder], capital: bool = False) -> str:
    """'the run “a”' or 'the 3 runs “a”, “b”, “c”' ('The ...' with `capital`)."""
    names = ", ".join(f"“{folder.name}”" for folder in folders)
    the = "The" if capital else "the"
    return f"{the} run {names}" if len(folders) == 1 else f"{the} {len(folders)} runs {names}"


def _confirm(parent: QWidget, title: str, question: str, detail: str, warning: bool = False) -> bool:
    """Ask a yes/no question (No is the default); True when the answer is Yes."""
    ask = QMessageBox.warning if warning else QMessageBox.question
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    return ask(parent, title, f"{question}\n\n{detail}", buttons,
               QMessageBox.StandardButton.No) == QMessageBox.StandardButton.Yes
