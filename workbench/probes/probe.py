"""Running every probe of a run on the same splits and writing `<run>/probe.json`."""
from __future__ import annotations

from pathlib import Path

from workbench.control import CancelToken, Progress
from workbench.probes.baselines import random_init_embeddings, supervised_from_scratch
from workbench.probes.context import RunContext, embed_images, open_run
from workbench.probes.finetune import FINETUNE, SCRATCH, Schedule, finetuned_scores
from workbench.probes.knn import knn_probe
from workbench.metrics.linear_probe import linear_probe
from workbench.probes.splits import DEFAULT_TEST_FRACTION, probe_splits, split_description
from workbench.probes.table import PROBE_NAME, ProbeRow, write_probe_json

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)
LINEAR, KNN = "linear probe", "kNN probe"
RANDOM_LINEAR, RANDOM_KNN = "random init, linear", "random init, kNN"
SCRATCH_METHOD, FINETUNE_METHOD = "supervised from scratch", "fine-tuned"


def run_probe(run_dir: str | Path, data_root: str | None = None, fractions=DEFAULT_FRACTIONS, seeds: int = 3,
              finetune: bool = False, supervised: bool = True, device: str = "auto",
              scratch: Schedule = SCRATCH, tuning: Schedule = FINETUNE, test_fraction: float = DEFAULT_TEST_FRACTION,
              cancel: CancelToken | None = None, progress: Progress | None = None,
              checkpoint: str | Path | None = None) -> dict:
    """Probe a run's checkpoint (the latest unless one is named) with baselines over label fractions and
    seeds; returns probe.json."""
    context = open_run(run_dir, data_root, checkpoint=checkpoint, device=device, cancel=cancel)
    return probe_context(context, list(fractions), seeds, finetune, supervised, scratch, tuning, test_fraction,
                         cancel, progress)


def probe_context(context: RunContext, fractions: list[float], seeds: int, finetune: bool, supervised: bool,
                  scratch: Schedule = SCRATCH, tuning: Schedule = FINETUNE,
                  test_fraction: float = DEFAULT_TEST_FRACTION, cancel: CancelToken | None = None,
                  progress: Progress | None = None) -> dict:
    """`run_probe` on an opened run."""
    report = progress or (lambda done, total: None)
    dataset = context.dataset
    labels, num_classes = dataset.labels, len(dataset.class_names)
    splits = probe_splits(labels, dataset.groups, fractions, seeds, test_fraction, dataset.class_names)
    k = context.config.eval.knn_k
    total = 2 + len(splits)
    report(0, total)
    pretrained = embed_images(context.encoder, dataset.images, context.device, cancel=cancel)
    report(1, total)
    random = random_init_embeddings(context, seed=0, cancel=cancel)
    report(2, total)
    rows = []
    for done, split in enumerate(splits, start=3):
        train_y, test_y = labels[split.train], labels[split.test]

        def add(method: str, scores) -> None:
            rows.append(ProbeRow.from_scores(method, split.fraction, split.seed, len(split.train),
                                             len(split.test), scores))

        for method, embeddings, probe in ((LINEAR, pretrained, "linear"), (KNN, pretrained, "knn"),
                                          (RANDOM_LINEAR, random, "linear"), (RANDOM_KNN, random, "knn")):
            train_z, test_z = embeddings[split.train.to(embeddings.device)], embeddings[split.test.to(embeddings.device)]
            add(method, linear_probe(train_z, train_y, test_z, test_y, num_classes) if probe == "linear"
                else knn_probe(train_z, train_y, test_z, test_y, num_classes, k))
        if supervised:
            add(SCRATCH_METHOD, supervised_from_scratch(context, split, scratch, cancel))
        if finetune:
            add(FINETUNE_METHOD, finetuned_scores(context, split, tuning, cancel))
        report(done, total)
    info = {"run": context.folder.name, "step": context.step, "checkpoint": context.checkpoint.name,
            "tasks": list(context.config.tasks), "backbone": context.config.model.backbone,
            "class_names": list(dataset.class_names), "fractions": fractions, "seeds": seeds,
            "test_fraction": test_fraction, "split": split_description(labels, dataset.groups, splits),
            "knn_k": k, "device": str(context.device),
            "supervised_schedule": vars(scratch) if supervised else None,
            "finetune_schedule": vars(tuning) if finetune else None}
    return write_probe_json(context.folder.path / PROBE_NAME, rows, info)

