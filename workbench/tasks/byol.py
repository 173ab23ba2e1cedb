"""BYOL: predict a slowly moving (EMA) target network's projection of another view; no negatives."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.losses import negative_cosine_loss
from workbench.tasks.registry import register_task


def cosine_momentum(base: float, step: int, total_steps: int) -> float:
    """EMA momentum rising from `base` at step 0 to 1.0 at `total_steps` along a half cosine."""
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, for every float parameter and buffer.

    As a linear interpolation, so a value the online network shares with its target (a frozen stage) stays
    bit-identical. Integer buffers (BatchNorm's batch counter) are copied.
    """
    for (name, target_value), online_value in zip(target.state_dict().items(), online.state_dict().values()):
        if target_value.shape != online_value.shape:
            raise ValueError(f"EMA target and online network differ at {name}")
        if target_value.is_floating_point():
            target_value.lerp_(online_value.detach(), 1.0 - momentum)
        else:
            target_value.copy_(online_value)


class FollowsWithMomentum:
    """For tasks whose momentum copies (teacher, target, key networks) follow trained modules: after each
    optimiser step, every copy named by `momentum_pairs()` moves toward its trained module by EMA, with
    the momentum rising from `cfg.momentum_base` to 1.0. The copies are the task's extra state."""

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(momentum copy, trained module) pairs."""
        raise NotImplementedError

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Move each copy toward its trained module; `step` = optimiser steps done so far."""
        self.momentum = cosine_momentum(self.cfg.momentum_base, step, total_steps)
        for follower, trained in self.momentum_pairs():
            ema_update(follower, trained, self.momentum)


@dataclass
class BYOLConfig(TaskConfig):
    """Settings of BYOL."""

    momentum_base: float = setting(0.99, "How slowly the target network follows the trained one at the start "
                                         "(rises to 1.0 by the end of training). Higher is slower and steadier.",
                                   min=0.0, max=1.0, label="Target momentum")
    projector_hidden_dim: int = setting(1024, "Width of the projector's and predictor's hidden layers.",
                                        min=8, max=16384, advanced=True)
    projector_out_dim: int = setting(128, "Size of the projection the loss compares.", min=8, max=16384,
                                     advanced=True)


@register_task("byol")
class BYOL(FollowsWithMomentum, PretextTask):
    """From one view of an image, predict what a slowly updated copy of the model outputs for another view.

    Two augmented views of each image go through the model (encoder, projector, predictor) and through a
    target copy (encoder, projector) whose weights are a moving average of the model's (EMA). The model must
    predict the target's projection of the other view (loss 2 - 2 cos, both directions). It needs no negative
    images, so it works with smaller batches than SimCLR and tolerates near-duplicate images in the data.

    Typical augmentations are the same as SimCLR's (crops, colour/contrast jitter, blur). How it fails: with
    a momentum too low or a learning rate too high it can collapse to a constant output (loss near 0 while
    the embedding spread drops toward 0); with a momentum too high the target barely changes and learning
    stalls. The target network is saved in checkpoints but never trained directly.
    """

    title = "BYOL"
    description = "Self-distillation: predict a slow-moving target network's view of the same image (no negatives)."
    Config = BYOLConfig
    family = "joint embedding"

    def __init__(self, cfg: BYOLConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.projector = MLPHead(embed_dim, cfg.projector_hidden_dim, cfg.projector_out_dim)
        self.predictor = MLPHead(cfg.projector_out_dim, cfg.projector_hidden_dim, cfg.projector_out_dim)
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.momentum = cfg.momentum_base

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        batch = images.shape[0]
        views = torch.cat([augment(images), augment(images)])
        features = self.encoder(views)
        p1, p2 = self.predictor(self.projector(features)).chunk(2)
        with torch.no_grad():
            t1, t2 = self.target_projector(self.target_encoder(views)).chunk(2)
        per_sample = (negative_cosine_loss(p1, t2) + negative_cosine_loss(p2, t1)) / 2
        metrics = {"prediction_cosine": (1 - per_sample.detach().mean() / 2),
                   "target_momentum": torch.full((), self.momentum, device=images.device)}
        return TaskOutput(loss=per_sample.mean(), embeddings=features[:batch].detach(),
                          per_sample_loss=per_sample.detach(), metrics=metrics)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.target_encoder, self.encoder), (self.target_projector, self.projector)]
