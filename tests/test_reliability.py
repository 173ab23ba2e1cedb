"""Faults during training: full disk, GPU out of memory, the dataset vanishing, the process killed."""
import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from engine_helpers import tiny_config, tiny_dataset
from workbench.config import TaskConfig
from workbench.engine import checkpoint as checkpoint_module
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.events import EvalEvent, FailedEvent, FinishedEvent, StepEvent
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


def test_disk_full_while_exporting_keeps_the_previous_export(data_root, tmp_path, monkeypatch):
    from workbench.export import exporter, load_encoder

    trainer = Trainer(tiny_config(data_root, tmp_path, train={"steps": 2}))
    assert isinstance(trainer.run(), FinishedEvent)
    first = exporter.export_run(trainer.run_dir, "safetensors")
    before = first.read_bytes()

    def save_until_disk_is_full(tensors, path, metadata=None):
        Path(path).write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(exporter, "save_file", save_until_disk_is_full)
    with pytest.raises(OSError, match="No space left on device"):
        exporter.export_run(trainer.run_dir, "safetensors")
    assert first.read_bytes() == before  # the earlier export is untouched and still loads
    assert load_encoder(first.parent)(torch.rand(1, 1, 32, 32)).shape[0] == 1
    assert sorted(p.name for p in first.parent.parent.iterdir()) == ["safetensors"]  # no half-written folder


@register_task("test_out_of_memory")
class OutOfMemoryAtStep3(PretextTask):
    """Test task: behaves like a GPU running out of memory at the third step."""

    description = "test only"
    Config = TaskConfig

    def __init__(self, cfg, encoder, embed_dim):
        super().__init__(cfg, encoder, embed_dim)
        self.calls = 0

    def training_step(self, images, augment, context=None):
        self.calls += torch.is_grad_enabled()  # count training steps only, not the evaluation's no-grad passes
        if self.calls == 3 and torch.is_grad_enabled():
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


# --- edge datasets: each trains with a sensible adjustment or stops with a clear message, never hangs -----

