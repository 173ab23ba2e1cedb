"""`python main.py bench --eval`: what evaluation costs.

Three figures, each the median of a few timed repeats after one untimed call: embedding the trainer's
evaluation subset in batches on the training device (the encoder of the config, as the trainer does at
each evaluation); and the kNN and linear probes on `count` x `dim` embeddings with class structure
(class centres plus isotropic noise, so neither probe is trivially right), split 80/20, on that device.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from typing import Callable

import torch

from workbench.config import RunConfig

DEFAULT_COUNT, DEFAULT_DIM, DEFAULT_CLASSES = 10_000, 512, 10
NOISE = 10.0
"""Noise std against unit-normal class centres: the linear probe gets about 0.65 right, kNN less."""
TEST_SHARE = 0.2
PROBE_GOAL_S = 2.0


def structured_embeddings(count: int, dim: int, classes: int, device: torch.device,
                          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, dim) float32 embeddings and their labels: a random centre per class plus noise."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.randint(0, classes, (count,), generator=generator)
    embeddings = centres[labels] + NOISE * torch.randn(count, dim, generator=generator)
    return embeddings.to(device), labels.to(device)


def median_seconds(call: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, object]:
    """Median wall time of `repeats` calls after one untimed call (first-use costs: imports, allocations),
    and the last call's result."""
    result = call()
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        result = call()
        _sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def embedding_seconds(config: RunConfig, repeats: int) -> dict:
    """Embedding the evaluation subset as the trainer does: seconds, images, device, precision."""
    from workbench.engine.device import autocast
    from workbench.engine.evaluation import embed
    from workbench.engine.trainer import Trainer

    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, run_dir=folder)
        trainer.prepare()
        images = trainer.images[trainer.eval_subset.indices.to(trainer.images.device)]
        batch = max(trainer.batch_size, 64)

        def run() -> torch.Tensor:
            return embed(trainer.model.encoder, images, trainer.augmenter.normalize, trainer.device, batch,
                         lambda: autocast(trainer.device, trainer.precision))

        seconds, _ = median_seconds(run, repeats, trainer.device)
    return {"seconds": seconds, "images": len(images), "images_per_second": len(images) / seconds,
            "device": str(trainer.device), "precision": trainer.precision, "backbone": config.model.backbone,
            "image_size": config.data.image_size}


def probe_seconds(device: torch.device, repeats: int, count: int = DEFAULT_COUNT, dim: int = DEFAULT_DIM,
                  classes: int = DEFAULT_CLASSES, k: int = 20) -> dict:
    """The kNN and linear probes on structured embeddings: seconds and accuracy of each."""
    from workbench.metrics.linear_probe import linear_probe
    from workbench.probes.knn import knn_probe

    embeddings, labels = structured_embeddings(count, dim, classes, device)
    cut = int(count * (1 - TEST_SHARE))
    train_z, train_y, test_z, test_y = embeddings[:cut], labels[:cut], embeddings[cut:], labels[cut:]
    figures = {"count": count, "dim": dim, "classes": classes, "device": str(device)}
    for name, call in (("knn", lambda: knn_probe(train_z, train_y, test_z, test_y, classes, k)),
                       ("linear", lambda: linear_probe(train_z, train_y, test_z, test_y, classes))):
        seconds, scores = median_seconds(call, repeats, device)
        figures[name] = {"seconds": seconds, "accuracy": scores.accuracy}
    return figures


def eval_figures(config: RunConfig, repeats: int = 3, count: int = DEFAULT_COUNT, dim: int = DEFAULT_DIM) -> dict:
    """Embedding, kNN and linear probe figures for `config` (its device and threads)."""
    from workbench.engine.device import default_cpu_threads, resolve_device

    embedding = embedding_seconds(config, repeats)  # sets the config's torch threads
    device = resolve_device(config.train.device)
    probes = probe_seconds(device, repeats, count, dim)
    return {"embedding": embedding, "probes": probes,
            "threads": config.train.threads or default_cpu_threads()}


def print_eval_figures(config: RunConfig, repeats: int = 3, count: int = DEFAULT_COUNT, dim: int = DEFAULT_DIM) -> int:
    """Print `eval_figures` for the command line; 0 when the probes meet their goal."""
    figures = eval_figures(config, repeats, count, dim)
    embedding, probes = figures["embedding"], figures["probes"]
    print(f"Evaluation cost on {probes['device']} ({figures['threads']} torch thread(s)), medians of {repeats} "
          "after one untimed call")
    print(f"  embed the evaluation subset ({embedding['images']} images, {embedding['backbone']}, "
          f"{embedding['image_size']} px, {embedding['precision']}): {embedding['seconds']:.3f} s "
          f"({embedding['images_per_second']:.0f} img/s)")
    shape = f"{probes['count']:,} x {probes['dim']} embeddings, {probes['classes']} classes, 80/20 split"
    for name, label in (("knn", "kNN probe"), ("linear", f"linear probe (goal < {PROBE_GOAL_S:.0f} s)")):
        print(f"  {label} on {shape}: {probes[name]['seconds']:.3f} s (accuracy {probes[name]['accuracy']:.3f})")
    return 0 if probes["linear"]["seconds"] < PROBE_GOAL_S else 1
