"""The pretext-task contract: a task owns its heads and its loss, over a shared encoder."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch
from torch import nn

from workbench.config.schema import TaskConfig

#: Turns a batch of cached images (uint8/uint16, on the device) into one random view (float, normalised).
Augment = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TaskOutput:
    """What one training step of a task produces."""

    loss: torch.Tensor
    """Scalar loss to minimise."""
    embeddings: torch.Tensor
    """(B, D) encoder features of the first view, detached; used for health metrics."""
    per_sample_loss: torch.Tensor | None = None
    """(B,) loss per image, detached, when the task can tell (for 'hardest images' and ranking)."""
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    """Extra health values of the task (detached scalars), logged beside the loss."""


class PretextTask(nn.Module):
    """Base class of pretext tasks. Subclass, set the class attributes, register with `register_task`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    """One plain-language line: what the model is asked to solve."""
    Config: ClassVar[type[TaskConfig]] = TaskConfig

    def __init__(self, cfg: TaskConfig, encoder: nn.Module, embed_dim: int):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        self.embed_dim = embed_dim

    def training_step(self, images: torch.Tensor, augment: Augment) -> TaskOutput:
        """Compute the loss for one batch of raw cached images, drawing views with `augment`."""
        raise NotImplementedError

    def encode_views(self, images: torch.Tensor, augment: Augment, count: int = 2) -> torch.Tensor:
        """Encoder features of `count` random views of the batch in one pass: (count x B, D), view by view."""
        return self.encoder(torch.cat([augment(images) for _ in range(count)]))

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step (EMA teachers, schedules). Optional."""

    def extra_state_modules(self) -> list[nn.Module]:
        """Modules owned by the task that are not trained by the optimiser (e.g. EMA targets)."""
        return []
