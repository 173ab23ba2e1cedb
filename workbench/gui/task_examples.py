"""What the model sees: for each task with an image output, a few images as the task shows them (input,
masked or corrupted input, the model's answer). Shows the `task_examples.json` and sheets the trainer
rewrites at each evaluation (a run trained here and a run folder being watched alike), or examples
rendered in memory (the Pretext tasks step's preview)."""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QBoxLayout, QFrame, QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from workbench.engine.task_examples import as_displayed, read_task_examples
from workbench.gui.thumbnails import pixels_to_qimage
from workbench.tasks import registered_tasks, task_title
from workbench.tasks.display import RendersExamples

Blocks = dict[str, tuple[list[str], list[list[QImage]]]]
"""Task -> (panel names, rows of panel images)."""


class TaskExamplesView(QWidget):
    """Examples of tasks, one column of images per panel, one block per task (side by side, or stacked when
    `stacked`); each image enlarged by a whole factor (pixels stay sharp) to about `shown_size` pixels."""

    def __init__(self, parent: QWidget | None = None, empty_text: str | None = None, stacked: bool = False,
                 shown_size: int = 96):
        super().__init__(parent)
        self.setObjectName("taskExamplesView")
        self.setAccessibleName("Task examples")
        self.index: dict | None = None
        self.panels: dict[str, list[str]] = {}
        self.images: dict[str, list[list[QImage]]] = {}
        """Task -> rows of panel images, as shown (used by tests)."""
        self._empty_text = empty_text or (f"Tasks with an image output ({image_output_tasks()}) show here, at "
                                          "each evaluation, what they make of a few images: the input, what the "
                                          "model is given, and its answer.")
        self._direction = QBoxLayout.Direction.TopToBottom if stacked else QBoxLayout.Direction.LeftToRight
        self._shown_size = shown_size
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(self._empty_text, self)
        self.caption.setProperty("role", "caption")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        layout.addWidget(self.scroll, 1)
        self._blocks = QWidget()
        self.scroll.setWidget(self._blocks)

    def show_examples(self, path: str | Path) -> bool:
        """Show the examples indexed by `path` (a task_examples.json); False when unreadable."""
        index = read_task_examples(Path(path))
        if index is None or not index.get("tasks"):
            return False
        blocks = {}
        for task, entry in index["tasks"].items():
            sheet = QImage(str(Path(path).parent / entry["sheet"]))
            if sheet.isNull():
                return False
            blocks[task] = (entry["panels"], _cut(sheet, entry))
        self.show_images(blocks, f"Step {index.get('step', 0):,}: the same images at each evaluation, through "
                                 "each task with an image output. The answers should sharpen as training goes on.")
        self.index = index
        return True

    def show_images(self, blocks: Blocks, caption: str) -> None:
        """Show `blocks` (task -> panel names and rows of images) under `caption`."""
        self.index = None
        self.panels = {task: panels for task, (panels, _rows) in blocks.items()}
        self.images = {task: rows for task, (_panels, rows) in blocks.items()}
        self.caption.setText(caption)
        self._build()

    def clear(self, caption: str | None = None) -> None:
        self.show_images({}, caption or self._empty_text)

    def image_count(self) -> int:
        """Example images shown (used by tests)."""
        return sum(len(row) for rows in self.images.values() for row in rows)

    def _build(self) -> None:
        blocks = QWidget()
        row_layout = QBoxLayout(self._direction, blocks)
        row_layout.setContentsMargins(0, 8, 0, 0)
        row_layout.setSpacing(28 if self._direction == QBoxLayout.Direction.LeftToRight else 16)
        for task, rows in self.images.items():
            row_layout.addWidget(self._task_block(task, self.panels[task], rows), 0,
                                 Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        row_layout.addStretch(1)
        self.scroll.setWidget(blocks)  # the previous blocks are deleted with it
        self._blocks = blocks

    def _task_block(self, task: str, panels: list[str], rows: list[list[QImage]]) -> QWidget:
        block = QWidget(self)
        grid = QGridLayout(block)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(6)
        title = task_title(task)
        grid.addWidget(QLabel(f"<b>{html.escape(title)}</b>", block), 0, 0, 1, len(panels))
        for column, panel in enumerate(panels):
            header = QLabel(panel, block)
            header.setProperty("role", "caption")
            header.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(header, 1, column)
        for row, images in enumerate(rows):
            for column, image in enumerate(images):
                label = QLabel(block)
                label.setObjectName(f"taskExample.{task}.{row}.{column}")
                label.setAccessibleName(f"{title}: {panels[column]} of example {row + 1}")
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                factor = max(1, round(self._shown_size / max(image.width(), image.height(), 1)))
                label.setPixmap(QPixmap.fromImage(image.scaled(image.width() * factor, image.height() * factor,
                                                               Qt.AspectRatioMode.KeepAspectRatio,
                                                               Qt.TransformationMode.FastTransformation)))
                grid.addWidget(label, row + 2, column)
        return block


def image_output_tasks() -> str:
    """The human names of the registered tasks with an image output, e.g. "Jigsaw puzzle, MAE, SimMIM"."""
    return ", ".join(sorted(task.display_title() for task in registered_tasks().values()
                            if issubclass(task, RendersExamples)))


def blocks_from_tensors(rendered: dict) -> Blocks:
    """Examples rendered in memory ({task: {panel: (B, C, H, W) in [0, 1]}}) as blocks to show."""
    blocks = {}
    for task, panels in rendered.items():
        shown = [as_displayed(value).permute(0, 2, 3, 1).numpy() for value in panels.values()]
        rows = [[pixels_to_qimage(panel[row]) for panel in shown] for row in range(len(shown[0]))]
        blocks[task] = (list(panels), rows)
    return blocks


def _cut(sheet: QImage, entry: dict) -> list[list[QImage]]:
    """The sheet's cells, each cropped to its panel's own size: rows of panel images."""
    cell_height, cell_width = entry["cell"]
    gap = entry["gap"]
    rows = []
    for row in range(entry["rows"]):
        images = []
        for column, (height, width) in enumerate(entry["sizes"]):
            left = column * (cell_width + gap) + (cell_width - width) // 2
            top = row * (cell_height + gap) + (cell_height - height) // 2
            images.append(sheet.copy(QRect(left, top, width, height)))
        rows.append(images)
    return rows
