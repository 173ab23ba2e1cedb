"""`python main.py bench`: images/s of the whole training step (data path included) against the model
step alone on ready tensors. Their ratio shows whether the data path slows training."""
from __future__ import annotations

import tempfile
import time

import torch

from workbench.engine.device import describe_device
from workbench.engine.trainer import Trainer

WARMUP_STEPS = 3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _images_per_second(trainer: Trainer, steps: int, augment=None) -> float:
    """Time `steps` training steps; with `augment`, views come from it instead of the augmenter."""
    batches = trainer.batches()
    for _ in range(WARMUP_STEPS):
        trainer.train_step(next(batches), augment)
    _sync(trainer.device)
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(next(batches), augment)
    _sync(trainer.device)
    return steps * trainer.batch_size / (time.perf_counter() - started)


def measure(config, steps: int) -> dict[str, float]:
    """Whole-step and model-only throughput for a config, alternating twice to even out noise."""
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, run_dir=folder)
        trainer.prepare()
        ready = trainer.augment(trainer.images[: trainer.batch_size].to(trainer.device))
        ready_views = lambda images: ready[: len(images)]  # noqa: E731  the model step on ready tensors
        whole, model_only = [], []
        for _ in range(2):
            whole.append(_images_per_second(trainer, steps))
            model_only.append(_images_per_second(trainer, steps, ready_views))
    best_whole, best_model = max(whole), max(model_only)
    return {"whole_step": best_whole, "model_step": best_model, "ratio": best_whole / best_model,
            "precision": trainer.precision, "device": str(trainer.device)}


def run_benchmark(config_path: str | None, steps: int = 20, versus: str | None = None) -> int:
    """Print the benchmark for a config file (default: the quick CPU demo)."""
    from workbench.engine.presets import quick_cpu_demo
    from workbench.tasks import load_config

    config = load_config(config_path) if config_path else quick_cpu_demo()
    config.train.steps = 10 ** 6
    tasks = "+".join(config.tasks)
    print(f"Benchmark: {tasks} on {config.model.backbone}, {config.data.image_size} px, batch "
          f"{config.train.batch_size}, {describe_device(config.train.device, config.train.precision)}")
    result = measure(config, steps)
    print(f"  whole training step (augmentation included): {result['whole_step']:8.1f} img/s")
    print(f"  model step alone on ready tensors:            {result['model_step']:8.1f} img/s")
    print(f"  ratio (goal >= 0.9):                          {result['ratio']:8.2f}")
    if versus == "lightly":
        print("  --vs lightly: the side-by-side comparison is not built yet (see the speed issue).")
        return 1
    return 0
