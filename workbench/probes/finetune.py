"""Training an encoder and a linear head together on labelled images, with the run's augmentations (the
trainer's `BatchAugmenter`), AdamW + cosine over a number of epochs, early-stopped on a validation part of the
training labels, keeping the best weights.

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
from workbench.probes.defaults import CHECKS, FINETUNE, Schedule
from workbench.metrics.scores import Scores, classification_scores
from workbench.probes.splits import ProbeSplit, validation_split

EVAL_BATCH = 256


@dataclass(frozen=True)
class Training:
    """How one supervised training went: images fitted and validated on, the steps planned, the step whose
    weights were kept (the best validation check; the last step without validation), the last step run, and
    the kept weights' validation accuracy and cross-entropy (NaN without validation)."""

    fit: int
    validation: int
    planned: int
    best_step: int
    stopped: int
    validation_accuracy: float = float("nan")
    validation_loss: float = float("nan")


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


def planned_steps(schedule: Schedule, labelled: int) -> int:
    """Steps of `schedule` on `labelled` images: `epochs` passes, at least `min_steps`, at most `steps`."""
    passes = math.ceil(schedule.epochs * labelled / batch_size(schedule, labelled))
    return min(schedule.steps, max(schedule.min_steps, passes))


def training_passes(schedule: Schedule, labelled: int) -> int:
    """Images a training run pushes through the network at most, counting a backward pass as two forward ones."""
    return 3 * planned_steps(schedule, labelled) * batch_size(schedule, labelled)


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
                     on_step: Callable[[], None] | None = None,
                     validation: tuple[torch.Tensor, torch.Tensor] | None = None,
                     colour: bool = True) -> tuple[EncoderClassifier, Training]:
    """Train encoder + head with cross-entropy on random views of the (integer, cached) `images`, with the
    run's augmentations (`colour`: whether 3 channels are RGB, as for the trainer); with `validation` (integer
    images, labels) stop early and keep the best weights (see `Schedule`). `on_step` is called after each step."""
    channels, size = images.shape[1], images.shape[-1]
    # the encoder normalises its input itself: the augmenter's views stay in [0, 1] (mean 0, std 1)
    augmenter = BatchAugmenter(augment_cfg, channels, size, [0.0] * channels, [1.0] * channels, colour=colour)
    model = EncoderClassifier(encoder, int(encoder.encoder.embed_dim), num_classes).to(device).train()
    layout = torch.channels_last if speed.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    generator = torch.Generator(device=device).manual_seed(seed)
    picker = torch.Generator().manual_seed(seed)
    images, labels = images.to(device), labels.to(device).long()
    size, planned = batch_size(schedule, len(labels)), planned_steps(schedule, len(labels))
    every = max(1, planned // CHECKS)
    validated = validation is not None and len(validation[1]) > 0
    best, best_step, stale, step = None, planned, 0, 0
    for step in range(1, planned + 1):
        if cancel:
            cancel.raise_if_cancelled()
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / planned))
        chosen = torch.randint(0, len(labels), (size,), generator=picker).to(device)
        views = augmenter(images[chosen], generator).clamp(0, 1).contiguous(memory_format=layout)
        with autocast(device, speed.precision):
            loss = F.cross_entropy(model(views).float(), labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step:
            on_step()
        if validated and (step % every == 0 or step == planned):
            score = validation_score(model, *validation, device, speed)
            model.train()
            if best is None or score > best[0]:
                best, best_step, stale = (score, copy.deepcopy(model.state_dict())), step, 0
            elif step > planned // 2:
                stale += 1
                if stale >= schedule.patience:
                    break
    if best is None:
        return model.eval(), Training(len(labels), 0, planned, best_step, step)
    (accuracy, negative_loss), weights = best
    model.load_state_dict(weights)
    return model.eval(), Training(len(labels), len(validation[1]), planned, best_step, step, accuracy, -negative_loss)


@torch.no_grad()
def logits_of(model: nn.Module, images: torch.Tensor, device: torch.device, speed: Speed = Speed()) -> torch.Tensor:
    """Logits (float32, on the CPU) of an images -> logits model on cached integer images, in evaluation mode."""
    model.eval()
    layout = torch.channels_last if speed.channels_last else torch.contiguous_format
    logits = []
    for start in range(0, len(images), EVAL_BATCH):
        batch = to_unit(images[start:start + EVAL_BATCH].to(device)).contiguous(memory_format=layout)
        with autocast(device, speed.precision):
            logits.append(model(batch).float().cpu())
    return torch.cat(logits)


def validation_score(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
                     speed: Speed = Speed()) -> tuple[float, float]:
    """(accuracy, -cross-entropy) on validation images: higher is better, the loss breaking accuracy's ties."""
    logits, labels = logits_of(model, images, device, speed), labels.cpu().long()
    return (logits.argmax(dim=1) == labels).float().mean().item(), -F.cross_entropy(logits, labels).item()


def evaluate_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                        device: torch.device, speed: Speed = Speed()) -> Scores:
    """Scores of an images -> logits model on cached integer images."""
    return classification_scores(logits_of(model, images, device, speed).argmax(dim=1), labels, num_classes)


def score_end_to_end(context: RunContext, encoder: NormalizedEncoder, split: ProbeSplit, schedule: Schedule,
                     cancel: CancelToken | None = None,
                     on_step: Callable[[], None] | None = None) -> tuple[Scores, Training]:
    """Train `encoder` + a head on the split's labelled images (at the run's precision and layout), early-stopped
    on a validation part of them (`validation_split`); the scores on the split's test images and how it went."""
    dataset, speed = context.dataset, Speed.of(context)
    num_classes = len(dataset.class_names)
    fit, held = validation_split(split.train, dataset.labels, dataset.groups, split.seed)
    model, training = train_classifier(
        encoder, dataset.images[fit], dataset.labels[fit], num_classes, context.config.augment, schedule,
        split.seed, context.device, cancel, speed, on_step, (dataset.images[held], dataset.labels[held]),
        colour=not dataset.stacked_slices)
    return evaluate_classifier(model, dataset.images[split.test], dataset.labels[split.test], num_classes,
                               context.device, speed), training


def finetuned_scores(context: RunContext, split: ProbeSplit, schedule: Schedule = FINETUNE,
                     cancel: CancelToken | None = None,
                     on_step: Callable[[], None] | None = None) -> tuple[Scores, Training]:
    """Fine-tune a copy of the pretrained encoder (unfrozen, lower lr) with a head; its test scores."""
    return score_end_to_end(context, copy.deepcopy(context.encoder), split, schedule, cancel, on_step)
