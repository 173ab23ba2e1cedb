"""One sweep on several GPUs: a worker process per GPU, each training the sweep's next trial when it is free.

Each worker is `main.py sweep --resume SWEEP_DIR` with `CUDA_VISIBLE_DEVICES` set to its GPU, so it sees that GPU
alone; the workers share the sweep's journal and take trials under its lock (`Sweep.run`), so the spec's count is
never exceeded and a worker that dies has its trial redone by the others. Each worker writes its log to
worker-gpu<N>.log in the sweep folder. This process only starts the workers, reports each trial as it ends and
passes a stop on to them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from workbench.control import CancelToken
from workbench.engine.cluster import MAIN_SCRIPT
from workbench.engine.sweep import Sweep, SweepStopped, TrialResult

POLL_SECONDS = 1.0
"""How often the journal is read for trials that ended, and the stop checked."""
WORKER_LOG = "worker-gpu{gpu}.log"


@dataclass(frozen=True)
class WorkerEnd:
    """How a worker process ended: its GPU, exit code (negative: killed by that signal) and log."""

    gpu: str
    returncode: int
    log: Path

    @property
    def failed(self) -> bool:
        """Not ended cleanly: an error, a signal, or no trial of the sweep finished (`main.py sweep` exits 1 then,
        as Python does on an uncaught error: its log tells which)."""
        return self.returncode != 0


def parse_gpus(text: str, visible: int) -> list[str]:
    """The GPU list of `--gpus`: "all" (every one of the `visible` GPUs) or comma-separated indices such as
    "0,1,3". ValueError says what is wrong."""
    if text.strip() == "all":
        if visible == 0:
            raise ValueError("--gpus all: no CUDA GPU is visible here")
        return [str(index) for index in range(visible)]
    gpus = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in gpus):
        raise ValueError(f"--gpus {text!r}: give GPU indices separated by commas (e.g. 0,1) or all")
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus {text!r}: a GPU is named twice")
    return gpus


def run_on_gpus(sweep: Sweep, gpus: list[str], control: CancelToken | None = None,
                on_trial: Callable[[TrialResult], None] | None = None) -> tuple[list[TrialResult], list[WorkerEnd]]:
    """Train the sweep's remaining trials with one worker process per GPU in `gpus`; returns the ranking and how
    each worker ended. `on_trial` sees each trial that ends, from any worker. A cancelled `control` stops every
    worker after its current step (their trials are redone on resume): SweepStopped once they have ended."""
    control = control or CancelToken()
    reported = {result.number for result in sweep.results() if result.state != "running"}
    workers = [_start_worker(sweep.folder, gpu) for gpu in gpus]
    stopping = False
    while any(process.poll() is None for process, _ in workers):
        if control.cancelled and not stopping:
            stopping = True
            for process, _ in workers:
                _stop(process)
        time.sleep(POLL_SECONDS)
        reported |= _report_ended(sweep, reported, on_trial)
    _report_ended(sweep, reported, on_trial)
    ends = [WorkerEnd(gpu, process.returncode, sweep.folder / WORKER_LOG.format(gpu=gpu))
            for (process, gpu) in workers]
    if stopping:
        raise SweepStopped(f"the sweep was stopped; continue it with --resume {sweep.folder}")
    return sweep.results(), ends


def _start_worker(folder: Path, gpu: str) -> tuple[subprocess.Popen, str]:
    """`main.py sweep --resume folder` seeing GPU `gpu` alone, its output in its log, in its own process group
    (so a Ctrl-C in the terminal reaches this process, which passes one stop on, not every worker twice)."""
    log = open(folder / WORKER_LOG.format(gpu=gpu), "ab")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, "PYTHONUNBUFFERED": "1"}
    try:
        process = subprocess.Popen([sys.executable, str(MAIN_SCRIPT), "sweep", "--resume", str(folder)], env=env,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=os.name == "posix")
    finally:
        log.close()  # the worker holds its own handle
    return process, gpu


def _stop(process: subprocess.Popen) -> None:
    """Ask a worker to stop after its current step, as a Ctrl-C would (`main.py sweep` stops cleanly on it; where
    there are no signals it is ended, and its trial is redone on resume)."""
    if process.poll() is not None:
        return
    if os.name == "posix":
        process.send_signal(signal.SIGINT)
    else:
        process.terminate()


def _report_ended(sweep: Sweep, reported: set[int], on_trial) -> set[int]:
    """Report the trials that ended since the last look; returns their numbers."""
    ended = {result.number: result for result in sweep.results() if result.state != "running"}
    new = sorted(set(ended) - reported)
    if on_trial:
        for number in new:
            on_trial(ended[number])
    return set(new)
