"""Learning-rate schedule: linear warm-up, then cosine decay to a small floor."""
from __future__ import annotations

import math


def shortened_warmup(warmup_steps: int, steps: int, new_steps: int) -> int:
    """The warm-up of a `steps`-step schedule cut to `new_steps`: the same share of the run (rounded down),
    so it stays shorter than the run; a longer run keeps its warm-up."""
    return warmup_steps if new_steps >= steps else warmup_steps * new_steps // steps


def learning_rate(step: int, total_steps: int, peak_lr: float, warmup_steps: int, floor: float = 0.01) -> float:
    """The rate for optimiser step `step` (0-based); decays to `floor` x peak at the last step."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return peak_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
