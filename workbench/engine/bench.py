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
from workbench.engine.allocator import keep_freed_memory
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
    """Whole-step and model-only images/s of a prepared trainer, alternating `rounds` times; medians.

    The whole step takes its inputs as training does (views drawn ahead when `trainer.prefetch`)."""
    ready = trainer.draw_views(trainer.images[: trainer.batch_size].to(trainer.device), 0, 0)
    ready_views = lambda images: ready[: len(images)]  # noqa: E731  the model step on ready tensors
    whole, model_only = [], []
    batches = trainer.batches()
    with trainer.step_inputs() as inputs, keep_freed_memory():  # as `Trainer.run` trains
        def whole_step() -> None:
            indices, images, augment = next(inputs)
            trainer.train_step(indices, augment, images=images)

        def model_step() -> None:
            trainer.train_step(next(batches), ready_views)

        for _ in range(rounds):
            for step, results in ((whole_step, whole), (model_step, model_only)):
                results.append(images_per_second(step, steps, warmup, trainer.batch_size, trainer.device))
    whole_speed, model_speed = statistics.median(whole), statistics.median(model_only)
    return {"whole_step": whole_speed, "model_step": model_speed, "ratio": whole_speed / model_speed}


def measure(config: RunConfig, steps: int, rounds: int = 2, warmup: int = WARMUP_STEPS) -> dict:
    """`data_path_speed` for a config, with the precision and device it resolved to."""
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, run_dir=folder)
        trainer.prepare()
        result = data_path_speed(trainer, steps, rounds, warmup)
    return {**result, "precision": trainer.precision, "device": str(trainer.device),
            "channels_last": trainer.channels_last, "prefetch": trainer.prefetch}
