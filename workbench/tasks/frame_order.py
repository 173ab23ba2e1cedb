"""Frame order verification: are these frames of a sequence shown in their order, or shuffled?"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.registry import register_task

NEEDS_CONTEXT = ("frame_order needs the batch context with the images' sequences, which the trainer passes: "
                 "call training_step(images, augment, context=...)")


@dataclass
class FrameOrderConfig(TaskConfig):
    """Settings of frame order verification."""

    frames: int = setting(3, "Frames shown per example, taken around each image in its sequence.",
                          min=3, max=5)
    spacing: int = setting(1, "Steps between the frames shown, in positions of the sequence (frames, or the "
                              "slices kept). Larger spacing shows more change between frames; it is shortened "
                              "for sequences too short for it.", min=1, max=64)
    intensity_jitter: float = setting(0.1, "Each frame's brightness is scaled independently by up to ± this "
                                           "fraction, so that a steady drift in brightness along the sequence "
                                           "is a less reliable clue to the order.", min=0.0, max=0.5)
    classifier_hidden_dim: int = setting(256, "Hidden layer width of the classifier over the frames' "
                                              "features.", min=8, max=16384, advanced=True)


@lru_cache(maxsize=None)
def shuffled_orders(frames: int) -> torch.Tensor:
    """(P, frames) every order of `frames` items except the forward and the reversed one."""
    forward, backward = tuple(range(frames)), tuple(reversed(range(frames)))
    return torch.tensor([order for order in itertools.permutations(range(frames))
                         if order not in (forward, backward)])


def frame_positions(positions: torch.Tensor, lengths: torch.Tensor, frames: int, spacing: int,
                    draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where to take the frames of each anchor: (positions (B, frames) in order, anchor slot (B,), usable (B,)).

    Anchor b sits at `positions[b]` in a sequence of `lengths[b]` frames. Its frames are evenly spaced,
    `spacing` apart (or the largest smaller step that fits the sequence), and the anchor is one of them, in
    a slot chosen by `draws[b]` in [0, 1) among the slots that fit. Anchors of sequences shorter than
    `frames` are not usable: their frames are the anchor itself, repeated.
    """
    usable = lengths >= frames
    step = torch.ones_like(positions)
    for candidate in range(2, spacing + 1):  # ascending: ends with the largest step that fits
        low, high = _slot_range(positions, lengths, frames, candidate)
        step = torch.where(low <= high, candidate, step)
    low, high = _slot_range(positions, lengths, frames, step)
    slot = torch.minimum(low + (draws * (high - low + 1)).long(), high).clamp_min(0)
    offsets = torch.arange(frames) * step.unsqueeze(1)
    chosen = (positions - slot * step).unsqueeze(1) + offsets
    chosen = torch.where(usable.unsqueeze(1), chosen, positions.unsqueeze(1).expand_as(chosen))
    return chosen, torch.where(usable, slot, 0), usable


