"""MoCo v2/v3: contrast a query view against keys from a momentum (EMA) copy of the encoder."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.byol import FollowsWithMomentum
from workbench.tasks.losses import info_nce_loss
from workbench.tasks.registry import register_task
from workbench.tasks.simclr import same_volume_setting
from workbench.tasks.sync import gather_rows


@dataclass
class MoCoConfig(TaskConfig):
    """Settings of MoCo."""

    temperature: float = setting(0.2, "How sharply the loss focuses on the most similar wrong images. "
                                      "0.1-0.3 is usual.", min=0.01, max=10.0)
    momentum_base: float = setting(0.99, "How slowly the key (momentum) encoder follows the trained one at the "
                                         "start; rises to 1.0 by the end of training.", min=0.0, max=1.0,
                                   label="Key encoder momentum")
    queue_size: int = setting(0, "0 = MoCo v3: the other images of the batch are the negatives. Above 0 = "
                                 "MoCo v2: a queue of this many keys from earlier batches are the negatives, "
                                 "which works with small batches.", min=0, max=1_000_000)
    predictor: bool = setting(True, "Put a predictor MLP on the query branch (MoCo v3 does; v2 does not).")
    exclude_same_volume_negatives: bool = same_volume_setting(" MoCo v3 only: the queue of v2 keeps no "
                                                              "volume of its keys.")
    projector_hidden_dim: int = setting(1024, "Width of the projector's and predictor's hidden layers.",
                                        min=8, max=16384, advanced=True)
    projector_out_dim: int = setting(128, "Size of the projection the loss compares.", min=8, max=16384,
                                     advanced=True)


@register_task("moco")
class MoCo(FollowsWithMomentum, PretextTask):
    """Recognise which key, computed by a slowly updated copy of the model, belongs to each query view.

    Two augmented views of each image are drawn. The trained model turns one into a query; a momentum copy
    (an exponential moving average of the model's weights, never trained directly) turns the other into a
    key. The query must pick its own key among negatives by cosine similarity (the InfoNCE loss), both ways
    round. MoCo v3 (queue size 0) uses the other images of the batch as negatives; MoCo v2 (queue size > 0)
    keeps a queue of keys from earlier batches, so it gets many negatives even with small batches. The slow
    key encoder keeps the keys consistent from step to step. Under torchrun every process enqueues the keys
    of all processes, so the queue is the same everywhere.

    Typical augmentations are SimCLR's: crops, colour/contrast jitter, blur, flips. How it fails: too-weak
    augmentations give shortcut matches; a momentum too low makes the queued keys inconsistent and the loss
    noisy; with near-duplicate images in the data, duplicates act as false negatives. Watch positive cosine
    (rises toward 1) against negative cosine (stays near 0).

    Papers: "Improved Baselines with Momentum Contrastive Learning" (Chen, Fan, Girshick, He, 2020, v2) and
    "An Empirical Study of Training Self-Supervised Vision Transformers" (Chen, Xie, He, 2021, v3).
    """

    title = "MoCo"
    description = "Contrastive with a momentum key encoder: match each view to its key among negatives."
    Config = MoCoConfig
    family = "contrastive"
    uses_batch_context = True

    def __init__(self, cfg: MoCoConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        out = cfg.projector_out_dim
        self.projector = MLPHead(embed_dim, cfg.projector_hidden_dim, out)
        self.predictor = MLPHead(out, cfg.projector_hidden_dim, out) if cfg.predictor else nn.Identity()
        self.key_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.key_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.momentum = cfg.momentum_base
        if cfg.queue_size:
            self.register_buffer("queue", F.normalize(torch.randn(cfg.queue_size, out), dim=1))
            self.register_buffer("queue_position", torch.zeros((), dtype=torch.long))

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        batch = images.shape[0]
        views = torch.cat([augment(images), augment(images)])
        features = self.encoder(views)
        q1, q2 = self.predictor(self.projector(features)).chunk(2)
        with torch.no_grad():
            k1, k2 = self.key_projector(self.key_encoder(views)).chunk(2)
        negatives = self.queue.clone() if self.cfg.queue_size else None
        exclude = (context.same_sequence() if context is not None and negatives is None
                   and self.cfg.exclude_same_volume_negatives else None)
        per_sample = (info_nce_loss(q1, k2, self.cfg.temperature, negatives, exclude)
                      + info_nce_loss(q2, k1, self.cfg.temperature, negatives, exclude)) / 2
        metrics = self._similarities(q1, k2, negatives)
        metrics["key_momentum"] = torch.full((), self.momentum, device=images.device)
        if self.cfg.queue_size:
            self._enqueue(k1)
        return TaskOutput(loss=per_sample.mean(), embeddings=features[:batch].detach(),
                          per_sample_loss=per_sample.detach(), metrics=metrics)

    @torch.no_grad()
    def _similarities(self, query: torch.Tensor, key: torch.Tensor,
                      negatives: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Mean cosine of each query with its key (positive) and with its negatives."""
        q, k = F.normalize(query.float(), dim=1), F.normalize(key.float(), dim=1)
        positive = (q * k).sum(1).mean()
        if negatives is None:
            batch = q.shape[0]
            negative = ((q @ k.T).sum() - (q * k).sum()) / max(batch * (batch - 1), 1)
        else:
            negative = (q @ negatives.float().T).mean()
        return {"positive_cosine": positive, "negative_cosine": negative}

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest queued keys by this step's keys, of every process in rank order (a ring buffer)."""
        size = self.queue.shape[0]
        keys = gather_rows(F.normalize(keys.float(), dim=1))[-size:]
        slots = (self.queue_position + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[slots] = keys.to(self.queue.dtype)
        self.queue_position.copy_((self.queue_position + keys.shape[0]) % size)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.key_encoder, self.encoder), (self.key_projector, self.projector)]
