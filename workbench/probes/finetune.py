"""Training an encoder and a linear head together on labelled images, with the run's augmentations.

Used from scratch (the supervised baseline) and from the pretrained encoder (fine-tuning, lower lr).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import AugmentConfig
from workbench.control import CancelToken
from workbench.data import BatchAugmenter
from workbench.data.augment import to_unit
from workbench.export.exporter import NormalizedEncoder
from workbench.probes.context import RunContext
from workbench.metrics.scores import Scores, classification_scores
from workbench.probes.splits import ProbeSplit

EVAL_BATCH = 256


@dataclass(frozen=True)
class Schedule:
    """A short supervised schedule: AdamW, cosine decay, batches drawn with replacement."""

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


def train_classifier(encoder: NormalizedEncoder, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                     augment_cfg: AugmentConfig, schedule: Schedule, seed: int, device: torch.device,
                     cancel: CancelToken | None = None) -> EncoderClassifier:
    """Train encoder + head with cross-entropy on random views of the (integer, cached) `images`."""
    channels, size = images.shape[1], images.shape[-1]
    # the encoder normalises its input itself: the augmenter's views stay in [0, 1] (mean 0, std 1)
    augmenter = BatchAugmenter(augment_cfg, channels, size, [0.0] * channels, [1.0] * channels)
    model = EncoderClassifier(encoder, int(encoder.encoder.embed_dim), num_classes).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    generator = torch.Generator(device=device).manual_seed(seed)
    picker = torch.Generator().manual_seed(seed)
    images, labels = images.to(device), labels.to(device).long()
    for step in range(schedule.steps):
        if cancel:
            cancel.raise_if_cancelled()
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr * 0.5 * (1 + math.cos(math.pi * step / schedule.steps))
        chosen = torch.randint(0, len(labels), (schedule.batch_size,), generator=picker).to(device)
        views = augmenter(images[chosen], generator).clamp(0, 1)
        loss = F.cross_entropy(model(views), labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def evaluate_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                        device: torch.device) -> Scores:
    """Scores of an images -> logits model on cached integer images."""
    model.eval()
    predicted = torch.cat([model(to_unit(images[start:start + EVAL_BATCH].to(device))).argmax(dim=1).cpu()
                           for start in range(0, len(images), EVAL_BATCH)])
    return classification_scores(predicted, labels, num_classes)


def score_end_to_end(context: RunContext, encoder: NormalizedEncoder, split: ProbeSplit, schedule: Schedule,
                     cancel: CancelToken | None = None) -> Scores:
    """Train `encoder` + a head on the split's labelled images; the scores on the split's test images."""
    dataset = context.dataset
    num_classes = len(dataset.class_names)
    model = train_classifier(encoder, dataset.images[split.train], dataset.labels[split.train], num_classes,
                             context.config.augment, schedule, split.seed, context.device, cancel)
    return evaluate_classifier(model, dataset.images[split.test], dataset.labels[split.test], num_classes,
                               context.device)


def finetuned_scores(context: RunContext, split: ProbeSplit, schedule: Schedule = FINETUNE,
                     cancel: CancelToken | None = None) -> Scores:
    """Fine-tune a copy of the pretrained encoder (unfrozen, lower lr) with a head; its test scores."""
    return score_end_to_end(context, copy.deepcopy(context.encoder), split, schedule, cancel)
