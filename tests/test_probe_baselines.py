"""The probe table's baselines on real labelled images (scikit-learn's handwritten digits, 16 px PNGs): the
supervised-from-scratch row is augmented and early-stopped on a validation part of the training labels, run on
every seed; the raw-pixels row is a logistic regression that agrees with scikit-learn's."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine_helpers import tiny_config
from workbench.data.splits import group_id
from workbench.engine.trainer import Trainer
from workbench.probes.baselines import raw_pixel_features, supervised_from_scratch
from workbench.probes.context import open_run
from workbench.probes.defaults import Schedule
from workbench.probes.finetune import Speed, planned_steps, train_classifier, validation_score
from workbench.probes.probe import PIXELS_LINEAR, SCRATCH_METHOD, probe_context
from workbench.probes.splits import probe_splits, validation_split
from workbench.probes.table import schedule_note

PER_CLASS = 40
QUICK = Schedule(steps=60, batch_size=32, min_steps=40, patience=3)
"""Fewer steps than the default, to keep the test to seconds."""


def write_digits(folder: Path, per_class: int = PER_CLASS) -> Path:
    """The first `per_class` images of each digit, 8x8 scaled to 16x16 PNGs in class folders."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        (folder / f"digit_{label}").mkdir(parents=True)
        for number, index in enumerate(np.flatnonzero(digits.target == label)[:per_class]):
            pixels = Image.fromarray((digits.images[index] * 255 / 16).round().astype(np.uint8))
            pixels.resize((16, 16), Image.BILINEAR).save(folder / f"digit_{label}" / f"{number:03d}.png")
    return folder


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    data = write_digits(tmp_path_factory.mktemp("digits"))
    config = tiny_config(data, tmp_path_factory.mktemp("digit-runs"), data={"image_size": 16},
                         augment={"hflip_p": 0.0}, train={"steps": 2, "threads": 1})
    trainer = Trainer(config)
    trainer.run()
    return open_run(trainer.run_dir, device="cpu")


def test_the_validation_part_is_drawn_from_the_training_labels_only():
    labels = torch.tensor([label for label in range(4) for _ in range(20)] + [4])  # class 4: a single image
    train, test = torch.arange(0, 81, 2), torch.arange(1, 81, 2)
    fit, held = validation_split(train, labels, [""] * 81, seed=0)
    assert sorted(fit.tolist() + held.tolist()) == train.tolist() and not set(fit.tolist()) & set(held.tolist())
    assert not set(held.tolist()) & set(test.tolist())
    per_class = torch.bincount(labels[held], minlength=5).tolist()
    assert per_class[:4] == [1, 1, 1, 1] and per_class[4] == 0  # 15 % of 10, rounded; one image cannot validate
    assert 80 in fit.tolist()
    # with patients: whole patients on each side, one per class at least
    groups = [group_id("patient", f"{index // 4}") for index in range(81)]
    fit, held = validation_split(train, labels, groups, seed=1)
    assert not {groups[i] for i in fit.tolist()} & {groups[i] for i in held.tolist()}
    assert set(labels[held].tolist()) == {0, 1, 2, 3}
    # a single label per class: nothing to validate on, everything fits
    fit, held = validation_split(torch.tensor([0, 20, 40]), labels, [""] * 81, seed=0)
    assert fit.tolist() == [0, 20, 40] and held.numel() == 0


def test_supervised_training_stops_when_validation_stalls_and_keeps_the_best_weights(context):
    dataset = context.dataset
    split = probe_splits(dataset.labels, dataset.groups, [1.0], 1, 0.3, dataset.class_names)[0]
    fit, held = validation_split(split.train, dataset.labels, dataset.groups, seed=0)
    # labels shuffled on the validation part: nothing to learn there, so its score stalls and training stops
    shuffled = dataset.labels[held][torch.randperm(len(held), generator=torch.Generator().manual_seed(0))]
    schedule = Schedule(steps=120, batch_size=16, min_steps=120, patience=2)
    model, training = train_classifier(context.random_encoder(0), dataset.images[fit], dataset.labels[fit], 10,
                                       context.config.augment, schedule, 0, context.device,
                                       validation=(dataset.images[held], shuffled))
    assert training.planned == 120 and training.validation == len(held) and training.fit == len(fit)
    assert training.stopped < training.planned
    every = 120 // 20  # checks; only those in the second half count against the patience
    assert training.stopped == max(training.best_step, 60) + schedule.patience * every
    # the weights kept are those of the best check, not of the last step
    accuracy, negative_loss = validation_score(model, dataset.images[held], shuffled, context.device, Speed())
    assert accuracy == pytest.approx(training.validation_accuracy) and not model.training
    assert -negative_loss == pytest.approx(training.validation_loss, rel=1e-5)


def test_supervised_row_runs_every_seed_and_beats_chance_by_far(context):
    record = probe_context(context, [1.0], seeds=3, finetune=False, supervised=True, scratch=QUICK)
    supervised = {e["fraction"]: e for e in record.summary if e["method"] == SCRATCH_METHOD}
    assert all(entry["seeds"] == 3 for entry in supervised.values())
    assert supervised[1.0]["accuracy"] > 0.6 and supervised[1.0]["accuracy_std"] > 0  # chance: 10 %
    accuracies = [row.accuracy for row in record.rows if row.method == SCRATCH_METHOD and row.fraction == 1.0]
    assert len(set(accuracies)) > 1
    trainings = record.supervised_schedule["trainings"]
    assert [(t["fraction"], t["seed"]) for t in trainings] == [(1.0, seed) for seed in range(3)]
    for training in trainings:
        assert 0 < training["validation"] and training["fit"] + training["validation"] == next(
            row.train_size for row in record.rows if row.method == SCRATCH_METHOD
            and (row.fraction, row.seed) == (training["fraction"], training["seed"]))
        assert training["planned"] == planned_steps(QUICK, training["fit"])
        assert 0 < training["best_step"] <= training["stopped"] <= training["planned"]
    note = schedule_note(record)
    assert "early-stopped on 15% of the training labels" in note and "3 seeds" in note
    assert "100% best at step " in note and f"of at most {planned_steps(QUICK, trainings[0]['fit'])}" in note


def test_a_supervised_run_of_one_split_gives_scores_and_its_training(context):
    dataset = context.dataset
    split = probe_splits(dataset.labels, dataset.groups, [0.1], 1, 0.3, dataset.class_names)[0]
    scores, training = supervised_from_scratch(context, split, Schedule(steps=20, batch_size=16, min_steps=10))
    assert 0.0 <= scores.accuracy <= 1.0 and len(scores.per_class_recall) == 10
    assert training.fit + training.validation == len(split.train) and training.planned == 20


def test_the_raw_pixels_row_agrees_with_scikit_learns_logistic_regression(context):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    record = probe_context(context, [1.0], seeds=3, finetune=False, supervised=False)
    dataset = context.dataset
    pixels, _ = raw_pixel_features(context)
    reference = []
    for split in probe_splits(dataset.labels, dataset.groups, [1.0], 3, record.test_fraction, dataset.class_names):
        regression = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        regression.fit(pixels[split.train].numpy(), dataset.labels[split.train].numpy())
        reference.append(regression.score(pixels[split.test].numpy(), dataset.labels[split.test].numpy()))
    ours = next(e for e in record.summary if e["method"] == PIXELS_LINEAR)
    assert abs(ours["accuracy"] - np.mean(reference)) <= 0.02
    assert ours["accuracy"] > 0.8
