"""The record of the cluster job that trains a run (`job.json` in the run folder) and where that job stands.

`main.py submit` writes the record; the run's status reads it with the heartbeat: a job still queued, running
on a node, ended, or dead (so a run whose job died says so instead of looking as if it were waiting)."""
from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench.config.formats import JsonArtefact
from workbench.engine.heartbeat import is_training_now, process_alive, read_heartbeat

JOB_NAME = "job.json"
LOCAL = "local"
SLURM = "slurm"
QUEUED_STATES = ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED")
RUNNING_STATES = ("RUNNING", "COMPLETING", "STAGE_OUT")
SCHEDULER_TIMEOUT_S = 5.0


@dataclass
class JobRecord(JsonArtefact):
    """A submitted job: its id (SLURM's job id; the local executor's process id), the executor ("local" or
    "slurm"), when it was submitted (ISO 8601, UTC), from which host, and its log files."""

    job_id: str
    executor: str
    submitted: str
    host: str
    stdout: str
    stderr: str
    INDENT = 1

    @classmethod
    def of_run(cls, run_dir: str | Path) -> JobRecord | None:
        """The record of the run in `run_dir`; None when it was not submitted as a job (or the record is unreadable)."""
        try:
            return cls.read(Path(run_dir) / JOB_NAME)
        except ValueError:
            return None


def job_phrase(run_dir: str | Path, run_ended: bool) -> str:
    """Where the job training the run in `run_dir` stands, for people: "" (no job), "queued", "running on
    NODE", "job ended", "job died" or "job state unknown" (no scheduler tools here to ask)."""
    record = JobRecord.of_run(run_dir)
    if record is None:
        return ""
    heartbeat = read_heartbeat(run_dir) if is_training_now(run_dir) else None
    if record.executor == LOCAL:
        if record.host != socket.gethostname() or not str(record.job_id).isdigit():
            return "job state unknown"
        state, nodes = ("RUNNING" if process_alive(int(record.job_id)) else "ENDED"), record.host
    else:
        found = slurm_state(record.job_id)
        if found is None:
            return "job state unknown"
        state, nodes = found
    if state in QUEUED_STATES:
        return "queued"
    if state in RUNNING_STATES:
        return f"running on {heartbeat['host'] if heartbeat else nodes}"
    return "job ended" if run_ended else "job died"


def slurm_state(job_id: str) -> tuple[str, str] | None:
    """(state, nodes) of a SLURM job from `squeue` (while queued or running), else `sacct` (after it ended);
    None when neither command is here or neither knows the job."""
    for command in (["squeue", "-h", "-j", job_id, "-o", "%T|%N"],
                    ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State,NodeList"]):
        if shutil.which(command[0]) is None:
            continue
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines = [line for line in result.stdout.splitlines() if "|" in line]
        if result.returncode == 0 and lines:
            state, nodes = lines[0].split("|", 1)
            return state.split()[0].upper(), nodes.strip()  # sacct writes e.g. "CANCELLED by 1000"
    return None
