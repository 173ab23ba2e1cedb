"""Probes on a real tiny run: baselines, probe.json, ranking, the HTML report, the classifier export
(eager vs TorchScript vs ONNX Runtime) and the CLI commands in a subprocess."""
import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from engine_helpers import tiny_config, tiny_dataset, with_a_131_png_per_class
from workbench.bench.evaluation import probe_table_seconds
from workbench.engine.trainer import Trainer
from workbench.probes.classifier_export import FILES, build_classifier, export_classifier
from workbench.probes.context import open_run
from workbench.probes.defaults import Schedule
from workbench.probes.probe import (FINETUNE_METHOD, KNN, LINEAR, PIXELS_LINEAR, RANDOM_LINEAR, SCRATCH_METHOD,
                                    probe_context)
from workbench.probes.ranking import rank_run
from workbench.probes.report import build_report
from workbench.probes.table import ProbeResult, format_table, pixels_note, schedule_note

ROOT = Path(__file__).resolve().parents[1]
TINY = Schedule(steps=3, batch_size=8)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = with_a_131_png_per_class(tiny_dataset(tmp_path_factory.mktemp("probe-data"), per_class=6))
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("probe-runs"), train={"steps": 4}))
    trainer.run()
    return trainer.run_dir, data


@pytest.fixture(scope="module")
def context(run):
    return open_run(run[0], device="cpu")


def test_probe_with_baselines_writes_a_table_per_method_and_fraction(context):
    record = probe_context(context, [0.5, 1.0], seeds=2, finetune=True, supervised=True, scratch=TINY, tuning=TINY,
                           trained_seeds=2)
    assert json.loads((context.folder.path / "probe.json").read_text())["summary"] == record.summary
    methods = [LINEAR, KNN, RANDOM_LINEAR, "random init, kNN", PIXELS_LINEAR, SCRATCH_METHOD, FINETUNE_METHOD]
    assert [(e["method"], e["fraction"]) for e in record.summary] == [(m, f) for f in (0.5, 1.0) for m in methods]
    assert all(e["seeds"] == 2 for e in record.summary)
    assert len(record.rows) == 2 * 2 * len(methods)
    for entry in record.summary:
        assert 0.0 <= entry["accuracy"] <= 1.0 and len(entry["per_class_recall"]) == 4
    half = next(e for e in record.summary if e["method"] == LINEAR and e["fraction"] == 0.5)
    full = next(e for e in record.summary if e["method"] == LINEAR and e["fraction"] == 1.0)
    assert half["train_size"] < full["train_size"]
    assert record.class_names == context.dataset.class_names and record.step == 4
    # each column's label count is the size of the splits' training side, shown as e.g. '50% (8 labels)'
    for fraction, counts in zip(record.fractions, record.label_counts):
        sizes = [row.train_size for row in record.rows if row.method == PIXELS_LINEAR and row.fraction == fraction]
        assert counts == sizes and f"({counts[0]} labels)" in record.labels_used(fraction)
    lines = format_table(record).splitlines()[2:]
    assert all(f" {record.labels_used(e['fraction'])} " in line for line, e in zip(lines, record.summary))


def test_the_raw_pixels_row_probes_the_downsampled_images_at_every_fraction(context):
    record = probe_context(context, [0.25, 1.0], seeds=2, finetune=False, supervised=False)
    pixels = [e for e in record.summary if e["method"] == PIXELS_LINEAR]
    assert [e["fraction"] for e in pixels] == [0.25, 1.0] and all(e["seeds"] == 2 for e in pixels)
    assert all(0.0 <= e["accuracy"] <= 1.0 and 0.0 <= e["balanced_accuracy"] <= 1.0 for e in pixels)
    images = context.dataset.images
    side = min(images.shape[-1], 32)
    assert record.raw_pixels == {"channels": images.shape[1], "height": images.shape[-2], "width": images.shape[-1],
                                 "rows": side, "columns": side}
    assert f"({images.shape[1] * side * side:,} values per image)" in pixels_note(record)


def test_a_second_probe_keeps_the_first(context):
    first = probe_context(context, [1.0], seeds=1, finetune=False, supervised=False, name="first")
    kept = (context.folder.path / first.saved_as).read_bytes()
    second = probe_context(context, [1.0], seeds=1, finetune=False, supervised=False, name="first")
    third = probe_context(context, [1.0], seeds=1, finetune=False, supervised=False)
    assert first.saved_as == "probes/first.json" and second.saved_as == "probes/first-2.json"
    assert third.saved_as.startswith(f"probes/probe-{third.step}-")
    assert (context.folder.path / first.saved_as).read_bytes() == kept
    assert ProbeResult.read(context.folder.path / "probe.json") == third


