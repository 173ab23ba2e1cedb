"""Running every probe of a run on the same splits and writing `<run>/probe.json` (kept under `probes/` too)."""
from __future__ import annotations

from pathlib import Path

import torch

from workbench.control import CancelToken, Progress
from workbench.engine.device import default_cpu_threads
from workbench.probes.archive import check_name, save_probe
from workbench.probes.baselines import (random_init_embeddings, raw_pixel_features, starting_weights_embeddings,
                                       supervised_from_scratch)
from workbench.probes.context import RunContext, embed_images, open_run
from workbench.probes.defaults import DEFAULT_FRACTIONS, DEFAULT_SEEDS, FINETUNE, SCRATCH, Schedule
from workbench.probes.finetune import finetuned_scores, planned_steps, training_passes
from workbench.probes.knn import knn_probe
from workbench.metrics.linear_probe import linear_probe
from workbench.probes.splits import (DEFAULT_TEST_FRACTION, VALIDATION_FRACTION, label_counts, probe_splits,
                                    split_description)
from workbench.probes.table import (FINETUNE_METHOD, KNN, LINEAR, PIXELS_LINEAR, RANDOM_KNN, RANDOM_LINEAR,
                                    SCRATCH_METHOD, STARTING_KNN, STARTING_LINEAR, ProbeResult, ProbeRow)
from workbench.probes.work import KNN_UNITS, LINEAR_UNITS, WorkMeter



def run_probe(run_dir: str | Path, data_root: str | None = None, fractions=DEFAULT_FRACTIONS, seeds: int = DEFAULT_SEEDS,
              finetune: bool = False, supervised: bool = True, device: str = "auto",
              scratch: Schedule = SCRATCH, tuning: Schedule = FINETUNE, test_fraction: float = DEFAULT_TEST_FRACTION,
              cancel: CancelToken | None = None, progress: Progress | None = None,
              checkpoint: str | Path | None = None, trained_seeds: int | None = None,
              name: str | None = None) -> ProbeResult:
    """Probe a run's checkpoint (the best by default, else the last: see `choose_checkpoint`) with baselines over label fractions and
    seeds (the supervised and fine-tuned ones on every seed, or the first `trained_seeds`: the table marks rows
    with fewer seeds); writes probe.json and
    probes/<name>.json (see `archive.save_probe`) and returns the result."""
    check_name(name)
    context = open_run(run_dir, data_root, checkpoint=checkpoint, device=device, cancel=cancel)
    return probe_context(context, list(fractions), seeds, finetune, supervised, scratch, tuning, test_fraction,
                         cancel, progress, trained_seeds, name)


def probe_context(context: RunContext, fractions: list[float], seeds: int, finetune: bool, supervised: bool,
                  scratch: Schedule = SCRATCH, tuning: Schedule = FINETUNE,
                  test_fraction: float = DEFAULT_TEST_FRACTION, cancel: CancelToken | None = None,
                  progress: Progress | None = None, trained_seeds: int | None = None,
                  name: str | None = None) -> ProbeResult:
    """`run_probe` on an opened run (with the run's torch threads: `train.threads`, else all cores but one)."""
    torch.set_num_threads(context.config.train.threads or default_cpu_threads())
    dataset = context.dataset
    labels, num_classes = dataset.labels, len(dataset.class_names)
    splits = probe_splits(labels, dataset.groups, fractions, seeds, test_fraction, dataset.class_names)
    k = context.config.eval.knn_k
    trained_seeds = seeds if trained_seeds is None else min(seeds, trained_seeds)
    end_to_end = ([(SCRATCH_METHOD, supervised_from_scratch, scratch)] if supervised else []) + \
        ([(FINETUNE_METHOD, finetuned_scores, tuning)] if finetune else [])
    trained = [split for split in splits if split.seed < trained_seeds]
    starts = bool(context.config.model.init_weights)  # the run's starting weights: one more encoder to probe
    meter = WorkMeter((3 + starts) * len(dataset) + ((3 + starts) * LINEAR_UNITS + (2 + starts) * KNN_UNITS)
                      * len(splits) + sum(
        training_passes(schedule, len(split.train)) + len(split.test) for split in trained
        for _, _, schedule in end_to_end), progress)
    pretrained = embed_images(context.encoder, dataset.images, context.device, cancel=cancel)
    meter.add(len(dataset))
    if starts:
        starting = starting_weights_embeddings(context, cancel=cancel)
        meter.add(len(dataset))
    random = random_init_embeddings(context, seed=0, cancel=cancel)
    meter.add(len(dataset))
    pixels, pixel_shape = raw_pixel_features(context, cancel=cancel)
    meter.add(len(dataset))
    probes = [(LINEAR, pretrained, "linear"), (KNN, pretrained, "knn")] + \
        ([(STARTING_LINEAR, starting, "linear"), (STARTING_KNN, starting, "knn")] if starts else []) + \
        [(RANDOM_LINEAR, random, "linear"), (RANDOM_KNN, random, "knn"), (PIXELS_LINEAR, pixels, "linear")]
    rows, trainings = [], {method: [] for method, _, _ in end_to_end}
    for split in splits:
        train_y, test_y = labels[split.train], labels[split.test]

        def add(method: str, scores) -> None:
            rows.append(ProbeRow.from_scores(method, split.fraction, split.seed, len(split.train),
                                             len(split.test), scores))

        for method, embeddings, probe in probes:
            if cancel:
                cancel.raise_if_cancelled()
            train_z, test_z = embeddings[split.train.to(embeddings.device)], embeddings[split.test.to(embeddings.device)]
            add(method, linear_probe(train_z, train_y, test_z, test_y, num_classes) if probe == "linear"
                else knn_probe(train_z, train_y, test_z, test_y, num_classes, k))
            meter.add(LINEAR_UNITS if probe == "linear" else KNN_UNITS)
        for method, train, schedule in end_to_end if split.seed < trained_seeds else ():
            budget, before = training_passes(schedule, len(split.train)), meter.done
            step_units = budget // planned_steps(schedule, len(split.train))
            scores, training = train(context, split, schedule, cancel, on_step=lambda: meter.add(step_units))
            add(method, scores)
            trainings[method].append({"fraction": split.fraction, "seed": split.seed, **vars(training)})
            meter.add(max(0, budget - (meter.done - before)) + len(split.test))  # an early stop skips the rest
    meter.finish()
    result = ProbeResult.of_rows(
        rows, run=context.folder.name, step=context.step, checkpoint=context.checkpoint_description,
        tasks=list(context.config.tasks), backbone=context.config.model.backbone,
        class_names=list(dataset.class_names), fractions=fractions, seeds=seeds, test_fraction=test_fraction,
        split=split_description(labels, dataset.groups, splits), knn_k=k, device=str(context.device),
        supervised_schedule=trained_schedule(scratch, trained_seeds, trainings.get(SCRATCH_METHOD)),
        finetune_schedule=trained_schedule(tuning, trained_seeds, trainings.get(FINETUNE_METHOD)),
        label_counts=label_counts(splits, fractions), raw_pixels=pixel_shape)
    return save_probe(result, context.folder.path, name)



def trained_schedule(schedule: Schedule, seeds: int, trainings: list[dict] | None) -> dict | None:
    """What probe.json keeps of a trained baseline: its schedule, seeds, validation share and each training
    (fraction, seed, `finetune.Training`); None when it did not run."""
    if trainings is None:
        return None
    return {**vars(schedule), "seeds": seeds, "validation_fraction": VALIDATION_FRACTION, "trainings": trainings}
