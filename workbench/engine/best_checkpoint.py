"""The best checkpoint: the one rule that says which evaluation scored best, and its files.

At each evaluation after step 0 the trainer scores the embeddings with `checkpoint_score`: the kNN accuracy
when the evaluation subset has labels (so the choice then uses labels), else RankMe (the effective rank, which
needs none). A new best score saves
`checkpoints/best.pt` and the marker `checkpoints/best.json` (step, score, its name), both atomically."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from workbench.config.formats import JsonArtefact
from workbench.engine.quality_values import format_value, score_key, value_name
from workbench.engine.runs import RunFolder

if TYPE_CHECKING:  # the checkpoint module imports torch, which the app's pages need not wait for
    from workbench.engine.checkpoint import Checkpoint

BEST_NAME = "best.pt"
MARKER_NAME = "best.json"


def checkpoint_score(values: dict[str, float]) -> tuple[str, float] | None:
    """(key, value) of the evaluation's score for picking the best checkpoint and ranking runs: kNN accuracy when
    the subset has labels, else the label-free RankMe (`quality_values.score_key`); None when none was measured or
    it is not a number."""
    key = score_key(values)
    if key is None or not math.isfinite(values[key]):
        return None
    return key, float(values[key])


def format_score(metric: str, score: float) -> str:
    """"RankMe 41.2" or "kNN accuracy 83.4%" (as the evaluation's values are shown everywhere)."""
    return f"{value_name(metric)} {format_value(metric, score)}"


@dataclass
class BestMarker(JsonArtefact):
    """checkpoints/best.json: which evaluation `best.pt` comes from."""

    step: int
    score: float
    metric: str
    """The evaluation value that scored it (one of `quality_values.QUALITY_VALUES`)."""

    def describe(self) -> str:
        """"best by RankMe, step 300"."""
        return f"best by {value_name(self.metric)}, step {self.step:,}"


def best_checkpoint_path(folder: RunFolder) -> Path:
    return folder.checkpoints_dir / BEST_NAME


def read_best(folder: RunFolder) -> BestMarker | None:
    """The marker of the run's best checkpoint; None when the run has none (or the marker is half-written)."""
    if not best_checkpoint_path(folder).is_file():
        return None
    return BestMarker.read(folder.checkpoints_dir / MARKER_NAME)


class BestKeeper:
    """Keeps `best.pt` the checkpoint of the best-scoring evaluation of a run so far."""

    def __init__(self, folder: RunFolder, resumed_step: int | None = None):
        """`resumed_step`: the step a resumed run continues from. A best kept past it belongs to the history
        the resume discards, so it is removed; an earlier one is kept and must be beaten."""
        self.folder = folder
        self.best = read_best(folder) if resumed_step is not None else None
        if self.best is not None and self.best.step > resumed_step:
            self.best = None
            best_checkpoint_path(folder).unlink(missing_ok=True)
            (folder.checkpoints_dir / MARKER_NAME).unlink(missing_ok=True)

    def offer(self, step: int, values: dict[str, float], checkpoint: Callable[[], Checkpoint]) -> bool:
        """Save `checkpoint()` as the best when the evaluation `values` at `step` beat the best so far (the
        random-init evaluation at step 0 is the reference, never the best). Returns whether it did."""
        scored = checkpoint_score(values)
        if step == 0 or scored is None:
            return False
        metric, score = scored
        if self.best is not None and self.best.metric == metric and score <= self.best.score:
            return False
        self.folder.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        checkpoint().save(best_checkpoint_path(self.folder))
        self.best = BestMarker(step, score, metric)
        self.best.write(self.folder.checkpoints_dir / MARKER_NAME)
        return True
