"""Step 2, Pretext tasks: what each task asks the model to solve, which ones to train (with weights),
each task's settings in a form generated from its config dataclass, and a preview of what the chosen
tasks with an image output give the model."""
from __future__ import annotations

import html
import inspect
from dataclasses import replace
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QScrollArea, QToolButton, QVBoxLayout, QWidget)

from workbench.config import RunConfig, TaskConfig
from workbench.gui.forms import ConfigForm
from workbench.gui.task_examples import TaskExamplesView, blocks_from_tensors, image_output_tasks
from workbench.gui.widgets import Banner, panel_layout
from workbench.gui.workers import JobSlot, WhileBusy

PREVIEW_IMAGES = 2
PreviewSource = Callable[[], "tuple[RunConfig, Any] | str"]
"""The run config and the loaded preview dataset, or why there is no preview now."""


def render_preview(config: RunConfig, dataset: Any, seed: int = 0) -> dict:
    """The chosen tasks' examples on the first PREVIEW_IMAGES images of `dataset`, from an untrained model."""
    import torch

    from workbench.engine.inspection import preview_examples

    images = torch.as_tensor(dataset.images[:PREVIEW_IMAGES])
    config.data = replace(config.data, image_size=int(images.shape[-1]))  # the size the images were loaded at
    return preview_examples(config, images, dataset.channels, dataset.mean, dataset.std, seed)


def preview_empty_text() -> str:
    """What the preview says while no chosen task has an image output."""
    return f"Choose a task with an image output ({image_output_tasks()}) to see what it gives the model."


