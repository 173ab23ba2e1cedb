"""The curves of one run, collected from its events (live, or read back from metrics.jsonl)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from workbench.engine.events import Event, EvalEvent, StepEvent

SMOOTHING = 0.9
"""Weight of the past in the smoothed loss (an exponential moving average)."""


class MetricHistory:
    """Step-indexed series per value name ('loss', 'lr', 'embedding_std', 'knn_accuracy', ...).

    Appending is cheap (plain lists); `count(name)` tells a view whether a series gained points since it drew.
    """

    def __init__(self) -> None:
        self._steps: dict[str, list[float]] = {}
        self._values: dict[str, list[float]] = {}
        self.last_step: StepEvent | None = None
        self.last_eval: EvalEvent | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self.last_step = event
            self._add_values(event.step, event.values)
            if "loss" in event.values:
                previous = self._values.get("loss_smoothed")
                smoothed = event.values["loss"] if not previous else (
                    SMOOTHING * previous[-1] + (1 - SMOOTHING) * event.values["loss"])
                self._append("loss_smoothed", event.step, smoothed)
        elif isinstance(event, EvalEvent):
            self.last_eval = event
            self._add_values(event.step, event.values)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def _add_values(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._append(name, step, float(value))

    def _append(self, name: str, step: int, value: float) -> None:
        self._steps.setdefault(name, []).append(float(step))
        self._values.setdefault(name, []).append(value)

    def count(self, name: str) -> int:
        """Points recorded for `name`."""
        return len(self._values.get(name, ()))

    def names(self) -> list[str]:
        return list(self._values)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of `name`; empty arrays when the run has no such value."""
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
