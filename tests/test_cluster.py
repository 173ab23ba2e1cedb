"""Handing a run to a cluster (`main.py submit`) through submitit, exercised with its local executor: the job
trains the run folder, is recorded there (job.json) and watched from it (queued / running on / ended / died);
a killed job is resubmitted and resumes; a preempted job (USR2, as SLURM sends it) requeues itself and
resumes from the last checkpoint. `--print-script` writes the sbatch script for submitting by hand."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt

from engine_helpers import tiny_dataset
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.cluster import ClusterOptions
from workbench.engine.heartbeat import read_heartbeat
from workbench.engine.jobs import JOB_NAME, JobRecord
from workbench.engine.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def write_config(folder: Path, data: Path, steps: int) -> Path:
    config = {"data": {"root": str(data), "image_size": 16}, "tasks": {"rotation": {}},
              "train": {"steps": steps, "warmup_steps": 1, "batch_size": 8, "log_every": 2, "checkpoint_every": 4,
                        "device": "cpu", "precision": "fp32", "threads": 1},
              "eval": {"every_steps": steps, "subset_size": 16, "knn_k": 3}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def submit(*args: str) -> str:
    """Run `main.py submit ARGS`; its output. (Written to a file: the local job's process inherits the command's
    output, and a pipe would stay open until the job ends.)"""
    with tempfile.TemporaryFile("w+") as output:
        code = subprocess.run([sys.executable, "main.py", "submit", *args], cwd=ROOT, env=ENV, stdout=output,
                              stderr=subprocess.STDOUT, timeout=120).returncode
        output.seek(0)
        text = output.read()
    assert code == 0, text
    return text


def wait_for(condition, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def job_over(run_dir: Path) -> bool:
    return RunFolder(run_dir).status().job in ("job ended", "job died")


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("data"), per_class=8, size=16)


def test_slurm_options_are_read_with_their_names_in_errors():
    options = ClusterOptions.parse("partition=gpu, gpus=2,nodes=3,time=90")
    assert (options.partition, options.gpus, options.nodes, options.time, options.tasks_per_node) == ("gpu", 2, 3, 90, 2)
    for text, named in (("gpus=two", "gpus"), ("nodes=0", "nodes"), ("walltime=5", "walltime"), ("gpu", "gpu")):
        with pytest.raises(ValueError, match=named):
            ClusterOptions.parse(text)
    with pytest.raises(ValueError, match="nodes must be 1"):
        ClusterOptions.parse("nodes=2", local=True)


def test_without_slurm_here_submit_says_what_to_do_and_writes_nothing(data, tmp_path):
    if shutil.which("sbatch"):
        pytest.skip("SLURM is installed here")
    result = subprocess.run([sys.executable, "main.py", "submit", str(write_config(tmp_path, data, 4)), "--out",
                             str(tmp_path / "run"), "--slurm", "partition=gpu"], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "sbatch is not installed here" in result.stderr and "--local" in result.stderr
    assert not (tmp_path / "run").exists()


def test_print_script_writes_the_sbatch_script_and_submits_nothing(data, tmp_path):
    run_dir = tmp_path / "run"
    output = submit(str(write_config(tmp_path, data, 4)), "--out", str(run_dir), "--slurm",
                    "partition=gpu,gpus=2,nodes=2,time=30", "--print-script")
    script = (run_dir / "job.sbatch").read_text()
    assert str(run_dir / "job.sbatch") in output
    for line in ("#SBATCH --partition=gpu", "#SBATCH --nodes=2", "#SBATCH --gpus-per-node=2", "#SBATCH --time=30",
                 "#SBATCH --ntasks-per-node=1", "#SBATCH --requeue"):
        assert line in script
    assert re.search(r"torch\.distributed\.run --nnodes 2 --nproc-per-node 2 .*--rdzv-id \$SLURM_JOB_ID", script)
    assert f"train {run_dir / 'config.yaml'} --out {run_dir}" in script
    assert "#SBATCH --signal" not in script  # SLURM's warning would only kill torchrun early: nothing here handles it
    assert RunFolder(run_dir).exists() and not (run_dir / JOB_NAME).exists()


def test_a_submitted_local_job_trains_the_run_and_is_watched_from_its_folder(data, tmp_path):
    run_dir = tmp_path / "run"
    output = submit(str(write_config(tmp_path, data, 8)), "--out", str(run_dir), "--local", "--slurm", "time=10")
    record = JobRecord.read(run_dir / JOB_NAME)
    assert f"Submitted job {record.job_id} (local executor): running" in output
    assert record.executor == "local" and Path(record.stdout).parent.parent == run_dir / "job_logs"
    assert RunFolder(run_dir).status().job.startswith("running on ")  # the job's process is alive
    wait_for(lambda: job_over(run_dir), "the job to end")

    status = RunFolder(run_dir).status()
    assert (status.state, status.step, status.job) == ("finished", 8, "job ended")
    assert status.describe() == "finished at step 8 (job ended)"
    assert load_checkpoint(RunFolder(run_dir).latest_checkpoint())["step"] == 8
    assert [e["event"] for e in events(run_dir)].count("StartedEvent") == 1
    assert "Job completed successfully" in Path(record.stdout).read_text()  # submitit logs there


def signal_mid_run(data, tmp_path, steps: int, signal_number: int) -> Path:
    """Submit a local job of `steps` steps, send its training process `signal_number` after the first checkpoint,
    wait for the job to end; its run folder."""
    run_dir = tmp_path / "run"
    submit(str(write_config(tmp_path, data, steps)), "--out", str(run_dir), "--local")
    wait_for(lambda: RunFolder(run_dir).latest_checkpoint() is not None, "the first checkpoint")
    os.kill(read_heartbeat(run_dir)["pid"], signal_number)
    wait_for(lambda: job_over(run_dir), "the job to end")
    return run_dir


@pytest.mark.reliability
def test_a_killed_job_says_so_and_a_resubmitted_one_resumes(data, tmp_path):
    steps = 80
    run_dir = signal_mid_run(data, tmp_path, steps, signal.SIGKILL)  # the training process, mid-run
    status = RunFolder(run_dir).status()
    assert status.state == "interrupted" and status.job == "job died", status
    killed_at = load_checkpoint(RunFolder(run_dir).latest_checkpoint())["step"]
    assert killed_at < steps

    output = submit("--resume", str(run_dir), "--local")
    assert "Submitted job" in output
    wait_for(lambda: job_over(run_dir), "the resubmitted job to end")
    assert RunFolder(run_dir).status().describe() == f"finished at step {steps} (job ended)"
    starts = [e["step"] for e in events(run_dir) if e["event"] == "StartedEvent"]
    assert starts == [0, killed_at]


@pytest.mark.reliability
def test_a_preempted_job_requeues_itself_and_resumes_from_its_last_checkpoint(data, tmp_path):
    steps = 80
    run_dir = signal_mid_run(data, tmp_path, steps, signal.SIGUSR2)  # SLURM's warning before preemption or time-out

    assert RunFolder(run_dir).status().describe() == f"finished at step {steps} (job ended)"
    starts = [e["step"] for e in events(run_dir) if e["event"] == "StartedEvent"]
    assert len(starts) == 2 and starts[0] == 0 and 0 < starts[1] < steps and starts[1] % 4 == 0
    assert "Requeued job" in Path(JobRecord.read(run_dir / JOB_NAME).stdout).read_text()


def test_run_on_cluster_from_the_runs_page_submits_a_local_job(qtbot, data, tmp_path):
    from PySide6.QtWidgets import QApplication

    from gui_helpers import show_widget
    from runs_helpers import select
    from workbench.config import save_config
    from workbench.gui.panels.runs import RunsPanel
    from workbench.gui.workers import finish_running_jobs
    from workbench.tasks import load_config

    run_dir = tmp_path / "runs" / "alpha"
    save_config(load_config(write_config(tmp_path, data, 4)), run_dir / "config.yaml")
    panel = show_widget(qtbot, RunsPanel(), 1200, 700)
    panel.set_out_dir(run_dir.parent)
    select(qtbot, panel, "alpha")
    assert panel.cluster_button.isEnabled()  # a run not started yet
    qtbot.mouseClick(panel.cluster_button, Qt.MouseButton.LeftButton)
    dialog = panel.cluster_dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.grab().save(str(tmp_path / "dialog.png"))

    dialog.partition.setText("gpu")
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert "#SBATCH --partition=gpu" in QApplication.clipboard().text()
    qtbot.mouseClick(dialog.local, Qt.MouseButton.LeftButton)
    assert not dialog.nodes.isEnabled()
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job_id != "", timeout=60000)
    assert dialog.message.text().startswith(f"Submitted job {dialog.job_id} (local executor)")
    assert JobRecord.read(run_dir / JOB_NAME).job_id == dialog.job_id
    wait_for(lambda: job_over(run_dir), "the job to end")
    assert RunFolder(run_dir).status().describe() == "finished at step 4 (job ended)"
    dialog.reject()
    qtbot.waitUntil(lambda: not panel.loading(), timeout=15000)
    assert panel.runs[0].job == "job ended"
    panel.shutdown()
    finish_running_jobs()
