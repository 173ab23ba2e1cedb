"""Paths in config files are relative to the file's folder: run folders name no absolute path and can move."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from engine_helpers import tiny_config, tiny_dataset
from workbench.cli.main import _train_config, build_parser
from workbench.config import save_config
from workbench.control import RunControl
from workbench.engine.events import FinishedEvent, StartedEvent, StepEvent
from workbench.engine.heartbeat import HEARTBEAT_NAME, STALE_AFTER_S, is_training_now, read_heartbeat
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.probes.context import open_run
from workbench.tasks import default_config, load_config

SETTINGS = {"steps": 8, "checkpoint_every": 4, "log_every": 2}


def losses(events, after=0):
    return {e.step: e.values["loss"] for e in events if isinstance(e, StepEvent) and e.step > after}


def stop_at(control: RunControl, step: int):
    def handler(event):
        if isinstance(event, StepEvent) and event.step == step:
            control.cancel()
    return handler


def test_moved_run_and_dataset_resume_exactly_and_probe(tmp_path):
    project = tmp_path / "project"
    data = tiny_dataset(project / "data", per_class=4)
    full = []
    Trainer(tiny_config(data, tmp_path / "full", train=SETTINGS)).run(full.append)

    control = RunControl()
    trainer = Trainer(tiny_config(data, project / "runs", train=SETTINGS), control=control)
    assert trainer.run(stop_at(control, 4)).step == 4
    text = trainer.folder.config_path.read_text()
    assert "root: ../../data" in text and "out_dir: .." in text and str(tmp_path) not in text
    # read back, it is the very path trained on: the decoded-image cache key (made from it) stays the same
    assert load_config(trainer.folder.config_path).data.root == str(data)

    moved = tmp_path / "elsewhere" / "project"
    shutil.move(project, moved)
    run_dir = moved / "runs" / trainer.run_dir.name
    assert load_config(RunFolder(run_dir).config_path).data.root == str(moved / "data")
    resumed = []
    final = Trainer(run_dir=run_dir, resume=True).run(resumed.append)
    assert isinstance(final, FinishedEvent) and final.step == 8
    assert isinstance(resumed[0], StartedEvent) and resumed[0].step == 4 and resumed[0].num_images == 16
    assert list(losses(resumed, 4)) == [6, 8]
    for step, loss in losses(resumed, 4).items():
        assert loss == pytest.approx(losses(full)[step], rel=1e-5, abs=1e-6)

    context = open_run(run_dir, checkpoint="last", device="cpu")
    assert context.step == 8 and len(context.dataset) == 16
    assert context.config.data.root == str(moved / "data")
    # metrics.jsonl names the run folder as "."; reading it back gives the folder where it now is
    started = next(e for e in RunFolder(run_dir).read_events() if isinstance(e, StartedEvent))
    assert started.run_dir == str(run_dir)
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert str(tmp_path).encode() not in path.read_bytes(), path


def test_relative_paths_in_a_yaml_are_relative_to_its_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "labels.csv").write_text("path,label\n", encoding="utf-8")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "exp.yaml").write_text(
        "data: {root: ../data, labels_csv: labels.csv, cache_dir: cache}\n"
        "model: {init_weights: ../weights/w.pt}\noutput: {out_dir: runs}\ntasks: {simclr: {}}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "data")  # the working directory plays no part
    config = load_config(tmp_path / "configs" / "exp.yaml")
    assert config.data.root == str(tmp_path / "data")
    assert config.data.labels_csv == str(tmp_path / "data" / "labels.csv")  # looked up in the dataset first
    assert config.data.cache_dir == str(tmp_path / "configs" / "cache")
    assert config.model.init_weights == str(tmp_path / "weights" / "w.pt")
    assert config.output.out_dir == str(tmp_path / "configs" / "runs")


def test_command_line_data_folder_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    save_config(default_config(), tmp_path / "configs" / "exp.yaml")
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["train", "configs/exp.yaml", "--data", "images"])
    assert _train_config(args).data.root == str(tmp_path / "images")


def test_saving_keeps_what_each_path_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "labels.csv").write_text("path,label\n", encoding="utf-8")
    config = default_config()
    config.data.root, config.data.labels_csv = "scans", "labels.csv"  # in memory: the working directory's
    config.data.cache_dir = str(tmp_path / "cache")
    save_config(config, tmp_path / "saved" / "config.yaml")
    text = (tmp_path / "saved" / "config.yaml").read_text()
    assert "root: ../scans" in text and "labels_csv: labels.csv" in text and "cache_dir: ../cache" in text
    assert str(tmp_path) not in text
    loaded = load_config(tmp_path / "saved" / "config.yaml")
    assert loaded.data.root == os.path.abspath("scans")
    assert loaded.data.labels_csv == str(tmp_path / "scans" / "labels.csv")
    assert loaded.output.out_dir == os.path.abspath("runs")
    loaded.data.root, loaded.data.labels_csv = "scans", "labels.csv"
    loaded.data.cache_dir, loaded.output.out_dir = str(tmp_path / "cache"), "runs"
    assert loaded == config


def test_a_run_that_cannot_start_names_its_dataset_as_given_and_leaves_no_folder(tmp_path):
    data = tmp_path / "scans"
    data.mkdir()
    (data / "broken.png").write_bytes(b"not an image")
    trainer = Trainer(tiny_config(data, tmp_path / "runs"))
    final = trainer.run()
    assert "no readable images" in final.message and str(data) in final.message
    assert not trainer.run_dir.exists()  # no folder that the Runs page would not list


def test_a_failure_recorded_in_a_run_folder_names_the_dataset_only_relatively(tmp_path):
    data = tmp_path / "scans"
    data.mkdir()
    (data / "broken.png").write_bytes(b"not an image")
    config = tiny_config(data, tmp_path / "runs")
    run_dir = tmp_path / "runs" / "kept"
    save_config(config, run_dir / "config.yaml")  # a run folder that exists already (a resumed run's, say)
    final = Trainer(config, run_dir=run_dir).run()
    assert str(data) in final.message
    written = "".join(path.read_text(errors="replace") for path in run_dir.rglob("*") if path.is_file())
    assert "no readable images" in written and str(tmp_path) not in written


def test_a_runs_status_is_worked_out_once_for_the_runs_page_and_the_report():
    from workbench.engine.events import FailedEvent, FinishedEvent, StartedEvent, StepEvent
    from workbench.engine.runs import run_status

    started = StartedEvent("runs/a", 0, 100, "cpu", "fp32", 10, 0)
    steps = [StepEvent(step, step / 10, 100) for step in (5, 10)]
    assert run_status([]).describe() == "not started"
    assert run_status([started, *steps]).describe() == "interrupted at step 10"
    assert run_status([started, *steps], training_now=True).describe() == "running: step 10 of 100"
    assert run_status([started, *steps, FinishedEvent(10, "runs/a", stopped=True)]).describe() == "stopped at step 10"
    assert run_status([started, *steps, FailedEvent(10, "diverged")]).state == "failed"
    resumed = [started, *steps, FinishedEvent(10, "runs/a", stopped=True), StartedEvent("runs/a", 10, 100, "cpu",
                                                                                         "fp32", 10, 0)]
    assert run_status(resumed).state == "interrupted"
    # a resumed run still loading its data has the events of the stopped run, and is being trained all the same
    assert run_status(resumed[:-1], training_now=True).state == "running"


def test_a_run_is_running_while_it_trains_and_not_after(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_class=4)
    trainer = Trainer(tiny_config(data, tmp_path / "runs", train=SETTINGS))
    seen = []

    def look(event):
        if isinstance(event, StepEvent):
            seen.append((RunFolder(trainer.run_dir).status().state, read_heartbeat(trainer.run_dir)))

    final = trainer.run(look)
    assert isinstance(final, FinishedEvent) and seen
    for state, beat in seen:
        assert state == "running"
        assert beat["pid"] == os.getpid() and beat["host"] == socket.gethostname()
    assert not (trainer.run_dir / HEARTBEAT_NAME).exists()
    assert RunFolder(trainer.run_dir).status().describe() == "finished at step 8"


def test_a_killed_training_process_stops_counting_as_running_at_once(tmp_path):
    run_dir = tmp_path / "run"
    RunFolder(run_dir).append_event(StartedEvent(str(run_dir), 0, 100, "cpu", "fp32", 10, 0))
    beating = ("import sys, time\nfrom workbench.engine.heartbeat import Heartbeat\n"
               "with Heartbeat(sys.argv[1], every=0.05):\n    time.sleep(600)\n")
    process = subprocess.Popen([sys.executable, "-c", beating, str(run_dir)])
    try:
        deadline = time.monotonic() + 60
        while not is_training_now(run_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert RunFolder(run_dir).status().state == "running"
        assert read_heartbeat(run_dir)["pid"] == process.pid
    finally:
        process.kill()
        process.wait()
    assert (run_dir / HEARTBEAT_NAME).exists()  # a killed process leaves its heartbeat behind...
    assert not is_training_now(run_dir)  # ...but its process is gone: not running, well before the timeout
    assert RunFolder(run_dir).status().state == "interrupted"


def test_a_heartbeat_from_another_machine_counts_until_it_is_stale(tmp_path):
    beat = tmp_path / HEARTBEAT_NAME
    now = time.time()
    beat.write_text(json.dumps({"pid": 1, "host": "gpu-node-17", "time": now - 5}), encoding="utf-8")
    assert is_training_now(tmp_path, now=now)
    assert not is_training_now(tmp_path, now=now + STALE_AFTER_S)
    beat.write_text("{torn", encoding="utf-8")
    assert not is_training_now(tmp_path) and read_heartbeat(tmp_path) is None


def test_a_task_setting_that_names_a_file_is_stored_relative_to_the_config_file(tmp_path):
    """Path settings are found by their `setting(path=...)` mark, in the tasks' settings too: the distillation
    teacher's weights move with the run folder as the dataset does."""
    teacher = tmp_path / "weights" / "teacher.safetensors"
    teacher.parent.mkdir()
    teacher.write_bytes(b"")
    config = tiny_config(tiny_dataset(tmp_path / "data"), tmp_path / "runs",
                         tasks={"distillation": {"teacher_weights": str(teacher), "teacher_backbone": "small_cnn"}})
    save_config(config, tmp_path / "runs" / "a" / "config.yaml")
    text = (tmp_path / "runs" / "a" / "config.yaml").read_text(encoding="utf-8")
    assert "teacher_weights: ../../weights/teacher.safetensors" in text and str(tmp_path) not in text
    shutil.move(str(tmp_path), str(tmp_path.parent / (tmp_path.name + "-moved")))
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    loaded = load_config(moved / "runs" / "a" / "config.yaml")
    assert loaded.tasks["distillation"].teacher_weights == str(moved / "weights" / "teacher.safetensors")


