"""The Train page's "Suggest a recipe" box: a time budget in minutes, a recipe for the data at hand (timed on this
machine, off the GUI thread), its reasons, and Apply, which sets every page's settings to it
(`workbench.engine.recipe`)."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.config import ConfigError, RunConfig
from workbench.engine.budget import BUDGET_RANGE_S, DEFAULT_BUDGET_S, format_budget
from workbench.gui.forms import NumberEdit, repolish
from workbench.gui.widgets import hidden_note
from workbench.gui.workers import JobSlot, WhileBusy

BUDGET_MINUTES = tuple(seconds / 60 for seconds in BUDGET_RANGE_S)
"""The budgets the field takes, in minutes (`budget.BUDGET_RANGE_S`); others are refused at the field."""

Source = Callable[[], tuple[RunConfig, Any]]
"""The settings as the pages show them, and the Dataset step's scan report of their folder (None: scan it)."""


class RecipeBox(QGroupBox):
    """Budget field, "Suggest a recipe", the proposal with its reasons, and "Apply" (emits `applied` with the
    settings the recipe gives the current ones)."""

    applied = Signal(object)
    """The run config with the recipe applied."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Suggest a recipe", parent)
        self.setObjectName("recipeBox")
        self.source: Source | None = None
        self.recipe = None
        self._jobs = JobSlot(WhileBusy.IGNORE, self)
        layout = QVBoxLayout(self)
        intro = QLabel("Settings fitted to your images and a training time: the task, backbone, image size and "
                       "augmentations, and the steps that fit, timed on this machine.", self)
        intro.setWordWrap(True)
        intro.setProperty("role", "caption")
        layout.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(QLabel("Time budget (minutes)", self))
        self.budget_edit = NumberEdit(float, *BUDGET_MINUTES, parent=self)
        self.budget_edit.setObjectName("recipeBudget")
        self.budget_edit.setAccessibleName("Time budget in minutes")
        self.budget_edit.setValue(DEFAULT_BUDGET_S / 60)
        self.budget_edit.setMaximumWidth(90)
        self.budget_edit.textChanged.connect(self._budget_edited)
        row.addWidget(self.budget_edit)
        self.suggest_button = QPushButton("Suggest a recipe", self)
        self.suggest_button.setObjectName("suggestRecipe")
        self.suggest_button.clicked.connect(self.suggest)
        row.addWidget(self.suggest_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.note = hidden_note(self, "recipeNote", "Recipe message", "caption")
        layout.addWidget(self.note)
        self.proposal = hidden_note(self, "recipeProposal", "Suggested recipe", "caption")
        self.proposal.setProperty("role", "")
        layout.addWidget(self.proposal)
        self.apply_button = QPushButton("Apply", self)
        self.apply_button.setObjectName("applyRecipe")
        self.apply_button.setToolTip("Set the Dataset, Pretext tasks, Augmentations and Train settings to this recipe")
        self.apply_button.clicked.connect(self.apply)
        self.apply_button.setVisible(False)
        layout.addWidget(self.apply_button)

    def budget_problem(self) -> str:
        """Why the typed budget is refused ('' when it is a number of minutes in range)."""
        problem = self.budget_edit.problem()
        return f"Time budget: {problem} minutes" if problem else ""

    def _budget_edited(self) -> None:
        problem = self.budget_problem()
        self.budget_edit.setProperty("invalid", bool(problem))
        repolish(self.budget_edit)
        self.suggest_button.setEnabled(not problem and not self._jobs.busy)
        self._say(problem, "error" if problem else "caption")

    def suggest(self) -> None:
        """Time the recipe for the current settings' data and the budget on a worker thread."""
        if self.source is None or self.budget_problem() or self._jobs.busy:
            return
        from workbench.engine.recipe import suggest

        config, report = self.source()
        budget = float(self.budget_edit.value()) * 60
        self.suggest_button.setEnabled(False)
        self._say("Timing a few training steps and one health check on this machine…", "caption")
        folder = Path(config.data.root).name if config.data.root else "the demo dataset"
        self._jobs.run(lambda cancel, _progress: suggest(config, budget, report, cancel),
                       succeeded=lambda recipe: self._show(recipe, folder), failed=lambda message, _details: self._say(
                           f"No recipe: {message}", "error"),
                       ended=self._budget_edited)

    def _show(self, recipe, folder: str) -> None:
        from workbench.engine.recipe import settings_text

        self.recipe = recipe
        measured = recipe.measured
        items = "".join(f"<li><b>{html.escape(settings_text(choice.settings))}</b>: {html.escape(choice.reason)}</li>"
                        for choice in recipe.choices)
        self.proposal.setText(f"For {html.escape(folder)}, {format_budget(recipe.budget_s)} on this "
                              f"{html.escape(measured['device'])}:"
                              f"<ul style='margin-left: -20px'>{items}</ul>")
        self.proposal.setVisible(True)
        self.apply_button.setVisible(True)
        self._say("", "caption")

    def apply(self) -> None:
        """Apply the shown recipe to the current settings (`applied`); a setting it cannot take is named here."""
        if self.recipe is None or self.source is None:
            return
        try:
            config = self.recipe.apply(self.source()[0])
        except ConfigError as error:
            self._say(f"The recipe could not be applied: {error}", "error")
            return
        self.applied.emit(config)
        self._say("Applied: every page now shows the recipe's settings.", "caption")

    def _say(self, text: str, role: str) -> None:
        self.note.setProperty("role", role)
        repolish(self.note)
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def shutdown(self) -> None:
        """Stop a running suggestion (window closing)."""
        self._jobs.cancel()
        self._jobs.wait()

