"""The probe's defaults: label shares, seeds, the supervised schedules and the ranking strategies. Light (no torch),
so the command line's help and the app's Evaluate page read them from here without loading the probes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)
"""Shares of the training labels the probe table measures."""
DEFAULT_SEEDS = 3
"""Repeats of each measurement with different splits (mean ± spread)."""
STRATEGIES = ("loss", "diversity", "mixed")
"""Ways to rank images for labelling: hardest for the pretext task, least like the others, or a mix."""
DEFAULT_STRATEGY = "mixed"


def ranking_csv(run_dir: str | Path, strategy: str) -> Path:
    """Where a ranking for labelling is saved by default: to_label_<strategy>.csv in the run folder."""
    return Path(run_dir) / f"to_label_{strategy}.csv"


@dataclass(frozen=True)
class Schedule:
    """A supervised schedule: AdamW with cosine decay over `planned_steps` (`epochs` passes over the images it
    fits, at least `min_steps`, at most `steps`), batches drawn with replacement (never more images than there
    are labelled ones: with 16 labels, 16 views a step); early stopping on a validation part of the training
    labels (`splits.validation_split`), checked `CHECKS` times over the schedule, after `patience` checks
    without improvement in its second half (early on, at a high learning rate, a small validation part's score
    swings), keeping the weights of the best check."""

    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    epochs: int = 200
    min_steps: int = 1000
    patience: int = 5


SCRATCH = Schedule()
"""200 epochs, at least 1,000 steps: 50 epochs (at least 200) scored below raw pixels with 350 labels of
Fashion-MNIST (74.8 against 77.9 %), 4x longer 78.2 % (README, "Is it working?"); early stopping ends it sooner."""
FINETUNE = Schedule(lr=2e-4)
"""Fine-tuning starts from useful features: a ten times lower learning rate keeps them."""
CHECKS = 20
"""Validation checks over a planned schedule (plus one at its end)."""


