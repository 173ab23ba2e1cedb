"""Rotation prediction: which of 0, 90, 180 or 270 degrees was the image turned by?"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.registry import register_task

ROTATIONS = 4  # quarter turns: 0, 90, 180, 270 degrees


def rotate_quarters(images: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Rotate image i of a square (B, C, H, H) batch by `quarter_turns[i]` x 90 degrees, counter-clockwise."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotation needs square images, got {tuple(images.shape[-2:])}")
    # All four turns of the batch, then one gather: no per-group indexing, so no device-to-host sync.
    turned = torch.stack([torch.rot90(images, k, dims=(2, 3)) for k in range(ROTATIONS)])
    return turned[quarter_turns, torch.arange(images.shape[0], device=images.device)]


@dataclass
class RotationConfig(TaskConfig):
    """Settings of rotation prediction."""

    all_rotations: bool = setting(False, "Show every image in all four rotations each step (4x the work, "
                                         "steadier signal) instead of one random rotation per image.")
    classifier_hidden_dim: int = setting(0, "Hidden layer width of the rotation classifier; 0 = a single "
                                            "linear layer, which pushes more of the work into the encoder.",
                                         min=0, max=16384, advanced=True)


@register_task("rotation")
class RotationPrediction(PretextTask):
    """Each image is turned by 0, 90, 180 or 270 degrees; the model must say which.

    To tell the rotation, the encoder has to recognise what is normally up, down, left and right in an image:
    the shapes and layout of the content. A light augmented view is drawn first, then rotated; by default
    each image gets one random rotation per step ("all rotations" shows all four). No negatives are needed
    and it works with small batches.

    How it fails: on images without a natural orientation (cells, textures, some scans) the task cannot be
    solved and the features learn little; accuracy stuck near 25% shows that. Augmentations that already
    rotate or flip vertically make the answer ambiguous, so keep vertical flips and large rotations off.
    Accuracy near 100% very early means a shortcut (e.g. a border or text marker that reveals the turn).
    """

    title = "Rotation prediction"
    description = "Predict by how many quarter turns each image was rotated (no negatives)."
    Config = RotationConfig

    def __init__(self, cfg: RotationConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        layers = 2 if cfg.classifier_hidden_dim else 1
        self.classifier = MLPHead(embed_dim, cfg.classifier_hidden_dim, ROTATIONS, num_layers=layers)

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        batch = images.shape[0]
        view = augment(images)
        if self.cfg.all_rotations:
            turns = torch.arange(ROTATIONS, device=view.device).repeat_interleave(batch)
            rotated = torch.cat([torch.rot90(view, k, dims=(2, 3)) for k in range(ROTATIONS)])
        else:
            turns = torch.randint(0, ROTATIONS, (batch,), device=view.device)
            rotated = rotate_quarters(view, turns)
        features = self.encoder(rotated)
        logits = self.classifier(features).float()
        per_rotation = F.cross_entropy(logits, turns, reduction="none")
        per_sample = per_rotation.view(-1, batch).mean(0)  # one row per rotation when all four are shown
        accuracy = (logits.detach().argmax(1) == turns).float().mean()
        return TaskOutput(loss=per_rotation.mean(), embeddings=features[:batch].detach(),
                          per_sample_loss=per_sample.detach(), metrics={"rotation_accuracy": accuracy})
