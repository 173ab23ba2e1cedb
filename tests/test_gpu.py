"""The CUDA path, run for real: every task in bf16 and channels-last, images held on the GPU or pinned, no host
synchronisation inside the steps, a real out-of-memory, exports and `torch.compile` on the GPU, and a sweep with one
worker per GPU.

Every test here skips without a CUDA GPU; `make gpu-check` runs them on one (`pytest -m gpu`). The figures
they measure go to the JUnit report as properties, which the check copies into its JSON file."""
from __future__ import annotations

import contextlib
import gc
import math
import time
import traceback
import warnings
from pathlib import Path

import pytest
import torch

from engine_helpers import shipped_tasks, task_settings, tiny_config
from sequence_helpers import write_blob_sequences
from workbench.config import save_config
from workbench.engine import trainer as trainer_module
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.events import FailedEvent, FinishedEvent, StepEvent
from workbench.engine.trainer import StepWindow, Trainer
from workbench.export import export_run, load_encoder
from workbench.export.exporter import encoder_from_checkpoint
from workbench.tasks import load_config, load_plugins
from workbench.tasks.registry import default_plugin_folders

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

load_plugins(default_plugin_folders())
TASKS = shipped_tasks()
VIT_TASKS = ("mae",)
"""Tasks that need a ViT; every other one trains ResNet-18, where channels-last applies."""
SYNC_MESSAGE = "synchronizing CUDA operation"


@pytest.fixture(scope="module")
def sequences(tmp_path_factory) -> Path:
    """48 labelled 64 px images in 6 folders that are also sequences (so frame_order trains too)."""
    return write_blob_sequences(tmp_path_factory.mktemp("gpu-data"), sequences=6, frames=8, size=64)


@pytest.fixture(autouse=True)
def release_gpu_memory():
    yield
    gc.collect()
    torch.cuda.empty_cache()


def gpu_config(data: Path, out: Path, task: str = "simclr", **sections):
    """A short bf16, channels-last CUDA run on the sequences: ResNet-18 (a ViT for ViT-only tasks)."""
    backbone = "vit_tiny" if task in VIT_TASKS else "resnet18"
    return tiny_config(data, out, data={"image_size": 64, "sequences": "folders", **sections.pop("data", {})},
                       tasks={task: task_settings(task, out)}, model={"backbone": backbone, **sections.pop("model", {})},
                       train={"device": "cuda", "precision": "bf16", "channels_last": "on", "steps": 4,
                              "batch_size": 16, "log_every": 1, "checkpoint_every": 100,
                              **sections.pop("train", {})},
                       eval={"every_steps": 4, "subset_size": 24}, **sections)


def prepared(config) -> Trainer:
    trainer = Trainer(config)
    trainer.prepare()
    return trainer


@pytest.mark.parametrize("task", TASKS)
def test_every_task_trains_on_cuda_in_bf16_and_channels_last(task, sequences, tmp_path, record_property):
    config = gpu_config(sequences, tmp_path, task)
    trainer = Trainer(config)
    events = []
    final = trainer.run(events.append)
    assert isinstance(final, FinishedEvent), getattr(final, "message", final)
    assert trainer.device.type == "cuda" and trainer.precision == "bf16"
    assert trainer.channels_last == (task not in VIT_TASKS)
    assert next(trainer.model.parameters()).is_cuda
    losses = [event.values["loss"] for event in events if isinstance(event, StepEvent)]
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses), losses
    record_property("losses", losses)


def test_decoded_images_are_held_on_the_gpu_when_they_fit(sequences, tmp_path):
    trainer = prepared(gpu_config(sequences, tmp_path))
    assert trainer.images.is_cuda
    with trainer.step_inputs() as inputs:
        indices, images, _ = next(inputs)
    assert images.is_cuda and torch.equal(images.cpu(), trainer.dataset.images[indices])


