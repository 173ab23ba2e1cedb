"""Barlow Twins: make the cross-correlation of two views' projections the identity matrix."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.losses import barlow_twins_loss
from workbench.tasks.registry import register_task


@dataclass
class BarlowTwinsConfig(TaskConfig):
    """Settings of Barlow Twins."""

    off_diagonal_weight: float = setting(0.005, "Weight of the redundancy term (correlations between different "
                                                "features) against the invariance term. About 1/projection "
                                                "size is a good start.", min=0.0, max=10.0,
                                         label="Redundancy weight (lambda)")
    projector_hidden_dim: int = setting(1024, "Width of the projector's hidden layers.", min=8, max=16384,
                                        advanced=True)
    projector_out_dim: int = setting(256, "Size of the projection whose correlations are compared. Larger "
                                          "works better but costs memory (a size x size matrix).",
                                     min=8, max=16384, advanced=True)


@register_task("barlow_twins")
class BarlowTwins(PretextTask):
    """Two views of each image must give the same features, and different features must not repeat each other.

    Two augmented views are projected, each feature is standardised over the batch, and the cross-correlation
    matrix between the two views is pushed toward the identity: its diagonal to 1 (each feature agrees
    across the views: invariance) and its off-diagonal to 0 (features are decorrelated: no redundancy). The
    decorrelation is what prevents collapse, so no negatives, momentum encoder or stop-gradient are needed.

    Typical augmentations are SimCLR's. How it fails: with very small batches (below about 32) the
    correlation estimates are noisy; a redundancy weight too high lets the invariance term be ignored (the
    `on_diagonal` value stays high), too low lets the features become redundant (the `off_diagonal` value
    grows, the effective rank falls). The loss is computed over the batch, so there is no per-image loss.

    Paper: "Barlow Twins: Self-Supervised Learning via Redundancy Reduction" (Zbontar, Jing, Misra, LeCun,
    Deny, 2021).
    """

    title = "Barlow Twins"
    description = "Redundancy reduction: two views' features correlate 1-to-1, different features not at all."
    Config = BarlowTwinsConfig
    family = "joint embedding"

    def __init__(self, cfg: BarlowTwinsConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.projector = MLPHead(embed_dim, cfg.projector_hidden_dim, cfg.projector_out_dim, num_layers=3)

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        batch = images.shape[0]
        features = self.encode_views(images, augment)
        z1, z2 = self.projector(features).chunk(2)
        loss, on, off = barlow_twins_loss(z1, z2, self.cfg.off_diagonal_weight)
        return TaskOutput(loss=loss, embeddings=features[:batch].detach(),
                          metrics={"on_diagonal": on.detach(), "off_diagonal": off.detach()})
