"""Turning health values into plain-language warnings: embedding collapse and loss divergence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from workbench.engine.events import EvalEvent, Event

COLLAPSE_STD = 0.1
"""Below this embedding_std the embeddings have (nearly) collapsed to a point."""

COLLAPSE_ADVICE = ("the encoder maps every image to nearly the same point, so it has stopped telling images "
                   "apart. Try a lower learning rate, a larger batch, stronger augmentations, adding a "
                   "predictor, or a task with negatives (SimCLR).")
RANK_DROP = 0.15
"""Effective rank below this share of its best value: the embeddings use only a few directions."""
RANK_ADVICE = ("features are becoming redundant. Try stronger augmentations, a larger projector, or a "
               "variance/covariance term (VICReg, Barlow Twins).")
DIVERGENCE_ADVICE = ("training is getting worse instead of better. Try a lower learning rate, a longer "
                     "warm-up, stronger gradient clipping, or a larger batch.")


def diverged(first: float, best: float, loss: float, margin: float = 0.1) -> bool:
    """Whether a loss that fell from `first` to `best` has climbed back above `first` (by `margin` of its fall)."""
    fallen = first - best
    return fallen > 0 and loss > first + margin * max(fallen, abs(first) * 0.01)


class CollapseDetector:
    """Warns once each time embedding_std falls into the collapse zone (again after it recovered)."""

    def __init__(self, advice: str = COLLAPSE_ADVICE, history: Iterable[Event] = ()) -> None:
        """`advice`: what to try, for the run's kind of task; `history`: events recorded earlier (a resumed run's),
        so that a collapse already warned of before the resume is not warned of again."""
        self._collapsed = False
        self._advice = advice
        for event in history:
            if isinstance(event, EvalEvent):
                self.check(event.step, event.values["embedding_std"])

    def check(self, step: int, embedding_std: float) -> str | None:
        collapsed = embedding_std < COLLAPSE_STD
        warn = collapsed and not self._collapsed and step > 0
        self._collapsed = collapsed
        if warn:
            return f"The embeddings are collapsing (embedding_std {embedding_std:.3f} < {COLLAPSE_STD}): " \
                   + self._advice
        return None


class DivergenceDetector:
    """Warns once when the logged loss, after having fallen, climbs back above where it started.

    Works for losses of any sign and scale: it compares against the loss's own first value and best value."""

    def __init__(self, warmup_steps: int, margin: float = 0.1) -> None:
        self.warmup_steps = warmup_steps
        self.margin = margin
        self._first: float | None = None
        self._best: float | None = None
        self._warned = False

    def check(self, step: int, loss: float) -> str | None:
        if self._first is None:
            self._first = self._best = loss
            return None
        self._best = min(self._best, loss)
        if self._warned or step <= self.warmup_steps or not diverged(self._first, self._best, loss, self.margin):
            return None
        self._warned = True
        return (f"The loss is diverging: {loss:.4f} at step {step}, above its starting value {self._first:.4f} "
                f"after having reached {self._best:.4f}; " + DIVERGENCE_ADVICE)


def trained(evaluation: EvalEvent) -> bool:
    """Whether an evaluation measures training: the one at step 0 measures the random init (often high-rank)."""
    return evaluation.step > 0


@dataclass(frozen=True)
class RankCollapse:
    """The embeddings use only a few directions: `rank` at `step`, far below the run's `best`."""
    step: int
    rank: float
    best: float


def rank_collapse(evaluations: Sequence[EvalEvent]) -> RankCollapse | None:
    """Whether the latest of a run's evaluations (a resumed run's earlier ones included) has collapsed to a few
    directions: effective rank below `RANK_DROP` of its best over the trained evaluations (step 0 is not one),
    while the spread is still healthy (a lost spread is the full collapse, told apart). The one rule that the
    health warning and the verdict share."""
    measured = [evaluation for evaluation in evaluations if trained(evaluation)]
    if not measured:
        return None
    latest = measured[-1].values
    best = max(evaluation.values["effective_rank"] for evaluation in measured)
    if latest["embedding_std"] < COLLAPSE_STD or latest["effective_rank"] >= RANK_DROP * best:
        return None
    return RankCollapse(measured[-1].step, latest["effective_rank"], best)


class DimensionalCollapseDetector:
    """Warns once when `rank_collapse` finds the run's evaluations collapsed to a few directions."""

    def __init__(self, advice: str = RANK_ADVICE, history: Iterable[Event] = ()) -> None:
        """`advice`: what to try, for the run's kind of task; `history`: events recorded earlier (a resumed
        run's), replayed so that they count and a warning already given is not given again."""
        self._evaluations: list[EvalEvent] = []
        self._warned = False
        self._advice = advice
        for event in history:
            if isinstance(event, EvalEvent):
                self.check(event)

    def check(self, evaluation: EvalEvent) -> str | None:
        self._evaluations.append(evaluation)
        found = rank_collapse(self._evaluations)
        if self._warned or found is None:
            return None
        self._warned = True
        return (f"The embeddings use fewer and fewer directions (effective rank {found.rank:.1f}, down from "
                f"{found.best:.1f}): " + self._advice)