def explanation_html(task_class: type) -> str:
    """A task's docstring as paragraphs of HTML (the plain-language explanation shown in the panel)."""
    doc = inspect.cleandoc(task_class.__doc__ or "")
    paragraphs = [" ".join(part.split()) for part in doc.split("\n\n") if part.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


class TaskCard(QFrame):
    """One registered task: a check box to use it, its explanation, and its settings form."""

    changed = Signal()

    def __init__(self, name: str, task_class: type, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = name
        self.setObjectName(f"taskCard.{name}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.setSpacing(6)
        top = QHBoxLayout()
        title = task_class.display_title()
        self.checkbox = QCheckBox(title, self)
        self.checkbox.setObjectName(f"task.{name}.enabled")
        self.checkbox.setAccessibleName(f"Train with {title}")
        self.checkbox.setToolTip(f"In config files: tasks: {name}")
        font = self.checkbox.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.checkbox.setFont(font)
        top.addWidget(self.checkbox)
        config_name = QLabel(name, self)
        config_name.setProperty("role", "caption")
        config_name.setToolTip(f"The task's name in config files and on the command line: tasks: {name}")
        top.addWidget(config_name, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addStretch(1)
        self.more_button = QToolButton(self)
        self.more_button.setText("How it works")
        self.more_button.setCheckable(True)
        self.more_button.setAccessibleName(f"Explain {title}")
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.ArrowType.RightArrow)
        self.more_button.setAutoRaise(True)
        top.addWidget(self.more_button)
        layout.addLayout(top)
        summary = QLabel(task_class.description or "", self)
        summary.setWordWrap(True)
        layout.addWidget(summary)
        self.explanation = QLabel(explanation_html(task_class), self)
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        self.explanation.setProperty("role", "subtitle")
        self.explanation.setVisible(False)
        layout.addWidget(self.explanation)
        self.more_button.toggled.connect(self.explanation.setVisible)
        self.more_button.toggled.connect(lambda on: self.more_button.setArrowType(
            Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow))
        self.form = ConfigForm(task_class.Config, f"tasks.{name}", parent=self)
        self.form.setEnabled(False)
        layout.addWidget(self.form)
        self.checkbox.toggled.connect(self.form.setEnabled)
        self.checkbox.toggled.connect(lambda _on: self.changed.emit())
        self.form.changed.connect(self.changed)

    def task_config(self) -> TaskConfig:
        return self.form.values()

    def set_task_config(self, config: TaskConfig | None) -> None:
        """Use the task with `config`, or unselect it (None)."""
        self.checkbox.setChecked(config is not None)
        self.form.set_values(config if config is not None else self.form.config_type())


class TasksPanel(QWidget):
    """All registered tasks, presets, and Save / Load config buttons (handled by the main window)."""

    changed = Signal()
    preset_chosen = Signal(str)
    save_requested = Signal()
    load_requested = Signal()

    def __init__(self, tasks: dict[str, type], presets: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tasksPanel")
        layout = panel_layout(
            self, "Pretext tasks", "A pretext task is a puzzle made from unlabelled images; solving it teaches the "
                                   "encoder useful features. Choose one, or several trained together with weights.")
        row = QHBoxLayout()
        row.addWidget(QLabel("Start from a preset:", self))
        self.preset_combo = QComboBox(self)
        self.preset_combo.setObjectName("presetChoice")
        self.preset_combo.setAccessibleName("Preset")
        self.preset_combo.addItems(presets)
        row.addWidget(self.preset_combo)
        apply_button = QPushButton("Apply preset", self)
        apply_button.setObjectName("applyPreset")
        apply_button.setAccessibleName("Apply preset")
        apply_button.clicked.connect(lambda: self.preset_chosen.emit(self.preset_combo.currentText()))
        row.addWidget(apply_button)
        row.addStretch(1)
        load_button = QPushButton("Load config…", self)
        load_button.setObjectName("loadConfig")
        load_button.setAccessibleName("Load configuration file")
        load_button.clicked.connect(self.load_requested)
        row.addWidget(load_button)
        save_button = QPushButton("Save config…", self)
        save_button.setObjectName("saveConfig")
        save_button.setAccessibleName("Save configuration file")
        save_button.clicked.connect(self.save_requested)
        row.addWidget(save_button)
        layout.addLayout(row)
        self.banner = Banner("Tasks message", self)
        layout.addWidget(self.banner)

        cards_box = QWidget(self)
        cards_layout = QVBoxLayout(cards_box)
        cards_layout.setContentsMargins(0, 0, 8, 0)
        cards_layout.setSpacing(12)
        self.cards: dict[str, TaskCard] = {}
        for name, task_class in sorted(tasks.items(), key=lambda item: item[1].display_title().lower()):
            card = TaskCard(name, task_class, cards_box)
            card.changed.connect(self.changed)
            cards_layout.addWidget(card)
            self.cards[name] = card
        cards_layout.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(cards_box)
        columns = QHBoxLayout()
        columns.setSpacing(16)
        columns.addWidget(self.scroll, 3)
        columns.addWidget(self._preview_box(), 2)
        layout.addLayout(columns, 1)
        self._reveal_chosen = False
        self.preview_source: PreviewSource | None = None
        """Set by the window; until then (and while it gives a reason instead of data) no preview is drawn."""
        self._previews = JobSlot(WhileBusy.LATEST, self)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(300)
        self._preview_timer.timeout.connect(self.refresh_preview)
        self.changed.connect(self._preview_timer.start)

    def _preview_box(self) -> QWidget:
        box = QGroupBox("Preview: what the chosen tasks give the model", self)
        layout = QVBoxLayout(box)
        self.preview = TaskExamplesView(box, preview_empty_text(), stacked=True)
        self.preview.setObjectName("taskPreview")
        self.preview.setAccessibleName("Preview of the chosen tasks")
        layout.addWidget(self.preview, 1)
        return box

    # -- preview --------------------------------------------------------------------------------------
    def refresh_preview(self) -> None:
        """Render the chosen tasks' examples off the GUI thread (one at a time; the latest settings win)."""
        if self.preview_source is None or not self.isVisible():
            return
        source = self.preview_source()
        if isinstance(source, str):
            self._previews.drop()  # a preview still being drawn is of settings no longer chosen
            self.preview.clear(source)
            return
        config, dataset = source
        self._previews.run(lambda _cancel, _progress: render_preview(config, dataset), succeeded=self._show_preview,
                           failed=lambda message, _details: self.preview.clear(
                               f"No preview with these settings: {message}"))

    def _show_preview(self, rendered: dict) -> None:
        if not rendered:
            self.preview.clear(preview_empty_text())
            return
        self.preview.show_images(blocks_from_tensors(rendered),
                                 "Before training: the input, what the model is given, and its answer, which "
                                 "is noise until the model learns.")

    def preview_busy(self) -> bool:
        """True while a preview is being rendered (used by tests)."""
        return self._previews.busy

    def settle_preview(self) -> None:
        """Cancel a pending refresh and wait for a preview being rendered (before a run starts, and when the
        window closes)."""
        self._preview_timer.stop()
        self._previews.wait()

    def tasks_config(self) -> dict[str, TaskConfig]:
        """The chosen tasks and their settings."""
        return {name: card.task_config() for name, card in self.cards.items() if card.checkbox.isChecked()}

    def set_tasks_config(self, tasks: dict[str, TaskConfig]) -> None:
        for name, card in self.cards.items():
            card.set_task_config(tasks.get(name))
        self._reveal_chosen = True  # scroll to the chosen task when the page is next shown
        if self.isVisible():
            self._scroll_to_chosen()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._reveal_chosen:
            self._scroll_to_chosen()
        self._preview_timer.start()

    def _scroll_to_chosen(self) -> None:
        self._reveal_chosen = False
        chosen = next((card for card in self.cards.values() if card.checkbox.isChecked()), None)
        if chosen is not None:
            self.scroll.widget().adjustSize()
            self.scroll.verticalScrollBar().setValue(chosen.y())

    def forms(self) -> list[ConfigForm]:
        return [card.form for card in self.cards.values()]

    def show_general_problems(self, problems: list[tuple[str, Any]]) -> None:
        """Problems about the task choice as a whole (e.g. none chosen)."""
        if problems:
            self.banner.show_message("<br>".join(html.escape(message) for _path, message in problems), "error")
        elif self.banner.level() == "error":
            self.banner.clear()
