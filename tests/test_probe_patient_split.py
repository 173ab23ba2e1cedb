"""The probe's held-out split keeps each patient on one side: 20 patients x 10 near-identical DICOM slices,
labels random per patient. Split by image, every probe would read ~100 %; split by patient, chance."""
from pathlib import Path

import numpy as np
import pytest

from data_helpers import write_gray_png
from engine_helpers import tiny_config
from workbench.config import DataConfig
from workbench.data import scan_folder
from workbench.data.demo_ct import write_ct_slice
from workbench.data.splits import describe_split, group_fraction, group_id, group_kind, group_split
from workbench.engine.trainer import Trainer
from workbench.probes.context import embed_images, open_run
from workbench.probes.defaults import Schedule
from workbench.probes.knn import knn_probe
from workbench.probes.probe import probe_context
from workbench.probes.report import build_report
from workbench.probes.splits import probe_splits

PATIENTS, SLICES, SIZE = 20, 10, 16
TINY = Schedule(steps=3, batch_size=8)


def patients(counts: dict[str, int], slices: int = 5) -> tuple[list[str], list[str]]:
    """(groups, labels) of `counts[label]` patients per class, `slices` images each, patients interleaved."""
    groups, labels = [], []
    for _ in range(slices):
        for label, count in counts.items():
            for number in range(count):
                groups.append(group_id("patient", f"{label}{number}"))
                labels.append(label)
    return groups, labels


def sides(groups, labels, train, test):
    return ({groups[i] for i in train}, {groups[i] for i in test}, {labels[i] for i in train},
            {labels[i] for i in test})


def test_group_split_keeps_patients_whole_and_classes_on_both_sides():
    groups, labels = patients({"normal": 12, "nodule": 5, "rare": 2})
    for seed in range(10):
        train, test = group_split(groups, labels, 0.3, seed)
        assert sorted(train + test) == list(range(len(groups)))
        train_groups, test_groups, train_classes, test_classes = sides(groups, labels, train, test)
        assert not train_groups & test_groups
        assert train_classes == test_classes == {"normal", "nodule", "rare"}
        test_patients = [sum(1 for g in test_groups if g.startswith(f"patient:{name}")) for name in
                         ("normal", "nodule", "rare")]
        assert test_patients == [4, 1, 1]  # the nearest to 30 % of each class's images, in whole patients
    assert group_split(groups, labels, 0.3, 4) == group_split(groups, labels, 0.3, 4)
    assert group_split(groups, labels, 0.3, 4) != group_split(groups, labels, 0.3, 5)


