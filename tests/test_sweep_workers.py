"""One sweep trained by several processes side by side (`main.py sweep --gpus`, one worker per GPU; on this CPU
machine the workers share the CPU): each takes the next trial under the sweep's lock, the spec's count is met
exactly, a trial another live process trains is counted and a dead process's trial is redone, and a stop reaches
every worker and leaves a sweep that resumes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from engine_helpers import tiny_dataset
from test_cli import ROOT, run_cli
from test_sweep import SPACE, trial_dirs, write_spec
from workbench.engine.heartbeat import is_training_now, this_process
from workbench.engine.sweep import Sweep, create_sweep
from workbench.engine.sweep_workers import parse_gpus

NO_GPU = torch.cuda.device_count() == 0


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("workers-data") / "scans", per_class=4, size=16)


def owners(folder: Path) -> list[int]:
    return [trial.user_attrs["owner"]["pid"] for trial in Sweep(folder).study().trials]


def test_two_workers_train_exactly_the_specs_trials_each_with_its_own_settings(tmp_path, data):
    spec = write_spec(tmp_path, data, SPACE, trials=4)
    result = run_cli("sweep", spec, "--out", tmp_path / "sweep", "--gpus", "0,1")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "sweep"
    assert trial_dirs(folder) == ["trial-000", "trial-001", "trial-002", "trial-003"]
    results = Sweep(folder).results()
    assert [result.state for result in results] == ["finished"] * 4
    assert len({tuple(sorted(result.settings.items())) for result in results}) == 4
    assert sorted(line.split()[1] for line in result.stdout.splitlines() if line.startswith("Trial ")) == \
        ["0", "1", "2", "3"]  # each reported once, from whichever worker trained it
    assert "2 workers (GPUs 0, 1)" in result.stdout
    assert os.getpid() not in owners(folder)  # trained by the workers, not by the process that started them
    for gpu in ("0", "1"):
        assert f"Sweep folder {folder}" in (folder / f"worker-gpu{gpu}.log").read_text()
    if NO_GPU:
        assert "no CUDA GPU here; the 2 workers train on the CPU side by side" in result.stderr


def test_a_trial_a_live_process_trains_is_counted_and_a_dead_processs_trial_is_redone(tmp_path, data):
    folder = create_sweep(write_spec(tmp_path, data, SPACE, trials=3), tmp_path / "sweep")
    study = Sweep(folder).study()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        for process in (alive, dead):  # trials taken by those processes, which never wrote a run
            trial = study.ask()
            trial.set_user_attr("owner", {**this_process(), "pid": process.pid})
        results = Sweep(folder).run()
    finally:
        alive.kill()
        alive.wait()
    states = {result.number: result.state for result in results}
    assert states == {0: "running", 1: "interrupted", 2: "finished", 3: "finished"}
    assert trial_dirs(folder) == ["trial-002", "trial-003"]


def test_a_stop_reaches_every_worker_and_the_sweep_resumes(tmp_path, data):
    spec = write_spec(tmp_path, data, {"train.lr": [1e-3, 2e-3, 3e-3]}, trials=3, sampler="grid", steps=3000)
    folder = tmp_path / "sweep"
    parent = subprocess.Popen([sys.executable, "main.py", "sweep", str(spec), "--out", str(folder), "--gpus", "0,1"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (folder.is_dir() and sum(is_training_now(run) for run in folder.glob("trial-*")) == 2):
        assert parent.poll() is None and time.monotonic() < deadline, parent.communicate()
        time.sleep(0.5)
    parent.send_signal(signal.SIGINT)
    stdout, stderr = parent.communicate(timeout=120)
    assert "Stopped: the sweep was stopped" in stderr, stderr
    assert not any(is_training_now(run) for run in folder.glob("trial-*"))  # the workers ended with it
    assert sorted(result.state for result in Sweep(folder).results()) == ["interrupted", "interrupted"]
    base = yaml.safe_load((folder / "base.yaml").read_text())  # the trials left: short ones, to keep the test fast
    base["train"]["steps"] = base["train"]["checkpoint_every"] = base["eval"]["every_steps"] = 4
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    again = run_cli("sweep", "--resume", folder, "--gpus", "0,1")
    logs = "".join(log.read_text() for log in folder.glob("worker-gpu*.log"))
    assert again.returncode == 0, again.stdout + again.stderr + logs
    results = Sweep(folder).results()
    assert sorted(result.state for result in results) == ["finished"] * 3 + ["interrupted"] * 2
    assert sorted(result.settings["train.lr"] for result in results if result.state == "finished") == \
        [1e-3, 2e-3, 3e-3]  # the grid's interrupted points were taken again


def test_gpu_lists_are_read_or_refused_with_the_reason():
    assert parse_gpus("all", 3) == ["0", "1", "2"]
    assert parse_gpus("0, 2", 0) == ["0", "2"]
    for text, reason in (("all", "no CUDA GPU is visible"), ("0,x", "GPU indices separated by commas"),
                         ("1,1", "a GPU is named twice")):
        with pytest.raises(ValueError, match=reason):
            parse_gpus(text, 0)
