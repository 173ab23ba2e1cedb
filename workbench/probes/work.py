"""The probe's progress in units proportional to its work: images pushed through a network.

Embedding an image is one unit, a training step on B images 3 B (the backward pass costs about two forward
ones); a linear or kNN probe on cached embeddings costs what embedding a few hundred images does (measured
with the small CNN on a CPU). The GUI's ETA is elapsed time / units done x units left, so it is only as
true as these proportions."""
from __future__ import annotations

from workbench.control import Progress

LINEAR_UNITS = 300
"""A linear probe: L-BFGS on up to a few thousand embeddings."""
KNN_UNITS = 20
"""A kNN probe: one similarity matrix and a top-k."""


class WorkMeter:
    """Counts units done out of a known total and reports them to a `Progress` callback."""

    def __init__(self, total: int, progress: Progress | None = None):
        self.total, self.done = max(1, int(total)), 0
        self._progress = progress or (lambda done, total: None)
        self._progress(0, self.total)

    def add(self, units: int) -> None:
        """`units` more are done."""
        self.done = min(self.total, self.done + int(units))
        self._progress(self.done, self.total)

    def finish(self) -> None:
        """Everything is done (estimates never leave the bar short of its end)."""
        self.done = self.total
        self._progress(self.done, self.total)
