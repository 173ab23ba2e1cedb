"""Running a long engine job (scan, dataset load, export) off the GUI thread.

A `BackgroundJob` calls `work(cancel, progress)` in its own QThread and reports back through Qt
signals, which Qt delivers on the GUI thread. Engine errors arrive as readable messages.
"""
from __future__ import annotations

import atexit
import time
import traceback
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QThread, Signal

from workbench.control import CancelledError, CancelToken, Progress

Work = Callable[[CancelToken, Progress], Any]

_RUNNING: set[QThread] = set()
"""Threads of started jobs, held until they finish: a job deleted with its window (or collected by
Python) must not take a running QThread with it, which aborts the process."""


def finish_running_jobs(milliseconds: int = 10_000) -> None:
    """Cancel every job still running and wait for its thread, so that no QThread outlives the app."""
    for thread in list(_RUNNING):
        if shiboken6.isValid(thread._job):
            thread._job.cancel()
        thread.wait(milliseconds)


atexit.register(finish_running_jobs)


class _JobThread(QThread):
    def __init__(self, job: "BackgroundJob", work: Work):
        super().__init__()
        self._job = job
        self._work = work

    def run(self) -> None:
        job = self._job
        try:
            self._run_and_report(job)
        except RuntimeError:
            if shiboken6.isValid(job):
                raise
            # the job was deleted while it ran (its window closed): nobody is left to tell

    def _run_and_report(self, job: "BackgroundJob") -> None:
        try:
            result = self._work(job.cancel_token, job._report_progress)
        except CancelledError:
            job.cancelled.emit()
        except Exception as error:  # every failure reaches the user as a message, not a terminal traceback
            if not shiboken6.isValid(job):
                raise RuntimeError("job deleted") from error
            job.failed.emit(readable_error(error), traceback.format_exc())
        else:
            if job.cancel_token.cancelled:
                job.cancelled.emit()
            else:
                job.succeeded.emit(result)


class BackgroundJob(QObject):
    """One cancellable job on a worker thread; `progress(done, total, eta_seconds)` while it runs."""

    progress = Signal(int, int, float)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, work: Work, parent: QObject | None = None):
        super().__init__(parent)
        self.cancel_token = CancelToken()
        self._started_at = 0.0
        self._last_report = 0.0
        self._thread = _JobThread(self, work)
        self._thread.finished.connect(self._on_thread_finished)

    def _on_thread_finished(self) -> None:
        # `finished` can arrive while the thread is still winding down; once wait() returns, whoever
        # listens to `ended` may delete the job (and its thread) safely.
        self._thread.wait()
        _RUNNING.discard(self._thread)
        self.ended.emit()

    def start(self) -> None:
        self._started_at = time.monotonic()
        _RUNNING.add(self._thread)
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, milliseconds: int = -1) -> bool:
        """Block until the job's thread ends (only for shutdown and tests)."""
        return self._thread.wait() if milliseconds < 0 else self._thread.wait(milliseconds)

    def _report_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last_report < 0.05:  # at most ~20 updates a second
            return
        self._last_report = now
        elapsed = now - self._started_at
        eta = elapsed / done * (total - done) if done > 0 and total > 0 else -1.0
        self.progress.emit(int(done), int(total), float(eta))


def readable_error(error: BaseException) -> str:
    """A one-paragraph message for the user; ConfigError already lists each field."""
    text = str(error).strip()
    return text if text else type(error).__name__


def format_seconds(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 05 s', '12 s', or '' when unknown."""
    if seconds is None or seconds < 0:
        return ""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
