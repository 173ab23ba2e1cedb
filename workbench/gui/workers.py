"""Running a long engine job (scan, dataset load, export) off the GUI thread.

A `BackgroundJob` calls `work(cancel, progress)` in its own QThread and reports back through Qt
signals, which Qt delivers on the GUI thread. Engine errors arrive as readable messages. A `JobSlot`
is how a panel runs its jobs: one at a time, with one of three policies for a job asked for meanwhile.
"""
from __future__ import annotations

import atexit
import time
import traceback
from dataclasses import dataclass
from enum import Enum
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


class WhileBusy(Enum):
    """What a `JobSlot` does with a job asked for while another runs."""

    REPLACE = "replace"
    """Cancel the running job and start the new one; the old one's results are dropped (a new folder scan)."""
    IGNORE = "ignore"
    """Keep the running job; the new request is refused (an export already under way)."""
    LATEST = "latest"
    """Let the running job finish, then run only the newest request (a preview redrawn as settings change)."""


@dataclass
class JobHandlers:
    """Callbacks for one job, called on the GUI thread; any may be left out."""

    succeeded: Callable[[Any], None] | None = None
    failed: Callable[[str, str], None] | None = None
    progress: Callable[[int, int, float], None] | None = None
    cancelled: Callable[[], None] | None = None
    ended: Callable[[], None] | None = None


class JobSlot(QObject):
    """At most one running background job of one kind, owned by a panel: start, cancel, the policy for
    a job asked for while one runs (`WhileBusy`), clean-up of finished jobs and waiting at shutdown."""

    def __init__(self, policy: WhileBusy, parent: QObject | None = None):
        super().__init__(parent)
        self.policy = policy
        self._job: BackgroundJob | None = None
        self._pending: tuple[Work, JobHandlers] | None = None
        self._dropped: set[BackgroundJob] = set()
        """Replaced jobs still winding down: what they report is ignored."""
        self._ended_job: BackgroundJob | None = None

    @property
    def busy(self) -> bool:
        """Whether a job of this slot is running (or waiting to run)."""
        return self._job is not None or self._pending is not None

    @property
    def waiting(self) -> bool:
        """Whether a newer request waits for the running job to end (LATEST)."""
        return self._pending is not None

    def run(self, work: Work, handlers: JobHandlers | None = None, **callbacks: Callable) -> bool:
        """Run `work` under the slot's policy; False when it was refused (IGNORE while busy)."""
        handlers = handlers or JobHandlers(**callbacks)
        if self._job is not None and not self._job.is_running() and self.policy is not WhileBusy.LATEST:
            self._job = None  # its work is done: what it reported is still delivered, but the slot is free
        if self._job is not None:
            if self.policy is WhileBusy.IGNORE:
                return False
            if self.policy is WhileBusy.LATEST:
                self._pending = (work, handlers)
                return True
            self._detach()
        self._start(work, handlers)
        return True

    def cancel(self) -> None:
        """Cancel the running job (its `cancelled` handler runs when it stops) and drop any waiting one."""
        self._pending = None
        if self._job is not None:
            self._job.cancel()

    def drop(self) -> None:
        """Cancel the running job and ignore whatever it still reports."""
        self._pending = None
        if self._job is not None:
            self._detach()

    def wait(self, milliseconds: int = -1) -> bool:
        """Block until the running job ends (shutdown and tests); True when none is left running."""
        self._pending = None
        return self._job.wait(milliseconds) if self._job is not None else True

    def _start(self, work: Work, handlers: JobHandlers) -> None:
        job = BackgroundJob(work, self)
        for signal, handler in ((job.succeeded, handlers.succeeded), (job.failed, handlers.failed),
                                (job.progress, handlers.progress), (job.cancelled, handlers.cancelled)):
            if handler is not None:
                signal.connect(lambda *args, handler=handler: job not in self._dropped and handler(*args))
        job.ended.connect(lambda: self._on_ended(job, handlers))
        self._job = job
        job.start()

    def _detach(self) -> None:
        """Cancel the current job; from now on it reports nothing."""
        job, self._job = self._job, None
        self._dropped.add(job)
        job.cancel()

    def _on_ended(self, job: BackgroundJob, handlers: JobHandlers) -> None:
        self._dropped.discard(job)
        if self._ended_job is not None:  # deleted one job late: deleting a job as soon as its `ended` is
            self._ended_job.deleteLater()  # handled crashed the Evaluate page (its queued signals, it seems)
        self._ended_job = job
        if job is not self._job:
            return  # a replaced (or finished and followed) job: its successor owns the slot now
        self._job = None
        if handlers.ended is not None:
            handlers.ended()
        if self._pending is not None and self._job is None:
            work, next_handlers = self._pending
            self._pending = None
            self._start(work, next_handlers)


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
