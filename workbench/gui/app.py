"""The desktop app: the main window (workflow steps in a sidebar, one panel each) and `main()`."""
from __future__ import annotations

import argparse

import copy
import os
import html
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import yaml
from PySide6.QtCore import QByteArray, QSize, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QMessageBox, QWidget)

from workbench import __version__
from workbench.config import ConfigError, RunConfig, TrainConfig, dump_yaml, save_config
from workbench.engine.presets import PRESETS, preset_config
from workbench.gui import settings, startup_probe
from workbench.gui.icons import icon
from workbench.gui.panels.augment import AugmentPanel
from workbench.gui.panels.dataset import DatasetPanel
from workbench.gui.panels.evaluate import EvaluatePanel
from workbench.gui.panels.export import ExportPanel
from workbench.gui.panels.runs import RunsPanel
from workbench.gui.panels.tasks import TasksPanel
from workbench.gui.panels.train import TrainPanel
from workbench.gui.style import apply_style
from workbench.gui.widgets import Banner, PageStack, scrolling
from workbench.gui.workers import JobSlot, WhileBusy, readable_error
from workbench.tasks import (PluginReport, config_from_dict, default_plugin_folders, load_config, load_plugins,
                             registered_tasks, validate_config)

FIRST_PRESET = "Quick CPU demo"
STEPS = ("Dataset", "Pretext tasks", "Augmentations", "Train & monitor", "Export", "Evaluate", "Runs")
PROBLEM_MARK = "  ⚠"
"""Appended to a workflow step that holds a setting Start needs fixed."""
VALIDATE_DELAY_MS = 250
FIRST_SIZE = QSize(1360, 860)
MINIMUM_SIZE = QSize(720, 480)
"""Below this the workflow steps would crowd out the page; each page scrolls what does not fit above it."""
WELCOME = ("<b>Welcome.</b> Pretext Workbench teaches an image encoder from your own unlabelled images, so that "
           "later labelling needs fewer examples. The demo scans below are ready: press <b>Train on this dataset "
           "▸</b> and the curves move within about a minute. Close this note once you know your way.")
"""The first-run welcome strip on the Dataset step (closed for good by its ✕, back with Reset to defaults)."""


