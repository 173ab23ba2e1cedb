"""The start-up, evaluation, scale and prefetch benchmarks at tiny scale: well-formed figures (no timing
asserted), and views drawn ahead on a background thread giving exactly the losses of views drawn inline."""
from __future__ import annotations

import math
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from engine_helpers import tiny_config, tiny_dataset
from workbench.bench.evaluation import eval_figures
from workbench.bench.prefetch_ab import prefetch_comparison, prefetch_table
from workbench.bench.scale import PhaseSpec, growth_lines, run_phase, run_phase_in_process, scale_figures, scale_table
from workbench.bench.spec import BenchSpec, spec_config
from workbench.bench.synthetic_folder import CLASSES, png_bytes, synthetic_folder
from workbench.bench.worker import run_spec
from workbench.cli.main import main
from workbench.engine.events import StepEvent
from workbench.engine.prefetch import prefetch_helps, view_seed
from workbench.engine.trainer import Trainer


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("data"))


def step_losses(config) -> list[float]:
    events = []
    Trainer(config).run(events.append)
    return [event.values["loss"] for event in events if isinstance(event, StepEvent)]


def test_views_drawn_ahead_give_the_same_losses(data_root, tmp_path):
    # two tasks in bf16: each step uses the encoder's bf16 weight casts several times, so anything that
    # disturbed the training thread's autocast (as leaving an autocast region on another thread does) shows
    losses = {}
    for mode in ("on", "off"):
        config = tiny_config(data_root, tmp_path / mode, tasks={"simclr": {}, "byol": {}},
                             train={"prefetch": mode, "precision": "bf16", "log_every": 1})
        losses[mode] = step_losses(config)
    assert len(losses["on"]) == 8 and all(math.isfinite(value) for value in losses["on"])
    assert losses["on"] == losses["off"]
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("view-prefetch")]


def test_prefetch_mode_and_view_seeds():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert prefetch_helps("on", gpu, 1) and not prefetch_helps("off", cpu, 1)
    assert not prefetch_helps("auto", gpu, 1)  # the GPU's augmentation is asynchronous already
    assert not prefetch_helps("auto", cpu, 10_000)  # no core left free for it
    seeds = {view_seed(seed, rank, step, call) for seed in (0, 1) for rank in (0, 1) for step in range(50)
             for call in range(4)}
    assert len(seeds) == 2 * 2 * 50 * 4 and all(0 <= seed < 2**63 for seed in seeds)


def test_prefetch_comparison_table(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path / "runs", train={"batch_size": 8, "threads": 1})
    spec = BenchSpec(pipeline="ours", task="simclr", precision="fp32", config=spec_config(config), steps=1,
                     warmup=1, threads=1)
    results = prefetch_comparison(spec, ["simclr"], ["fp32"], repeats=1, run=run_spec)
    assert set(results) == {("simclr", "fp32", "on"), ("simclr", "fp32", "off")}
    assert all(value > 0 for values in results.values() for value in values)
    table = prefetch_table(results, ["simclr"], ["fp32"])
    assert table.splitlines()[2].startswith("| simclr | fp32 |")


def test_eval_figures_are_well_formed(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path / "runs")
    figures = eval_figures(config, repeats=1, count=400, dim=32)
    embedding, probes = figures["embedding"], figures["probes"]
    assert embedding["images"] == 24 and embedding["seconds"] > 0 and embedding["device"] == "cpu"
    for name in ("knn", "linear"):
        assert probes[name]["seconds"] > 0 and 0.0 <= probes[name]["accuracy"] <= 1.0
    assert probes["linear"]["accuracy"] > 1 / probes["classes"]  # the embeddings do have class structure


def test_synthetic_folder_is_made_once_and_readable(tmp_path):
    folder = synthetic_folder(40, tmp_path)
    files = sorted(folder.rglob("*.png"))
    assert len(files) == 40 and {path.parent.name for path in files} == set(CLASSES)
    modified = files[0].stat().st_mtime_ns
    assert synthetic_folder(40, tmp_path) == folder and files[0].stat().st_mtime_ns == modified
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = tmp_path / "check.png"
    path.write_bytes(png_bytes(pixels))
    assert np.array_equal(np.asarray(Image.open(path)), pixels)


def test_scale_phases_report_time_memory_and_memmap(tmp_path):
    rows = scale_figures([150, 300], ram_mb=0, base=tmp_path, run=run_phase)
    for row in rows:
        for phase in ("scan", "build", "load"):
            figures = row[phase]
            assert figures["images"] == row["count"] and figures["seconds"] > 0
            assert figures["progress_calls"] >= row["count"] and figures["peak_rss_mb"] > 0
        assert row["build"]["memmapped"] and row["load"]["memmapped"]  # a budget of 0 MB: always mapped
    assert "| 300 |" in scale_table(rows)
    assert "300 / at 150" in growth_lines(rows)[0]


def test_scale_phase_in_its_own_process(tmp_path):
    folder = synthetic_folder(60, tmp_path)
    figures = run_phase_in_process(PhaseSpec("build", str(folder), str(tmp_path / "cache"), ram_mb=100))
    assert figures["images"] == 60 and figures["memmapped"] is False and figures["peak_rss_growth_mb"] >= 0


def test_cli_bench_scale_prints_a_table(capsys):
    assert main(["bench", "--scale", "--count", "80"]) == 0
    out = capsys.readouterr().out
    assert "| 80 |" in out and "memory-mapped" in out
    with pytest.raises(SystemExit):
        main(["bench", "--scale", "--count", "ten"])


def test_startup_probe_reports_window_and_first_loss_point():
    from workbench.gui.startup_bench import probe_launch

    figures = probe_launch()
    assert set(figures) == {"window", "first_loss"}
    assert all(0 < value < 300 for value in figures.values())


def test_bench_spec_carries_prefetch(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path / "runs")
    spec = BenchSpec(pipeline="ours", task="simclr", precision="fp32", config=spec_config(config))
    assert replace(spec, prefetch="off").run_config().train.prefetch == "off"
    assert BenchSpec.from_json(replace(spec, prefetch="on").to_json()).prefetch == "on"


def test_cache_entries_read_back_and_damaged_ones_are_decoded_again(data_root, tmp_path):
    from workbench.config import DataConfig
    from workbench.data import load_dataset
    from workbench.data.cache import ENTRY_SUFFIX

    config = DataConfig(root=str(data_root), image_size=32, cache_dir=str(tmp_path / "cache"))
    first = load_dataset(config)
    entries = sorted((tmp_path / "cache").rglob(f"*{ENTRY_SUFFIX}"))
    assert len(entries) == len(first)
    assert torch.equal(load_dataset(config).images, first.images)  # read back from the entries
    entries[0].write_bytes(entries[0].read_bytes()[:40])  # cut inside its header
    entries[1].write_bytes(entries[1].read_bytes()[:-7])  # pixels missing
    assert torch.equal(load_dataset(config).images, first.images)
