"""Training under torchrun with two CPU processes (gloo): rank 0 alone writes the run folder."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from engine_helpers import tiny_dataset
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes(tmp_path):
    data = tiny_dataset(tmp_path / "d", per_class=4)
    config = {"data": {"root": str(data), "image_size": 32}, "tasks": {"simclr": {}},
              "train": {"steps": 4, "warmup_steps": 1, "batch_size": 4, "log_every": 2, "checkpoint_every": 2, "device": "cpu",
                        "precision": "fp32", "threads": 1},
              "eval": {"every_steps": 4, "subset_size": 16, "knn_k": 3}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "main.py", "train", str(path), "--out", str(run_dir)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Finished at step 4") == 1  # only rank 0 reports
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["event"] == "StepEvent"]
    assert [r["step"] for r in steps] == [2, 4]
    assert steps[0]["epoch"] == 2 * 4 * 2 / 16  # two ranks x batch 4 per step over 16 images
    assert load_checkpoint(RunFolder(run_dir).latest_checkpoint())["step"] == 4
    assert not any(p.name.endswith(".tmp") for p in run_dir.rglob("*"))
