"""The run folder's task examples: for each task with an image output, a few evaluation images as the task
shows them (input, masked or corrupted input, reconstruction; or jigsaw tiles), rewritten at each evaluation.

`task_examples.json` holds the step and, per task, its sheet (`task_examples_<task>.png`: one row per image,
one column per panel, panels centred in equal cells), the panel names and each panel's size, so a viewer
can cut the sheet back into images. Both are written atomically, the sheets before the index."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from workbench.config.atomic import write_atomic, write_text_atomic

EXAMPLES_NAME = "task_examples.json"
GAP = 2
"""Pixels between the cells of a sheet."""
BACKGROUND = 0.5


def sheet_name(task: str) -> str:
    return f"task_examples_{task}.png"


def write_task_examples(run_dir: Path, step: int, rendered: dict[str, dict[str, torch.Tensor]]) -> Path:
    """Write one sheet per task of `rendered` ({task: {panel: (B, C, H, W) in [0, 1]}}) and the index."""
    run_dir = Path(run_dir)
    tasks = {}
    for task, panels in rendered.items():
        sheet, cell = _sheet(list(panels.values()))
        write_atomic(run_dir / sheet_name(task), lambda tmp, pixels=sheet: Image.fromarray(pixels).save(tmp, "PNG"))
        tasks[task] = {"sheet": sheet_name(task), "panels": list(panels), "rows": len(next(iter(panels.values()))),
                       "cell": list(cell), "gap": GAP, "sizes": [list(value.shape[-2:]) for value in panels.values()]}
    path = run_dir / EXAMPLES_NAME
    write_text_atomic(path, json.dumps({"step": step, "tasks": tasks}))
    return path


def _sheet(panels: list[torch.Tensor]) -> tuple[np.ndarray, tuple[int, int]]:
    """The panels as one uint8 image (gray or RGB): rows = images, columns = panels; and the cell size."""
    shown = [as_displayed(panel) for panel in panels]
    if any(panel.shape[1] == 3 for panel in shown):
        shown = [panel.expand(-1, 3, -1, -1) for panel in shown]
    height = max(panel.shape[-2] for panel in shown)
    width = max(panel.shape[-1] for panel in shown)
    rows, columns = shown[0].shape[0], len(shown)
    sheet = torch.full((shown[0].shape[1], rows * (height + GAP) - GAP, columns * (width + GAP) - GAP), BACKGROUND)
    for column, panel in enumerate(shown):
        top, left = (height - panel.shape[-2]) // 2, column * (width + GAP) + (width - panel.shape[-1]) // 2
        for row in range(rows):
            y = row * (height + GAP) + top
            sheet[:, y:y + panel.shape[-2], left:left + panel.shape[-1]] = panel[row]
    pixels = (sheet.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return (pixels[:, :, 0] if pixels.shape[2] == 1 else pixels), (height, width)


def as_displayed(panel: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) as gray or RGB: a stack of slices (2.5-D input) shows its middle slice."""
    channels = panel.shape[1]
    return panel if channels in (1, 3) else panel[:, channels // 2:channels // 2 + 1]


def read_task_examples(path: Path) -> dict | None:
    """The index written by `write_task_examples`, or None when absent or half-written."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
