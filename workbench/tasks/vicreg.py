"""VICReg: invariance between views, variance kept up in every feature, covariance between features down."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.losses import vicreg_terms
from workbench.tasks.registry import register_task


@dataclass
class VICRegConfig(TaskConfig):
    """Settings of VICReg."""

    invariance_weight: float = setting(25.0, "Weight of the term that pulls the two views' projections together.",
                                       min=0.0, max=1000.0)
    variance_weight: float = setting(25.0, "Weight of the term that keeps every feature's spread over the batch "
                                           "at least 1 (this is what prevents collapse).", min=0.0, max=1000.0)
    covariance_weight: float = setting(1.0, "Weight of the term that decorrelates different features.",
                                       min=0.0, max=1000.0)
    projector_hidden_dim: int = setting(1024, "Width of the projector's hidden layers.", min=8, max=16384,
                                        advanced=True)
    projector_out_dim: int = setting(256, "Size of the projection the loss compares.", min=8, max=16384,
                                     advanced=True)


@register_task("vicreg")
class VICReg(PretextTask):
    """Two views of each image must project to the same point, while the projections stay spread out and varied.

    Three terms on the projections of two augmented views: invariance (mean squared distance between the
    two views), variance (a hinge that keeps the standard deviation of every feature over the batch at or
    above 1, so the model cannot map everything to one point), and covariance (different features must not
    be correlated, so they do not all carry the same information). No negatives, no momentum encoder, no
    stop-gradient; each view's branch is regularised on its own.

    Typical augmentations are SimCLR's. How it fails: a variance weight too low against the invariance
    weight lets the features shrink (the `variance` value climbs toward 1, the embedding spread falls); very
    small batches make the variance and covariance estimates noisy. The loss is over the batch, so there is
    no per-image loss.

    Paper: "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning" (Bardes,
    Ponce, LeCun, 2022).
    """

    title = "VICReg"
    description = "Redundancy reduction: match two views, keep each feature's variance up and features uncorrelated."
    Config = VICRegConfig
    family = "joint embedding"

    def __init__(self, cfg: VICRegConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.projector = MLPHead(embed_dim, cfg.projector_hidden_dim, cfg.projector_out_dim, num_layers=3)

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        batch = images.shape[0]
        features = self.encode_views(images, augment)
        z1, z2 = self.projector(features).chunk(2)
        terms = vicreg_terms(z1, z2)
        cfg = self.cfg
        loss = (cfg.invariance_weight * terms["invariance"] + cfg.variance_weight * terms["variance"]
                + cfg.covariance_weight * terms["covariance"])
        return TaskOutput(loss=loss, embeddings=features[:batch].detach(),
                          metrics={name: value.detach() for name, value in terms.items()})
