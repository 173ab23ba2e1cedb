"""Multi-node training on this machine: two `torchrun --nnodes 2` launches ("nodes") meet at a c10d rendezvous
and train one run (gloo, CPU). Rank 0 alone writes the run folder; the record has the keys of a single-process
run of the same global batch and a loss curve close to it. With `--max-restarts`, a worker killed after the
first checkpoint makes torchrun restart the job (on one node or across two), which resumes from that checkpoint
and finishes. torchrun runs with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1, as the README says: with its default shared
store, restarted workers connected to the killed round's addresses and hung in about half the trials here
(8 of 17 with two agents, 7 of 15 with one; torch issue 135712); with it, 87 of 88 trials passed (the one failure,
on a loaded machine, left no log)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from engine_helpers import tiny_dataset
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.distributed import restart_hazard
from workbench.engine.heartbeat import read_heartbeat
from workbench.engine.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


def write_config(folder: Path, data: Path, batch_size: int, steps: int, checkpoint_every: int) -> Path:
    """A tiny rotation-prediction config (its loss does not depend on the batch size): small CNN, 16 px."""
    config = {"data": {"root": str(data), "image_size": 16}, "tasks": {"rotation": {}},
              "model": {"backbone": "small_cnn"},
              "train": {"steps": steps, "warmup_steps": 1, "batch_size": batch_size, "log_every": 2,
                        "checkpoint_every": checkpoint_every, "device": "cpu", "precision": "fp32", "threads": 1},
              "eval": {"every_steps": steps, "subset_size": 16, "knn_k": 3}}
    path = folder / f"config-{batch_size}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_nodes(config: Path, out: Path, nodes: int = 2, max_restarts: int = 0) -> list[subprocess.Popen]:
    """`nodes` torchrun agents meeting at a c10d rendezvous on this machine, two workers in all."""
    endpoint = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes), "--nproc-per-node",
               str(2 // nodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "multinode-test",
               "--max-restarts", str(max_restarts), "main.py", "train", str(config), "--out", str(out)]
    return [subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True) for _ in range(nodes)]


def finish(nodes: list[subprocess.Popen]) -> str:
    """Wait for both nodes; their output, after checking that both succeeded (nodes still running after the
    time-out are ended with their workers)."""
    try:
        outputs = [node.communicate(timeout=240)[0] for node in nodes]
    except subprocess.TimeoutExpired:
        for pid in [p for node in nodes for p in (node.pid, *descendants(node.pid))]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output
    return "\n".join(outputs)


def descendants(pid: int) -> list[int]:
    """The processes started by `pid`, and theirs (Linux /proc; torchrun's workers live in sessions of their own)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def key_set(run: list[dict]) -> set[tuple]:
    """Each event kind with its keys (values are flat: `loss`, `lr`...)."""
    return {(r["event"], tuple(sorted(r))) for r in run}


def losses(run: list[dict]) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in run if r["event"] == "StepEvent"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("data"), per_class=8, size=16)


def test_two_nodes_train_one_run_like_a_single_process(data, tmp_path):
    two_nodes = tmp_path / "two nodes"
    output = finish(launch_nodes(write_config(tmp_path, data, batch_size=4, steps=6, checkpoint_every=2), two_nodes))
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["two nodes"]  # one run folder for both nodes
    single = tmp_path / "single"
    result = subprocess.run([sys.executable, "main.py", "train", str(write_config(tmp_path, data, 8, 6, 2)),
                             "--out", str(single)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    assert output.count("Finished at step 6") == 1  # only rank 0 reports
    assert [load_checkpoint(p)["step"] for p in RunFolder(two_nodes).checkpoints()] == [2, 4, 6]  # each once
    assert not any(p.name.endswith(".tmp") for p in two_nodes.rglob("*"))
    distributed, alone = records(two_nodes), records(single)
    assert key_set(distributed) == key_set(alone)
    assert [r["event"] for r in distributed] == [r["event"] for r in alone]
    steps = [r for r in distributed if r["event"] == "StepEvent"]
    assert steps[0]["epoch"] == 2 * 4 * 2 / 32  # two nodes x batch 4 per step over 32 images, as batch 8 alone
    curve, reference = losses(distributed), losses(alone)
    assert list(curve) == list(reference) == [2, 4, 6]
    for step in curve:  # rank 0's share of the batch against the whole batch: close, not equal
        assert abs(curve[step] - reference[step]) < 0.25, (curve, reference)


def test_restarts_with_torchruns_shared_store_are_warned_about(monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "0")
    assert restart_hazard() is None  # no restarts: nothing to fear
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "3")
    assert "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1" in restart_hazard()
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "False")  # as torchrun says with that variable set
    assert restart_hazard() is None


def wait_for(condition, timeout: float = 300.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.mark.reliability
@pytest.mark.parametrize("nodes", [1, 2])
def test_a_killed_worker_is_restarted_and_resumes_from_the_last_checkpoint(data, tmp_path, nodes):
    run_dir = tmp_path / "run"
    steps = 60
    agents = launch_nodes(write_config(tmp_path, data, batch_size=4, steps=steps, checkpoint_every=4), run_dir,
                          nodes=nodes, max_restarts=1)
    wait_for(lambda: RunFolder(run_dir).latest_checkpoint() is not None, what="the first checkpoint")
    worker = read_heartbeat(run_dir)["pid"]  # rank 0's training process
    os.kill(worker, signal.SIGKILL)
    output = finish(agents)

    assert "Resuming on cpu" in output  # the restarted job continued the run
    assert "torch issue 135712" not in output  # launched as the README says: no warning
    run = records(run_dir)
    starts = [r for r in run if r["event"] == "StartedEvent"]
    assert len(starts) >= 2 and starts[0]["step"] == 0
    assert all(start["step"] > 0 and start["step"] % 4 == 0 for start in starts[1:])  # from a checkpoint
    step_events = [r["step"] for r in run if r["event"] == "StepEvent"]
    assert step_events == list(range(2, steps + 1, 2))  # resuming dropped what came after the checkpoint
    assert run[-1]["event"] == "FinishedEvent" and run[-1]["step"] == steps
    assert load_checkpoint(RunFolder(run_dir).latest_checkpoint())["step"] == steps
