"""Faults during training: full disk, GPU out of memory, the dataset vanishing, the process killed."""
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from engine_helpers import tiny_config, tiny_dataset
from workbench.config import TaskConfig
from workbench.engine import checkpoint as checkpoint_module
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.events import FailedEvent, FinishedEvent, StepEvent
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.tasks import PretextTask, TaskOutput, register_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("data"))


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(data_root, tmp_path, monkeypatch):
    real_save = torch.save
    calls = []

    def save_until_disk_is_full(state, path):
        calls.append(path)
        if len(calls) == 1:
            return real_save(state, path)
        with open(path, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.torch, "save", save_until_disk_is_full)
    trainer = Trainer(tiny_config(data_root, tmp_path, train={"steps": 8, "checkpoint_every": 2}))
    final = trainer.run()
    assert isinstance(final, FailedEvent) and final.step == 4
    assert "No space left on device" in final.message and "resume" in final.message
    folder = RunFolder(trainer.run_dir)
    assert [p.name for p in folder.checkpoints()] == ["step_00000002.pt"]
    assert load_checkpoint(folder.latest_checkpoint())["step"] == 2
    assert not [p for p in folder.checkpoints_dir.iterdir() if p.suffix == ".tmp"]


@register_task("test_out_of_memory")
class OutOfMemoryAtStep3(PretextTask):
    """Test task: behaves like a GPU running out of memory at the third step."""

    description = "test only"
    Config = TaskConfig

    def __init__(self, cfg, encoder, embed_dim):
        super().__init__(cfg, encoder, embed_dim)
        self.calls = 0

    def training_step(self, images, augment):
        self.calls += 1
        if self.calls == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        features = self.encoder(augment(images))
        return TaskOutput(loss=features.pow(2).mean(), embeddings=features.detach())


def test_out_of_memory_stops_cleanly_and_suggests_a_smaller_batch(data_root, tmp_path):
    trainer = Trainer(tiny_config(data_root, tmp_path, tasks={"test_out_of_memory": {}},
                                  train={"checkpoint_every": 2}))
    final = trainer.run()
    assert isinstance(final, FailedEvent) and final.step == 2
    assert "out of memory" in final.message and "train.batch_size: 4" in final.message
    assert load_checkpoint(final.checkpoint)["step"] == 2


def test_training_goes_on_when_the_dataset_folder_disappears(tmp_path):
    data = tiny_dataset(tmp_path / "usb-stick", per_class=3)
    removed = []

    def unplug(event):
        if isinstance(event, StepEvent) and not removed:
            shutil.rmtree(data)
            removed.append(event.step)

    final = Trainer(tiny_config(data, tmp_path / "runs")).run(unplug)
    assert removed and isinstance(final, FinishedEvent) and final.step == 8


def run_config(tmp_path, data):
    config = {"data": {"root": str(data), "image_size": 32}, "tasks": {"simclr": {}},
              "train": {"steps": 100000, "batch_size": 8, "log_every": 1, "checkpoint_every": 1, "device": "cpu",
                        "precision": "fp32", "threads": 1},
              "eval": {"every_steps": 100000, "subset_size": 16}}
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.reliability
def test_sigkill_at_random_moments_never_leaves_a_broken_checkpoint(tmp_path):
    """Kill training 20 times (checkpoints every step, so many kills land mid-write); every checkpoint on
    disk stays loadable and each restart resumes from the last one."""
    data = tiny_dataset(tmp_path / "d", per_class=2)
    run_dir = tmp_path / "run"
    config = run_config(tmp_path, data)
    folder = RunFolder(run_dir)
    generator = torch.Generator().manual_seed(0)
    last_step = 0
    for attempt in range(20):
        args = ["train", "--resume", str(run_dir)] if folder.latest_checkpoint() else \
            ["train", str(config), "--out", str(run_dir)]
        process = subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (folder.latest_checkpoint() is None or
                                               load_step(folder) <= last_step):
            time.sleep(0.05)
        time.sleep(float(torch.rand(1, generator=generator)) * 0.5)
        process.send_signal(signal.SIGKILL)
        _, errors = process.communicate()
        for path in folder.checkpoints():
            assert load_checkpoint(path)["step"] > 0, path
        step = load_step(folder)
        assert step > last_step, f"attempt {attempt}: no progress past step {last_step}: {errors.decode()[-2000:]}"
        last_step = step
    events = folder.read_events()
    steps = [e.step for e in events if isinstance(e, StepEvent)]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # resumes never repeat a logged step


def load_step(folder: RunFolder) -> int:
    return int(load_checkpoint(folder.latest_checkpoint())["step"])
