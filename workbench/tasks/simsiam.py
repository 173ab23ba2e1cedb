"""SimSiam: predict one view's projection from the other's, with a stop-gradient and no negatives."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.losses import negative_cosine_loss
from workbench.tasks.registry import register_task


@dataclass
class SimSiamConfig(TaskConfig):
    """Settings of SimSiam."""

    stop_gradient: bool = setting(True, "Treat the other view's projection as a fixed target. Turning this off "
                                        "makes the model collapse to a constant output (kept as an option to "
                                        "show exactly that).")
    projector_hidden_dim: int = setting(1024, "Width of the projector's hidden layer.", min=8, max=16384,
                                        advanced=True)
    projector_out_dim: int = setting(256, "Size of the projection the loss compares.", min=8, max=16384,
                                     advanced=True)
    predictor_hidden_dim: int = setting(64, "Width of the predictor's bottleneck (about a quarter of the "
                                            "projection size).", min=4, max=16384, advanced=True)


@register_task("simsiam")
class SimSiam(PretextTask):
    """From one view of an image, predict the projection of another view, which is held fixed as the target.

    Two augmented views go through the same encoder and projector; a small predictor MLP maps one view's
    projection onto the other's, scored by cosine similarity (both directions). The target side gets no
    gradient (the stop-gradient); that alone keeps the model from the trivial answer of a constant output.
    There are no negatives and no momentum encoder, so it is simple, light on memory and fine with
    batches of 64-256.

    Typical augmentations are SimCLR's (crops, colour/contrast jitter, blur, flips). How it fails: without
    the stop-gradient, or with a predictor that learns too fast, it collapses: the loss drops to its minimum
    while the embedding spread falls toward 0 (the `output_std` value here falls toward 0 as well; about
    1/sqrt(projection size) is healthy).

    Paper: "Exploring Simple Siamese Representation Learning" (Chen, He, 2021).
    """

    title = "SimSiam"
    description = "Siamese views without negatives: predict one view from the other behind a stop-gradient."
    Config = SimSiamConfig
    family = "joint embedding"

    def __init__(self, cfg: SimSiamConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        out = cfg.projector_out_dim
        self.projector = MLPHead(embed_dim, cfg.projector_hidden_dim, out, last_batch_norm=True)
        self.predictor = MLPHead(out, cfg.predictor_hidden_dim, out)

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        batch = images.shape[0]
        features = self.encode_views(images, augment)
        z = self.projector(features)
        p1, p2 = self.predictor(z).chunk(2)
        z1, z2 = (z.detach() if self.cfg.stop_gradient else z).chunk(2)
        per_sample = (negative_cosine_loss(p1, z2) + negative_cosine_loss(p2, z1)) / 2
        with torch.no_grad():
            output_std = F.normalize(z[:batch].float(), dim=1).std(0).mean()
        metrics = {"prediction_cosine": 1 - per_sample.detach().mean() / 2, "output_std": output_std}
        return TaskOutput(loss=per_sample.mean(), embeddings=features[:batch].detach(),
                          per_sample_loss=per_sample.detach(), metrics=metrics)
