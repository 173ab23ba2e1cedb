"""The benchmark's code paths, run for a step or two on tiny inputs: finite numbers with the right keys."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from engine_helpers import tiny_config, tiny_dataset
from workbench.bench.command import BenchOptions, base_spec, ratio_lines, speed_table
from workbench.bench.compare import compare, run_in_worker
from workbench.bench.lightly_pipeline import lightly_available
from workbench.bench.machine import describe_machine, machine_line
from workbench.bench.spec import BenchSpec, spec_config
from workbench.bench.worker import run_spec
from workbench.cli.main import main
from workbench.config import save_config

needs_lightly = pytest.mark.skipif(not lightly_available(), reason="lightly (the optional bench extra) is not installed")


@pytest.fixture()
def tiny_spec(tmp_path) -> BenchSpec:
    config = tiny_config(tiny_dataset(tmp_path / "data"), tmp_path / "runs",
                         data={"channels": 3, "cache_dir": str(tmp_path / "cache")},
                         train={"batch_size": 8, "threads": 1, "warmup_steps": 1})
    return BenchSpec(pipeline="ours", task="simclr", precision="fp32", config=spec_config(config), steps=1,
                     warmup=1, threads=1)


def test_spec_keeps_one_task_and_its_settings(tiny_spec):
    config = replace(tiny_spec, task="byol", precision="bf16").run_config()
    assert list(config.tasks) == ["byol"]
    assert config.train.precision == "bf16"
    assert BenchSpec.from_json(tiny_spec.to_json()) == tiny_spec
    with pytest.raises(ValueError):
        replace(tiny_spec, pipeline="elsewhere")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_ours_speed_gives_whole_and_model_step(tiny_spec, precision):
    result = run_spec(replace(tiny_spec, precision=precision))
    assert set(result) == {"images_per_second", "whole_step", "model_step", "ratio", "channels_last"}
    assert all(math.isfinite(result[key]) and result[key] > 0 for key in result if key != "channels_last")


def test_ours_quality_gives_knn_accuracy(tiny_spec):
    result = run_spec(replace(tiny_spec, mode="quality", steps=2))
    assert 0.0 <= result["knn_accuracy"] <= 1.0
    assert result["knn_test_images"] > 0


@needs_lightly
@pytest.mark.parametrize("task", ["simclr", "byol"])
def test_lightly_pipeline_speed_and_quality(tiny_spec, task):
    spec = replace(tiny_spec, pipeline="lightly", task=task, precision="bf16")
    speed = run_spec(spec)
    assert math.isfinite(speed["images_per_second"]) and speed["images_per_second"] > 0
    quality = run_spec(replace(spec, mode="quality", steps=2, precision="fp32"))
    assert 0.0 <= quality["knn_accuracy"] <= 1.0


def test_worker_process_returns_the_result(tiny_spec):
    result = run_in_worker(tiny_spec)
    assert result["images_per_second"] > 0


def test_compare_alternates_and_tables_show_every_arm(tiny_spec):
    seen = []

    def fake_peer_aware_run(spec):  # ours for real; the peer's figures stand in so no library is needed
        seen.append((spec.task, spec.pipeline, spec.precision, spec.mode))
        if spec.pipeline == "ours":
            return run_spec(spec)
        return {"images_per_second": 10.0} if spec.mode == "speed" else {"knn_accuracy": 0.5}

    results = compare(tiny_spec, ["simclr"], ["ours", "lightly"], ["bf16", "fp32"], repeats=2, quality_steps=1,
                      run=fake_peer_aware_run)
    speed_order = [entry[1:3] for entry in seen if entry[3] == "speed"]
    assert speed_order[:4] == [("ours", "bf16"), ("lightly", "bf16"), ("ours", "fp32"), ("lightly", "fp32")]
    assert speed_order[4] == ("lightly", "bf16")  # the second repeat starts one arm later
    table = speed_table(results, ["simclr"], ["ours", "lightly"], ["bf16", "fp32"], images_seen=8)
    assert table.count("| simclr |") == 4 and "kNN" in table
    (line,) = ratio_lines(results, ["simclr"], ["bf16", "fp32"])
    assert "vs lightly's usual recipe (fp32)" in line and "both fp32" in line


def test_base_spec_applies_overrides(tmp_path):
    spec, tasks = base_spec(BenchOptions(versus="lightly", backbone="resnet18", image_size=32, batch_size=16,
                                         compile=True))
    config = spec.run_config()
    assert tasks == ["simclr", "byol"]
    assert (config.model.backbone, config.data.image_size, config.train.batch_size) == ("resnet18", 32, 16)
    assert config.train.compile
    assert config.data.channels == 3


def test_machine_description_names_cpu_and_torch():
    machine = describe_machine()
    assert machine["cores"] >= 1 and machine["torch"] in machine_line(machine)


def test_cli_bench_prints_a_table(tiny_spec, tmp_path, capsys):
    path = tmp_path / "config.yaml"
    save_config(tiny_spec.run_config(), path)
    assert main(["bench", str(path), "--repeats", "1", "--steps", "1", "--warmup", "0", "--precision", "fp32",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| simclr | ours | fp32" in out and "Machine:" in out
