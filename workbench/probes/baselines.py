"""Baselines on the same splits: the same backbone at random initialisation (frozen), and the same
backbone trained supervised from scratch on the same labels with the same augmentations."""
from __future__ import annotations

from typing import Callable

import torch

from workbench.control import CancelToken
from workbench.probes.context import RunContext, embed_images
from workbench.probes.finetune import SCRATCH, Schedule, score_end_to_end
from workbench.metrics.scores import Scores
from workbench.probes.splits import ProbeSplit


def random_init_embeddings(context: RunContext, seed: int = 0, cancel: CancelToken | None = None) -> torch.Tensor:
    """Embeddings of every image through a randomly initialised copy of the run's backbone."""
    return embed_images(context.random_encoder(seed), context.dataset.images, context.device, cancel=cancel)


def supervised_from_scratch(context: RunContext, split: ProbeSplit, schedule: Schedule = SCRATCH,
                            cancel: CancelToken | None = None, on_step: Callable[[], None] | None = None) -> Scores:
    """Train a freshly initialised backbone + linear head on the split's labels; its test scores."""
    return score_end_to_end(context, context.random_encoder(1000 + split.seed), split, schedule, cancel, on_step)
