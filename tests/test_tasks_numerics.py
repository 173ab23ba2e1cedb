"""Numerically safe tasks: every registered task, plugins included, trains with finite losses under bf16
autocast at the smallest image size it accepts, with its default settings (issue 19)."""
from __future__ import annotations

import math

import pytest

from engine_helpers import shipped_tasks, task_settings, tiny_config, tiny_dataset
from workbench.engine.events import FinishedEvent, StartedEvent, StepEvent
from workbench.engine.trainer import Trainer
from workbench.tasks import default_plugin_folders, load_plugins

load_plugins(default_plugin_folders())

SMALLEST_SIZE = {"jigsaw": 32, "relative_location": 32}
"""Image sides other than 16 px: a 3 x 3 grid of 16 px leaves tiles under 4 px, which tiled tasks refuse."""
BACKBONE = {"mae": "vit_tiny"}
"""Tasks that cannot train the default small CNN."""
DATA = {"frame_order": {"sequences": "folders"}}
"""Data settings a task needs: frame order reads each class folder of the demo data as one sequence."""


def bf16_run(tmp_path, name: str, steps: int = 3) -> list:
    """The events of a short real bf16 run of task `name` (default settings) at its smallest image size."""
    size = SMALLEST_SIZE.get(name, 16)
    data = tiny_dataset(tmp_path / "data", per_class=3, size=size)
    config = tiny_config(data, tmp_path / "runs", data={"image_size": size, **DATA.get(name, {})},
                         tasks={name: task_settings(name, tmp_path)},
                         model={"backbone": BACKBONE.get(name, "small_cnn")},
                         train={"precision": "bf16", "steps": steps, "batch_size": 6, "log_every": 1,
                                "warmup_steps": 0, "threads": 1},
                         eval={"every_steps": 1000, "subset_size": 12})
    events = []
    Trainer(config).run(events.append)
    return events


@pytest.mark.parametrize("name", shipped_tasks())
def test_every_task_keeps_finite_losses_under_bf16_at_its_smallest_size(tmp_path, name):
    events = bf16_run(tmp_path, name)
    assert isinstance(events[-1], FinishedEvent), events[-1]
    started = next(e for e in events if isinstance(e, StartedEvent))
    assert "bf16 autocast" in started.precision  # not quietly trained in fp32
    losses = [e.values["loss"] for e in events if isinstance(e, StepEvent)]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses), losses
