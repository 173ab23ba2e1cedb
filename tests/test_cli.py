"""The command line, run as a user runs it: `python main.py ...` in a subprocess."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from engine_helpers import tiny_dataset
from workbench.engine.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_config_prints_commented_defaults_that_load_back(tmp_path):
    result = run_cli("config")
    assert result.returncode == 0, result.stderr
    assert "# Number of optimisation steps." in result.stdout
    path = tmp_path / "c.yaml"
    path.write_text(result.stdout)
    assert yaml.safe_load(result.stdout)["tasks"] == {"simclr": yaml.safe_load(result.stdout)["tasks"]["simclr"]}


def test_tasks_lists_built_in_tasks():
    result = run_cli("tasks")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"simclr", "byol", "rotation"} <= set(names)


def test_scan_json_reports_counts_labels_and_skipped(tmp_path):
    data = tiny_dataset(tmp_path / "d", per_class=2)
    (data / "broken.png").write_bytes(b"")
    result = run_cli("scan", data, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["readable"] == 8
    assert sum(report["labels"].values()) == 8 and len(report["labels"]) == 4
    assert [s["path"] for s in report["skipped"]] == ["broken.png"]
    assert report["skipped"][0]["reason"]


def test_bad_config_is_named_not_a_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("tasks: {simclr: {}}\ntrain: {batch_size: 0}\n")
    result = run_cli("train", path)
    assert result.returncode == 2
    assert "train.batch_size: must be >= 2, got 0" in result.stderr
    assert "Traceback" not in result.stderr


def write_config(tmp_path, data, steps):
    config = {"data": {"root": str(data), "image_size": 32}, "tasks": {"simclr": {}},
              "train": {"steps": steps, "warmup_steps": 1, "batch_size": 8, "log_every": 1,
                        "checkpoint_every": 50, "device": "cpu", "precision": "fp32"},
              "eval": {"every_steps": 50, "subset_size": 24, "knn_k": 3}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_then_export_from_the_command_line(tmp_path):
    data = tiny_dataset(tmp_path / "d", per_class=3)
    run_dir = tmp_path / "run"
    result = run_cli("train", write_config(tmp_path, data, 3), "--out", run_dir)
    assert result.returncode == 0, result.stderr
    assert "Finished at step 3" in result.stdout and "img/s" in result.stdout
    evaluation = next(line for line in result.stdout.splitlines() if line.startswith("  eval @ step 3: "))
    # the app's names and units, the chance level beside kNN accuracy (4 classes), no raw keys
    assert "kNN accuracy " in evaluation and "% (chance 25%)" in evaluation and " · RankMe " in evaluation
    assert "effective_rank" not in evaluation and "knn_accuracy" not in evaluation
    assert result.stdout.rstrip().endswith("Next: main.py probe RUN to measure it with labels, "
                                           "main.py export RUN to use it.")
    result = run_cli("export", run_dir, "--format", "onnx")
    assert result.returncode == 0, result.stderr
    assert (run_dir / "exports" / "onnx" / "encoder.onnx").is_file()


def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path):
    data = tiny_dataset(tmp_path / "d", per_class=3)
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "main.py", "train", write_config(tmp_path, data, 100000),
                                "--out", run_dir], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (metrics.is_file() and '"StepEvent"' in metrics.read_text()):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Stopped at step" in out and "Next: main.py train --resume RUN to continue it" in out
    stopped_step = int(out.split("Stopped at step ")[1].split(".")[0])
    checkpoint = RunFolder(run_dir).latest_checkpoint()
    assert checkpoint.name == f"step_{stopped_step:08d}.pt"
    from workbench.engine.checkpoint import load_checkpoint

    assert load_checkpoint(checkpoint)["step"] == stopped_step


def test_train_on_the_ct_demo_series(tmp_path):
    run_dir = tmp_path / "ct"
    result = run_cli("train", "--demo", "ct", "--steps", "2", "--out", run_dir,
                     env={"PRETEXT_WORKBENCH_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert "Finished at step 2" in result.stdout
    assert "--steps 2: train.warmup_steps lowered from 20 to 0" in result.stderr  # said, not done silently
    report = json.loads((run_dir / "scan_report.json").read_text())
    assert report["readable"] > 0 and set(report["labels"]) == {"normal", "nodule"}
    assert "soft_tissue" in (run_dir / "config.yaml").read_text()


def test_percent_progress_on_a_terminal_redraws_once_per_whole_percent():
    import os
    import re
    import select

    from workbench.cli.progress import PercentProgress

    leader, follower = os.openpty()
    written = b""
    with open(follower, "w") as terminal:
        progress = PercentProgress("Probing", terminal)
        for done in range(0, 1001):  # a thousand calls, as a probe's work meter makes
            progress(done, 1000)
            while select.select([leader], [], [], 0)[0]:
                written += os.read(leader, 65536)
    os.close(leader)
    text = written.decode()
    assert [int(p) for p in re.findall(r"\rProbing: (\d+)% done", text)] == list(range(101))
    assert "about" in text and re.search(r"Probing: 100% done in \d\d:\d\d\x1b\[K\r?\n$", text)


def test_resume_refuses_more_steps_and_says_what_works(tmp_path):
    result = run_cli("train", "--resume", tmp_path / "run", "--steps", "500")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--steps and --resume" in result.stderr and "model.init_weights" in result.stderr
