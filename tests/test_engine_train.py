"""End-to-end training: run folders, metrics, checkpoints, resume, pause, failures."""
import json
import shutil
import threading

import pytest
import torch

from engine_helpers import tiny_config, tiny_dataset
from workbench.config import TaskConfig
from workbench.control import RunControl
from workbench.engine.checkpoint import CheckpointError, load_checkpoint
from workbench.engine.embedding_map import EmbeddingMap
from workbench.engine.events import (CheckpointEvent, EmbeddingMapEvent, EvalEvent, FailedEvent, FinishedEvent, PausedEvent,
                                     StartedEvent, StepEvent)
from workbench.engine.runs import MetricsTail, RunFolder, list_runs
from workbench.engine.trainer import Trainer
from workbench.tasks import PretextTask, TaskOutput, register_task


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("data"))


def train(config, **kwargs):
    events = []
    trainer = Trainer(config, **kwargs)
    final = trainer.run(events.append)
    return trainer, events, final


def test_training_writes_a_complete_run_folder(data_root, tmp_path):
    trainer, events, final = train(tiny_config(data_root, tmp_path))
    assert isinstance(final, FinishedEvent) and not final.stopped and final.step == 8
    folder = RunFolder(trainer.run_dir)
    assert folder.config_path.is_file() and (folder.path / "scan_report.json").is_file()
    records = [json.loads(line) for line in folder.metrics_path.read_text().splitlines()]
    steps = [r for r in records if r["event"] == "StepEvent"]
    assert [r["step"] for r in steps] == [2, 4, 6, 8]
    for record in steps:
        assert {"step", "epoch", "loss", "lr", "images_per_second"} <= set(record)
        assert record["loss"] > 0 and record["images_per_second"] > 0
    evals = [r for r in records if r["event"] == "EvalEvent"]
    assert [r["step"] for r in evals] == [0, 4, 8]
    assert {"embedding_std", "effective_rank", "knn_accuracy", "alignment", "uniformity",
            "linear_accuracy"} <= set(evals[-1])
    assert 0.0 <= evals[-1]["knn_accuracy"] <= 1.0
    assert [p.name for p in folder.checkpoints()] == ["step_00000004.pt", "step_00000008.pt"]
    state = load_checkpoint(folder.latest_checkpoint())
    assert state["step"] == 8 and state["input_spec"]["channels"] == 1
    assert folder.read_events() == [e for e in events]
    assert list_runs(tmp_path)[0].path == folder.path
    embedding_map = EmbeddingMap.read(folder.path / "embedding_map.json")
    assert embedding_map.step == 8 and len(embedding_map.points) == 24
    assert len(embedding_map.paths) == 24 and not any(p.startswith("/") for p in embedding_map.paths)
    assert sorted(set(embedding_map.labels)) == [0, 1, 2, 3]
    assert [e.step for e in events if isinstance(e, EmbeddingMapEvent)] == [0, 4, 8]


def test_learning_rate_warms_up_then_decays(data_root, tmp_path):
    _, events, _ = train(tiny_config(data_root, tmp_path, train={"steps": 12, "warmup_steps": 4, "log_every": 1}))
    rates = [e.values["lr"] for e in events if isinstance(e, StepEvent)]
    peak = rates.index(max(rates))
    assert peak == 3
    assert rates[:4] == sorted(rates[:4]) and rates[4:] == sorted(rates[4:], reverse=True)


def test_resume_continues_exactly_where_it_stopped(data_root, tmp_path):
    settings = {"steps": 12, "checkpoint_every": 6, "log_every": 2}
    _, full, _ = train(tiny_config(data_root, tmp_path / "a", train=settings))

    control = RunControl()

    def stop_at_six(event):
        if isinstance(event, StepEvent) and event.step == 6:
            control.cancel()

    trainer = Trainer(tiny_config(data_root, tmp_path / "b", train=settings), control=control)
    stopped = trainer.run(stop_at_six)
    assert isinstance(stopped, FinishedEvent) and stopped.stopped and stopped.step == 6
    checkpoints = RunFolder(trainer.run_dir).checkpoints_dir
    (checkpoints / ".step_00000012.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")  # a killed write's leftover
    resumed_events = []
    final = Trainer(run_dir=trainer.run_dir, resume=True).run(resumed_events.append)
    assert isinstance(final, FinishedEvent) and final.step == 12
    assert not list(checkpoints.glob("*.tmp"))
    assert isinstance(resumed_events[0], StartedEvent) and resumed_events[0].step == 6

    def losses(events, after):
        return {e.step: e.values["loss"] for e in events if isinstance(e, StepEvent) and e.step > after}

    expected, got = losses(full, 6), losses(resumed_events, 6)
    assert list(got) == [8, 10, 12]
    for step in got:
        assert got[step] == pytest.approx(expected[step], rel=1e-5, abs=1e-6)
    # the run folder's history has each step once
    recorded = [e.step for e in RunFolder(trainer.run_dir).read_events() if isinstance(e, StepEvent)]
    assert recorded == [2, 4, 6, 8, 10, 12]


def test_pause_and_resume_from_another_thread(data_root, tmp_path):
    control = RunControl()
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, StepEvent) and event.step == 2:
            control.pause()
            threading.Timer(0.2, control.resume).start()

    trainer = Trainer(tiny_config(data_root, tmp_path), control=control)
    final = trainer.run(on_event)
    assert isinstance(final, FinishedEvent) and final.step == 8
    pauses = [e for e in events if isinstance(e, PausedEvent)]
    assert [(e.step, e.paused) for e in pauses] == [(2, True), (2, False)]


