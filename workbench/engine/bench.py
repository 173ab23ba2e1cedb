"""Timing training steps: images/s of the whole step (data path included) and of the model step alone on
ready tensors. Their ratio shows whether the data path slows training. `python main.py bench` prints them
(see `workbench.bench.command`)."""
from __future__ import annotations

import statistics
import tempfile
import time
from typing import Callable

import torch

from workbench.config import RunConfig
from workbench.engine.trainer import Trainer

WARMUP_STEPS = 3


def images_per_second(step: Callable[[], None], steps: int, warmup: int, batch_size: int,
                      device: torch.device) -> float:
    """Images per second over `steps` calls of `step` (one optimiser step on `batch_size` images each),
    after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch_size / (time.perf_counter() - started)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def data_path_speed(trainer: Trainer, steps: int, rounds: int = 2, warmup: int = WARMUP_STEPS) -> dict[str, float]:
    """Whole-step and model-only images/s of a prepared trainer, alternating `rounds` times; medians."""
    batches = trainer.batches()
    ready = trainer.augment(trainer.images[: trainer.batch_size].to(trainer.device))
    ready_views = lambda images: ready[: len(images)]  # noqa: E731  the model step on ready tensors
    whole, model_only = [], []
    for _ in range(rounds):
        for views, results in ((None, whole), (ready_views, model_only)):
            step = lambda: trainer.train_step(next(batches), views)  # noqa: E731
            results.append(images_per_second(step, steps, warmup, trainer.batch_size, trainer.device))
    whole_step, model_step = statistics.median(whole), statistics.median(model_only)
    return {"whole_step": whole_step, "model_step": model_step, "ratio": whole_step / model_step}


def measure(config: RunConfig, steps: int, rounds: int = 2, warmup: int = WARMUP_STEPS) -> dict:
    """`data_path_speed` for a config, with the precision and device it resolved to."""
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, run_dir=folder)
        trainer.prepare()
        result = data_path_speed(trainer, steps, rounds, warmup)
    return {**result, "precision": trainer.precision, "device": str(trainer.device),
            "channels_last": trainer.channels_last}
