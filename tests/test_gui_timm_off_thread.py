"""The GUI thread never imports timm (about 1.5 s, more on a busy machine): a timm backbone restored at launch,
typed into the backbone picker or loaded from a config file (File › Load config…) is read on a worker thread,
and validation waits for that reading (Start says why) instead of importing timm itself; then it still names the
field of a wrong timm name. Watching a timm run's folder and continuing it (Runs page) do not import it either:
the trainer does, on its own thread.

Each scenario runs in a fresh Python process, where timm is not imported yet: there a finder at the head of
`sys.meta_path` notes the thread that loads each module of timm (import statements themselves cannot be watched
reliably: PySide6 puts its own `builtins.__import__` in place whenever it loads a module). A GUI thread that waited
for a worker's import would not be seen; that the window's validation never imports timm while it is being read is
what the "still being read" checks below show."""
from __future__ import annotations

import importlib.abc
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCENARIO_ENV = "WORKBENCH_TIMM_SCENARIO"
SCENARIO = os.environ.get(SCENARIO_ENV, "")
ROOT = Path(__file__).resolve().parents[1]

TIMM_LOADED_AT_START = "timm" in sys.modules
LOADS: list[bool] = []
"""For each module of timm loaded: whether the GUI thread loaded it."""


class TimmLoadRecorder(importlib.abc.MetaPathFinder):
    """Notes who loads a module of timm, then lets the usual finders find it."""

    def find_spec(self, name, path, target=None):
        if name == "timm" or name.startswith("timm."):
            LOADS.append(threading.current_thread() is threading.main_thread())
        return None


if SCENARIO:  # only in the fresh process the outer test starts
    sys.meta_path.insert(0, TimmLoadRecorder())


@pytest.mark.parametrize("scenario", ["launch", "typing", "load", "run folder"])
def test_the_gui_thread_never_imports_timm(scenario):
    env = {**os.environ, SCENARIO_ENV: scenario, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{Path(__file__).resolve()}::test_in_a_fresh_process"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


def type_into(qtbot, line, text: str) -> None:
    """Select what the field holds, type `text` over it and press Enter, as a user does."""
    from PySide6.QtCore import Qt

    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def backbone_problems(window) -> list[str]:
    return [message for path, message in window.train_panel.start_problems if path == "model.backbone"]


@pytest.mark.skipif(not SCENARIO, reason=f"runs in a fresh process, started with {SCENARIO_ENV} set")
def test_in_a_fresh_process(qtbot, monkeypatch, tmp_path):
    assert not TIMM_LOADED_AT_START, "timm was imported before the test could watch it"
    from gui_helpers import use_private_settings
    from workbench.config import dump_yaml
    from workbench.engine.presets import preset_config
    from workbench.gui import settings
    from workbench.gui.app import FIRST_PRESET, MainWindow
    from workbench.gui.workers import finish_running_jobs

    use_private_settings(monkeypatch, tmp_path)
    assert "timm" not in sys.modules  # the app's modules did not import it
    if SCENARIO == "run folder":
        return watch_and_continue_a_timm_run(qtbot, tmp_path)
    if SCENARIO == "launch":  # the last session chose a timm backbone
        config = preset_config(FIRST_PRESET)
        config.model.backbone = "timm/convnext_atto"
        settings.remember_config(dump_yaml(config))
    window = MainWindow(scan_on_open=False)
    qtbot.addWidget(window)
    window.show()
    window.show_step("Train & monitor")
    form = window.train_panel.model_form
    picker = form.editor("backbone")
    if SCENARIO == "load":  # File › Load config… with a file naming a timm backbone
        config = preset_config(FIRST_PRESET)
        config.model.backbone = "timm/convnext_atto"
        (tmp_path / "timm.yaml").write_text(dump_yaml(config), encoding="utf-8")
        assert window.load_config_file(tmp_path / "timm.yaml")
    if SCENARIO == "typing":
        assert picker.value() == "small_cnn"
        type_into(qtbot, picker.line, "timm/convnext_atto")
        window.validate()  # as a click on Start does, before the reading could end
    assert picker.value() == "timm/convnext_atto"
    assert backbone_problems(window) == ["still being read (timm loads in the background): it is checked once read"]
    assert not window.train_panel.start_button.isEnabled()
    assert form.problem_at("backbone") == ""  # Start waits, but the field is not marked wrong before it is known

    qtbot.waitUntil(lambda: "3.4 M parameters · 320 features" in picker.facts.text(), timeout=120_000)
    qtbot.waitUntil(lambda: not backbone_problems(window), timeout=10_000)  # validated again once read
    assert form.problem_at("backbone") == ""
    if SCENARIO == "typing":
        type_into(qtbot, picker.line, "timm/convnext_attox")
        qtbot.waitUntil(lambda: "close names: timm/convnext_atto" in form.problem_at("backbone"), timeout=60_000)
        assert "has no model 'convnext_attox'" in picker.facts.text()
    window.close()
    finish_running_jobs()

    assert LOADS, "timm was never imported: the scenario did not exercise it"
    assert not any(LOADS), f"{sum(LOADS)} of timm's {len(LOADS)} modules were loaded on the GUI thread"


def watch_and_continue_a_timm_run(qtbot, tmp_path) -> None:
    """A run folder of a timm backbone, trained by `main.py train` in another process: the Runs page watches it
    and the window continues it (from its last checkpoint, where it ends at once); nothing imports timm before
    the trainer's thread does."""
    from engine_helpers import tiny_config, tiny_dataset
    from workbench.config import save_config
    from workbench.engine.events import FinishedEvent
    from workbench.gui.app import MainWindow
    from workbench.gui.workers import finish_running_jobs

    run = tmp_path / "runs" / "timm-run"
    config = tiny_config(tiny_dataset(tmp_path / "data", per_class=2, size=32), tmp_path / "runs",
                         train={"steps": 2, "checkpoint_every": 2}, eval={"every_steps": 2, "subset_size": 8})
    config.model.backbone = "timm/convnext_atto"  # set, not validated: that would import timm here
    save_config(config, tmp_path / "timm.yaml")
    trained = subprocess.run([sys.executable, "main.py", "train", str(tmp_path / "timm.yaml"), "--out", str(run)],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    window = MainWindow(scan_on_open=False)
    qtbot.addWidget(window)
    window.show()
    window.runs_panel.watch(run)
    assert window.runs_panel.watching() is not None and "timm" not in sys.modules
    window.resume_run(str(run))
    qtbot.waitUntil(lambda: window.train_panel.is_training(), timeout=10_000)
    qtbot.waitUntil(lambda: not window.train_panel.is_training(), timeout=300_000)
    assert isinstance(window.train_panel.final_event, FinishedEvent), window.train_panel.banner.text()
    window.close()
    finish_running_jobs()
    assert LOADS and not any(LOADS), f"{sum(LOADS)} of timm's {len(LOADS)} modules were loaded on the GUI thread"
