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


def _gated(gate: threading.Event, value):
    def work(cancel, progress):
        gate.wait(5)
        return value
    return work


def test_replace_slot_drops_the_replaced_jobs_results(qtbot):
    from workbench.gui.workers import JobSlot, WhileBusy

    slot, results, gate = JobSlot(WhileBusy.REPLACE), [], threading.Event()
    slot.run(_gated(gate, "old"), succeeded=results.append)
    slot.run(lambda cancel, progress: "new", succeeded=results.append)
    gate.set()
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)
    qtbot.wait(100)  # the replaced job's thread ends too; nothing of it may arrive
    assert results == ["new"]


def test_ignore_slot_refuses_a_second_job_while_one_runs(qtbot):
    from workbench.gui.workers import JobSlot, WhileBusy

    slot, results, gate = JobSlot(WhileBusy.IGNORE), [], threading.Event()
    assert slot.run(_gated(gate, "first"), succeeded=results.append)
    assert not slot.run(lambda cancel, progress: "second", succeeded=results.append)
    gate.set()
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)
    assert results == ["first"]
    assert slot.run(lambda cancel, progress: "third", succeeded=results.append)
    qtbot.waitUntil(lambda: results == ["first", "third"], timeout=5000)


def test_latest_slot_runs_only_the_newest_waiting_request(qtbot):
    from workbench.gui.workers import JobSlot, WhileBusy

    slot, results, gate = JobSlot(WhileBusy.LATEST), [], threading.Event()
    slot.run(_gated(gate, 1), succeeded=results.append)
    for value in (2, 3, 4):
        slot.run(lambda cancel, progress, value=value: value, succeeded=results.append)
    gate.set()
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)
    assert results == [1, 4]


def test_cancel_reaches_the_running_job_and_its_handler(qtbot):
    from workbench.gui.workers import JobSlot, WhileBusy

    def work(cancel, progress):
        while not cancel.cancelled:
            threading.Event().wait(0.01)
        cancel.raise_if_cancelled()

    slot, events = JobSlot(WhileBusy.REPLACE), []
    slot.run(work, cancelled=lambda: events.append("cancelled"), ended=lambda: events.append("ended"))
    slot.cancel()
    qtbot.waitUntil(lambda: events == ["cancelled", "ended"], timeout=5000)
    assert not slot.busy