def test_group_split_spreads_a_class_that_shares_its_patients():
    """Slice-level labels: every patient has normal and lesion slices; patients still never straddle."""
    groups = [group_id("series", str(number // 6)) for number in range(60)]
    labels = ["lesion" if number % 6 == 0 else "normal" for number in range(60)]
    train, test = group_split(groups, labels, 0.3, 0)
    train_groups, test_groups, train_classes, test_classes = sides(groups, labels, train, test)
    assert not train_groups & test_groups and len(test_groups) == 3
    assert train_classes == test_classes == {"lesion", "normal"}


def test_images_without_group_ids_split_one_by_one_stratified():
    labels = ["a"] * 20 + ["b"] * 10
    _, test = group_split([""] * 30, labels, 0.3, 0)
    assert [labels[i] for i in test].count("a") == 6 and [labels[i] for i in test].count("b") == 3
    assert describe_split([""] * 30, [test]) == "split by image (30 images: 21 train, 9 test)"


def test_too_few_groups_raise_a_clear_error():
    groups, labels = patients({"normal": 4, "nodule": 1})
    with pytest.raises(ValueError, match=r"class 'nodule' has its 5 labelled image\(s\) from only 1 patient.*"
                                         r"at least 2 patients.*label images of this class from more patients"):
        group_split(groups, labels, 0.3, 0)
    with pytest.raises(ValueError, match="only 1 patient: a held-out test set needs at least 2 patients"):
        group_split([group_id("patient", "x")] * 6, ["a", "b"] * 3, 0.3, 0)
    with pytest.raises(ValueError, match="class 'b' has its 1 labelled image"):
        group_split(["", "", ""], ["a", "a", "b"], 0.3, 0)


def test_label_fractions_take_whole_patients_and_at_least_one_per_class():
    groups, labels = patients({"normal": 30, "nodule": 8})
    for fraction, expected in ((0.01, {"normal": 1, "nodule": 1}), (0.1, {"normal": 3, "nodule": 1}),
                               (1.0, {"normal": 30, "nodule": 8})):
        kept = group_fraction(groups, labels, fraction, seed=0)
        kept_groups = {groups[i] for i in kept}
        assert kept == sorted(i for i, g in enumerate(groups) if g in kept_groups)  # whole patients
        assert {name: sum(1 for g in kept_groups if g.startswith(f"patient:{name}")) for name in expected} == expected


def test_scanned_group_ids_say_what_they_group(tmp_path):
    write_gray_png(tmp_path / "cats" / "a.png")
    write_gray_png(tmp_path / "cats" / "b.png")
    write_gray_png(tmp_path / "dogs" / "case1" / "c.png")
    write_gray_png(tmp_path / "dogs" / "case1" / "d.png", seed=1)
    records = {record.path: record.group for record in scan_folder(tmp_path, DataConfig(image_size=16)).report.images}
    assert group_kind(records["cats/a.png"]) == group_kind(records["cats/b.png"]) == "file"
    assert records["cats/a.png"] != records["cats/b.png"]
    assert group_kind(records["dogs/case1/c.png"]) == "folder"
    assert records["dogs/case1/c.png"] == records["dogs/case1/d.png"]


def test_the_description_names_the_kind_and_the_counts_per_seed():
    groups, labels = patients({"a": 10, "b": 10}, slices=10)
    tests = [group_split(groups, labels, 0.3, seed)[1] for seed in range(3)]
    assert describe_split(groups, tests) == "split by patient (20 patients: 14 train, 6 test)"
    mixed = [group_id("patient", "p"), group_id("folder", "f"), group_id("patient", "p"), group_id("folder", "g")]
    assert describe_split(mixed, [[0, 2]]) == "split by group (3 groups: 2 train, 1 test)"


def write_leaky_dataset(root: Path, seed: int = 0) -> dict[str, str]:
    """`root/<label>/p<NN>/IM<k>.dcm`: each patient's slices share one random pattern (a few HU of noise
    apart), the label is drawn per patient (10 a, 10 b). Returns PatientID -> label."""
    rng = np.random.default_rng(seed)
    labels = dict(zip((f"LEAK{p:02d}" for p in range(PATIENTS)), rng.permutation(["a", "b"] * (PATIENTS // 2))))
    for patient, (patient_id, label) in enumerate(labels.items()):
        pattern = rng.uniform(-150, 230, (SIZE, SIZE))
        study, series = f"1.2.826.0.1.9999.{patient}.1", f"1.2.826.0.1.9999.{patient}.2"
        folder = root / str(label) / f"p{patient:02d}"
        folder.mkdir(parents=True)
        for number in range(SLICES):
            write_ct_slice(folder / f"IM{number:02d}.dcm", pattern + rng.normal(0, 3, (SIZE, SIZE)),
                           {"PatientID": patient_id}, study, series, position=(0.0, 0.0, 5.0 * number),
                           instance=number + 1)
    return labels


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("leaky-data")
    write_leaky_dataset(data)
    config = tiny_config(data, tmp_path_factory.mktemp("leaky-runs"), train={"steps": 2},
                         data={"image_size": SIZE, "dicom_window": "soft_tissue"})
    trainer = Trainer(config)
    trainer.run()
    return trainer.run_dir


@pytest.fixture(scope="module")
def leaky_context(leaky_run):
    return open_run(leaky_run, device="cpu")


def test_the_groups_are_the_patients(leaky_context):
    dataset = leaky_context.dataset
    assert len(dataset) == PATIENTS * SLICES and len(set(dataset.groups)) == PATIENTS
    assert {group_kind(group) for group in dataset.groups} == {"patient"}
    for group in set(dataset.groups):
        assert len({int(dataset.labels[i]) for i, g in enumerate(dataset.groups) if g == group}) == 1


def test_split_by_image_would_flatter_the_probe(leaky_context):
    """The construction is a real trap: ignoring the patients, a kNN probe reads almost 100 %."""
    dataset = leaky_context.dataset
    labels = dataset.labels.tolist()
    embeddings = embed_images(leaky_context.encoder, dataset.images, leaky_context.device)
    train, test = group_split([""] * len(labels), labels, 0.3, seed=0)  # no group ids: every image alone
    scores = knn_probe(embeddings[train], dataset.labels[train], embeddings[test], dataset.labels[test], 2, k=3)
    assert scores.accuracy >= 0.95


def test_every_probe_row_reads_chance_when_patients_stay_on_one_side(leaky_context):
    dataset = leaky_context.dataset
    record = probe_context(leaky_context, [0.1, 1.0], seeds=3, finetune=True, supervised=True, scratch=TINY,
                           tuning=TINY)
    for split in probe_splits(dataset.labels, dataset.groups, [0.1, 1.0], 3, class_names=dataset.class_names):
        train_groups = {dataset.groups[i] for i in split.train.tolist()}
        test_groups = {dataset.groups[i] for i in split.test.tolist()}
        assert not train_groups & test_groups and len(test_groups) == 6
    assert len(record.summary) == 2 * 7  # five probes on frozen features, two trained baselines
    for entry in record.summary:
        assert entry["accuracy"] <= 0.75, entry
    assert record.split == "split by patient (20 patients: 14 train, 6 test)"
    html = build_report(leaky_context.folder.path).read_text()
    assert "split by patient (20 patients: 14 train, 6 test)" in html