def _slot_range(positions: torch.Tensor, lengths: torch.Tensor, frames: int,
                step: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The anchor slots j for which frames j * step before to (frames - 1 - j) * step after it all exist."""
    high = torch.clamp(positions // step, max=frames - 1)
    low = torch.clamp(frames - 1 - (lengths - 1 - positions) // step, min=0)
    return low, high


@register_task("frame_order")
class FrameOrder(PretextTask):
    """A few frames of a sequence are shown in their order or shuffled; the model must say which.

    For each image of the batch, `frames` frames around it are taken from its sequence (video frames, or the
    slices of a scan), `spacing` apart. Half of the examples are shown in order, the other half in a
    shuffled order. Each frame goes through the shared encoder; a small classifier over their features,
    side by side, says "in order" or "shuffled". To answer, the encoder must notice how the content
    changes from frame to frame: motion, or how anatomy changes from slice to slice. Reversed order counts
    as in order (as in the paper): many motions look plausible backwards and a scan can be read from either
    end, so the task is about continuity, not the direction of time; examples shown in order run forward or
    backward, half each.

    Frames are not passed through the run's augmentations: independent random crops of each frame would
    scramble the very motion the task is about. Each example gets one shared random horizontal flip, each
    frame a small independent brightness change (`intensity_jitter`), and the example is standardised as a
    whole. Needs sequences: volume data (DICOM series, NIfTI) or `data.sequences: folders`; the run stops
    at the start with a message when the dataset has none long enough. Images in shorter sequences (or
    none) are shown but add no loss; `usable_share` is their complement.

    How it fails: it can be solved by low-level cues instead of content, such as a steady drift in
    brightness or noise along the sequence, compression artefacts, or a frame counter burnt into the image;
    accuracy near 100% within a few steps hints at such a shortcut. Static sequences (no change between
    frames) or a spacing so small that neighbouring frames are identical leave it unsolvable: accuracy stays
    near 50%. Watch `order_accuracy` (chance is 50%).

    Paper: "Shuffle and Learn: Unsupervised Learning using Temporal Order Verification" (Misra, Zitnick,
    Hebert, 2016).
    """

    title = "Frame order"
    description = "Tell frames of a sequence shown in order from shuffled ones (needs sequences)."
    Config = FrameOrderConfig
    uses_batch_context = True

    def __init__(self, cfg: FrameOrderConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.classifier = MLPHead(cfg.frames * embed_dim, cfg.classifier_hidden_dim, 2)

    def min_sequence_length(self) -> int:
        return self.cfg.frames

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        if context is None:
            raise ValueError(NEEDS_CONTEXT)
        batch, frames = images.shape[0], self.cfg.frames
        draws = torch.rand(batch, 4)  # the CPU generator: saved in checkpoints, so resumed runs repeat
        positions, anchor_slot, usable = frame_positions(context.positions, context.lengths, frames,
                                                         self.cfg.spacing, draws[:, 0])
        order, in_order = self._draw_orders(draws[:, 1:])
        shown = context.load_frames(positions.gather(1, order))
        features = self.encoder(self._views(shown)).view(batch, frames, -1)
        logits = self.classifier(features.flatten(1)).float()
        labels = in_order.long().to(logits.device, non_blocking=True)
        weight = usable.to(logits.device, non_blocking=True).float()
        per_sample = F.cross_entropy(logits, labels, reduction="none") * weight
        with torch.no_grad():
            correct = (logits.argmax(1) == labels).float() * weight
            accuracy = correct.sum() / weight.sum().clamp_min(1)
            anchor_shown_at = (order == anchor_slot.unsqueeze(1)).long().argmax(1).to(features.device, non_blocking=True)
            embeddings = features[torch.arange(batch, device=features.device), anchor_shown_at]
        return TaskOutput(loss=per_sample.mean(), embeddings=embeddings.detach(), per_sample_loss=per_sample.detach(),
                          metrics={"order_accuracy": accuracy, "usable_share": weight.mean()})

    def _draw_orders(self, draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, frames) the order each example is shown in, and (B,) whether that counts as in order.

        `draws` (B, 3) in [0, 1): in order or not, forward or reversed, which shuffled order."""
        frames = self.cfg.frames
        forward = torch.arange(frames).expand(draws.shape[0], frames)
        ordered = torch.where((draws[:, 1] < 0.5).unsqueeze(1), forward.flip(1), forward)
        shuffled = shuffled_orders(frames)
        pick = (draws[:, 2] * len(shuffled)).long().clamp(max=len(shuffled) - 1)
        in_order = draws[:, 0] < 0.5
        return torch.where(in_order.unsqueeze(1), ordered, shuffled[pick]), in_order

    def _views(self, frames: torch.Tensor) -> torch.Tensor:
        """Raw (B, k, C, S, S) frames to encoder input (B x k, C, S, S): one random horizontal flip per
        example, an independent brightness change per frame, standardised per example."""
        batch, count = frames.shape[:2]
        x = frames.float()
        if not frames.dtype.is_floating_point:
            x = x / torch.iinfo(frames.dtype).max
        # drawn by the CPU generator (saved in checkpoints), copied without waiting for the device
        flip = (torch.rand(batch) < 0.5).to(x.device, non_blocking=True).view(batch, 1, 1, 1, 1)
        x = torch.where(flip, x.flip(-1), x)
        jitter = 1 + self.cfg.intensity_jitter * (2 * torch.rand(batch, count) - 1)
        x = x * jitter.to(x.device, non_blocking=True).view(batch, count, 1, 1, 1)
        dims = tuple(range(1, x.ndim))
        x = (x - x.mean(dims, keepdim=True)) / x.std(dims, keepdim=True).clamp_min(1e-3)
        return x.flatten(0, 1)
