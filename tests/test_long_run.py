"""Long runs keep a flat memory: thousands of steps on tiny images, with evaluations, checkpoints and metrics
logging, the engine alone and with the GUI's training panel attached. The resident set size (VmRSS) and the
reference count of None are sampled at every evaluation; after a warm-up half, the RSS trend over the second
half must stay within a tolerance, and None must not lose references (a C extension that forgets to count
them makes Python abort once the count reaches zero, hours into a run). Run with `make reliability`
(`pytest -m reliability -s tests/test_long_run.py` prints the figures).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from workbench.engine.events import EvalEvent, FinishedEvent  # noqa: E402

STEPS = 6000
EVAL_EVERY = 200
GROWTH_TOLERANCE_MB = 20.0
"""Most the fitted RSS trend may rise over the second half (allocator noise is a few MB; a leak of one
retained batch per step would be hundreds)."""
NONE_DRIFT_TOLERANCE = 1000
"""Most references None may lose over the second half (imports and caches move it by tens)."""
NONE_FLOOR = 30_000
"""Stop the run before None's count nears zero: Python would abort the whole test session."""


def resident_mb() -> float:
    """This process's resident set size in MB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def second_half_trend(steps: list[int], values: list[float]) -> float:
    """The rise of a straight line fitted to the second half of the samples, over that half."""
    half = len(steps) // 2
    slope, _ = np.polyfit(steps[half:], values[half:], 1)
    return float(slope * (steps[-1] - steps[half]))


@dataclass
class MemoryTrend:
    """Samples at each evaluation: step, RSS in MB, and None's reference count."""

    steps: list[int] = field(default_factory=list)
    megabytes: list[float] = field(default_factory=list)
    none_refs: list[int] = field(default_factory=list)

    def sample(self, step: int) -> None:
        self.steps.append(step)
        self.megabytes.append(resident_mb())
        self.none_refs.append(sys.getrefcount(None))

    def describe(self, name: str) -> str:
        return (f"{name}: RSS {self.megabytes[0]:.0f} MB at step {self.steps[0]}, {max(self.megabytes):.0f} MB peak, "
                f"{self.megabytes[-1]:.0f} MB at step {self.steps[-1]}; fitted growth over the second half "
                f"{second_half_trend(self.steps, self.megabytes):+.1f} MB ({len(self.steps)} samples); "
                f"references to None {self.none_refs[0]:,} -> {self.none_refs[-1]:,}")


def long_config(tmp_path: Path):
    data = tiny_dataset(tmp_path / "data", per_class=16, size=16)
    return tiny_config(data, tmp_path / "runs", data={"image_size": 16},
                       train={"steps": STEPS, "log_every": 10, "checkpoint_every": 500, "threads": 1},
                       eval={"every_steps": EVAL_EVERY, "subset_size": 32})


def check(trend: MemoryTrend, name: str) -> None:
    print("\n" + trend.describe(name))
    assert len(trend.steps) == STEPS // EVAL_EVERY + 1, trend.describe(name)
    assert second_half_trend(trend.steps, trend.megabytes) < GROWTH_TOLERANCE_MB, trend.describe(name)
    assert trend.none_refs[-1] - trend.none_refs[len(trend.steps) // 2] > -NONE_DRIFT_TOLERANCE, trend.describe(name)


@pytest.mark.reliability
@pytest.mark.timeout(3600)
def test_engine_memory_stays_flat_over_a_long_run(tmp_path):
    from workbench.engine.trainer import Trainer

    trend = MemoryTrend()

    def on_event(event) -> None:
        if isinstance(event, EvalEvent):
            trend.sample(event.step)

    final = Trainer(long_config(tmp_path)).run(on_event)
    assert isinstance(final, FinishedEvent) and final.step == STEPS
    check(trend, "engine")


@pytest.mark.reliability
@pytest.mark.timeout(3600)
def test_gui_memory_stays_flat_over_a_long_run(qtbot, tmp_path, monkeypatch):
    """The training panel (bridge, curves, log, embedding map) receives every event on the GUI thread."""
    from gui_helpers import use_private_settings
    from workbench.gui.panels.train import TrainPanel

    use_private_settings(monkeypatch, tmp_path)
    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    trend, show = MemoryTrend(), panel.handle_event

    def show_and_sample(event) -> None:
        show(event)
        if isinstance(event, EvalEvent):
            trend.sample(event.step)
            if trend.none_refs[-1] < NONE_FLOOR:
                panel.stop()

    monkeypatch.setattr(panel, "handle_event", show_and_sample)  # connected by start(), before any event
    with qtbot.waitSignal(panel.run_ended, timeout=3_000_000):
        panel.start(long_config(tmp_path))
    assert trend.none_refs[-1] >= NONE_FLOOR, "stopped early: None is losing references\n" + trend.describe("GUI")
    assert isinstance(panel.final_event, FinishedEvent) and panel.final_event.step == STEPS
    check(trend, "engine + GUI")


def test_qt_calls_keep_their_references_to_none(qtbot):
    """A quick guard for the long run: PySide6 6.12.0 on Python 3.10/3.11 drops a reference to None on every
    call of a method that returns nothing, so a GUI that trains for a while aborts ('deallocating None').
    Needs a PySide6 without that bug (6.11.x) or Python 3.12+, where None is immortal."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    assert sys.getrefcount(None) - before > -100, "each Qt call returning nothing lost a reference to None"