def write_grays(folder: Path, count: int, size: int = 32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = np.random.default_rng(index).integers(0, 256, (size, size), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image_{index}.png")
    return folder


@pytest.mark.timeout(120)
def test_fewer_images_than_a_batch_trains_with_a_smaller_batch(tmp_path):
    data = write_grays(tmp_path / "five", 5)
    trainer = Trainer(tiny_config(data, tmp_path / "runs", train={"steps": 4, "batch_size": 8}))
    final = trainer.run()
    assert isinstance(final, FinishedEvent) and final.step == 4
    assert trainer.batch_size == 5


@pytest.mark.timeout(120)
@pytest.mark.parametrize("labelled_by", ["one class folder", "labels CSV with one class"])
def test_a_single_class_trains_without_the_knn_probe(tmp_path, labelled_by):
    if labelled_by == "one class folder":
        data = write_grays(tmp_path / "data" / "only_class", 6).parent
        extra = {}
    else:
        data = write_grays(tmp_path / "data", 6)
        (tmp_path / "labels.csv").write_text("path,label\n" + "".join(f"image_{i}.png,cat\n" for i in range(6)))
        extra = {"labels_csv": str(tmp_path / "labels.csv")}
    events = []
    final = Trainer(tiny_config(data, tmp_path / "runs", data=extra, train={"steps": 4})).run(events.append)
    assert isinstance(final, FinishedEvent) and final.step == 4
    evaluations = [event.values for event in events if isinstance(event, EvalEvent)]
    assert evaluations and all("knn_accuracy" not in values and "embedding_std" in values for values in evaluations)


@pytest.mark.timeout(120)
def test_a_single_image_stops_with_a_message(tmp_path):
    final = Trainer(tiny_config(write_grays(tmp_path / "one", 1), tmp_path / "runs")).run()
    assert isinstance(final, FailedEvent) and "1 readable image(s)" in final.message and "at least 2" in final.message


@pytest.mark.timeout(120)
def test_a_folder_of_unreadable_files_names_what_was_wrong(tmp_path):
    data = tmp_path / "all_bad"
    data.mkdir()
    (data / "a_empty.png").write_bytes(b"")
    (data / "b_noise.jpg").write_bytes(b"\0" + np.random.default_rng(0).bytes(500))
    write_grays(data / "c", 1)
    cut = (data / "c" / "image_0.png").read_bytes()
    (data / "c" / "image_0.png").write_bytes(cut[: len(cut) // 2])
    final = Trainer(tiny_config(data, tmp_path / "runs")).run()
    assert isinstance(final, FailedEvent)
    assert "no readable images" in final.message and "3 files skipped" in final.message
    for reason in ("a_empty.png: zero-byte file", "b_noise.jpg: not an image", "c/image_0.png: truncated PNG"):
        assert reason in final.message


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", ["empty folder", "missing folder"])
def test_no_folder_or_no_files_stops_with_a_message(tmp_path, case):
    data = tmp_path / "nothing"
    if case == "empty folder":
        data.mkdir()
    final = Trainer(tiny_config(data, tmp_path / "runs")).run()
    expected = "holds no image files" if case == "empty folder" else "does not exist"
    assert isinstance(final, FailedEvent) and expected in final.message, final.message


def run_config(tmp_path, data):
    config = {"data": {"root": str(data), "image_size": 32}, "tasks": {"simclr": {}},
              "train": {"steps": 100000, "batch_size": 8, "log_every": 1, "checkpoint_every": 1, "device": "cpu",
                        "precision": "fp32", "threads": 1},
              "eval": {"every_steps": 100000, "subset_size": 16}}
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


KILLS = 20
START_TIMEOUT_S = 300
"""How long one restart may take to reach a new checkpoint: a Python + torch start on a loaded 2-core
machine takes far longer than the seconds it takes on a quiet one."""


@pytest.mark.reliability
@pytest.mark.timeout(KILLS * START_TIMEOUT_S)  # the suite's 600 s limit is too short for 20 restarts under load
def test_sigkill_at_random_moments_never_leaves_a_broken_checkpoint(tmp_path):
    """Kill training 20 times (checkpoints every step, so many kills land mid-write); every checkpoint on
    disk stays loadable and each restart resumes from the last one."""
    data = tiny_dataset(tmp_path / "d", per_class=2)
    run_dir = tmp_path / "run"
    config = run_config(tmp_path, data)
    folder = RunFolder(run_dir)
    generator = torch.Generator().manual_seed(0)
    last_step = 0
    for attempt in range(KILLS):
        args = ["train", "--resume", str(run_dir)] if folder.latest_checkpoint() else \
            ["train", str(config), "--out", str(run_dir)]
        process = subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            progressed = wait_for_checkpoint_past(folder, last_step, process)
            if progressed:
                time.sleep(float(torch.rand(1, generator=generator)) * 0.5)
        finally:
            process.kill()  # SIGKILL, also when the wait failed: never leave a trainer running
            _, errors = process.communicate()
        assert progressed, (f"attempt {attempt}: no checkpoint past step {last_step} (exit code "
                            f"{process.returncode}): {errors.decode()[-2000:]}")
        for path in folder.checkpoints():
            assert load_checkpoint(path)["step"] > 0, path
        step = load_step(folder)
        assert step > last_step, f"attempt {attempt}: no progress past step {last_step}: {errors.decode()[-2000:]}"
        last_step = step
    events = folder.read_events()
    steps = [e.step for e in events if isinstance(e, StepEvent)]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # resumes never repeat a logged step
    torn = [p for p in folder.checkpoints_dir.iterdir() if p.suffix == ".tmp"]
    print(f"\n{KILLS} kills, reached step {last_step}; {len(torn)} kills landed while a checkpoint was being written")


def wait_for_checkpoint_past(folder: RunFolder, step: int, process: subprocess.Popen) -> bool:
    """Wait until the run holds a checkpoint past `step`; False when the process ends or time runs out first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if folder.latest_checkpoint() is not None and load_step(folder) > step:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def load_step(folder: RunFolder) -> int:
    return int(load_checkpoint(folder.latest_checkpoint())["step"])
