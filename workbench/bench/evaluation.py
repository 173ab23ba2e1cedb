"""`python main.py bench --eval`: what evaluation costs.

Three figures, each the median of a few timed repeats after one untimed call: embedding the trainer's
evaluation subset in batches on the training device (the encoder of the config, as the trainer does at
each evaluation); and the kNN and linear probes on `count` x `dim` embeddings with class structure
(class centres plus isotropic noise, so neither probe is trivially right), split 80/20, on that device.
A fourth, timed once (it takes most of a minute): the wall time of `python main.py probe`'s full table
(1 % / 10 % / 100 % of the labels, both baselines) on a short run of the config over ~2,000 labelled PNGs.
"""
from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from workbench.config import RunConfig

DEFAULT_COUNT, DEFAULT_DIM, DEFAULT_CLASSES = 10_000, 512, 10
NOISE = 10.0
"""Noise std against unit-normal class centres: the linear probe gets about 0.65 right, kNN less."""
TEST_SHARE = 0.2
PROBE_GOAL_S = 2.0
TABLE_IMAGES = 2000
TABLE_GOAL_S = 60.0
TABLE_TRAIN_STEPS = 10
"""The run probed is short: the probe's cost does not depend on how well the encoder learnt."""


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


def probe_table_seconds(config: RunConfig, images: int = TABLE_IMAGES, base: Path | None = None) -> dict:
    """Wall time of the full probe table (`run_probe` with its defaults) on a short run of `config` over
    `images` synthetic labelled PNGs (made once under the cache folder, or `base`): seconds, images, what ran."""
    from workbench.bench.synthetic_folder import synthetic_folder
    from workbench.engine.trainer import Trainer
    from workbench.probes.defaults import DEFAULT_FRACTIONS
    from workbench.probes.probe import run_probe
    from workbench.probes.table import schedule_note

    run_config = copy.deepcopy(config)
    run_config.data.root = str(synthetic_folder(images, base))
    run_config.train.steps = TABLE_TRAIN_STEPS
    run_config.train.warmup_steps = min(run_config.train.warmup_steps, TABLE_TRAIN_STEPS - 1)
    with tempfile.TemporaryDirectory() as folder:
        run_config.output.out_dir = folder
        trainer = Trainer(run_config)
        trainer.run()
        started = time.perf_counter()
        result = run_probe(trainer.run_dir)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": images, "fractions": list(DEFAULT_FRACTIONS), "seeds": result.seeds,
            "trained": schedule_note(result), "image_size": run_config.data.image_size,
            "backbone": run_config.model.backbone}


def eval_figures(config: RunConfig, repeats: int = 3, count: int = DEFAULT_COUNT, dim: int = DEFAULT_DIM) -> dict:
    """Embedding, kNN and linear probe figures for `config` (its device and threads)."""
    from workbench.engine.device import default_cpu_threads, resolve_device

    embedding = embedding_seconds(config, repeats)  # sets the config's torch threads
    device = resolve_device(config.train.device)
    probes = probe_seconds(device, repeats, count, dim)
    return {"embedding": embedding, "probes": probes, "threads": config.train.threads or default_cpu_threads()}


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
    table = probe_table_seconds(config)
    print(f"  probe table (`main.py probe`, timed once, goal < {TABLE_GOAL_S:.0f} s) on {table['images']:,} labelled "
          f"images ({table['backbone']}, {table['image_size']} px), {table['seeds']} seeds of "
          f"{'/'.join(f'{100 * f:g}%' for f in table['fractions'])} labels: {table['seconds']:.1f} s")
    print(f"    trained baselines: {table['trained']}")
    return 0 if probes["linear"]["seconds"] < PROBE_GOAL_S and table["seconds"] < TABLE_GOAL_S else 1
