"""Printing in a terminal: trainer events (a progress line, evaluation results and verdicts, warnings) and the
progress of other long jobs (`PercentProgress`)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from workbench.data.scan_summary import SCAN_REPORT_NAME, ScanSummary
from workbench.engine.events import (CheckpointEvent, EvalEvent, Event, FailedEvent, FinishedEvent, PausedEvent,
                                     StartedEvent, StepEvent, VerdictEvent, WarningEvent, NoteEvent)
from workbench.engine.quality_values import summarise

BAR_WIDTH = 24
LOGGED_PERCENT = 10
"""`PercentProgress` writing to a file or pipe: a line each time this many more percent are done."""
FINISHED_NEXT = "Next: main.py probe RUN to measure it with labels, main.py export RUN to use it."
STOPPED_NEXT = "Next: main.py train --resume RUN to continue it, or probe or export it as it is."


def format_duration(seconds: float | None) -> str:
    """"01:05", "1:02:03"; "--:--" for an unknown time."""
    if seconds is None:
        return "--:--"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ConsoleReporter:
    """An event handler for the CLI. On a terminal the progress line redraws in place."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self._line_open = False
        self._classes = 0
        """The run's number of classes (from its scan report), for kNN accuracy's chance level."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self._progress(event)
        elif isinstance(event, StartedEvent):
            verb = "Resuming" if event.step else "Training"
            labelled = f", {event.num_labelled} labelled" if event.num_labelled else ", unlabelled"
            self._print(f"{verb} on {event.device} ({event.precision}) · {event.num_images} images{labelled} · "
                        f"run folder {event.run_dir}")
            self._classes = class_count(event.run_dir)
        elif isinstance(event, EvalEvent):
            self._print(f"  eval @ step {event.step}: {summarise(event.values, self._classes)}")
        elif isinstance(event, CheckpointEvent):
            pass  # checkpoints are routine; the final path is printed with FinishedEvent
        elif isinstance(event, VerdictEvent):
            self._print(f"  verdict @ step {event.step}: {event.message}")
        elif isinstance(event, WarningEvent):
            self._print(f"  WARNING (step {event.step}): {event.message}")
        elif isinstance(event, NoteEvent):
            self._print(f"  note (step {event.step}): {event.message}")
        elif isinstance(event, PausedEvent):
            self._print("  paused" if event.paused else "  resumed")
        elif isinstance(event, FinishedEvent):
            how = "Stopped" if event.stopped else "Finished"
            self._print(f"{how} at step {event.step}. Run folder: {event.run_dir}")
            self._print(STOPPED_NEXT if event.stopped else FINISHED_NEXT)
        elif isinstance(event, FailedEvent):
            self._print(f"FAILED at step {event.step}: {event.message}")

    def _progress(self, event: StepEvent) -> None:
        share = event.step / max(event.total_steps, 1)
        filled = int(share * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        values = event.values
        line = (f"step {event.step}/{event.total_steps} [{bar}] {share:4.0%} · epoch {event.epoch:.1f} · "
                f"loss {values.get('loss', float('nan')):.4f} · {values.get('images_per_second', 0):.0f} img/s · "
                f"ETA {format_duration(event.eta_seconds)}")
        if self.live:
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
            self._line_open = True
        else:
            self._print(line)

    def _print(self, text: str) -> None:
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()


def class_count(run_dir: str) -> int:
    """The number of classes the run's scan report found; 0 when unlabelled or the report is not there."""
    summary = ScanSummary.read(Path(run_dir) / SCAN_REPORT_NAME)
    return len(summary.labels or {}) if summary else 0


class PercentProgress:
    """A `Progress` callback (done, total) for a long job: "Probing: 40% done, about 02:10 left" on `stream`.
    On a terminal the line redraws in place whenever the whole percentage changes; written to a file or pipe,
    a plain line every `LOGGED_PERCENT` percent. The time left is the elapsed time per unit done times the
    units left, so it is as true as the units are even."""

    def __init__(self, label: str, stream: TextIO | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._every = 1 if self.live else LOGGED_PERCENT
        self._started: float | None = None
        self._shown: int | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started = now
        percent = 100 * done // max(total, 1)
        shown = percent - percent % self._every
        if shown == self._shown:
            return
        self._shown = shown
        elapsed = now - self._started
        if done >= total:
            when = f" in {format_duration(elapsed)}"
        elif done > 0:
            when = f", about {format_duration(elapsed / done * (total - done))} left"
        else:
            when = ""
        line = f"{self.label}: {shown}% done{when}"
        end = "\n" if done >= total or not self.live else ""
        self.stream.write(("\r" + line + "\x1b[K" if self.live else line) + end)
        self.stream.flush()
