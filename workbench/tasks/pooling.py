"""Which pooled output of the encoder is a run's embedding: the one its tasks' losses train."""
from __future__ import annotations

from typing import Iterable, Mapping

from workbench.tasks.registry import get_task

RECORDED_BEFORE_POOLING = "cls"
"""The pooling of checkpoints and exports written before the choice was recorded: the class token."""


def run_pooling(pooling: str, task_names: Iterable[str]) -> str:
    """`model.pooling` resolved for a run of `task_names`: "cls" or "mean_patches" as set, and for "auto" the
    mean of the patch tokens when no task trains the class token (`PretextTask.trains_class_token`), else "cls"."""
    if pooling != "auto":
        return pooling
    names = list(task_names)
    patches_only = bool(names) and not any(get_task(name).trains_class_token for name in names)
    return "mean_patches" if patches_only else "cls"


def recorded_pooling(record: Mapping) -> str:
    """The pooling a checkpoint's input spec or an export's model section records (older files: the class token)."""
    return record.get("pooling", RECORDED_BEFORE_POOLING)
