"""Jigsaw puzzles: which of a fixed set of permutations shuffled the tiles of the image?"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import RunConfig, TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.crops import encode_any_size
from workbench.tasks.display import to_display
from workbench.tasks.patches import grid_tiles, tile_problem
from workbench.tasks.registry import register_task


def permutation_count(tiles: int) -> int:
    """How many different orders `tiles` tiles can be put in."""
    return math.factorial(tiles)


@lru_cache(maxsize=8)
def hamming_permutations(tiles: int, count: int) -> torch.Tensor:
    """`count` permutations of `tiles` items, as far apart as possible: (count, tiles) long.

    Greedy and deterministic: start from the identity, then repeatedly add the permutation whose smallest
    Hamming distance to those already chosen is largest (the first such in lexicographic order on ties).
    """
    if count > permutation_count(tiles):
        raise ValueError(f"{tiles} tiles have only {permutation_count(tiles)} permutations, not {count}")
    flat = np.fromiter(itertools.chain.from_iterable(itertools.permutations(range(tiles))), dtype=np.int8)
    candidates = flat.reshape(-1, tiles)
    chosen = [0]
    nearest = (candidates != candidates[0]).sum(1, dtype=np.int8)
    for _ in range(count - 1):
        best = int(nearest.argmax())
        chosen.append(best)
        np.minimum(nearest, (candidates != candidates[best]).sum(1, dtype=np.int8), out=nearest)
    return torch.from_numpy(candidates[chosen]).long()


@dataclass
class JigsawConfig(TaskConfig):
    """Settings of the jigsaw puzzle."""

    grid: int = setting(3, "Tiles per side: the image is cut into grid x grid tiles (at most 3: the permutations "
                                  "of 16 tiles are too many to choose from).", min=2, max=3)
    permutations: int = setting(64, "How many different shuffles the model must tell apart (the classes).",
                                min=2, max=1000)
    gap: int = setting(2, "Pixels left out between neighbouring tiles (tiles are jittered within the gap), so "
                          "edges cannot be matched across tile borders.", min=0, max=32)
    classifier_hidden_dim: int = setting(256, "Hidden layer width of the permutation classifier.", min=8,
                                         max=16384, advanced=True)


@register_task("jigsaw")
class Jigsaw(PretextTask):
    """The image is cut into tiles and shuffled; the model must say which of the known shuffles was used.

    Each view is cut into grid x grid tiles with small random gaps between them. The tiles are put in the
    order of one of a fixed set of permutations, chosen so that any two differ in as many positions as
    possible (maximal Hamming distance, made deterministically). The encoder embeds each tile on its own;
    a classifier sees the tile embeddings in their shuffled order and names the permutation. Solving it
    needs knowing what the parts of an object look like and where they belong. No negatives are needed.

    Typical augmentations: a light crop and colour jitter; per-tile jitter comes from the gaps. How it fails:
    shortcuts through low-level cues (lines continuing across borders, chromatic aberration, vignetting)
    give high accuracy with poor features; the gaps and colour jitter are there against them. On images
    without a consistent layout (textures) accuracy stays near chance (1 / permutations).

    Paper: "Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles" (Noroozi, Favaro,
    2016).
    """

    title = "Jigsaw puzzle"
    description = "Puzzle: name which of a fixed set of shuffles put the image's tiles in their order."
    Config = JigsawConfig

    def __init__(self, cfg: JigsawConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        tiles = cfg.grid * cfg.grid
        self.register_buffer("orders", hamming_permutations(tiles, cfg.permutations), persistent=False)
        self.classifier = MLPHead(tiles * embed_dim, cfg.classifier_hidden_dim, cfg.permutations)

    @classmethod
    def config_problems(cls, cfg: JigsawConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        """The permutations must exist (a 2x2 grid has only 24), and the tiles must fit the image."""
        problems = []
        limit = permutation_count(cfg.grid * cfg.grid)
        if cfg.permutations > limit:
            problems.append((cls.setting_path("permutations"),
                             f"a {cfg.grid}x{cfg.grid} grid ({cls.setting_path('grid')}) has only {limit} orders of "
                             f"its tiles: must be <= {limit}, got {cfg.permutations}"))
        tiles = tile_problem(config.data.image_size, cfg.grid, cfg.gap)
        if tiles:
            problems.append((cls.setting_path("gap"), tiles))
        return problems

    def _shuffled_tiles(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, C, t, t) tiles placed in the order of a random permutation per image, and its index."""
        tiles = grid_tiles(view, self.cfg.grid, self.cfg.gap)
        labels = torch.randint(0, self.cfg.permutations, (view.shape[0],), device=view.device)
        order = self.orders[labels]  # position i shows tile order[i]
        shuffled = tiles[torch.arange(view.shape[0], device=view.device).unsqueeze(1), order]
        return shuffled, labels

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        shuffled, labels = self._shuffled_tiles(augment(images))
        batch, count = shuffled.shape[:2]
        features = encode_any_size(self.encoder, shuffled.flatten(0, 1)).view(batch, count, -1)
        logits = self.classifier(features.flatten(1)).float()
        per_sample = F.cross_entropy(logits, labels, reduction="none")
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        # The mean tile embedding stands for the image: no extra full-image forward pass per step.
        return TaskOutput(loss=per_sample.mean(), embeddings=features.mean(1).detach(),
                          per_sample_loss=per_sample.detach(), metrics={"jigsaw_accuracy": accuracy})

    @torch.no_grad()
    def render_example(self, images: torch.Tensor, augment: Augment) -> dict[str, torch.Tensor]:
        """The view, its shuffled tiles, and the tiles put back by the predicted permutation."""
        view = augment(images)
        shuffled, _ = self._shuffled_tiles(view)
        batch, count = shuffled.shape[:2]
        features = encode_any_size(self.encoder, shuffled.flatten(0, 1)).view(batch, count, -1)
        predicted = self.orders[self.classifier(features.flatten(1)).argmax(1)]
        restored = torch.empty_like(shuffled)
        restored[torch.arange(batch, device=view.device).unsqueeze(1), predicted] = shuffled
        return {"input": to_display(view), "shuffled": to_display(self._assemble(shuffled)),
                "solved": to_display(self._assemble(restored))}

    def _assemble(self, tiles: torch.Tensor) -> torch.Tensor:
        """(B, T, C, t, t) tiles back into one (B, C, grid*t, grid*t) image, raster order."""
        b, _, c, t, _ = tiles.shape
        grid = self.cfg.grid
        return tiles.view(b, grid, grid, c, t, t).permute(0, 3, 1, 4, 2, 5).reshape(b, c, grid * t, grid * t)
