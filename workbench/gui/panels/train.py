"""Step 4, Train & monitor: model and training settings, Start / Pause / Stop, progress and live curves."""
from __future__ import annotations

import html
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QApplication, QComboBox, QFrame, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
                               QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from workbench.config import EvalConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig
from workbench.config.extras import map_method_problem
from workbench.engine.events import (CheckpointEvent, EmbeddingMapEvent, EvalEvent, Event, FailedEvent,
                                     FinishedEvent, PausedEvent, StartedEvent, StepEvent, TaskExamplesEvent,
                                     VerdictEvent, WarningEvent, NoteEvent)
from workbench.engine.runs import RunFolder, can_resume, run_status
from workbench.engine.quality_values import format_value, summarise
from workbench.gui.bridge import TrainingBridge
from workbench.gui.embedding import EmbeddingView
from workbench.gui.forms import ConfigForm
from workbench.gui.history import MetricHistory
from workbench.gui.plots import MonitorPlots
from workbench.gui.recipe import RecipeBox
from workbench.gui.stall import StallMonitor
from workbench.gui.task_examples import TaskExamplesView
from workbench.gui.icons import icon
from workbench.gui.widgets import Banner, action_button, hidden_note, panel_layout
from workbench.gui.workers import format_seconds
from workbench.metrics.projection import available_map_methods

LOG_LINES = 5000
REASONS_SHOWN = 3
"""Problems named beside a disabled Start button (all of them are in its tooltip)."""


def offer_installed_map_methods(combo: QComboBox) -> None:
    """Grey out the map projections whose optional package is missing, saying how to install it."""
    installed = available_map_methods()
    for index in range(combo.count()):
        method = combo.itemData(index)
        if method not in installed:
            item = combo.model().item(index)
            item.setEnabled(False)
            item.setToolTip(map_method_problem(method) or "")
            combo.setItemText(index, f"{method} (not installed)")


