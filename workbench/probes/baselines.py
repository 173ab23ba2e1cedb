"""Baselines on the same splits: the images' raw pixels, the same backbone at random initialisation (frozen),
with the run's starting weights when it had some (frozen), and trained supervised from scratch on the same
labels with the same augmentations (early-stopped on a validation part of them, see `finetune`).

The raw-pixels row goes through the same linear probe as the encoders (`metrics.linear_probe`): an
L2-regularised multinomial logistic regression (cross-entropy + weight decay on the weights, full-batch L-BFGS)
on L2-normalised, standardised features, i.e. the logistic regression on raw pixels that papers report."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workbench.control import CancelToken
from workbench.probes.context import RunContext, embed_images
from workbench.probes.defaults import SCRATCH, Schedule
from workbench.probes.finetune import Training, score_end_to_end
from workbench.metrics.scores import Scores
from workbench.probes.splits import ProbeSplit


PIXEL_SIDE = 32
"""Raw pixels are area-averaged down to at most this many rows and columns per channel (3,072 values for RGB)."""


class RawPixels(nn.Module):
    """[0, 1] images (B, C, H, W) -> their pixels, area-averaged to at most `side` x `side`, flattened."""

    def __init__(self, side: int = PIXEL_SIDE):
        super().__init__()
        self.side = side

    def grid(self, height: int, width: int) -> tuple[int, int]:
        return min(height, self.side), min(width, self.side)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, self.grid(*images.shape[-2:])).flatten(1)


def raw_pixel_features(context: RunContext, cancel: CancelToken | None = None) -> tuple[torch.Tensor, dict]:
    """Every image's raw pixels as the run reads them (downsampled, see `RawPixels`), and what they are:
    {"channels", "height", "width" (of the images), "rows", "columns" (of the grid kept)}."""
    images = context.dataset.images
    pixels = RawPixels()
    rows, columns = pixels.grid(*images.shape[-2:])
    shape = {"channels": int(images.shape[1]), "height": int(images.shape[-2]), "width": int(images.shape[-1]),
             "rows": rows, "columns": columns}
    return embed_images(pixels, images, context.device, cancel=cancel), shape


def random_init_embeddings(context: RunContext, seed: int = 0, cancel: CancelToken | None = None) -> torch.Tensor:
    """Embeddings of every image through a randomly initialised copy of the run's backbone."""
    return embed_images(context.random_encoder(seed), context.dataset.images, context.device, cancel=cancel)


def starting_weights_embeddings(context: RunContext, cancel: CancelToken | None = None) -> torch.Tensor:
    """Embeddings of every image through the run's backbone with its starting weights (`model.init_weights`),
    before any pretraining: beside the trained encoder's, they say whether continued pretraining helped."""
    return embed_images(context.starting_encoder(), context.dataset.images, context.device, cancel=cancel)


def supervised_from_scratch(context: RunContext, split: ProbeSplit, schedule: Schedule = SCRATCH,
                            cancel: CancelToken | None = None,
                            on_step: Callable[[], None] | None = None) -> tuple[Scores, Training]:
    """Train a freshly initialised backbone (seeded per split) + linear head on the split's labels, augmented and
    early-stopped (`score_end_to_end`); its test scores and how the training went."""
    return score_end_to_end(context, context.random_encoder(1000 + split.seed), split, schedule, cancel, on_step)
