"""Keeping task state that is not trained (queues, centres) the same on every process of a torchrun job.

Each function is the identity when no process group is running, so single-process results do not change.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def process_count() -> int:
    """How many processes train together: the process group's size, or 1 when there is none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


@torch.no_grad()
def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """(B, ...) rows of every process, concatenated in rank order: (processes x B, ...).

    Every process must pass the same shape (the trainer gives each one equal batches). No gradient flows back.
    """
    count = process_count()
    if count == 1:
        return rows
    rows = rows.contiguous()
    gathered = [torch.empty_like(rows) for _ in range(count)]
    dist.all_gather(gathered, rows)
    return torch.cat(gathered)


@torch.no_grad()
def mean_over_processes(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of `values` over all processes (each process passes the same shape)."""
    count = process_count()
    if count == 1:
        return values
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / count
