"""Hand a run to a cluster through submitit: SLURM, or this machine with submitit's local executor.

`submit_run` writes nothing but the job: the run folder (config.yaml) exists before. The job trains that folder
(`TrainingJob`); when SLURM preempts it or its time runs out, submitit calls `checkpoint()` and requeues it,
and the requeued job continues from the folder's last checkpoint. `sbatch_script` is the same job for people
who submit by hand: one torchrun per node, which resumes the run when SLURM requeues it."""
from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import submitit
from submitit.helpers import Checkpointable, TorchDistributedEnvironment
from submitit.slurm.slurm import _make_sbatch_string

from workbench.engine.jobs import JOB_NAME, LOCAL, SLURM, JobRecord
from workbench.engine.runs import RunFolder

LOGS_NAME = "job_logs"
"""The run folder's sub-folder where submitit keeps the job's logs and pickles."""
MAIN_SCRIPT = Path(__file__).resolve().parents[2] / "main.py"
RENDEZVOUS_PORT = 29500
NO_WARNING_SIGNAL = [
    "# No --signal: unlike a job submitted through submitit, nothing here acts on SLURM's warning before the end",
    "# (it would only stop training early). A preempted job is requeued (--requeue) and resumes from the run's",
    "# last checkpoint; one that reaches its time limit ends there: `main.py submit --resume RUN_FOLDER` continues it.",
]


@dataclass
class ClusterOptions:
    """Where and how long a job runs: `--slurm partition=gpu,gpus=1,nodes=1,time=60` (time in minutes)."""

    partition: str = ""
    gpus: int = 0
    nodes: int = 1
    time: int = 60
    local: bool = False

    @classmethod
    def parse(cls, text: str, local: bool = False) -> ClusterOptions:
        """Options from "key=value,key=value"; ValueError naming the key for an unknown key or a bad value."""
        options, known = cls(local=local), {f.name for f in fields(cls)} - {"local"}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in known:
                raise ValueError(f"--slurm: {item!r} is not one of {', '.join(sorted(known))} as key=value")
            if key == "partition":
                options.partition = value.strip()
                continue
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"--slurm {key}: expected a whole number, got {value!r}") from None
            if number < (0 if key == "gpus" else 1):
                raise ValueError(f"--slurm {key}: must be at least {0 if key == 'gpus' else 1}, got {number}")
            setattr(options, key, number)
        if options.local and options.nodes > 1:
            raise ValueError("--local runs on this machine: nodes must be 1")
        return options

    @property
    def tasks_per_node(self) -> int:
        """One training process per GPU (one on a node without GPUs)."""
        return max(self.gpus, 1)


class TrainingJob(Checkpointable):
    """The job's work: train the run folder, continuing from its last checkpoint when there is one (a requeued
    or resubmitted job). Under several tasks each is one process of the run (`torch.distributed`). As a submitit
    `Checkpointable`, its `checkpoint()` (called on preemption or time-out) requeues this same job."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = str(run_dir)

    def __call__(self) -> str:
        from workbench.engine.trainer import Trainer
        from workbench.tasks import load_config

        if submitit.JobEnvironment().num_tasks > 1:
            TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        config = load_config(RunFolder(self.run_dir).config_path)
        final = Trainer(config, self.run_dir, continue_run=True).run()
        return f"{type(final).__name__} at step {final.step}"


def require_scheduler(options: ClusterOptions) -> None:
    """ValueError, saying what to do instead, when SLURM is asked for and `sbatch` is not here."""
    if not options.local and shutil.which("sbatch") is None:
        raise ValueError("SLURM's sbatch is not installed here: submit from the cluster's login node, run the job on "
                         "this machine (--local) or write the sbatch script (--print-script)")


def make_executor(run_dir: str | Path, options: ClusterOptions) -> submitit.Executor:
    """A submitit executor writing its logs under the run folder: the local one, or SLURM's."""
    require_scheduler(options)
    logs = Path(run_dir) / LOGS_NAME / "%j"
    executor = submitit.AutoExecutor(logs, cluster=LOCAL if options.local else SLURM)
    executor.update_parameters(name=Path(run_dir).name, timeout_min=options.time, nodes=options.nodes,
                               tasks_per_node=options.tasks_per_node, gpus_per_node=options.gpus)
    if options.partition and not options.local:
        executor.update_parameters(slurm_partition=options.partition)
    return executor


def submit_run(run_dir: str | Path, options: ClusterOptions) -> tuple[JobRecord, submitit.Job]:
    """Submit the job training the run folder `run_dir` and record it there (job.json)."""
    folder = RunFolder(run_dir)
    if not folder.exists():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml)")
    executor = make_executor(run_dir, options)
    try:
        job = executor.submit(TrainingJob(folder.path.resolve()))
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        raise ValueError(f"the job was not submitted ({error}); the run folder {run_dir} is kept: submit it again "
                         "with --resume") from None
    record = JobRecord(str(job.job_id), LOCAL if options.local else SLURM,
                       time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), socket.gethostname(),
                       str(job.paths.stdout), str(job.paths.stderr))
    record.write(folder.path / JOB_NAME)
    return record, job


def sbatch_script(run_dir: str | Path, options: ClusterOptions) -> str:
    """The equivalent `sbatch` script: on each node, torchrun starts one process per GPU and they meet at the
    first node; a requeued job (SLURM_RESTART_COUNT > 0) resumes the run from its last checkpoint."""
    run_dir = Path(run_dir).resolve()
    folder = RunFolder(run_dir)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(options.nodes),
                "--nproc-per-node", str(options.tasks_per_node), "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"$HEAD_NODE:{RENDEZVOUS_PORT}", "--rdzv-id", "$SLURM_JOB_ID",
                str(MAIN_SCRIPT), "train", str(folder.config_path), "--out", str(run_dir)]
    command = " ".join(part if part.startswith("$") else shlex.quote(part) for part in torchrun)
    head = 'HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)'
    script = _make_sbatch_string(
        command=command, folder=run_dir / LOGS_NAME / "%j", job_name=run_dir.name,
        partition=options.partition or None, time=options.time, nodes=options.nodes, ntasks_per_node=1,
        gpus_per_node=options.gpus or None, setup=[head, *NO_WARNING_SIGNAL], additional_parameters={"requeue": True})
    return "\n".join(line for line in script.splitlines() if not line.startswith("#SBATCH --signal=")) + "\n"
