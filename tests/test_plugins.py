"""Plugins: a task in one dropped-in file registers itself; a broken plugin is reported, never fatal."""
from pathlib import Path

from engine_helpers import tiny_config, tiny_dataset
from workbench.engine.events import FinishedEvent, StepEvent
from workbench.engine.trainer import Trainer
from workbench.tasks import default_plugin_folders, load_plugins, registered_tasks

PROJECT_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def test_example_plugin_registers_and_trains(tmp_path):
    assert PROJECT_PLUGINS in default_plugin_folders()
    reports = load_plugins([PROJECT_PLUGINS])
    assert any(r.tasks == ("flip_prediction",) and r.error is None for r in reports)
    assert "flip_prediction" in registered_tasks()
    data = tiny_dataset(tmp_path / "d", per_class=3)
    config = tiny_config(data, tmp_path / "runs", tasks={"flip_prediction": {"flip_probability": 0.5}},
                         train={"steps": 2, "log_every": 1})
    events = []
    final = Trainer(config).run(events.append)
    assert isinstance(final, FinishedEvent)
    step = next(e for e in events if isinstance(e, StepEvent))
    assert "flip_prediction/flip_accuracy" in step.values


def test_broken_plugin_is_reported_and_skipped(tmp_path):
    (tmp_path / "broken.py").write_text("import numpy\nraise RuntimeError('half-written plugin')\n")
    (tmp_path / "typo.py").write_text("def oops(:\n")
    (tmp_path / "_private.py").write_text("raise SystemExit('never imported')\n")
    reports = {r.path.name: r for r in load_plugins([tmp_path])}
    assert set(reports) == {"broken.py", "typo.py"}
    assert "RuntimeError: half-written plugin (line 2)" == reports["broken.py"].error
    assert reports["typo.py"].error.startswith("SyntaxError")
    assert registered_tasks()  # the registry still works


def test_plugin_with_a_training_step_of_another_signature_is_reported_with_the_one_expected(tmp_path):
    (tmp_path / "stale.py").write_text(
        "from workbench.tasks import PretextTask, register_task\n\n\n"
        "@register_task('stale_signature')\n"
        "class Stale(PretextTask):\n"
        "    def training_step(self, images, augment):\n"
        "        raise AssertionError('never called')\n")
    [report] = load_plugins([tmp_path])
    assert report.tasks == () and "training_step must take (self, images, augment, context=None)" in report.error
    assert "stale_signature" not in registered_tasks()


def test_plugin_taking_a_registered_name_is_reported_and_the_task_kept(tmp_path):
    from workbench.tasks.simclr import SimCLR

    (tmp_path / "copycat.py").write_text(
        "from workbench.tasks import PretextTask, register_task\n\n\n"
        "@register_task('simclr')\n"
        "class Copycat(PretextTask):\n"
        "    def training_step(self, images, augment, context=None):\n"
        "        raise AssertionError('never called')\n")
    [report] = load_plugins([tmp_path])
    assert "a task named 'simclr' is already registered (by workbench.tasks.simclr.SimCLR)" in report.error
    assert registered_tasks()["simclr"] is SimCLR