def test_an_empty_runs_folder_is_refused_at_its_field(tmp_path):
    from workbench.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        tiny_config(tmp_path, "")
    assert dict(caught.value.problems)["output.out_dir"] == \
        "must name a folder for the run folders (the default is runs)"


def test_a_run_can_be_continued_when_it_ended_early_with_a_checkpoint_to_continue_from(tmp_path):
    from workbench.engine.events import FailedEvent
    from workbench.engine.runs import can_resume

    config = tiny_config(tiny_dataset(tmp_path / "data", per_class=2), tmp_path / "runs",
                         train={"steps": 4, "checkpoint_every": 2}, eval={"every_steps": 4})
    assert isinstance(Trainer(config, run_dir=tmp_path / "run").run(), FinishedEvent)
    run = RunFolder(tmp_path / "run")
    assert run.status().state == "finished" and not can_resume(run, run.status().state)
    run.append_event(FailedEvent(4, "diverged"))  # as a run that failed after its checkpoints records it
    assert can_resume(run, run.status().state)
    early = RunFolder(tmp_path / "early")  # failed before its first checkpoint: nothing to continue from
    early.append_event(StartedEvent(str(early.path), 0, 4, "cpu", "fp32", 8, 8))
    early.append_event(FailedEvent(1, "diverged"))
    assert early.status().state == "failed" and not can_resume(early, early.status().state)
