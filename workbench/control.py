"""Cancellation and pause for long jobs, safe to use from another thread (e.g. a GUI)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

LOCK_POLL_SECONDS = 0.25
"""How often a process waiting for a file lock checks for cancellation."""


class CancelledError(Exception):
    """Raised inside a job when its CancelToken was cancelled."""


class CancelToken:
    """Cooperative cancellation: the job checks `cancelled` (or calls `raise_if_cancelled`) between units of work."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise CancelledError()


class RunControl(CancelToken):
    """Cancel plus pause/resume, honoured by the trainer between steps."""

    def __init__(self) -> None:
        super().__init__()
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        super().cancel()
        self._running.set()  # wake a paused loop so it can stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; returns True once running (or cancelled)."""
        return self._running.wait(timeout)


#: Progress callback of long jobs: called with (done, total) units of work.
Progress = Callable[[int, int], None]


@contextmanager
def held_alone(lock_path: Path, cancel: CancelToken | None = None):
    """Inside: no other process holds the file lock at `lock_path`; waits (cancellably) for one that does. The lock
    is filelock's: flock on Linux and macOS, which NFS v3/v4 honour (Lustre needs its `flock` mount option)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    while True:
        try:
            lock.acquire(timeout=LOCK_POLL_SECONDS)
            break
        except Timeout:
            if cancel:
                cancel.raise_if_cancelled()
    try:
        yield
    finally:
        lock.release()
