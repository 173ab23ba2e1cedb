"""The trained module: one shared encoder and the pretext tasks over it, as a weighted sum of losses."""
from __future__ import annotations

import torch
from torch import nn

from workbench.config import RunConfig
from workbench.engine.param_groups import freeze_first_stages
from workbench.models import create_backbone
from workbench.tasks import Augment, BatchContext, TaskOutput, get_task
from workbench.tasks.pooling import run_pooling


class MultiTaskModel(nn.Module):
    """Encoder + tasks. `forward` runs every task on the batch and returns the weighted total loss."""

    def __init__(self, config: RunConfig, in_channels: int):
        super().__init__()
        self.encoder = create_backbone(config.model, in_channels, config.data.image_size)
        self.encoder.pooling = run_pooling(config.model.pooling, config.tasks)  # before tasks copy the encoder
        freeze_first_stages(self.encoder, config.train.freeze_stages)  # before too: a teacher copy's stay frozen
        self.tasks = nn.ModuleDict({
            name: get_task(name)(task_cfg, self.encoder, self.encoder.embed_dim)
            for name, task_cfg in config.tasks.items()
        })
        self.weights = {name: task_cfg.weight for name, task_cfg in config.tasks.items()}

    def forward(self, images: torch.Tensor, augment: Augment,
                context: BatchContext | None = None) -> tuple[torch.Tensor, dict[str, TaskOutput]]:
        """Every task gets the step's `context` (None when no task of the run reads one)."""
        outputs = {name: task.training_step(images, augment, context=context) for name, task in self.tasks.items()}
        total = sum(self.weights[name] * output.loss.float() for name, output in outputs.items())
        return total, outputs

    @property
    def uses_batch_context(self) -> bool:
        """Whether any task reads the batch context (else the trainer need not build one)."""
        return any(task.uses_batch_context for task in self.tasks.values())

    def sequence_needs(self) -> dict[str, int]:
        """Task name -> frames it needs in at least one sequence, for the tasks that need sequences."""
        return {name: task.min_sequence_length() for name, task in self.tasks.items() if task.min_sequence_length()}

    def on_step_end(self, step: int, total_steps: int) -> None:
        for task in self.tasks.values():
            task.on_step_end(step, total_steps)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates, each once (the encoder is shared by all tasks)."""
        seen, params = set(), []
        for param in self.parameters():
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                params.append(param)
        return params
