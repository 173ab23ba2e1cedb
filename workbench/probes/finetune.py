"""Training an encoder and a linear head together on labelled images, with the run's augmentations.

Used from scratch (the supervised baseline) and from the pretrained encoder (fine-tuning, lower lr).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import AugmentConfig
from workbench.control import CancelToken
from workbench.data import BatchAugmenter
from workbench.data.augment import to_unit
from workbench.engine.device import autocast, resolve_precision, uses_channels_last
from workbench.export.exporter import NormalizedEncoder
from workbench.models.backbones import backbone_kind
from workbench.probes.context import RunContext
from workbench.metrics.scores import Scores, classification_scores
from workbench.probes.splits import ProbeSplit

EVAL_BATCH = 256


@dataclass(frozen=True)
class Schedule:
    """A short supervised schedule: AdamW, cosine decay, batches drawn with replacement; a batch never holds
    more images than there are labelled ones (with 16 labels, 16 views a step, not 64 of 16 images)."""

    steps: int = 150
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4


SCRATCH = Schedule()
FINETUNE = Schedule(lr=2e-4)
"""Fine-tuning starts from useful features: a ten times lower learning rate keeps them."""


class EncoderClassifier(nn.Module):
    """Encoder (taking [0, 1] images) followed by a linear layer: images -> logits."""

    def __init__(self, encoder: NormalizedEncoder, embed_dim: int, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.linear = nn.Linear(embed_dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(self.encoder(images))


def batch_size(schedule: Schedule, labelled: int) -> int:
    """The images per step of `schedule` with `labelled` training images."""
    return max(1, min(schedule.batch_size, labelled))


def training_passes(schedule: Schedule, labelled: int) -> int:
    """Images a training run pushes through the network, counting a backward pass as two forward ones."""
    return 3 * schedule.steps * batch_size(schedule, labelled)


@dataclass(frozen=True)
class Speed:
    """How a run computes, kept by the probes' training: its precision and memory layout."""

    precision: str = "fp32"
    channels_last: bool = False

    @classmethod
    def of(cls, context: RunContext) -> "Speed":
        """The run's own settings (`train.precision`, `train.channels_last`) on the probe's device."""
        config, device = context.config, context.device
        convolutional = backbone_kind(config.model.backbone) == "conv"
        return cls(resolve_precision(config.train.precision, device),
                   convolutional and uses_channels_last(config.train.channels_last, device))


def train_classifier(encoder: NormalizedEncoder, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                     augment_cfg: AugmentConfig, schedule: Schedule, seed: int, device: torch.device,
                     cancel: CancelToken | None = None, speed: Speed = Speed(),
                     on_step: Callable[[], None] | None = None) -> EncoderClassifier:
    """Train encoder + head with cross-entropy on random views of the (integer, cached) `images`;
    `on_step` is called after each step."""
    channels, size = images.shape[1], images.shape[-1]
    # the encoder normalises its input itself: the augmenter's views stay in [0, 1] (mean 0, std 1)
    augmenter = BatchAugmenter(augment_cfg, channels, size, [0.0] * channels, [1.0] * channels)
    model = EncoderClassifier(encoder, int(encoder.encoder.embed_dim), num_classes).to(device).train()
    layout = torch.channels_last if speed.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    generator = torch.Generator(device=device).manual_seed(seed)
    picker = torch.Generator().manual_seed(seed)
    images, labels = images.to(device), labels.to(device).long()
    size = batch_size(schedule, len(labels))
    for step in range(schedule.steps):
        if cancel:
            cancel.raise_if_cancelled()
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr * 0.5 * (1 + math.cos(math.pi * step / schedule.steps))
        chosen = torch.randint(0, len(labels), (size,), generator=picker).to(device)
        views = augmenter(images[chosen], generator).clamp(0, 1).contiguous(memory_format=layout)
        with autocast(device, speed.precision):
            loss = F.cross_entropy(model(views).float(), labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step:
            on_step()
    return model.eval()


@torch.no_grad()
def evaluate_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                        device: torch.device, speed: Speed = Speed()) -> Scores:
    """Scores of an images -> logits model on cached integer images."""
    model.eval()
    layout = torch.channels_last if speed.channels_last else torch.contiguous_format
    predicted = []
    for start in range(0, len(images), EVAL_BATCH):
        batch = to_unit(images[start:start + EVAL_BATCH].to(device)).contiguous(memory_format=layout)
        with autocast(device, speed.precision):
            predicted.append(model(batch).argmax(dim=1).cpu())
    predicted = torch.cat(predicted)
    return classification_scores(predicted, labels, num_classes)


def score_end_to_end(context: RunContext, encoder: NormalizedEncoder, split: ProbeSplit, schedule: Schedule,
                     cancel: CancelToken | None = None, on_step: Callable[[], None] | None = None) -> Scores:
    """Train `encoder` + a head on the split's labelled images (at the run's precision and layout); the
    scores on the split's test images."""
    dataset, speed = context.dataset, Speed.of(context)
    num_classes = len(dataset.class_names)
    model = train_classifier(encoder, dataset.images[split.train], dataset.labels[split.train], num_classes,
                             context.config.augment, schedule, split.seed, context.device, cancel, speed, on_step)
    return evaluate_classifier(model, dataset.images[split.test], dataset.labels[split.test], num_classes,
                               context.device, speed)


def finetuned_scores(context: RunContext, split: ProbeSplit, schedule: Schedule = FINETUNE,
                     cancel: CancelToken | None = None, on_step: Callable[[], None] | None = None) -> Scores:
    """Fine-tune a copy of the pretrained encoder (unfrozen, lower lr) with a head; its test scores."""
    return score_end_to_end(context, copy.deepcopy(context.encoder), split, schedule, cancel, on_step)
