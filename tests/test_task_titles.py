"""Tasks are shown to people by their human names (the task's `title`), on every page; a plugin without a
title is named from its registered name, never by its Python class name."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402

from workbench.gui.panels.tasks import TasksPanel, preview_empty_text  # noqa: E402
from workbench.gui.task_examples import TaskExamplesView  # noqa: E402
from workbench.tasks import PretextTask, registered_tasks, task_title  # noqa: E402
from workbench.tasks.display import RendersExamples  # noqa: E402


def test_every_shipped_task_has_a_title_of_its_own():
    titles = {name: task.title for name, task in registered_tasks().items() if task.__module__.startswith("workbench.")}
    assert all(titles.values()), [name for name, title in titles.items() if not title]
    assert len(set(titles.values())) == len(titles)
    assert task_title("rotation") == "Rotation prediction" and task_title("reconstruction") == "Image restoration"


def test_a_task_without_a_title_is_named_from_its_registered_name():
    untitled = type("FlipPrediction", (PretextTask,), {"name": "flip_prediction"})
    assert untitled.display_title() == "Flip prediction"
    assert task_title("plugin_not_loaded") == "Plugin not loaded"  # a run trained with a plugin missing here


def test_the_tasks_page_and_the_examples_show_human_names(qtbot):
    tasks = registered_tasks()
    panel = TasksPanel(tasks, [])
    qtbot.addWidget(panel)
    for name, card in panel.cards.items():
        assert card.checkbox.text() == tasks[name].display_title()
        assert name in card.checkbox.toolTip()
    assert panel.cards["rotation"].checkbox.accessibleName() == "Train with Rotation prediction"
    with_images = [task.display_title() for task in tasks.values() if issubclass(task, RendersExamples)]
    assert all(title in preview_empty_text() for title in with_images) and "Jigsaw puzzle" in with_images

    view = TaskExamplesView()
    qtbot.addWidget(view)
    image = QImage(8, 8, QImage.Format.Format_Grayscale8)
    image.fill(128)
    view.show_images({"jigsaw": (["input", "shuffled"], [[image, image]])}, "caption")
    headings = [label.text() for label in view.findChildren(QLabel)]
    assert "<b>Jigsaw puzzle</b>" in headings and not any("Jigsaw</b>" in text for text in headings)
