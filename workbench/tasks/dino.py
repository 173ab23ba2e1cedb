"""DINO: self-distillation with an EMA teacher, centring and sharpening, over multi-crop views."""
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
from workbench.tasks.crops import encode_any_size, random_resized_crops
from workbench.tasks.losses import dino_loss
from workbench.tasks.registry import register_task
from workbench.tasks.sync import mean_over_processes

GLOBAL_VIEWS = 2


@dataclass
class DINOConfig(TaskConfig):
    """Settings of DINO."""

    out_dim: int = setting(1024, "Number of prototypes the teacher's and student's outputs are spread over.",
                           min=16, max=262144, label="Prototypes")
    teacher_temperature: float = setting(0.04, "Sharpening of the teacher's output: lower is sharper. "
                                               "0.04-0.07 is usual.", min=0.001, max=1.0)
    student_temperature: float = setting(0.1, "Temperature of the student's output.", min=0.001, max=1.0)
    center_momentum: float = setting(0.9, "How slowly the centre (the running mean of the teacher's output) "
                                          "moves.", min=0.0, max=1.0)
    momentum_base: float = setting(0.996, "How slowly the teacher follows the student at the start; rises to "
                                          "1.0 by the end of training.", min=0.0, max=1.0, label="Teacher momentum")
    local_crops: int = setting(2, "Number of small local crops per image, seen by the student only "
                                  "(besides the 2 global views). 0 turns multi-crop off.", min=0, max=16)
    local_crop_size: float = setting(0.5, "Side of a local crop, as a fraction of the image side.",
                                     min=0.1, max=1.0)
    local_crop_scale_min: float = setting(0.05, "Smallest local crop, as a fraction of a view's area.",
                                          min=0.01, max=1.0)
    local_crop_scale_max: float = setting(0.4, "Largest local crop, as a fraction of a view's area.",
                                          min=0.01, max=1.0)
    head_hidden_dim: int = setting(512, "Width of the head's hidden layers.", min=8, max=16384, advanced=True)
    head_bottleneck_dim: int = setting(128, "Size of the head's output before the prototypes.", min=8,
                                       max=16384, advanced=True)


class PrototypeHead(nn.Module):
    """MLP to a bottleneck, L2-normalised, then cosine similarity to `out_dim` learnt prototypes.

    The unit-length prototypes are DINO's weight-normalised last layer with its norm fixed at 1.
    """

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, out_dim: int):
        super().__init__()
        self.mlp = MLPHead(in_dim, hidden_dim, bottleneck_dim, num_layers=3, batch_norm=False)
        self.prototypes = nn.Parameter(torch.randn(out_dim, bottleneck_dim) * bottleneck_dim ** -0.5)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(features), dim=1) @ F.normalize(self.prototypes, dim=1).T


def _mean_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    return -(probabilities * torch.log(probabilities.clamp_min(1e-12))).sum(-1).mean()


@register_task("dino")
class DINO(FollowsWithMomentum, PretextTask):
    """The model (student) must give the same output distribution as a slowly updated copy (teacher) of itself.

    Each image yields 2 global views (the configured augmentations) and N small local crops (a random part
    of a further view, resized to `local_crop_size` of the image side; ViTs, which take one input size
    only, see them enlarged back to it). The teacher, an exponential moving average of the student, sees
    only the global views; the student sees all of them and must match the teacher's output of every other
    view (cross-entropy over learnt prototypes). Seeing a small part and matching the whole teaches
    local-to-global correspondence. Two tricks keep the teacher from collapsing: centring (subtract a
    running mean of its outputs, so no prototype dominates) and sharpening (a low teacher temperature, so
    the output is not uniform). No negatives are needed. Under torchrun the centre moves by the mean teacher
    output over the batches of all processes, so it is the same everywhere.

    How it fails: collapse to one prototype (teacher entropy near 0) when the centring is too weak; collapse
    to a uniform output (teacher entropy near log(prototypes)) when the teacher temperature is too high.
    Watch `teacher_entropy`: it should settle clearly between the two. The loss itself may rise early on as the
    teacher's entropy moves; `student_teacher_kl` (loss minus teacher entropy) is what the student reduces.

    Paper: "Emerging Properties in Self-Supervised Vision Transformers" (Caron, Touvron, Misra, Jégou,
    Mairal, Bojanowski, Joulin, 2021).
    """

    title = "DINO"
    description = "Self-distillation: match an EMA teacher's sharpened, centred output across global and local crops."
    Config = DINOConfig
    family = "joint embedding"

    def __init__(self, cfg: DINOConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.head = PrototypeHead(embed_dim, cfg.head_hidden_dim, cfg.head_bottleneck_dim, cfg.out_dim)
        self.teacher_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.teacher_head = copy.deepcopy(self.head).requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, cfg.out_dim))
        self.momentum = cfg.momentum_base

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        cfg = self.cfg
        batch = images.shape[0]
        global_views = torch.cat([augment(images) for _ in range(GLOBAL_VIEWS)])
        features = self.encoder(global_views)
        student = [self.head(features)]
        if cfg.local_crops:
            side = max(8, round(images.shape[-1] * cfg.local_crop_size))
            views = torch.cat([augment(images) for _ in range(cfg.local_crops)])
            scale = sorted((cfg.local_crop_scale_min, cfg.local_crop_scale_max))  # either order is meant the same
            local = random_resized_crops(views, (scale[0], scale[1]), side)
            student.append(self.head(encode_any_size(self.encoder, local)))
        student = torch.cat(student).view(-1, batch, cfg.out_dim)
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_encoder(global_views)).view(GLOBAL_VIEWS, batch, -1)
        per_sample = dino_loss(student, teacher, self.center.clone(), cfg.student_temperature,
                               cfg.teacher_temperature)
        metrics = self._health(teacher, student)
        # Cross-entropy = teacher entropy + KL(teacher || student); the KL is the part the student controls.
        metrics["student_teacher_kl"] = per_sample.detach().mean() - metrics["teacher_entropy"]
        self._update_center(teacher)
        return TaskOutput(loss=per_sample.mean(), embeddings=features[:batch].detach(),
                          per_sample_loss=per_sample.detach(), metrics=metrics)

    @torch.no_grad()
    def _health(self, teacher: torch.Tensor, student: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean entropy of the teacher's targets and of the student's outputs, in nats."""
        targets = F.softmax((teacher.float() - self.center) / self.cfg.teacher_temperature, dim=-1)
        outputs = F.softmax(student.detach().float() / self.cfg.student_temperature, dim=-1)
        return {"teacher_entropy": _mean_entropy(targets), "student_entropy": _mean_entropy(outputs),
                "teacher_momentum": torch.full((), self.momentum, device=teacher.device)}

    @torch.no_grad()
    def _update_center(self, teacher: torch.Tensor) -> None:
        mean = mean_over_processes(teacher.float().mean(dim=(0, 1)).unsqueeze(0))
        self.center.mul_(self.cfg.center_momentum).add_(mean, alpha=1 - self.cfg.center_momentum)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.teacher_encoder, self.encoder), (self.teacher_head, self.head)]