class TrainPanel(QWidget):
    """Settings on the left; controls, progress, warnings, curves and the log on the right."""

    changed = Signal()
    start_requested = Signal()
    continue_requested = Signal(str)
    """"Continue this run" was clicked: the stopped run's folder."""
    run_started = Signal(str)
    run_ended = Signal(str)
    state_changed = Signal(str)
    """The controls' state changed: "idle", "running", "pausing", "paused", "stopping"."""
    """The run folder, when a run finished, stopped or failed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPanel")
        self.bridge: TrainingBridge | None = None
        self.history = MetricHistory()
        self.last_run_dir = ""
        self.final_event: Event | None = None
        self._resumable = False  # the run that ended can be continued (`runs.can_resume`)
        self.config: RunConfig | None = None
        self.stall_monitor = StallMonitor(self)
        self.last_stall_ms: float | None = None
        self.start_problems: list[tuple[str, str]] = []
        """The settings' problems; while there are any, Start is disabled and says why."""
        layout = panel_layout(
            self, "Train & monitor", "Start training and watch it: the loss should fall, the embedding spread must "
                                     "stay out of the red collapse zone, and the kNN accuracy should rise.")
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self._settings_column())
        splitter.addWidget(self._monitor_column())
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([460, 860])
        layout.addWidget(splitter, 1)
        self._set_state("idle")

    # -- layout ---------------------------------------------------------------------------------------
    def _settings_column(self) -> QWidget:
        holder = QWidget(self)
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 8, 0)
        self.model_form = ConfigForm(ModelConfig, "model")
        self.train_form = ConfigForm(TrainConfig, "train")
        self.eval_form = ConfigForm(EvalConfig, "eval")
        offer_installed_map_methods(self.eval_form.editor("map_method"))
        self.output_form = ConfigForm(OutputConfig, "output")
        self.recipe_box = RecipeBox(holder)
        column.addWidget(self.recipe_box)
        for title, form in (("Model", self.model_form), ("Training", self.train_form),
                            ("Health checks", self.eval_form), ("Output", self.output_form)):
            box = QGroupBox(title, holder)
            QVBoxLayout(box).addWidget(form)
            column.addWidget(box)
            form.changed.connect(self.changed)
        column.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(holder)
        scroll.setMinimumWidth(420)
        return scroll

    def _monitor_column(self) -> QWidget:
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(8, 0, 0, 0)
        column.setSpacing(8)
        controls = QHBoxLayout()
        self.start_button = action_button(self, "Start", "startTraining", "Start training", self.start_requested.emit,
                                          "start")
        self.start_button.setProperty("primary", True)
        self.pause_button = action_button(self, "Pause", "pauseTraining", "Pause or resume training", self.toggle_pause,
                                          "pause")
        self.stop_button = action_button(self, "Stop", "stopTraining", "Stop training", self.stop, "stop")
        self.continue_button = action_button(self, "Continue this run", "continueRun", "Continue the stopped run",
                                             lambda: self.continue_requested.emit(self.last_run_dir), "start")
        self.continue_button.setToolTip("Continue the stopped run from its checkpoint, with its own settings")
        for button in (self.continue_button, self.start_button, self.pause_button, self.stop_button):
            button.setMinimumWidth(90)
            controls.addWidget(button)
        controls.addSpacing(12)
        self.progress = QProgressBar(box)
        self.progress.setObjectName("trainingProgress")
        self.progress.setAccessibleName("Training progress")
        self.progress.setFormat("step %v / %m")
        controls.addWidget(self.progress, 1)
        column.addLayout(controls)
        self.start_reason = hidden_note(box, "startReason", "Why Start is disabled", "error")
        column.addWidget(self.start_reason)
        stats = QHBoxLayout()
        self.stat_labels: dict[str, QLabel] = {}
        for key, title in (("step", "Step"), ("epoch", "Epoch"), ("speed", "Images/s"), ("eta", "Time left"),
                           ("loss", "Loss"), ("knn", "kNN accuracy")):
            cell = QVBoxLayout()
            caption = QLabel(title, box)
            caption.setProperty("role", "caption")
            value = QLabel("–", box)
            value.setProperty("role", "metric")
            value.setObjectName(f"stat.{key}")
            value.setAccessibleName(title)
            cell.addWidget(caption)
            cell.addWidget(value)
            stats.addLayout(cell)
            stats.addSpacing(18)
            self.stat_labels[key] = value
        stats.addStretch(1)
        column.addLayout(stats)
        self.verdict = hidden_note(box, "verdict", "Is it working?", "caption")
        column.addWidget(self.verdict)
        self.banner = Banner("Training message", box)
        column.addWidget(self.banner)
        tabs = QTabWidget(box)
        self.plots = MonitorPlots(box, reserve_task_plots=True)
        self.plots.set_runs([("this run", self.history)])
        tabs.addTab(self.plots, "Curves")
        self.embedding_view = EmbeddingView(box)
        tabs.addTab(self.embedding_view, "Embedding map")
        self.examples_view = TaskExamplesView(box)
        tabs.addTab(self.examples_view, "What the model sees")
        self.log = QPlainTextEdit(box)
        self.log.setObjectName("trainingLog")
        self.log.setAccessibleName("Training log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        tabs.addTab(self.log, "Log")
        self.tabs = tabs
        column.addWidget(tabs, 1)
        return box

    # -- config ---------------------------------------------------------------------------------------
    def forms(self) -> list[ConfigForm]:
        return [self.model_form, self.train_form, self.eval_form, self.output_form]

    def apply_to(self, config: RunConfig) -> RunConfig:
        """A copy of `config` with this panel's sections (model, train, eval, output) as edited here."""
        return replace(config, model=self.model_form.values(), train=self.train_form.values(),
                       eval=self.eval_form.values(), output=self.output_form.values())

    def show_config(self, config: RunConfig) -> None:
        self.model_form.set_values(config.model)
        self.train_form.set_values(config.train)
        self.eval_form.set_values(config.eval)
        self.output_form.set_values(config.output)

    def show_start_problems(self, problems: list[tuple[str, str]]) -> None:
        """Disable Start while the settings have `problems`, naming them beside it (none: Start is enabled)."""
        self.start_problems = list(problems)
        lines = [f"{path}: {message}" for path, message in problems]
        shown = lines[:REASONS_SHOWN] + ([f"… and {len(lines) - REASONS_SHOWN} more"]
                                         if len(lines) > REASONS_SHOWN else [])
        self.start_reason.setText("Start needs these settings fixed first:\n" + "\n".join(shown) if lines else "")
        self.start_reason.setVisible(bool(lines))
        self.start_button.setToolTip("\n".join(lines))
        self._set_state(self.state)

    # -- running --------------------------------------------------------------------------------------
    def is_training(self) -> bool:
        return self.bridge is not None

    def start(self, config: RunConfig, run_dir: str | Path | None = None, resume: bool = False) -> None:
        """Train `config` (already validated) in the background; or resume the run in `run_dir`."""
        if self.bridge is not None:
            return
        self.history = MetricHistory()
        self.plots.set_runs([("this run", self.history)])
        self.embedding_view.clear()
        self.examples_view.clear()
        self.config = config
        self.final_event = None
        self.last_run_dir, self._resumable = "", False  # a run that fails before it starts leaves no folder
        self.banner.clear()
        self.verdict.setText("Is it working? A verdict comes with each evaluation.")
        self.verdict.setVisible(True)  # shown from the start: its appearing mid-run would re-lay out the plots
        self.progress.setRange(0, config.train.steps)
        self.progress.setValue(0)
        for label in self.stat_labels.values():
            label.setText("–")
        self._log("Resuming " + str(run_dir) if resume else "Starting a new run…")
        bridge = TrainingBridge(config, run_dir=run_dir, resume=resume, parent=self)
        bridge.event.connect(self.handle_event)
        bridge.ended.connect(self._on_bridge_ended)
        self.bridge = bridge
        self._set_state("running")
        self._settle_layout()
        self.stall_monitor.start()
        bridge.start()

    def _settle_layout(self) -> None:
        """Lay out and paint the page now, as Start left it (the last run's message gone, the stats reset):
        done later, that would re-lay out and repaint every plot together while the run trains."""
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        self.repaint()

    def toggle_pause(self) -> None:
        if self.bridge is None:
            return
        if self.bridge.paused:
            self.bridge.resume_training()
            self._set_state("running")
            self._log("Resumed.")
        else:
            self.bridge.pause()
            self._set_state("pausing")
            self._log("Pausing after the current step…")

    def stop(self) -> None:
        """Stop after the current step; the trainer saves a checkpoint, so the run can be resumed."""
        if self.bridge is None:
            return
        self.bridge.stop()
        self._set_state("stopping")
        self._log("Stopping: saving a checkpoint…")

    def stop_and_wait(self) -> None:
        """Stop the run and wait for its thread (closing the window)."""
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge.wait()

    def shutdown(self) -> None:
        """Stop background work (window closing)."""
        self.stop_and_wait()
        self.embedding_view.shutdown()
        self.recipe_box.shutdown()

    def _set_state(self, state: str) -> None:
        self.state = state
        busy = state in ("running", "pausing", "paused", "stopping")
        self.start_button.setEnabled(not busy and not self.start_problems)
        resumable = not busy and self._resumable
        self.continue_button.setVisible(resumable)
        self.start_button.setText("New run" if resumable else "Start")
        self.pause_button.setEnabled(state in ("running", "pausing", "paused"))
        self.stop_button.setEnabled(state in ("running", "pausing", "paused"))
        paused = state in ("pausing", "paused")
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(icon("start" if paused else "pause"))
        for form in self.forms():
            form.setEnabled(not busy)
        self.recipe_box.setEnabled(not busy)
        self.state_changed.emit(state)

    # -- events ---------------------------------------------------------------------------------------
    def handle_event(self, event: Event) -> None:
        """Apply one engine event (delivered on the GUI thread by the bridge)."""
        self.history.add(event)
        if isinstance(event, StepEvent):
            self._show_step(event)
        elif isinstance(event, EvalEvent):
            self._show_eval(event)
        elif isinstance(event, EmbeddingMapEvent):
            if self.config is not None:
                self.embedding_view.show_map(event.path, self.config.data)
        elif isinstance(event, TaskExamplesEvent):
            self.examples_view.show_examples(event.path)
        elif isinstance(event, StartedEvent):
            self.last_run_dir = event.run_dir
            if event.step > 0:
                self._show_earlier_steps(event)
            self.progress.setRange(0, event.total_steps)
            self.progress.setValue(event.step)
            self._log(f"Run folder: {event.run_dir}\nDevice: {event.device} ({event.precision}); "
                      f"{event.num_images:,} images, {event.num_labelled:,} labelled; "
                      f"from step {event.step} to {event.total_steps}.")
            self.run_started.emit(event.run_dir)
        elif isinstance(event, PausedEvent):
            if self.state != "stopping":
                self._set_state("paused" if event.paused else "running")
            self._log(f"{'Paused' if event.paused else 'Resumed'} at step {event.step}.")
        elif isinstance(event, CheckpointEvent):
            self._log(f"Checkpoint saved at step {event.step}: {event.path}")
        elif isinstance(event, VerdictEvent):
            self.verdict.setText(event.message)
            self._log(f"Verdict at step {event.step}: {event.message}")
        elif isinstance(event, WarningEvent):
            self.banner.show_message(html.escape(event.message), "warning")
            self._log(f"Warning at step {event.step}: {event.message}")
        elif isinstance(event, NoteEvent):
            self._log(f"Note at step {event.step}: {event.message}")
        elif isinstance(event, FinishedEvent):
            self._stop_stall_monitor()  # training is over: what the end shows is not a stall of training
            self.final_event = event
            self.last_run_dir = event.run_dir
            self._resumable = can_resume(RunFolder(event.run_dir), run_status([event]).state)
            self._show_end(event.step)
            verb = "Stopped" if event.stopped else "Finished"
            self.banner.show_message(f"{verb} at step {event.step}. The run is saved in "
                                     f"<b>{html.escape(event.run_dir)}</b>"
                                     + (" and can be resumed from the Runs list." if event.stopped else "."),
                                     "info")
            self._log(f"{verb} at step {event.step}.")
        elif isinstance(event, FailedEvent):
            self._stop_stall_monitor()
            self.final_event = event
            self._resumable = bool(self.last_run_dir) and can_resume(RunFolder(self.last_run_dir),
                                                                     run_status([event]).state)
            self._show_end(event.step)
            kept = f" The last good checkpoint is kept: {event.checkpoint}" if event.checkpoint else ""
            self.banner.show_message(f"<b>Training stopped with an error.</b> {html.escape(event.message)}"
                                     f"{html.escape(kept)}", "error")
            self._log(f"Failed at step {event.step}: {event.message}")
            if self.bridge is not None and self.bridge.traceback_text:
                self._log(self.bridge.traceback_text)

    def _show_step(self, event: StepEvent) -> None:
        values = event.values
        self.progress.setMaximum(event.total_steps)
        self.progress.setValue(event.step)
        self.stat_labels["step"].setText(f"{event.step:,} / {event.total_steps:,}")
        self.stat_labels["epoch"].setText(f"{event.epoch:.2f}")
        if "images_per_second" in values:
            self.stat_labels["speed"].setText(f"{values['images_per_second']:,.0f}")
        self.stat_labels["eta"].setText(format_seconds(event.eta_seconds) or "–")
        if "loss" in values:
            self.stat_labels["loss"].setText(f"{values['loss']:.4f}")

    def _show_earlier_steps(self, started: StartedEvent) -> None:
        """A resumed run: plot its whole history (the steps before the resume, read from its run folder) and
        show its last logged step until the first new one."""
        self.history = MetricHistory.of_run(started.run_dir, until_step=started.step)
        self.plots.set_runs([("this run", self.history)])
        if self.history.last_step is not None:
            self._show_step(replace(self.history.last_step, total_steps=started.total_steps, eta_seconds=None))

    def _show_end(self, step: int) -> None:
        """The run ended at `step`: progress and stats show that step (it may be past the last logged one)."""
        self.progress.setValue(step)
        self.stat_labels["step"].setText(f"{step:,} / {self.progress.maximum():,}")
        self.stat_labels["eta"].setText("–")

    def _show_eval(self, event: EvalEvent) -> None:
        values = event.values
        if "knn_accuracy" in values:
            self.stat_labels["knn"].setText(format_value("knn_accuracy", values["knn_accuracy"]))
        self._log(f"Evaluation at step {event.step}: {summarise(values)}")

    def _on_bridge_ended(self) -> None:
        bridge = self.bridge
        self.bridge = None
        self._set_state("idle")
        self._stop_stall_monitor()
        self.plots.refresh()
        if bridge is not None:
            bridge.deleteLater()
        self.run_ended.emit(self.last_run_dir)

    def _stop_stall_monitor(self) -> None:
        """End the measure of the window's responsiveness while training (at the run's last event)."""
        if self.stall_monitor.running():
            self.last_stall_ms = self.stall_monitor.stop()
            self._log(f"Longest event-loop stall while training: {self.last_stall_ms:.0f} ms.")

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")
