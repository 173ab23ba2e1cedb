"""`python main.py bench --gui`: does the window slow training down, and does it stay responsive?

The same short run is trained headless (the trainer on a plain thread, events dropped) and through the real
window (TrainingBridge on a worker thread, the Train & monitor panel visible with its curves, log and
embedding map updating), alternately, several rounds in one process, so that a machine busy with
something else slows both alike. Speed is images per second between the run's first and last event, timed
on the training thread in both cases.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from workbench.config import RunConfig
from workbench.engine.device import default_cpu_threads

BENCH_IMAGE_SIZE = 64
RATIO_GOAL = 0.97
"""Goal: training with the window runs at least at this fraction of the headless speed."""
STALL_GOAL_MS = 50
"""Goal: the event loop never stalls longer than this while the plots update."""
ROUNDS = 2
SETTLE_MS = 500


def benchmark_config(steps: int, out_dir: str | Path) -> RunConfig:
    """The quick CPU demo preset, `steps` long, 64 px, the app's default torch threads, evaluations along
    the way."""
    from workbench.engine.presets import quick_cpu_demo

    config = quick_cpu_demo()
    config.data.image_size = BENCH_IMAGE_SIZE
    config.train.steps = steps
    config.train.checkpoint_every = 10 ** 6
    config.eval.every_steps = max(steps // 3, 1)
    config.output.out_dir = str(out_dir)
    return config


class _RunClock:
    """Times a run from its StartedEvent to its FinishedEvent, on whatever thread emits them."""

    def __init__(self) -> None:
        self.started = self.ended = 0.0
        self.first_step = self.last_step = self.num_images = 0

    def __call__(self, event) -> None:
        from workbench.engine.events import FailedEvent, FinishedEvent, StartedEvent

        if isinstance(event, StartedEvent):
            self.started, self.first_step, self.num_images = time.perf_counter(), event.step, event.num_images
        elif isinstance(event, (FinishedEvent, FailedEvent)):
            self.ended, self.last_step = time.perf_counter(), event.step

    def images_per_second(self, batch_size: int) -> float:
        if not self.started or not self.ended:
            raise RuntimeError("the benchmark run did not report its start and end")
        batch = min(batch_size, self.num_images)  # the trainer's own rule for a dataset smaller than a batch
        return (self.last_step - self.first_step) * batch / max(self.ended - self.started, 1e-9)


def _headless(config: RunConfig) -> float:
    """The trainer alone, on a plain worker thread like the window's. Not on this (main) thread: torch ops
    here would leave an OpenMP pool behind on the GUI thread, and with more OpenMP threads than cores
    libgomp throttles its spin-waiting, which slows the next in-window run by some 15% on 2 cores."""
    from workbench.engine.trainer import Trainer

    clock = _RunClock()
    failures: list[BaseException] = []

    def train() -> None:
        try:
            Trainer(config).run(clock)
        except BaseException as error:  # re-raised on the calling thread
            failures.append(error)

    worker = threading.Thread(target=train, name="headless-benchmark")
    worker.start()
    worker.join()
    if failures:
        raise failures[0]
    return clock.images_per_second(config.train.batch_size)


def _with_window(window, config: RunConfig) -> tuple[float, float]:
    """(images/s, longest stall in ms) of one run started from the window."""
    from PySide6.QtCore import QEventLoop, Qt

    panel = window.train_panel
    clock = _RunClock()
    loop = QEventLoop()
    panel.run_ended.connect(loop.quit)
    panel.start(config)
    panel.bridge.event.connect(clock, Qt.ConnectionType.DirectConnection)  # timed on the training thread
    loop.exec()
    panel.run_ended.disconnect(loop.quit)
    return clock.images_per_second(config.train.batch_size), float(panel.last_stall_ms or 0.0)


def _settle(app) -> None:
    """Let the shown window lay itself out and paint once, as it has long done in real use by the time a
    user presses Start. The headless rounds block this thread, so without this the window's very first
    paint would fall inside the first in-window run and be counted as a training stall."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(SETTLE_MS, loop.quit)
    loop.exec()


def run_gui_benchmark(steps: int = 60, rounds: int = ROUNDS,
                      on_round: Callable[[int, float, float, float], None] | None = None) -> dict:
    """Headless vs in-window training speed and the GUI's longest stall, alternating `rounds` times;
    `on_round(round, headless, gui, stall_ms)` reports each round as it ends.

    Returns {"headless_images_per_second", "gui_images_per_second", "ratio" (best GUI / best headless),
    "longest_stall_ms", "rounds": [(headless, gui), ...]}."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from workbench.gui.app import MainWindow
    from workbench.gui.style import apply_style

    app = QApplication.instance() or QApplication([])
    apply_style(app)
    pairs: list[tuple[float, float]] = []
    stalls: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        config = benchmark_config(steps, Path(folder) / "runs")
        window = MainWindow(config, scan_on_open=False)
        window.resize(1400, 900)
        window.show()
        window.show_step("Train & monitor")
        _settle(app)
        for _ in range(rounds):
            headless = _headless(config)
            gui, stall = _with_window(window, config)
            pairs.append((headless, gui))
            stalls.append(stall)
            if on_round is not None:
                on_round(len(pairs), headless, gui, stall)
        window.train_panel.stop_and_wait()
        window.close()
    best_headless = max(pair[0] for pair in pairs)
    best_gui = max(pair[1] for pair in pairs)
    return {"headless_images_per_second": best_headless, "gui_images_per_second": best_gui,
            "ratio": best_gui / best_headless, "longest_stall_ms": max(stalls), "rounds": pairs}


def print_gui_benchmark(steps: int = 60, rounds: int = ROUNDS) -> int:
    """Print `run_gui_benchmark` for the command line; exit status 0 when both goals are met."""
    threads = default_cpu_threads()
    print(f"GUI benchmark: quick CPU demo, {steps} steps, {BENCH_IMAGE_SIZE} px, {threads} torch thread(s)")
    result = run_gui_benchmark(steps, rounds, on_round=lambda index, headless, gui, stall: print(
        f"  round {index}: headless {headless:8.1f} img/s   with the window {gui:8.1f} img/s   "
        f"longest stall {stall:5.0f} ms", flush=True))
    print(f"  ratio, best with the window / best headless (goal >= {RATIO_GOAL}): {result['ratio']:.3f}")
    print(f"  longest event-loop stall (goal <= {STALL_GOAL_MS} ms):                   "
          f"{result['longest_stall_ms']:.0f} ms")
    return 0 if result["ratio"] >= RATIO_GOAL and result["longest_stall_ms"] <= STALL_GOAL_MS else 1


if __name__ == "__main__":
    import sys

    sys.exit(print_gui_benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
