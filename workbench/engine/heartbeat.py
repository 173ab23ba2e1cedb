"""The heartbeat of a run being trained: `heartbeat.json` in the run folder, rewritten every few seconds by the
training process (this app, the CLI or the main `torchrun` process) with its pid, host and time, and removed
when training ends. Anyone reading the folder can then tell a run trained now from one whose process died."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

HEARTBEAT_NAME = "heartbeat.json"
BEAT_EVERY_S = 5.0
STALE_AFTER_S = 60.0
"""A heartbeat older than this is a dead (or hung) process's: the run is no longer being trained."""


class Heartbeat:
    """Context manager: inside it, a background thread rewrites the run folder's heartbeat every `every`
    seconds (paused runs and long evaluations included); on leaving, the heartbeat is removed."""

    def __init__(self, run_dir: str | Path, every: float = BEAT_EVERY_S):
        self.path = Path(run_dir) / HEARTBEAT_NAME
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat_until_stopped, name="run heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def beat(self) -> None:
        """Write the heartbeat now. Never recreates a run folder that was removed; a failed write is skipped
        (the next one may succeed, and a missed beat only makes the run look stale sooner)."""
        record = this_process()
        tmp = self.path.with_name(f".{HEARTBEAT_NAME}.tmp")
        try:
            tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self._every):
            self.beat()


def this_process() -> dict:
    """This process as a heartbeat records it: {"pid", "host", "time" (now)}."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}


def read_heartbeat(run_dir: str | Path) -> dict | None:
    """The heartbeat record ({"pid", "host", "time"}) of the run folder, or None when it has none."""
    try:
        record = json.loads((Path(run_dir) / HEARTBEAT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and isinstance(record.get("time"), (int, float))):
        return None
    return record


def is_training_now(run_dir: str | Path, now: float | None = None) -> bool:
    """Whether a process is training the run in `run_dir`: its heartbeat is fresh and, when written on this
    machine, its process is still alive (so a killed run stops counting at once, not after the timeout)."""
    record = read_heartbeat(run_dir)
    if record is None:
        return False
    if (time.time() if now is None else now) - record["time"] > STALE_AFTER_S:
        return False
    return process_of_record_alive(record)


def process_of_record_alive(record: dict) -> bool:
    """Whether the process a `this_process` record names is alive; True when it ran on another machine (which
    cannot be asked from here)."""
    pid = record.get("pid")
    if record.get("host") == socket.gethostname() and isinstance(pid, int) and pid > 0:
        return process_alive(pid)
    return True


def process_alive(pid: int) -> bool:
    """Whether the process `pid` of this machine is alive (always True where that cannot be asked)."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows: trust the timeout there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether `pid` has ended but its parent has not collected it yet (Linux; False where it cannot be told)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
