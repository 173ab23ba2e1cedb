"""Running every probe of a run on the same splits and writing `<run>/probe.json` (kept under `probes/` too)."""
from __future__ import annotations

from pathlib import Path

import torch

from workbench.control import CancelToken, Progress
from workbench.engine.device import default_cpu_threads
from workbench.probes.archive import check_name, save_probe
from workbench.probes.baselines import random_init_embeddings, raw_pixel_features, supervised_from_scratch
from workbench.probes.context import RunContext, embed_images, open_run
from workbench.probes.finetune import FINETUNE, SCRATCH, Schedule, finetuned_scores, training_passes
from workbench.probes.knn import knn_probe
from workbench.metrics.linear_probe import linear_probe
from workbench.probes.splits import DEFAULT_TEST_FRACTION, label_counts, probe_splits, split_description
from workbench.probes.table import ProbeResult, ProbeRow
from workbench.probes.work import KNN_UNITS, LINEAR_UNITS, WorkMeter

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)
LINEAR, KNN = "linear probe", "kNN probe"
RANDOM_LINEAR, RANDOM_KNN = "random init, linear", "random init, kNN"
PIXELS_LINEAR = "raw pixels, linear"
SCRATCH_METHOD, FINETUNE_METHOD = "supervised from scratch", "fine-tuned"
TRAINED_SEEDS = 1
"""Seeds (splits) on which the baselines that train a whole network run: each costs a training (~15 s on a
2-core CPU for 2,000 images), the probes on cached embeddings a fraction of a second. One seed keeps the
full table within a minute; the table marks rows with fewer seeds than the probes."""


def run_probe(run_dir: str | Path, data_root: str | None = None, fractions=DEFAULT_FRACTIONS, seeds: int = 3,
              finetune: bool = False, supervised: bool = True, device: str = "auto",
              scratch: Schedule = SCRATCH, tuning: Schedule = FINETUNE, test_fraction: float = DEFAULT_TEST_FRACTION,
              cancel: CancelToken | None = None, progress: Progress | None = None,
              checkpoint: str | Path | None = None, trained_seeds: int = TRAINED_SEEDS,
              name: str | None = None) -> ProbeResult:
    """Probe a run's checkpoint (the latest unless one is named) with baselines over label fractions and
    seeds (the supervised and fine-tuned ones on the first `trained_seeds`); writes probe.json and
    probes/<name>.json (see `archive.save_probe`) and returns the result."""
    check_name(name)
    context = open_run(run_dir, data_root, checkpoint=checkpoint, device=device, cancel=cancel)
    return probe_context(context, list(fractions), seeds, finetune, supervised, scratch, tuning, test_fraction,
                         cancel, progress, trained_seeds, name)


def probe_context(context: RunContext, fractions: list[float], seeds: int, finetune: bool, supervised: bool,
                  scratch: Schedule = SCRATCH, tuning: Schedule = FINETUNE,
                  test_fraction: float = DEFAULT_TEST_FRACTION, cancel: CancelToken | None = None,
                  progress: Progress | None = None, trained_seeds: int = TRAINED_SEEDS,
                  name: str | None = None) -> ProbeResult:
    """`run_probe` on an opened run (with the run's torch threads: `train.threads`, else all cores but one)."""
    torch.set_num_threads(context.config.train.threads or default_cpu_threads())
    dataset = context.dataset
    labels, num_classes = dataset.labels, len(dataset.class_names)
    splits = probe_splits(labels, dataset.groups, fractions, seeds, test_fraction, dataset.class_names)
    k = context.config.eval.knn_k
    end_to_end = ([(SCRATCH_METHOD, supervised_from_scratch, scratch)] if supervised else []) + \
        ([(FINETUNE_METHOD, finetuned_scores, tuning)] if finetune else [])
    trained = [split for split in splits if split.seed < trained_seeds]
    meter = WorkMeter(3 * len(dataset) + (3 * LINEAR_UNITS + 2 * KNN_UNITS) * len(splits) + sum(
        training_passes(schedule, len(split.train)) + len(split.test) for split in trained
        for _, _, schedule in end_to_end), progress)
    pretrained = embed_images(context.encoder, dataset.images, context.device, cancel=cancel)
    meter.add(len(dataset))
    random = random_init_embeddings(context, seed=0, cancel=cancel)
    meter.add(len(dataset))
    pixels, pixel_shape = raw_pixel_features(context, cancel=cancel)
    meter.add(len(dataset))
    rows = []
    for split in splits:
        train_y, test_y = labels[split.train], labels[split.test]

        def add(method: str, scores) -> None:
            rows.append(ProbeRow.from_scores(method, split.fraction, split.seed, len(split.train),
                                             len(split.test), scores))

        for method, embeddings, probe in ((LINEAR, pretrained, "linear"), (KNN, pretrained, "knn"),
                                          (RANDOM_LINEAR, random, "linear"), (RANDOM_KNN, random, "knn"),
                                          (PIXELS_LINEAR, pixels, "linear")):
            if cancel:
                cancel.raise_if_cancelled()
            train_z, test_z = embeddings[split.train.to(embeddings.device)], embeddings[split.test.to(embeddings.device)]
            add(method, linear_probe(train_z, train_y, test_z, test_y, num_classes) if probe == "linear"
                else knn_probe(train_z, train_y, test_z, test_y, num_classes, k))
            meter.add(LINEAR_UNITS if probe == "linear" else KNN_UNITS)
        for method, train, schedule in end_to_end if split.seed < trained_seeds else ():
            step_units = training_passes(schedule, len(split.train)) // schedule.steps
            add(method, train(context, split, schedule, cancel, on_step=lambda: meter.add(step_units)))
            meter.add(len(split.test))
    meter.finish()
    result = ProbeResult.of_rows(
        rows, run=context.folder.name, step=context.step, checkpoint=context.checkpoint.name,
        tasks=list(context.config.tasks), backbone=context.config.model.backbone,
        class_names=list(dataset.class_names), fractions=fractions, seeds=seeds, test_fraction=test_fraction,
        split=split_description(labels, dataset.groups, splits), knn_k=k, device=str(context.device),
        supervised_schedule={**vars(scratch), "seeds": min(seeds, trained_seeds)} if supervised else None,
        finetune_schedule={**vars(tuning), "seeds": min(seeds, trained_seeds)} if finetune else None,
        label_counts=label_counts(splits, fractions), raw_pixels=pixel_shape)
    return save_probe(result, context.folder.path, name)

