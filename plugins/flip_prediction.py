"""Example plugin: a pretext task in one file. Copy it, rename the task, change the loss.

Flip prediction: each image is shown upright or upside down; the model says which. On scans, where
anatomy has a natural up and down, this teaches the encoder the layout of the body.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models import MLPHead
from workbench.tasks import PretextTask, TaskOutput, register_task


@dataclass
class FlipPredictionConfig(TaskConfig):
    """Settings of flip prediction (each becomes a field in the GUI and a key in the YAML)."""

    flip_probability: float = setting(0.5, "Share of images shown upside down.", min=0.05, max=0.95)


@register_task("flip_prediction")
class FlipPrediction(PretextTask):
    """Each image is shown upright or flipped upside down; the model must say which.

    The encoder learns what is normally at the top and at the bottom of an image. No negatives needed.
    It fails on images without a natural up and down (textures, cells): accuracy then stays near chance.
    Keep the vertical-flip augmentation off, or the answer becomes ambiguous.
    """

    description = "Example plugin: tell upright images from upside-down ones."
    Config = FlipPredictionConfig

    def __init__(self, cfg: FlipPredictionConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.classifier = MLPHead(embed_dim, 0, 2, num_layers=1)

    def training_step(self, images, augment, context=None):
        view = augment(images)
        flipped = (torch.rand(view.shape[0], device=view.device) < self.cfg.flip_probability).long()
        shown = torch.where(flipped.view(-1, 1, 1, 1).bool(), view.flip(2), view)
        features = self.encoder(shown)
        logits = self.classifier(features).float()
        per_sample = F.cross_entropy(logits, flipped, reduction="none")
        accuracy = (logits.argmax(1) == flipped).float().mean()
        return TaskOutput(loss=per_sample.mean(), embeddings=features.detach(),
                          per_sample_loss=per_sample.detach(), metrics={"flip_accuracy": accuracy.detach()})