def test_decoded_images_are_pinned_and_copied_asynchronously_when_they_do_not_fit(sequences, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "GPU_CACHE_SHARE", 0.0)
    config = gpu_config(sequences, tmp_path)
    trainer = prepared(config)
    assert not trainer.images.is_cuda and trainer.images.is_pinned()
    with trainer.step_inputs() as inputs:
        indices, images, _ = next(inputs)
    assert images.is_cuda and torch.equal(images.cpu(), trainer.dataset.images[indices])
    with record_host_syncs() as sites:
        with trainer.step_inputs() as inputs:
            for _ in range(3):
                next(inputs)
    assert not sites, "loading pinned batches waited for the GPU at:\n" + "\n".join(sites)
    assert isinstance(Trainer(config).run(), FinishedEvent)


@contextlib.contextmanager
def record_host_syncs():
    """Collects where the code waits for the GPU (torch's sync debug mode, "warn"): one line per site,
    the innermost frames of this project, e.g. "workbench/tasks/mae.py:74 _reconstruct < ...".
    Every site is listed, not only the first (as mode "error" would)."""
    sites: list[str] = []

    def note(message, category, filename, lineno, file=None, line=None):
        if SYNC_MESSAGE in str(message):
            sites.append(_project_frames(traceback.extract_stack()[:-1]))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = note
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield sites
        finally:
            torch.cuda.set_sync_debug_mode("default")


def _project_frames(stack: traceback.StackSummary) -> str:
    root = str(Path(__file__).resolve().parents[1])
    ours = [frame for frame in stack if frame.filename.startswith(root) and "test_gpu.py" not in frame.filename]
    innermost = stack[-1]
    where = " < ".join(f"{Path(f.filename).relative_to(root)}:{f.lineno} {f.name}" for f in reversed(ours[-3:]))
    return f"{where} (in {Path(innermost.filename).name}:{innermost.lineno} {innermost.name})"


@pytest.mark.parametrize("task", TASKS)
def test_training_steps_never_wait_for_the_gpu_between_logging_points(task, sequences, tmp_path, record_property):
    trainer = prepared(gpu_config(sequences, tmp_path, task))
    window = StepWindow()
    window.reset()
    with trainer.step_inputs() as inputs:
        for _ in range(2):  # warm-up: first calls may set things up
            indices, images, augment = next(inputs)
            trainer.train_step(indices, augment, window, images)
            trainer.step += 1
        with record_host_syncs() as sites:
            for _ in range(3):
                indices, images, augment = next(inputs)
                trainer.train_step(indices, augment, window, images)
                trainer.step += 1
    distinct = sorted(set(sites))
    record_property("host_syncs", distinct)
    assert not distinct, f"{len(sites)} host synchronisation(s) in 3 steps at:\n" + "\n".join(distinct)


@pytest.fixture
def quarter_of_the_gpu():
    """This process may take a quarter of the card: the allocator runs out there, not the tests beside it."""
    torch.cuda.set_per_process_memory_fraction(0.25)
    yield
    torch.cuda.set_per_process_memory_fraction(1.0)


@pytest.mark.usefixtures("quarter_of_the_gpu")
def test_a_real_out_of_memory_stops_cleanly_with_the_last_checkpoint(sequences, tmp_path, record_property):
    config = gpu_config(sequences, tmp_path, model={"backbone": "resnet50"}, train={"steps": 2})
    first = Trainer(config)
    assert isinstance(first.run(), FinishedEvent)
    kept = first.folder.latest_checkpoint()
    assert kept is not None and kept.name.endswith("00000002.pt")
    # the same run, continued at 1024 px: ResNet-50 activations of 2 x 16 such images need terabytes
    absurd = load_config(first.folder.config_path)
    absurd.data.image_size, absurd.train.steps = 1024, 4
    save_config(absurd, first.folder.config_path)
    run_dir = first.run_dir
    del first
    final = Trainer(run_dir=run_dir, resume=True).run()
    assert isinstance(final, FailedEvent), final
    assert "ran out of memory" in final.message and "train.batch_size: 8" in final.message, final.message
    assert final.checkpoint == str(kept) and kept.name in final.message
    assert load_checkpoint(kept)["step"] == 2
    assert sorted(p.name for p in kept.parent.iterdir()) == [kept.name]  # nothing half-written
    record_property("message", final.message)