def test_trained_baselines_run_on_fewer_seeds_and_the_table_says_so(context):
    progress = []
    record = probe_context(context, [1.0], seeds=2, finetune=False, supervised=True, scratch=TINY,
                           progress=lambda done, total: progress.append((done, total)), trained_seeds=1)
    seeds = {e["method"]: e["seeds"] for e in record.summary}
    assert seeds == {LINEAR: 2, KNN: 2, RANDOM_LINEAR: 2, "random init, kNN": 2, PIXELS_LINEAR: 2, SCRATCH_METHOD: 1}
    assert [row.seed for row in record.rows if row.method == SCRATCH_METHOD] == [0]
    schedule = dict(record.supervised_schedule)
    trainings = schedule.pop("trainings")
    assert schedule == {**vars(TINY), "seeds": 1, "validation_fraction": 0.15}
    assert [(t["fraction"], t["seed"], t["fit"] + t["validation"], t["planned"]) for t in trainings] == [(1.0, 0, 16, 3)]
    table = format_table(record)
    assert ["(1 seed)" in line for line in table.splitlines()[2:]] == [e["seeds"] == 1 for e in record.summary]
    assert schedule_note(record) == ("supervised from scratch: augmented (the run's augmentations), AdamW lr 0.002 "
                                     "+ cosine over 3 steps, batches of up to 8, early-stopped on 15% of the "
                                     "training labels (patience 5 checks), best weights kept: 100% best at step "
                                     f"{trainings[0]['best_step']} of at most 3, at the run's resolution, 1 seed of 2")
    older = replace(record, supervised_schedule={**vars(TINY), "seeds": 1})  # a probe.json from before early stopping
    assert schedule_note(older) == ("supervised from scratch: 3 steps, batches of up to 8 labelled images, "
                                    "lr 0.002, at the run's resolution, 1 seed of 2")
    # the bar counts work: one total throughout, an update per training step, never backwards, ends full
    totals = {total for _, total in progress}
    dones = [done for done, _ in progress]
    assert len(totals) == 1 and dones == sorted(dones) and dones[0] == 0 and dones[-1] == totals.pop()
    assert len(progress) >= 2 + 2 * 4 + TINY.steps


def test_ranking_by_loss_and_diversity_covers_distinct_images(context):
    for strategy in ("loss", "diversity", "mixed"):
        rows, scores = rank_run(context, strategy, 5)
        assert len(rows) == 5 == len(set(rows)) and len(scores) == 5
        assert all(np.isfinite(scores))
    rows, scores = rank_run(context, "loss", 24)
    assert scores == sorted(scores, reverse=True)


def test_classifier_export_matches_eager_in_torchscript_and_onnx(context):
    folder = export_classifier(context)
    spec = json.loads((folder / FILES["spec"]).read_text())
    assert spec["class_names"] == context.dataset.class_names
    assert "/" not in json.dumps(spec["input"]) and str(context.folder.path) not in json.dumps(spec)
    eager = build_classifier(context)
    images = torch.rand(3, spec["input"]["channels"], spec["input"]["image_size"], spec["input"]["image_size"])
    with torch.no_grad():
        expected = eager(images)
        scripted = torch.jit.load(str(folder / FILES["torchscript"]))(images)
    session = onnxruntime.InferenceSession(str(folder / FILES["onnx"]), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"images": images.numpy()})
    assert expected.shape == (3, len(spec["class_names"]))
    assert torch.allclose(scripted, expected, atol=1e-4)
    assert np.allclose(onnx_out, expected.numpy(), atol=1e-4)


def test_report_has_every_section_and_no_absolute_dataset_path(run, context):
    probe_context(context, [1.0], seeds=1, finetune=False, supervised=False)
    path = build_report(run[0])
    html = path.read_text()
    for section in ("id='data'", "id='task'", "id='training'", "id='health'", "id='probe'", "id='map'",
                    "id='exports'", "<svg", "linear probe", "random init"):
        assert section in html, section
    assert str(run[1]) not in html and str(run[0]) not in html and str(Path.home()) not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # self-contained


def cli(*args, env_cache):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PRETEXT_WORKBENCH_CACHE": str(env_cache)})


def test_cli_probe_rank_report(run, tmp_path, private_cache):
    run_dir = run[0]
    result = cli("probe", run_dir, "--fractions", "0.5,1.0", "--seeds", "1", "--supervised-steps", "2",
                 "--device", "cpu", "--name", "cli-probe", env_cache=private_cache)
    assert result.returncode == 0, result.stderr
    assert "linear probe" in result.stdout and "supervised from scratch" in result.stdout
    assert "the best baseline" in result.stdout.lower()  # the headline says whether the encoder beats it
    assert "raw pixels, linear" in result.stdout and "50% (" in result.stdout and " labels)" in result.stdout
    assert str(Path(run_dir) / "probes" / "cli-probe.json") in result.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("Probing: ")]
    assert "\r" not in result.stderr and 2 <= len(progress) <= 12  # not a terminal: a line every 10%
    assert progress[-1].startswith("Probing: 100% done in ")
    assert (Path(run_dir) / "probes" / "cli-probe.json").read_text() == (Path(run_dir) / "probe.json").read_text()
    result = cli("probe", run_dir, "--name", "../escape", env_cache=private_cache)
    assert result.returncode == 2 and "plain file name" in result.stderr
    out = tmp_path / "next.csv"
    result = cli("rank", run_dir, "--strategy", "diversity", "--count", "4", "--out", out, env_cache=private_cache)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["path", "score"] and len(rows) == 5
    assert all(not Path(path).is_absolute() and path.endswith(".png") for path, _ in rows[1:])
    result = cli("rank", run_dir, "--strategy", "diversity", "--count", "24", "--out", out, env_cache=private_cache)
    twins = sorted(path for path, _ in list(csv.reader(out.open()))[1:] if path.endswith("/131.png"))
    assert len(twins) == 4 == len({path.split("/")[0] for path in twins})  # one per class folder, told apart
    result = cli("report", run_dir, env_cache=private_cache)
    assert result.returncode == 0, result.stderr
    assert (Path(run_dir) / "report.html").is_file()
    result = cli("probe", tmp_path / "missing", env_cache=private_cache)
    assert result.returncode == 2 and "not a run folder" in result.stderr


def test_bench_times_the_full_probe_table(tmp_path):
    figures = probe_table_seconds(tiny_config(tmp_path / "unused", tmp_path / "runs"), images=40, base=tmp_path)
    assert figures["seconds"] > 0 and figures["images"] == 40 and figures["seeds"] == 3
    assert figures["fractions"] == [0.01, 0.1, 1.0] and "supervised from scratch: augmented" in figures["trained"]
    assert "early-stopped on 15% of the training labels" in figures["trained"] and "3 seeds" in figures["trained"]
