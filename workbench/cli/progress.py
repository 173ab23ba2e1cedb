"""Printing trainer events in a terminal: a progress line, evaluation results and verdicts, warnings."""
from __future__ import annotations

import sys
from typing import TextIO

from workbench.engine.events import (CheckpointEvent, EvalEvent, Event, FailedEvent, FinishedEvent, PausedEvent,
                                     StartedEvent, StepEvent, VerdictEvent, WarningEvent, NoteEvent)

BAR_WIDTH = 24


def format_duration(seconds: float | None) -> str:
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

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self._progress(event)
        elif isinstance(event, StartedEvent):
            verb = "Resuming" if event.step else "Training"
            labelled = f", {event.num_labelled} labelled" if event.num_labelled else ", unlabelled"
            self._print(f"{verb} on {event.device} ({event.precision}) · {event.num_images} images{labelled} · "
                        f"run folder {event.run_dir}")
        elif isinstance(event, EvalEvent):
            values = " · ".join(f"{key} {value:.3f}" for key, value in event.values.items())
            self._print(f"  eval @ step {event.step}: {values}")
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
