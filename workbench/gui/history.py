"""The curves of one run, collected from its events (live, or read back from metrics.jsonl)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from workbench.engine.events import Event, EvalEvent, StepEvent, is_task_loss
from workbench.engine.runs import RunFolder

SMOOTHING_HALF_WIDTH = 5
"""The smoothed loss at a point is the mean of the raw losses this many points either side of it (fewer near
the ends, always as many on each side), so it follows the raw loss without lagging behind it."""
SMOOTHED = "loss_smoothed"


def centred_mean(values: np.ndarray, half_width: int = SMOOTHING_HALF_WIDTH) -> np.ndarray:
    """Each value replaced by the mean of a window centred on it; the window shrinks symmetrically at the ends
    (the first and last values stay as they are), so a trend is never shifted."""
    count = len(values)
    index = np.arange(count)
    half = np.minimum(half_width, np.minimum(index, count - 1 - index))
    sums = np.concatenate([[0.0], np.cumsum(values)])
    return (sums[index + half + 1] - sums[index - half]) / (2 * half + 1)


class MetricHistory:
    """Step-indexed series per value name ('loss', 'lr', 'embedding_std', 'knn_accuracy', 'simclr/loss', ...),
    and 'loss_smoothed', derived from 'loss' when asked for.

    Appending is cheap (plain lists); `count(name)` tells a view whether a series gained points since it drew.
    """

    def __init__(self) -> None:
        self._steps: dict[str, list[float]] = {}
        self._values: dict[str, list[float]] = {}
        self.last_step: StepEvent | None = None
        self.last_eval: EvalEvent | None = None

    @classmethod
    def of_run(cls, folder: str | Path, until_step: int | None = None) -> MetricHistory:
        """The history recorded in a run folder's metrics.jsonl (only up to `until_step`, when given)."""
        history = cls()
        history.extend(event for event in RunFolder(folder).read_events()
                       if until_step is None or getattr(event, "step", 0) <= until_step)
        return history

    def add(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self.last_step = event
            self._add_values(event.step, event.values)
        elif isinstance(event, EvalEvent):
            self.last_eval = event
            self._add_values(event.step, event.values)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def _add_values(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._steps.setdefault(name, []).append(float(step))
                self._values.setdefault(name, []).append(float(value))

    def count(self, name: str) -> int:
        """Points recorded for `name`."""
        return len(self._values.get("loss" if name == SMOOTHED else name, ()))

    def names(self) -> list[str]:
        return list(self._values)

    def task_series(self, losses: bool) -> list[str]:
        """The per-task values: each task's loss ('<task>/loss') when `losses`, else the tasks' own metrics
        ('<task>/<metric>', e.g. 'rotation/rotation_accuracy')."""
        return [name for name in self._values if "/" in name and is_task_loss(name) == losses]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of `name`; empty arrays when the run has no such value."""
        if name == SMOOTHED:
            steps, values = self.series("loss")
            return steps, centred_mean(values)
        return (np.asarray(self._steps.get(name, ()), dtype=float),
                np.asarray(self._values.get(name, ()), dtype=float))

    def first(self, name: str) -> tuple[float, float] | None:
        """(step, value) of the first point of `name`, or None."""
        if not self._values.get(name):
            return None
        return self._steps[name][0], self._values[name][0]

    def latest(self, name: str) -> float | None:
        values = self._values.get(name)
        return values[-1] if values else None