def test_export_on_the_gpu_matches_the_trained_encoder_and_loads_on_cuda(sequences, tmp_path, record_property):
    config = gpu_config(sequences, tmp_path, train={"steps": 2, "precision": "fp32"})
    trainer = Trainer(config)
    assert isinstance(trainer.run(), FinishedEvent)
    checkpoint = trainer.folder.latest_checkpoint()
    reference, _, _ = encoder_from_checkpoint(config, checkpoint)  # fp32 on the CPU
    images = torch.rand(8, trainer.dataset.channels, 64, 64)
    with torch.no_grad():
        expected = reference(images)
    errors = {}
    for fmt in ("safetensors", "torchscript", "onnx"):
        path = export_run(trainer.run_dir, fmt)
        with torch.no_grad():
            on_gpu = load_encoder(path.parent, device="cuda")(images.cuda())
            on_cpu = load_encoder(path.parent)(images)
        assert on_gpu.is_cuda
        errors[fmt] = {device: float((got.cpu() - expected).norm() / expected.norm())
                       for device, got in (("cuda", on_gpu), ("cpu", on_cpu))}
    record_property("relative_error", errors)
    # cuDNN may run fp32 convolutions in TF32 on the GPU (about 1e-3 relative); far from that is a wrong export
    assert all(error["cuda"] < 1e-2 and error["cpu"] < 1e-4 for error in errors.values()), errors


def test_compiled_encoder_trains_like_the_eager_one_on_cuda(sequences, tmp_path, record_property):
    losses, seconds = {}, {}
    for compiled in (False, True):
        config = gpu_config(sequences, tmp_path / str(compiled), train={"compile": compiled, "precision": "fp32"})
        trainer = prepared(config)
        losses[compiled] = []
        started = time.perf_counter()
        with trainer.step_inputs() as inputs:
            for _ in range(3):
                window = StepWindow()
                window.reset()
                indices, images, augment = next(inputs)
                trainer.train_step(indices, augment, window, images)
                trainer.step += 1
                losses[compiled].append(float(window.loss))
        seconds[compiled] = time.perf_counter() - started
    record_property("losses_eager_compiled", losses)
    record_property("seconds_eager_compiled", seconds)  # the compiled run's include compiling
    assert all(math.isfinite(value) for value in losses[True])
    assert losses[True] == pytest.approx(losses[False], rel=2e-2), losses


def test_a_sweep_with_a_worker_per_gpu_trains_each_trial_on_a_gpu(sequences, tmp_path, record_property):
    """`main.py sweep --gpus all`: one worker per visible GPU, each training its trials on its own GPU."""
    import yaml

    from test_cli import run_cli
    from workbench.engine.sweep import Sweep

    base = tiny_config(sequences, tmp_path / "runs", data={"image_size": 32},
                       train={"device": "cuda", "precision": "bf16", "steps": 20, "checkpoint_every": 20},
                       eval={"every_steps": 20, "subset_size": 32})
    save_config(base, tmp_path / "base.yaml")
    spec = {"base": "base.yaml", "trials": 3, "sampler": "random", "seed": 0,
            "space": {"train.lr": {"log_uniform": [1e-4, 1e-2]}}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = run_cli("sweep", tmp_path / "spec.yaml", "--out", tmp_path / "sweep", "--gpus", "all", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = Sweep(tmp_path / "sweep").results()
    assert [trial.state for trial in results] == ["finished"] * 3
    for trial in results:
        started = (tmp_path / "sweep" / trial.run / "metrics.jsonl").read_text().splitlines()[0]
        assert '"device": "cuda' in started, started
    record_property("sweep_workers", torch.cuda.device_count())
