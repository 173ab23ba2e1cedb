"""Multi-process training under `torchrun`: process group set-up and rank facts."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def restart_count(context: DistributedContext) -> int:
    """How many times torchrun (or SLURM, requeueing the job) has restarted this job; 0 on the first launch and
    outside both: the most any process was told, as torchrun restarts healthy workers without counting."""
    count = max(int(os.environ.get(name) or 0) for name in ("TORCHELASTIC_RESTART_COUNT", "SLURM_RESTART_COUNT"))
    if not context.enabled:
        return count
    counts = [0] * context.world_size
    dist.all_gather_object(counts, count)
    return max(counts)


def job_id() -> str | None:
    """The torchrun job's id (its `--rdzv-id`; a fresh one per `--standalone` launch), None outside torchrun:
    it names the run folder when none is given, so a restarted job finds the folder it was training."""
    return os.environ.get("TORCHELASTIC_RUN_ID") or None


def restart_hazard() -> str | None:
    """A warning when torchrun may restart the workers (`--max-restarts`) while it shares its rendezvous store
    with them (its default): restarted workers can then read the stopped round's addresses and hang, as they did
    here in about half the trials (torch issue 135712). None when it does not apply."""
    restarts = int(os.environ.get("TORCHELASTIC_MAX_RESTARTS") or 0)
    if restarts == 0 or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    return ("torchrun may restart these workers (--max-restarts) but shares its rendezvous store with them, so "
            "restarted workers can connect to the stopped ones and hang (torch issue 135712): launch torchrun with "
            "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 in its environment")


def init_distributed(device_preference: str) -> DistributedContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPUs."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_preference in ("auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistributedContext(rank, world_size, local_rank)


def broadcast_text(text: str, context: DistributedContext) -> str:
    """Rank 0's `text` on every rank (e.g. the run folder's path)."""
    if not context.enabled:
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextmanager
def node_leader_first(context: DistributedContext):
    """Inside: each node's first process (LOCAL_RANK 0) works first, the others wait at a barrier until every
    node's first process is done, e.g. so that the decoded cache is built once per node and then only read."""
    if context.enabled and context.local_rank != 0:
        barrier(context)
    yield
    if context.enabled and context.local_rank == 0:
        barrier(context)


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
