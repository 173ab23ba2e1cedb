"""Relative patch location: where does a neighbouring patch sit around the centre patch?"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import RunConfig, TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.crops import encode_any_size
from workbench.tasks.patches import grid_tiles, tile_problem
from workbench.tasks.registry import register_task

GRID = 3
CENTRE = 4  # the middle tile of the 3 x 3 grid, raster order
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)  # class k = the neighbour in tile NEIGHBOURS[k]


@dataclass
class RelativeLocationConfig(TaskConfig):
    """Settings of relative patch location."""

    gap: int = setting(2, "Pixels left out between the patches (patches are jittered within the gap), so that "
                          "edges cannot be matched across borders.", min=0, max=32)
    classifier_hidden_dim: int = setting(256, "Hidden layer width of the position classifier.", min=8,
                                         max=16384, advanced=True)


@register_task("relative_location")
class RelativeLocation(PretextTask):
    """Given the centre patch of an image and one of its 8 neighbours, say where the neighbour is.

    Each view is cut into a 3 x 3 grid of patches with small random gaps. The encoder embeds the centre
    patch and one random neighbour separately; a classifier sees both embeddings and picks one of the 8
    positions (top-left, top, top-right, left, right, bottom-left, bottom, bottom-right). To answer, the
    encoder must recognise parts of objects and how they are arranged. No negatives are needed.

    Typical augmentations: a light crop and colour jitter (colour images: also random grayscale, against
    the chromatic aberration shortcut the paper found). How it fails: low-level shortcuts (lines running
    across patches, lens colour fringes, vignetting) give high accuracy with poor features; on textures or
    images without a consistent layout the accuracy stays near chance (12.5%).

    Paper: "Unsupervised Visual Representation Learning by Context Prediction" (Doersch, Gupta, Efros, 2015).
    """

    title = "Relative patch location"
    description = "Puzzle: say in which of 8 positions a patch lies around the centre patch."
    Config = RelativeLocationConfig

    def __init__(self, cfg: RelativeLocationConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.classifier = MLPHead(2 * embed_dim, cfg.classifier_hidden_dim, len(NEIGHBOURS))
        self.register_buffer("neighbour_tiles", torch.tensor(NEIGHBOURS), persistent=False)

    @classmethod
    def config_problems(cls, cfg: RelativeLocationConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        """The 3 x 3 patches must fit the image."""
        problem = tile_problem(config.data.image_size, GRID, cfg.gap)
        return [(cls.setting_path("gap"), problem)] if problem else []

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        tiles = grid_tiles(augment(images), GRID, self.cfg.gap)
        batch = tiles.shape[0]
        labels = torch.randint(0, len(NEIGHBOURS), (batch,), device=tiles.device)
        neighbour = tiles[torch.arange(batch, device=tiles.device), self.neighbour_tiles[labels]]
        features = encode_any_size(self.encoder, torch.cat([tiles[:, CENTRE], neighbour]))
        centre_features, neighbour_features = features.chunk(2)
        logits = self.classifier(torch.cat([centre_features, neighbour_features], dim=1)).float()
        per_sample = F.cross_entropy(logits, labels, reduction="none")
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return TaskOutput(loss=per_sample.mean(), embeddings=centre_features.detach(),
                          per_sample_loss=per_sample.detach(), metrics={"location_accuracy": accuracy})
