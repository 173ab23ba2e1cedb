"""Is it working? A plain-words verdict on a run from its history, given after each evaluation.

The rules, first match wins: diverging (the loss climbed back above its start), collapsing (the embeddings
lost their spread or their directions), too little data (the images were seen many times and the quality
signal fell from its best while the loss kept falling: memorising), plateaued (neither the loss nor the
quality signal moved over the last stretch), else learning (worded for an ended run when the judged evaluation
is at the run's last step: a finished run is not told to keep going)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from workbench.engine.events import EvalEvent, Event, StepEvent
from workbench.engine.health import COLLAPSE_ADVICE as HEALTH_COLLAPSE_ADVICE
from workbench.engine.health import COLLAPSE_STD, DIVERGENCE_ADVICE, diverged, rank_collapse, trained
from workbench.engine.health import RANK_ADVICE as HEALTH_RANK_ADVICE
from workbench.engine.quality_values import QUALITY_VALUES, format_value, score_key, value_name
from workbench.tasks import registered_tasks

LEARNING, PLATEAUED, COLLAPSING, DIVERGING, TOO_LITTLE_DATA = (
    "learning", "plateaued", "collapsing", "diverging", "too little data")
RECENT_LOSSES = 3
"""The latest loss is the mean of this many logged losses (one logged loss is noisy)."""
PLATEAU_WINDOW = 5
"""Plateau: the mean of the last this-many logged losses against the mean of the this-many before."""
PLATEAU_SHARE = 0.03
"""Plateau: the loss fell by less than this share of its whole fall so far (or of its size, if it never fell)."""
SIGNAL_GAIN = 0.02
"""A quality signal still rises when its latest value beats the one two evaluations ago by this share."""
MANY_EPOCHS = 30
"""Too little data: each image seen at least this many times ..."""
SIGNAL_LOSS = 0.05
"""... and the quality signal this share below its best."""

PLATEAU_ADVICE = {
    "contrastive": "a larger batch (more negatives), stronger augmentations, or a larger backbone",
    "joint embedding": "stronger augmentations, a larger projector, or a larger backbone",
    "masked prediction": "a higher mask ratio, a larger backbone, or evaluate now: the embeddings may be done",
    "pretext classification": "a harder pretext (more permutations, finer angles) or a joint-embedding task "
                              "such as SimCLR or VICReg",
}
DATA_ADVICE = {
    "contrastive": "stronger augmentations, a smaller backbone, fewer steps, or more images (thousands)",
    "joint embedding": "stronger augmentations, a smaller backbone, fewer steps, or more images (thousands)",
    "masked prediction": "a higher mask ratio, a smaller backbone, fewer steps, or more images",
    "pretext classification": "stronger augmentations, fewer steps, or more images",
}
LEARNING_MESSAGE = "Learning: the loss is falling or the embeddings are still improving. Let it run."
ENDED_LEARNING_MESSAGE = ("Still improving when the run ended: more steps would likely help. A finished run cannot "
                          "be continued: start a longer run from this one's last checkpoint (Starting weights, "
                          "model.init_weights: its checkpoints/step_*.pt).")
COLLAPSE_ADVICE = {
    "contrastive": HEALTH_COLLAPSE_ADVICE,
    "joint embedding": HEALTH_COLLAPSE_ADVICE,
    "masked prediction": "the encoder maps every image to nearly the same point, so it has stopped telling images "
                         "apart. Try a lower learning rate, a longer warm-up, or a higher mask ratio (a task too "
                         "easy needs no image-specific features).",
    "pretext classification": "the encoder maps every image to nearly the same point, so it has stopped telling "
                              "images apart. Try a lower learning rate, a harder pretext (more permutations, finer "
                              "angles), or a joint-embedding task such as VICReg.",
}
RANK_ADVICE = {
    "contrastive": HEALTH_RANK_ADVICE,
    "joint embedding": HEALTH_RANK_ADVICE,
    "masked prediction": "features are becoming redundant. Try a higher mask ratio, larger hidden patches, a "
                         "larger backbone, or more images.",
    "pretext classification": "features are becoming redundant: the pretext is solved with a few of them. Try a "
                              "harder pretext, stronger augmentations, or a joint-embedding task such as VICReg.",
}
"""Advice by task family (`PretextTask.family`): each family's own fixes, never another family's."""


@dataclass(frozen=True)
class Verdict:
    verdict: str
    """One of LEARNING, PLATEAUED, COLLAPSING, DIVERGING, TOO_LITTLE_DATA."""
    message: str


def family(task: str) -> str:
    """The family of the task registered as `task` (a plugin not loaded now: a pretext classification)."""
    cls = registered_tasks().get(task)
    return cls.family if cls is not None else "pretext classification"


class VerdictJudge:
    """Collects a run's logged losses and evaluations (`add` each StepEvent and EvalEvent) and judges them."""

    def __init__(self, tasks: list[str], warmup_steps: int = 0, history: Iterable[Event] = ()) -> None:
        """`tasks`: the run's tasks (the first one's family picks the advice); `history`: events recorded
        earlier (a resumed run's)."""
        self.family = family(tasks[0])
        self.warmup_steps = warmup_steps
        self.losses: list[float] = []
        self.loss_steps: list[int] = []
        self.evaluations: list[EvalEvent] = []
        """The trained evaluations (step 0's random-init one says nothing of training)."""
        self.epoch = 0.0
        self.total_steps = 0
        """The run's length, from its logged steps."""
        for event in history:
            self.add(event)

    def add(self, event: Event) -> None:
        if isinstance(event, StepEvent) and "loss" in event.values:
            self.losses.append(event.values["loss"])
            self.loss_steps.append(event.step)
            self.epoch = event.epoch
            self.total_steps = event.total_steps
        elif isinstance(event, EvalEvent) and trained(event):
            self.evaluations.append(event)

    def verdict(self) -> Verdict | None:
        """The verdict on the history so far; None before a loss and a trained evaluation were recorded."""
        if not self.losses or not self.evaluations:
            return None
        ended = self.evaluations[-1].step >= self.total_steps
        return (self._diverging() or self._collapsing() or self._too_little_data() or self._plateaued()
                or Verdict(LEARNING, ENDED_LEARNING_MESSAGE if ended else LEARNING_MESSAGE))

    def _recent_loss(self) -> float:
        return sum(self.losses[-RECENT_LOSSES:]) / len(self.losses[-RECENT_LOSSES:])

    def _diverging(self) -> Verdict | None:
        recent = self._recent_loss()
        if self.loss_steps[-1] <= self.warmup_steps or not diverged(self.losses[0], min(self.losses), recent):
            return None
        return Verdict(DIVERGING, f"Diverging: the loss is back up to {recent:.4g}, above its start "
                                  f"{self.losses[0]:.4g}; {DIVERGENCE_ADVICE}")

    def _collapsing(self) -> Verdict | None:
        if self.evaluations[-1].values["embedding_std"] < COLLAPSE_STD:
            return Verdict(COLLAPSING, f"Collapsing: {COLLAPSE_ADVICE[self.family]}")
        found = rank_collapse(self.evaluations)
        if found is None:
            return None
        return Verdict(COLLAPSING, f"Collapsing to a few directions (RankMe {found.rank:.1f}, best {found.best:.1f}): "
                                   f"{RANK_ADVICE[self.family]}")

    def _signal(self) -> tuple[str, list[float]] | None:
        """The main quality signal's name and its values at the trained evaluations."""
        name = score_key(self.evaluations[-1].values)
        return None if name is None else (name, [evaluation.values.get(name, float("nan"))
                                                 for evaluation in self.evaluations])

    def _improving(self) -> bool:
        """Whether any quality signal rose over the last two evaluations."""
        if len(self.evaluations) < 3:
            return False
        before, latest = self.evaluations[-3].values, self.evaluations[-1].values
        return any(latest[key] > before[key] + SIGNAL_GAIN * abs(before[key])
                   for key in QUALITY_VALUES if key in latest and key in before)

    def _too_little_data(self) -> Verdict | None:
        signal = self._signal()
        if signal is None or self.epoch < MANY_EPOCHS or len(self.losses) < 2 * PLATEAU_WINDOW:
            return None
        name, values = signal
        best = max(values)
        loss_falls = self._recent_loss() < sum(self.losses[-2 * PLATEAU_WINDOW:-PLATEAU_WINDOW]) / PLATEAU_WINDOW
        if values[-1] >= best - SIGNAL_LOSS * abs(best) or not loss_falls:
            return None
        return Verdict(TOO_LITTLE_DATA, f"Too little data for this task: each image was seen {self.epoch:.0f} times "
                                        f"and {value_name(name)} fell from {format_value(name, best)} to "
                                        f"{format_value(name, values[-1])} while the loss "
                                        f"kept falling (memorising). Try {DATA_ADVICE[self.family]}.")

    def _plateaued(self) -> Verdict | None:
        if len(self.losses) < 2 * PLATEAU_WINDOW:
            return None
        earlier = sum(self.losses[-2 * PLATEAU_WINDOW:-PLATEAU_WINDOW]) / PLATEAU_WINDOW
        recent = sum(self.losses[-PLATEAU_WINDOW:]) / PLATEAU_WINDOW
        scale = max(self.losses[0] - min(self.losses), 0.01 * abs(self.losses[0]))
        if earlier - recent >= PLATEAU_SHARE * scale or self._improving():
            return None
        return Verdict(PLATEAUED, "Plateaued: more steps will not help much; the loss has stopped falling and "
                                  "the embeddings stopped improving (kNN accuracy, LiDAR, RankMe). "
                                  f"Try {PLATEAU_ADVICE[self.family]}.")
