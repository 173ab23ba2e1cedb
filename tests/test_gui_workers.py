"""Background jobs: a job whose owner goes away while it runs must not take the process down."""
from __future__ import annotations

import gc
import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QWidget  # noqa: E402

from workbench.gui.workers import BackgroundJob  # noqa: E402


def test_a_running_job_survives_its_owner_being_deleted(qtbot):
    release, finished = threading.Event(), threading.Event()

    def work(cancel, progress):
        release.wait(5)
        finished.set()
        return "done"

    owner = QWidget()
    job = BackgroundJob(work, owner)
    job.start()
    owner.deleteLater()
    del owner, job
    qtbot.wait(50)  # the owner, and with it the job, is deleted here
    gc.collect()
    release.set()
    assert finished.wait(5)
    qtbot.wait(50)


def test_results_arrive_on_the_job(qtbot):
    job = BackgroundJob(lambda cancel, progress: 42)
    with qtbot.waitSignal(job.ended, timeout=5000):
        with qtbot.waitSignal(job.succeeded, timeout=5000) as result:
            job.start()
    assert result.args == [42]