@register_task("test_diverges")
class DivergesAtStep5(PretextTask):
    """Test task: a real SimCLR-free loss that turns NaN at the fifth step."""

    description = "test only"

    class Config(TaskConfig):
        pass

    def __init__(self, cfg, encoder, embed_dim):
        super().__init__(cfg, encoder, embed_dim)
        self.calls = 0

    def training_step(self, images, augment, context=None):
        self.calls += torch.is_grad_enabled()  # count training steps only, not the evaluation's no-grad passes
        features = self.encoder(augment(images))
        loss = features.pow(2).mean()
        if self.calls >= 5:
            loss = loss * float("nan")
        return TaskOutput(loss=loss, embeddings=features.detach())


def test_nan_loss_stops_cleanly_and_keeps_last_good_checkpoint(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path, tasks={"test_diverges": {}},
                         train={"steps": 20, "checkpoint_every": 2, "log_every": 2})
    trainer, events, final = train(config)
    assert isinstance(final, FailedEvent)
    assert "NaN" in final.message and "learning rate" in final.message
    assert final.checkpoint.endswith("step_00000004.pt")
    state = load_checkpoint(final.checkpoint)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert [e.step for e in events if isinstance(e, CheckpointEvent)] == [2, 4]


def test_a_folder_without_images_fails_with_a_message(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.png").write_bytes(b"not an image at all")
    _, _, final = train(tiny_config(empty, tmp_path / "runs"))
    assert isinstance(final, FailedEvent) and "no readable images" in final.message


def test_hostile_checkpoint_is_refused(tmp_path, capsys):
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, path)  # a checkpoint archive whose pickle calls print()
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    raw = tmp_path / "raw.pt"
    with open(raw, "wb") as handle:
        pickle.dump({"model": Payload()}, handle)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint archive"):
        load_checkpoint(raw)
    assert "must never run" not in capsys.readouterr().out


def test_empty_or_text_checkpoints_are_called_damaged(tmp_path):
    empty, text = tmp_path / "empty.pt", tmp_path / "notes.pt"
    empty.write_bytes(b"")
    text.write_text("not weights")
    with pytest.raises(CheckpointError, match="damaged or incomplete: the file is empty"):
        load_checkpoint(empty)
    with pytest.raises(CheckpointError, match="damaged or incomplete: it is not a PyTorch"):
        load_checkpoint(text)


def test_metrics_tail_reads_only_new_complete_lines(data_root, tmp_path):
    trainer, events, _ = train(tiny_config(data_root, tmp_path))
    tail = MetricsTail(RunFolder(trainer.run_dir).metrics_path)
    assert len(tail.poll()) == len(events)
    with open(tail.path, "a") as handle:
        handle.write('{"event": "StepEvent", "step": 9')  # a line being written
    assert tail.poll() == []
    with open(tail.path, "a") as handle:
        handle.write(', "epoch": 1.0, "total_steps": 9, "loss": 1.5}\n')
    (event,) = tail.poll()
    assert isinstance(event, StepEvent) and event.values == {"loss": 1.5}
    assert any(isinstance(e, EvalEvent) for e in events)


def test_channels_last_trains_like_the_plain_layout(data_root, tmp_path):
    losses, layouts = {}, {}
    for mode in ("on", "off"):
        trainer, events, _ = train(tiny_config(data_root, tmp_path / mode, train={"channels_last": mode,
                                                                                    "log_every": 1}))
        losses[mode] = [event.values["loss"] for event in events if isinstance(event, StepEvent)]
        (started,) = [event for event in events if isinstance(event, StartedEvent)]
        layouts[mode] = (trainer.channels_last, started.precision)
    assert layouts == {"on": (True, "fp32, channels-last"), "off": (False, "fp32")}
    assert len(losses["on"]) == 8
    assert losses["on"][0] == pytest.approx(losses["off"][0], rel=1e-4)
    assert losses["on"] == pytest.approx(losses["off"], rel=2e-2)  # rounding differences grow as it trains


@pytest.mark.skipif(not any(shutil.which(name) for name in ("c++", "g++", "clang++")), reason="no C++ compiler")
def test_compiled_encoder_trains_like_the_eager_one(data_root, tmp_path):
    losses = {}
    for compiled in (True, False):
        trainer, events, final = train(tiny_config(data_root, tmp_path / str(compiled),
                                                   train={"compile": compiled, "steps": 4, "log_every": 1}))
        assert isinstance(final, FinishedEvent)
        losses[compiled] = [event.values["loss"] for event in events if isinstance(event, StepEvent)]
    assert losses[True][0] == pytest.approx(losses[False][0], rel=1e-4)
    assert losses[True] == pytest.approx(losses[False], rel=2e-2)
    saved = load_checkpoint(RunFolder(trainer.run_dir).checkpoints()[-1])
    assert not any("_orig_mod" in key for key in saved["model"])  # checkpoints as without compile


def test_compile_without_a_compiler_names_the_setting(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    _, _, final = train(tiny_config(data_root, tmp_path, train={"compile": True}))
    assert isinstance(final, FailedEvent) and "train.compile" in final.message and "C++ compiler" in final.message
