"""A run is a folder: config.yaml, metrics.jsonl, checkpoints/, exports/. Nothing else holds its state."""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from workbench.config.paths import relative_path
from workbench.engine.events import (Event, FailedEvent, FinishedEvent, StartedEvent, event_to_record,
                                     record_to_event)
from workbench.engine.heartbeat import is_training_now
from workbench.engine.jobs import job_phrase

CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.jsonl"
CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")
EVENT_PATH_FIELDS = ("run_dir", "path", "checkpoint")
"""Event fields naming a file or folder of the run; metrics.jsonl stores them relative to the run folder."""


class RunFolder:
    """Paths and records of one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_NAME

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def exports_dir(self) -> Path:
        return self.path / "exports"

    def exists(self) -> bool:
        return self.config_path.is_file()

    def checkpoints(self) -> list[Path]:
        """Checkpoint files, oldest step first."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.checkpoints_dir.iterdir()
                 if (m := CHECKPOINT_PATTERN.match(p.name))]
        return [path for _, path in sorted(found)]

    def latest_checkpoint(self) -> Path | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / f"step_{step:08d}.pt"

    def status(self, events: list[Event] | None = None) -> RunStatus:
        """Where the run stands now, from its folder alone: its events (`events` when already read) and its
        heartbeat (whether a process is training it)."""
        status = run_status(self.read_events() if events is None else events, is_training_now(self.path))
        return replace(status, job=job_phrase(self.path, status.state in ("finished", "stopped")))

    def read_events(self) -> list[Event]:
        """All events recorded so far (a torn last line, from a killed writer, is ignored)."""
        return MetricsTail(self.metrics_path).poll()

    def append_event(self, event: Event) -> None:
        """Record one event as a line of metrics.jsonl (flushed, so watchers see it at once)."""
        self.path.mkdir(parents=True, exist_ok=True)
        record = event_to_record(event)
        base = os.path.abspath(self.path)
        for key in EVENT_PATH_FIELDS:
            if isinstance(record.get(key), str):
                record[key] = relative_path(os.path.abspath(record[key]), base)
        line = json.dumps(record, allow_nan=True)
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def remove_unfinished_checkpoints(self) -> None:
        """Delete the temporary files of checkpoint writes that never finished (a killed process leaves them)."""
        if self.checkpoints_dir.is_dir():
            for leftover in self.checkpoints_dir.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)

    def truncate_events_after(self, step: int) -> None:
        """Drop records past `step` (used on resume, so the history has no steps twice)."""
        if not self.metrics_path.is_file():
            return
        kept = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("step", 0) <= step and record.get("event") not in ("FinishedEvent", "FailedEvent"):
                kept.append(line)
        tmp = self.metrics_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.metrics_path)


RESUMABLE_STATES = ("interrupted", "stopped", "failed")
"""States of a run that `train --resume` (or the app's Resume) continues from its last checkpoint."""


def can_resume(folder: RunFolder, state: str) -> bool:
    """Whether the run can be continued (`train --resume`, the app's Resume and Continue): it ended early
    (`RESUMABLE_STATES`) and has a checkpoint to continue from (a run that failed before its first one has not)."""
    return state in RESUMABLE_STATES and folder.latest_checkpoint() is not None


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands: `state` is "not started", "running" (a process is training it now),
    "interrupted" (started, no end, and nothing training it: the process was killed), "stopped", "finished"
    or "failed"; `step` the furthest step recorded; `job` where the cluster job training it stands ("" when it
    was not submitted as a job; see `jobs.job_phrase`)."""

    state: str
    step: int
    total_steps: int
    job: str = ""

    def describe(self) -> str:
        """One phrase for people, e.g. "failed at step 12", "running: step 5 of 100" or "not started (queued)"."""
        if self.state == "running":
            text = f"running: step {self.step} of {self.total_steps or '?'}"
        else:
            text = self.state if self.state == "not started" else f"{self.state} at step {self.step}"
        return f"{text} ({self.job})" if self.job else text


def run_status(events: Iterable[Event], training_now: bool = False) -> RunStatus:
    """The status of a run whose events (its metrics.jsonl, in order) are `events` and which a process is
    training now or not (`training_now`, from its heartbeat: `RunFolder.status`): the one place it is worked out."""
    state, step, total = "not started", 0, 0
    for event in events:
        step = max(step, getattr(event, "step", 0) or 0)
        if isinstance(event, StartedEvent):
            state, total = "interrupted", event.total_steps
        elif isinstance(event, FinishedEvent):
            state = "stopped" if event.stopped else "finished"
        elif isinstance(event, FailedEvent):
            state = "failed"
    return RunStatus("running" if training_now else state, step, total)


def new_run_dir(out_dir: str | Path, name: str, task_names: list[str], job_id: str | None = None) -> Path:
    """A fresh folder under `out_dir`: the given name, or task names and a time stamp; never reused. A job
    (`job_id`, e.g. torchrun's) has one folder, the same on each restart: the name, or task names and job id."""
    if job_id:
        return Path(out_dir) / (name or f"{'+'.join(task_names)}-{job_id}")
    base = name or f"{'+'.join(task_names)}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate = Path(out_dir) / base
    suffix = 2
    while candidate.exists():
        candidate = Path(out_dir) / f"{base}-{suffix}"
        suffix += 1
    return candidate


def list_runs(out_dir: str | Path) -> list[RunFolder]:
    """Run folders under `out_dir`, newest first."""
    root = Path(out_dir)
    if not root.is_dir():
        return []
    dated = []
    for path in root.iterdir():
        try:
            dated.append(((path / CONFIG_NAME).stat().st_mtime, RunFolder(path)))
        except OSError:  # not a run folder, or one removed while listing
            continue
    return [run for _, run in sorted(dated, key=lambda pair: pair[0], reverse=True)]


class MetricsTail:
    """Reads metrics.jsonl incrementally: each `poll()` returns the events appended since the last."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._offset = 0

    def poll(self) -> list[Event]:
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size < self._offset:  # the file was rewritten (a resume truncated it): start over
                    self._offset = 0
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next poll
        self._offset += len(complete)
        events = []
        for line in complete.decode("utf-8", errors="replace").splitlines():
            try:
                event = record_to_event(self._paths_resolved(json.loads(line)))
            except (json.JSONDecodeError, TypeError, AttributeError):
                continue
            if event is not None:
                events.append(event)
        return events

    def _paths_resolved(self, record: dict) -> dict:
        """The record with its run-folder-relative paths joined to the folder holding metrics.jsonl."""
        for key in EVENT_PATH_FIELDS:
            if isinstance(record.get(key), str):
                record[key] = os.path.normpath(os.path.join(self.path.parent, record[key]))
        return record