class MainWindow(QMainWindow):
    """Dataset → Pretext tasks → Augmentations → Train & monitor → Export, with the Runs list at hand."""

    def __init__(self, config: RunConfig | None = None, plugin_reports: Sequence[PluginReport] = (),
                 scan_on_open: bool = True):
        super().__init__()
        self.setWindowTitle("Pretext Workbench")
        self.setObjectName("mainWindow")
        self.setWindowIcon(icon("app"))
        self._device_ready = False  # torch loads on a worker thread first (`_describe_device`)
        self._facts = None  # (scan report, its DataFacts) for `_show_fit_notes`
        self.dataset_panel = DatasetPanel()
        self.tasks_panel = TasksPanel(registered_tasks(), list(PRESETS))
        self.augment_panel = AugmentPanel()
        self.train_panel = TrainPanel()
        self.export_panel = ExportPanel()
        self.evaluate_panel = EvaluatePanel()
        self.runs_panel = RunsPanel()
        self.panels = (self.dataset_panel, self.tasks_panel, self.augment_panel, self.train_panel,
                       self.export_panel, self.evaluate_panel, self.runs_panel)
        self._build_layout()
        self._build_menus()
        self._build_status_bar()
        self._start_pending = False
        self._remembers = config is None
        """Whether this window keeps the user's session (one opened on a given config, e.g. a benchmark's, does not)."""
        self._validate_timer = QTimer(self)
        self._validate_timer.setSingleShot(True)
        self._validate_timer.setInterval(VALIDATE_DELAY_MS)
        self._validate_timer.timeout.connect(self.validate)
        self._connect_panels()
        self.apply_config(config or self._remembered_config() or preset_config(FIRST_PRESET), rescan=False)
        self._report_plugins(plugin_reports)
        self._restore_geometry()
        if self._remembers:
            self._restore_step()
            self._offer_welcome()
        self.runs_panel.refresh()
        self._describe_device()
        if scan_on_open:
            QTimer.singleShot(0, self.dataset_panel.scan)

    # -- layout ---------------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.steps = QListWidget(central)
        self.steps.setObjectName("workflowSteps")
        self.steps.setAccessibleName("Workflow steps")
        self.steps.setFixedWidth(210)
        for title in STEPS:
            item = QListWidgetItem(_step_text(title), self.steps)
            item.setSizeHint(QSize(180, 44))
        self.stack = PageStack(central)
        for panel in self.panels:
            self.stack.addWidget(panel)
        self.steps.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.welcome = Banner("Welcome", self.dataset_panel)
        self.welcome.dismissed.connect(lambda: settings.remember_welcome_dismissed(True))
        self.dataset_panel.layout().insertWidget(1, self.welcome)  # under the Dataset step's header
        self.steps.setCurrentRow(0)
        self.page_scroll = scrolling(self.stack, "pageScroll")
        layout.addWidget(self.steps)
        layout.addWidget(self.page_scroll, 1)
        self.setCentralWidget(central)
        self.setMinimumSize(MINIMUM_SIZE)

    def show_step(self, title: str) -> None:
        """Switch to the panel named `title` (one of STEPS)."""
        self.steps.setCurrentRow(STEPS.index(title))

    def _mark_steps(self, problems: list[tuple[str, str]]) -> None:
        """Mark each workflow step that holds one of `problems` (its tooltip names them); unmark the others."""
        for row, title in enumerate(STEPS):
            mine = [f"{path}: {message}" for path, message in problems if _step_of(path) == title]
            item = self.steps.item(row)
            item.setText(_step_text(title) + (PROBLEM_MARK if mine else ""))
            item.setToolTip("Needs fixing before Start:\n" + "\n".join(mine) if mine else "")

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | str | None = None,
                name: str | None = None, icon_name: str | None = None) -> QAction:
        action = QAction(icon(icon_name) if icon_name else QIcon(), text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if name:
            action.setObjectName(name)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open dataset folder…", self.dataset_panel.choose_folder,
                     QKeySequence.StandardKey.Open, "actionOpenFolder", "folder")
        self.recent_menu = file_menu.addMenu("Recent folders")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addMenu(self.dataset_panel.demo_menu).setText("&Demo data")
        file_menu.addSeparator()
        self._action(file_menu, "&Load config…", self.load_config_dialog, "Ctrl+L", "actionLoadConfig")
        self._action(file_menu, "&Save config…", self.save_config_dialog, QKeySequence.StandardKey.Save,
                     "actionSaveConfig")
        self._action(file_menu, "&Reset to defaults", self.reset_to_defaults, name="actionResetDefaults")
        file_menu.addSeparator()
        self._action(file_menu, "&Export encoder…", lambda: self.show_step("Export"), "Ctrl+E", "actionExport",
                     "export")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit, "actionQuit")

        run_menu = bar.addMenu("&Run")
        self.start_action = self._action(run_menu, "&Start training", self.start_training, "Ctrl+R",
                                         "actionStart", "start")
        self.pause_action = self._action(run_menu, "&Pause / resume", self.train_panel.toggle_pause, "Ctrl+P",
                                         "actionPause", "pause")
        self.stop_action = self._action(run_menu, "S&top", self.train_panel.stop, "Ctrl+.", "actionStop", "stop")
        self.train_panel.state_changed.connect(self._mirror_run_controls)
        self._mirror_run_controls()
        run_menu.addSeparator()
        presets_menu = run_menu.addMenu("Presets")
        for name in PRESETS:
            self._action(presets_menu, name, lambda _checked=False, chosen=name: self.apply_preset(chosen))

        view_menu = bar.addMenu("&View")
        for number, title in enumerate(STEPS, start=1):
            self._action(view_menu, title, lambda _checked=False, chosen=title: self.show_step(chosen),
                         f"Ctrl+{number}")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Pretext Workbench", self._about)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in settings.recent_folders():
            self._action(self.recent_menu, folder,
                         lambda _checked=False, chosen=folder: self.open_dataset(chosen))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _build_status_bar(self) -> None:
        self.device_label = QLabel("Device: checking…", self)
        self.device_label.setObjectName("deviceDescription")
        self.device_label.setAccessibleName("Training device")
        self.statusBar().addPermanentWidget(self.device_label)

    def _mirror_run_controls(self, _state: str = "") -> None:
        """The Run menu's Pause and Stop are usable exactly when the Train page's buttons are."""
        self.pause_action.setEnabled(self.train_panel.pause_button.isEnabled())
        self.stop_action.setEnabled(self.train_panel.stop_button.isEnabled())

    def _show_device(self, train: TrainConfig) -> None:
        """The status bar's device line for the chosen device, precision and threads (once torch is loaded by
        the first description, off the GUI thread)."""
        if self._device_ready:
            from workbench.engine.device import describe_device

            self.device_label.setText(f"Device: {describe_device(train.device, train.precision, train.threads)}")

    def _describe_device(self) -> None:
        """Load the trainer's imports on a worker thread, then show the device line (`_show_device`)."""

        def describe_and_warm_up(_cancel, _progress) -> None:
            # The trainer's imports (torch models, tasks) take seconds and hold the interpreter; doing them
            # now, off the GUI thread, keeps them from stalling the window when the first run starts.
            import torch

            import workbench.engine.trainer  # noqa: F401

            torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # the first optimiser loads torch._dynamo

        self._warm_up = JobSlot(WhileBusy.IGNORE, self)
        self._warm_up.run(describe_and_warm_up, ended=self._device_described,
                          failed=lambda message, _details: self.device_label.setText(f"Device: {message}"))

    def _device_described(self) -> None:
        self._device_ready = True
        self._show_device(self.train_panel.train_form.values())
        self._show_fit_notes(self.current_config())

    def _show_fit_notes(self, config: RunConfig) -> None:
        """On the Dataset step, what in the settings goes against the scanned images (`recipe.misfits`: images
        enlarged, flips on DICOM/NIfTI), as a run would say at its start; once the trainer's imports are loaded
        (off the GUI thread, soon after launch)."""
        report = self.dataset_panel.scanned_report()
        if not self._device_ready or report is None or report.readable == 0:  # nothing to fit (the banner says why)
            return
        from workbench.engine.device import resolve_device
        from workbench.engine.recipe import DataFacts, misfits

        try:
            device_type = resolve_device(config.train.device).type
        except RuntimeError:  # a device that is not here: validation names it at its field
            return
        if self._facts is None or self._facts[0] is not report:
            self._facts = (report, DataFacts.of_report(report))
        self.dataset_panel.show_fit_notes(misfits(config, self._facts[1], device_type))

    def _connect_panels(self) -> None:
        for panel in (self.dataset_panel, self.tasks_panel, self.augment_panel, self.train_panel):
            panel.changed.connect(self._validate_timer.start)
        self.train_panel.model_form.editor("backbone").read.connect(self._validate_timer.start)
        self.dataset_panel.scanned.connect(self._on_scanned)
        self.dataset_panel.fit_requested.connect(self._apply_fitting)
        self.dataset_panel.window_applied.connect(lambda: self.augment_panel.load_preview_images(
            self.dataset_panel.data_config()))
        self.tasks_panel.preset_chosen.connect(self.apply_preset)
        self.tasks_panel.save_requested.connect(self.save_config_dialog)
        self.tasks_panel.load_requested.connect(self.load_config_dialog)
        self.tasks_panel.preview_source = self._task_preview_source
        self.dataset_panel.train_requested.connect(self.start_training)
        self.train_panel.start_requested.connect(self.start_training)
        self.train_panel.continue_requested.connect(self.resume_run)
        self.train_panel.recipe_box.source = self._recipe_source
        self.train_panel.recipe_box.applied.connect(self._apply_recipe)
        self.train_panel.run_started.connect(self._on_run_started)
        self.train_panel.run_ended.connect(self._on_run_ended)
        self.train_panel.output_form.changed.connect(
            lambda: self.runs_panel.set_out_dir(self.train_panel.output_form.values().out_dir))
        self.runs_panel.resume_requested.connect(self.resume_run)
        self.runs_panel.export_requested.connect(self._export_run)
        self.runs_panel.run_renamed.connect(self._follow_renamed_run)
        self.runs_panel.runs_deleted.connect(self._forget_deleted_runs)

    # -- the config, assembled from the panels --------------------------------------------------------
    def current_config(self) -> RunConfig:
        """The run config as the panels show it, over the config last applied (not yet validated)."""
        config = replace(self._applied, data=self.dataset_panel.data_config(),
                         augment=self.augment_panel.augment_config(), tasks=self.tasks_panel.tasks_config())
        return self.train_panel.apply_to(config)

    def apply_config(self, config: RunConfig, rescan: bool = True) -> None:
        """Show `config` in every panel (rescanning when the dataset folder changed)."""
        self._applied = copy.deepcopy(config)
        folder_changed = config.data.root != self.dataset_panel.root
        self.dataset_panel.set_data_config(config.data)
        self.augment_panel.set_augment_config(config.augment)
        self.tasks_panel.set_tasks_config(config.tasks)
        self.train_panel.show_config(config)
        self.runs_panel.set_out_dir(config.output.out_dir)
        if rescan and folder_changed:
            self.dataset_panel.scan()
        self.validate()

    def forms(self):
        return [form for panel in (self.dataset_panel, self.tasks_panel, self.augment_panel, self.train_panel)
                for form in panel.forms()]

    def refusals(self) -> list[tuple[str, str]]:
        """(field, message) for each value typed into a form that its field refuses."""
        return [problem for form in self.forms() for problem in form.refusals()]

    def validate(self) -> list[tuple[str, str]]:
        """Check the config and the dataset folder; mark each problem at its field and its workflow step, and keep
        Start disabled while there are any. Returns all problems (empty when valid): the fields' refusals of typed
        values first, then validation's, then the dataset folder's. A valid config is remembered for the next launch."""
        refused = self.refusals()
        config = self.current_config()
        if not refused:
            self._show_device(config.train)
            self._show_fit_notes(config)
        # a timm backbone not read yet: checking it now would import timm on this thread; Start waits (saying why)
        # and the picker shows that it is reading, but no field is marked wrong before it is known to be
        waiting = self.train_panel.model_form.editor("backbone").waiting()
        pending = [("model.backbone", waiting)] if waiting else []
        try:
            found: list[tuple[str, str]] = []
            if not waiting:
                validate_config(config)
        except ConfigError as error:
            found = list(error.problems)
        refused_paths = {path for path, _message in refused}
        settings_problems = refused + [problem for problem in found if problem[0] not in refused_paths]
        if self._remembers and not settings_problems and not pending:
            settings.remember_config(dump_yaml(config))
        problems = settings_problems + pending + self.dataset_panel.problems()
        self.train_panel.show_start_problems(problems)
        self.dataset_panel.offer_training(problems)
        self._mark_steps(problems)
        remaining = settings_problems
        for form in self.forms():
            remaining = form.show_problems(remaining)
        about_tasks = [p for p in remaining if _about_task_choice(p[0])]
        self.tasks_panel.show_general_problems(about_tasks)
        others = [p for p in remaining if p not in about_tasks]
        if others:
            self.statusBar().showMessage("; ".join(f"{path}: {message}" for path, message in others), 10000)
        return problems

    def reset_to_defaults(self) -> None:
        """The first launch's settings: the quick CPU preset on the demo dataset, on the Dataset step, with the
        welcome strip."""
        self.apply_config(preset_config(FIRST_PRESET))
        self.show_step("Dataset")
        settings.remember_welcome_dismissed(False)
        self._offer_welcome()
        self.statusBar().showMessage(f"Settings reset to the defaults (preset “{FIRST_PRESET}”, demo dataset).",
                                     5000)

    def _offer_welcome(self) -> None:
        """Show the welcome strip on the Dataset step unless it was closed before."""
        if not settings.welcome_dismissed():
            self.welcome.show_message(WELCOME, "info")

    def _restore_step(self) -> None:
        """Open on the step shown when the app was last closed, and remember each step shown from now on."""
        if settings.remembered_step() in STEPS:
            self.show_step(settings.remembered_step())
        self.steps.currentRowChanged.connect(lambda row: settings.remember_step(STEPS[row]))

    def _remembered_config(self) -> RunConfig | None:
        """The settings remembered from the last session; None when there are none or they no longer validate
        (e.g. saved by an older version: then the status bar says so and the defaults are used)."""
        text = settings.remembered_config()
        if not text:
            return None
        try:
            return config_from_dict(yaml.safe_load(text), registry_checks=False)  # `validate` does those, off timm
        except (ConfigError, yaml.YAMLError) as error:
            self.statusBar().showMessage(f"The settings of your last session could not be restored ({error}); "
                                         "the defaults are used.")
            return None

    def apply_preset(self, name: str) -> None:
        """Use the preset's settings, keeping the chosen dataset."""
        config = preset_config(name)
        config.data = self.dataset_panel.data_config()
        config.output = self.train_panel.output_form.values()
        self.apply_config(config, rescan=False)
        self.statusBar().showMessage(f"Preset “{name}” applied.", 5000)

    def _recipe_source(self):
        """The settings as shown, and the Dataset step's scan report when it is of their folder (else None: the
        recipe scans the folder itself)."""
        from workbench.data import dataset_folder

        config = self.current_config()
        result = self.dataset_panel.scan_result
        fresh = result is not None and _same_path(result.report.root, str(dataset_folder(config.data)))
        return config, result.report if fresh else None

    def _apply_fitting(self, fitting: dict) -> None:
        """Use the values that fit the images (the Dataset step's banner); the registries' rules are checked by
        `validate`, off this thread for a timm backbone."""
        from workbench.engine.recipe import apply_settings, settings_text

        self.apply_config(apply_settings(self.current_config(), fitting, registry_checks=False), rescan=False)
        self.statusBar().showMessage("Set " + settings_text(fitting), 5000)

    def _apply_recipe(self, config: RunConfig) -> None:
        self.apply_config(config, rescan=False)
        self.statusBar().showMessage("Recipe applied: the Dataset, Pretext tasks, Augmentations and Train pages "
                                     "show its settings.", 5000)

    def open_dataset(self, folder: str) -> None:
        self.show_step("Dataset")
        self.dataset_panel.open_folder(folder)

    def _on_scanned(self, _result) -> None:
        self.augment_panel.load_preview_images(self.dataset_panel.data_config())
        self.validate()

    # -- config files ---------------------------------------------------------------------------------
    def save_config_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save configuration", "config.yaml", "YAML (*.yaml *.yml)")
        if path:
            self.save_config_file(path)

    def save_config_file(self, path: str | Path) -> bool:
        """Save the current settings as YAML (the same file the command line reads)."""
        if self.validate():
            self.tasks_panel.banner.show_message("Fix the settings marked in red before saving.", "error")
            return False
        try:
            save_config(self.current_config(), path)
        except OSError as error:
            self.tasks_panel.banner.show_message(f"Could not save {html.escape(str(path))}: "
                                                 f"{html.escape(readable_error(error))}", "error")
            return False
        self.statusBar().showMessage(f"Configuration saved to {path}", 5000)
        return True

    def load_config_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load configuration", "", "YAML (*.yaml *.yml)")
        if path:
            self.load_config_file(path)

    def load_config_file(self, path: str | Path) -> bool:
        """Load a YAML config; a bad file is explained and changes nothing. The registries' rules (an unknown
        backbone, a task that cannot train on it) are left to `validate`, which marks them at their fields once a
        timm backbone has been read off this thread."""
        try:
            config = load_config(path, registry_checks=False)
        except ConfigError as error:
            lines = "<br>".join(html.escape(f"{p}: {m}") for p, m in error.problems)
            self.tasks_panel.banner.show_message(f"<b>{html.escape(str(path))} was not loaded:</b><br>{lines}",
                                                 "error")
            self.show_step("Pretext tasks")
            return False
        self.apply_config(config)
        self.statusBar().showMessage(f"Configuration loaded from {path}", 5000)
        return True

    # -- training -------------------------------------------------------------------------------------
    def _task_preview_source(self):
        """The Pretext tasks step's preview input: the config and the Augmentations step's loaded images."""
        if self.train_panel.is_training() or self._start_pending:
            return "The preview pauses while a run trains: it would draw from the random numbers the run uses."
        if self.augment_panel.dataset is None:
            return "The preview appears once the dataset's images are loaded."
        if self.refusals():
            return "The preview waits until the settings marked in red are fixed."
        return self.current_config(), self.augment_panel.dataset

    def start_training(self) -> None:
        """Validate the settings and start a run (problems are shown at their fields instead)."""
        if self.train_panel.is_training() or self._start_pending:
            return
        problems = self.validate()
        if problems:
            self.train_panel.banner.show_message(
                "<b>Some settings need fixing before training:</b><br>"
                + "<br>".join(html.escape(f"{path}: {message}") for path, message in problems), "error")
            self.show_step(_step_of(problems[0][0]))
            return
        self._start_after_paint(self.current_config())

    def _start_after_paint(self, config: RunConfig, **options) -> None:
        """Show the Train page and start once it has painted: a first paint of its plots while the trainer
        thread loads data competes with it for the GIL and stalled the window by over 100 ms."""
        self.show_step("Train & monitor")
        self._start_pending = True

        def start() -> None:
            self.tasks_panel.settle_preview()  # a preview draws from torch's global random numbers too
            self._start_pending = False
            self.train_panel.start(config, **options)

        QTimer.singleShot(0, start)

    def resume_run(self, run_dir: str) -> None:
        """Continue a stopped or failed run from its latest checkpoint (asked from the Runs or the Train step,
        whose banner says why when it cannot)."""
        banner = self.stack.currentWidget().banner
        if self.train_panel.is_training() or self._start_pending:
            banner.show_message("A run is already training; stop it first.", "warning")
            return
        try:  # the trainer checks the registries' rules itself, off this thread (they may import timm)
            config = load_config(Path(run_dir) / "config.yaml", registry_checks=False)
        except ConfigError as error:
            banner.show_message(f"This run cannot be resumed: {html.escape(str(error))}", "error")
            return
        self._start_after_paint(config, run_dir=run_dir, resume=True)

    def _on_run_started(self, run_dir: str) -> None:
        self.export_panel.set_run(run_dir)
        self.evaluate_panel.set_run(run_dir)
        self.runs_panel.refresh_when_shown()

    def _on_run_ended(self, run_dir: str) -> None:
        if run_dir:
            self.export_panel.set_run(run_dir)
            self.evaluate_panel.set_run(run_dir)
        self.runs_panel.refresh()

    def _export_run(self, run_dir: str) -> None:
        self.export_panel.set_run(run_dir)
        self.evaluate_panel.set_run(run_dir)
        self.show_step("Export")

    def _pages_on_run(self, run_dir: str) -> list:
        """The Export and Evaluate pages whose chosen run is the folder `run_dir`."""
        shown = {self.export_panel: self.export_panel.run_edit.text().strip(),
                 self.evaluate_panel: str(self.evaluate_panel.run_dir or "")}
        return [page for page, path in shown.items() if path and _same_path(path, run_dir)]

    def _follow_renamed_run(self, old: str, new: str) -> None:
        """The pages showing a run renamed on the Runs step show it under its new name."""
        for page in self._pages_on_run(old):
            page.set_run(new)

    def _forget_deleted_runs(self, run_dirs: list) -> None:
        """The pages showing a run deleted on the Runs step no longer point at it, and say why."""
        for run_dir in run_dirs:
            for page in self._pages_on_run(run_dir):
                page.set_run("")
                page.banner.show_message(f"The run “{html.escape(Path(run_dir).name)}” was deleted. Choose "
                                         "another run folder, or train one.", "info")

    # -- window life ----------------------------------------------------------------------------------
    def _report_plugins(self, reports: Sequence[PluginReport]) -> None:
        """Say on the Pretext tasks step which plugin files were loaded (and from where) and which failed."""
        loaded = [f"{report.path.name} ({', '.join(report.tasks) or 'no task'}) from {report.path.parent}"
                  for report in reports if not report.error]
        broken = [f"{report.path.name}: {report.error}" for report in reports if report.error]
        parts = []
        if broken:
            parts.append("<b>Some plugins could not be loaded:</b><br>" + "<br>".join(map(html.escape, broken)))
        if loaded:
            parts.append("<b>Plugins loaded:</b> " + "; ".join(map(html.escape, loaded)))
        if parts:
            self.tasks_panel.banner.show_message("<br>".join(parts), "warning" if broken else "info")

    def _restore_geometry(self) -> None:
        geometry = settings.app_settings().value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:  # the first launch: roomy, but never larger than the screen (e.g. a 1366 x 768 laptop)
            self.resize(FIRST_SIZE.boundedTo(self.screen().availableGeometry().size()))

    def _about(self) -> None:
        QMessageBox.about(self, "About Pretext Workbench",
                          f"<b>Pretext Workbench {__version__}</b><p>Self-supervised pretraining of image "
                          "encoders: choose images, a pretext task and augmentations, train, watch, export.</p>")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self.train_panel.is_training():
            answer = QMessageBox.question(
                self, "Stop training?", "A run is still training. Stop it and close? A checkpoint is saved, "
                                        "so it can be resumed later from the Runs list.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.train_panel.shutdown()
        self.runs_panel.shutdown()
        settings.app_settings().setValue("window/geometry", self.saveGeometry())
        self.dataset_panel.shutdown()
        self.augment_panel.shutdown()
        self.tasks_panel.settle_preview()
        self.evaluate_panel.shutdown()
        event.accept()


def _show_unexpected_error(kind, value, trace) -> None:
    """Last resort: an error nobody caught becomes a readable dialog, not only a terminal traceback."""
    details = "".join(traceback.format_exception(kind, value, trace))
    sys.__stderr__.write(details)
    box = QMessageBox(QMessageBox.Icon.Critical, "Something went wrong",
                      f"{readable_error(value)}\n\nYour settings are unchanged; you can carry on.")
    box.setDetailedText(details)
    box.exec()


def main(argv: Sequence[str] | None = None) -> int:
    """Open the workbench window with the "Quick CPU demo" preset, on the folder given as `--data DIR` (else the
    last or the demo dataset); other arguments go to Qt."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data")
    options, qt_arguments = parser.parse_known_args(list(argv) if argv is not None else sys.argv[1:])
    app = application(qt_arguments)
    sys.excepthook = _show_unexpected_error
    window = open_window(options.data)
    if startup_probe.probe_enabled():
        startup_probe.StartupProbe(window, app.quit)
    return app.exec()


def application(qt_arguments: Sequence[str] = ()) -> QApplication:
    """The Qt application, named and styled as the app's (made once)."""
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_arguments])
    app.setOrganizationName(settings.ORGANISATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationDisplayName("Pretext Workbench")
    apply_style(app)
    app.setWindowIcon(icon("app"))
    return app


def open_window(data: str | None = None) -> MainWindow:
    """The main window, shown, with the plugins loaded; on the dataset folder `data` when given."""
    window = MainWindow(plugin_reports=load_plugins(default_plugin_folders()))
    window.show()
    if data:
        window.open_dataset(os.path.abspath(os.path.expanduser(data)))
    return window


def _step_text(title: str) -> str:
    """A workflow step as the step list names it: numbered, but for Runs (at hand from any step)."""
    return f"{STEPS.index(title) + 1}   {title}" if title != "Runs" else f"      {title}"


def _same_path(first: str, second: str) -> bool:
    return Path(first).expanduser().resolve() == Path(second).expanduser().resolve()


def _step_of(field_path: str) -> str:
    """The workflow step whose panel shows the setting `field_path` (e.g. "data.root": Dataset)."""
    section = field_path.split(".")[0]
    return {"data": "Dataset", "tasks": "Pretext tasks", "augment": "Augmentations"}.get(section, "Train & monitor")


def _about_task_choice(path: str) -> bool:
    """Whether a problem is about the choice of tasks ("tasks") or a whole task ("tasks.mae": e.g. it needs a
    ViT), not one of a task's settings, which its form shows."""
    return path == "tasks" or (path.startswith("tasks.") and path.count(".") == 1)
