"""Distillation: the encoder learns to reproduce a frozen, already trained teacher encoder's features."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import ModelConfig, RunConfig, TaskConfig, setting
from workbench.config.schema import backbone_choices
from workbench.models import Encoder, MLPHead, backbone_kind, backbone_names, create_backbone
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.registry import register_task

VIEWS = ("same", "clean")
MIN_TEACHER_SIZE = 16
CONV_BUILD_SIZE = 224
"""A convolutional teacher takes any image size; its builder is given this nominal one."""


@dataclass
class DistillationConfig(TaskConfig):
    """Settings of distillation."""

    teacher_backbone: str = setting("resnet18", "The teacher's architecture (any registered backbone).",
                                    choices=backbone_choices)
    teacher_weights: str = setting("", "The teacher's trained weights: a local weights file or folder of that "
                                       "backbone (as model.init_weights takes, e.g. a run's checkpoint). "
                                       "Required: a teacher with random weights teaches nothing.",
                                    path="weights")
    teacher_views: str = setting("same", "What the teacher sees: 'same' = the student's augmented view (the "
                                         "teacher runs every step; dense features can be matched); 'clean' = the "
                                         "un-augmented image, whose teacher features are computed once per image "
                                         "and kept (much cheaper on a CPU; global features only).",
                                 choices=VIEWS)
    teacher_image_size: int = setting(0, "Resize the views to this side for the teacher (the size it was trained "
                                         "at). 0 = the run's image size. A ViT teacher needs it set.",
                                      min=0, max=1024)
    teacher_small_image_stem: bool = setting(True, "ResNet teachers: the 3x3 stem without max-pool (as this app "
                                                   "trains them for small images); off for ImageNet-style weights.",
                                             advanced=True)
    teacher_patch_size: int = setting(8, "ViT teachers: their patch side in pixels.", min=2, max=64, advanced=True)
    global_weight: float = setting(1.0, "Weight of matching the teacher's image embedding (cosine).",
                                   min=0.0, max=100.0)
    dense_weight: float = setting(0.5, "Weight of matching the teacher's spatial feature map, location by "
                                       "location (needs teacher_views 'same'; 0 = off).", min=0.0, max=100.0)
    head_hidden_dim: int = setting(512, "Width of the hidden layer of the head that maps the student's "
                                        "embedding to the teacher's.", min=8, max=16384, advanced=True)


@register_task("distillation")
class Distillation(PretextTask):
    """Match a frozen teacher encoder's features: its knowledge moves into the (usually smaller) encoder trained.

    The teacher is any registered backbone with trained weights from a local file (e.g. a large model
    pretrained here or elsewhere); it is never trained, never saved in checkpoints (it is reloaded from its
    file, also on resume) and not exported. The encoder's embedding goes through a small head to the
    teacher's width, and the loss is 1 - cosine between that and the teacher's embedding; with a dense
    weight, the encoder's feature map (through a 1x1 projection) also matches the teacher's, location by
    location, on a common grid. With teacher views 'same' the teacher sees the student's augmented view
    (it runs every step); with 'clean' it sees each un-augmented image once and its embedding is cached by
    image, so the student learns augmentation-invariant features that agree with the teacher.

    How it fails: a teacher trained on other images or another normalisation teaches little (it sees the
    views normalised with this dataset's statistics); a weak teacher caps what the student can learn. Watch
    the cosine: it should rise toward 1. Combine with another task (e.g. SimCLR) to keep learning what the
    teacher does not know. LightlyTrain's default method is of this kind.

    Paper: "Distilling the Knowledge in a Neural Network" (Hinton, Vinyals, Dean, 2015); feature distillation
    as in "FitNets: Hints for Thin Deep Nets" (Romero et al., 2015).
    """

    title = "Distillation"
    description = "Learn from a frozen, trained teacher encoder: match its image and spatial features."
    Config = DistillationConfig
    uses_batch_context = True

    def __init__(self, cfg: DistillationConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        if not cfg.teacher_weights:
            raise ValueError(f"{self.setting_path('teacher_weights')}: a weights file for the teacher is required")
        teacher = build_teacher(cfg, encoder.in_channels, cfg.teacher_image_size or encoder.input_size)
        object.__setattr__(self, "teacher", teacher)  # outside the module tree: no state, no parameters
        self.head = MLPHead(embed_dim, cfg.head_hidden_dim, teacher.embed_dim)
        self.dense = cfg.dense_weight > 0
        if self.dense:
            if cfg.teacher_views != "same":
                raise ValueError(f"{self.setting_path('dense_weight')}: dense features need teacher_views 'same'")
            self.dense_head = nn.Conv2d(embed_dim, teacher.embed_dim, kernel_size=1)
        self._cache: torch.Tensor | None = None
        self._known: torch.Tensor | None = None

    @classmethod
    def config_problems(cls, cfg: DistillationConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        problems = []
        if not cfg.teacher_weights:
            problems.append((cls.setting_path("teacher_weights"),
                             "is required: the file of the teacher's trained weights (a random teacher teaches "
                             "nothing)"))
        if cfg.teacher_backbone not in backbone_names():
            problems.append((cls.setting_path("teacher_backbone"), f"unknown backbone {cfg.teacher_backbone!r}"))
        elif backbone_kind(cfg.teacher_backbone) == "vit" and (
                not cfg.teacher_image_size or cfg.teacher_image_size % cfg.teacher_patch_size):
            problems.append((cls.setting_path("teacher_image_size"),
                             f"a ViT teacher takes one image size: set a multiple of teacher_patch_size "
                             f"({cfg.teacher_patch_size}), e.g. the size it was trained at"))
        if 0 < cfg.teacher_image_size < MIN_TEACHER_SIZE:
            problems.append((cls.setting_path("teacher_image_size"), f"must be 0 or at least {MIN_TEACHER_SIZE}"))
        if cfg.dense_weight > 0 and cfg.teacher_views != "same":
            problems.append((cls.setting_path("dense_weight"),
                             f"dense features compare the same pixels, so they need {cls.setting_path('teacher_views')}"
                             " 'same' (the un-augmented image does not line up with the student's crop); set 0"))
        if cfg.global_weight == 0 and cfg.dense_weight == 0:
            problems.append((cls.setting_path("global_weight"), "and dense_weight are both 0: nothing to match"))
        return problems

    def _apply(self, fn, recurse=True):
        """Moves and casts (`.to(device)`, channels-last) reach the teacher and its cache too."""
        super()._apply(fn, recurse)
        self.teacher._apply(fn)
        if self._cache is not None:
            self._cache = fn(self._cache)
        return self

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        view = augment(images)
        features = self.encoder(view)
        student = self.head(features)
        if self.cfg.teacher_views == "clean":
            target = self._clean_targets(images, context)
        else:
            with torch.no_grad():
                target = self.teacher(self._teacher_input(view))
        cosine = F.cosine_similarity(student.float(), target.float(), dim=1)
        per_sample = self.cfg.global_weight * (1 - cosine)
        metrics = {"cosine": cosine.detach().mean()}
        if self.dense:
            dense_cosine = self._dense_cosine(view)
            per_sample = per_sample + self.cfg.dense_weight * (1 - dense_cosine)
            metrics["dense_cosine"] = dense_cosine.detach().mean()
        return TaskOutput(loss=per_sample.mean(), embeddings=features.detach(), per_sample_loss=per_sample.detach(),
                          metrics=metrics)

    def _teacher_input(self, view: torch.Tensor) -> torch.Tensor:
        """The view at the teacher's image size."""
        size = self.cfg.teacher_image_size
        if size and size != view.shape[-1]:
            view = F.interpolate(view, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return view

    @torch.no_grad()
    def _clean_targets(self, images: torch.Tensor, context: BatchContext | None) -> torch.Tensor:
        """The teacher's embeddings of the un-augmented images, each computed once and kept by dataset row
        (which rows are known is kept on the CPU, so a step of known rows never waits for the GPU)."""
        if context is None or context.normalize is None:
            raise ValueError(f"{self.setting_path('teacher_views')} 'clean' needs the batch's dataset rows and "
                             "statistics (a BatchContext with normalize), which this caller does not give")
        rows = context.indices.cpu()
        self._reserve(int(rows.max()) + 1, images.device)
        missing = torch.nonzero(~self._known[rows]).flatten()
        if len(missing):
            fresh = self.teacher(self._teacher_input(context.normalize(images[missing.to(images.device)])))
            self._cache[rows[missing].to(images.device)] = fresh.float()
            self._known[rows[missing]] = True
        return self._cache[rows.to(images.device, non_blocking=True)]

    def _reserve(self, rows: int, device: torch.device) -> None:
        """Room in the cache for dataset rows 0..rows-1 (grown by doubling, known rows kept)."""
        have = 0 if self._cache is None else len(self._cache)
        if rows <= have:
            return
        size = max(rows, 2 * have)
        cache = torch.zeros(size, self.teacher.embed_dim, device=device)
        known = torch.zeros(size, dtype=torch.bool)
        if self._cache is not None:
            cache[:have], known[:have] = self._cache, self._known
        self._cache, self._known = cache, known

    def _dense_cosine(self, view: torch.Tensor) -> torch.Tensor:
        """(B,) mean over locations of the cosine between the student's projected feature map and the
        teacher's, both pooled to the coarser of their two grids."""
        student = self.dense_head(self.encoder.feature_map(view))
        with torch.no_grad():
            teacher = self.teacher.feature_map(self._teacher_input(view))
        grid = (min(student.shape[-2], teacher.shape[-2]), min(student.shape[-1], teacher.shape[-1]))
        student, teacher = F.adaptive_avg_pool2d(student, grid), F.adaptive_avg_pool2d(teacher, grid)
        return F.cosine_similarity(student.float(), teacher.float(), dim=1).flatten(1).mean(dim=1)


def build_teacher(cfg: DistillationConfig, channels: int, image_size: int | None) -> Encoder:
    """The frozen teacher for images of `channels`: `cfg.teacher_backbone` with `cfg.teacher_weights` loaded
    by the backbone factory, as `model.init_weights` is (which also adapts a first convolution saved for
    another channel count, e.g. RGB weights for gray images), in evaluation mode, without gradients.
    ValueError naming the setting when the weights do not fit."""
    path = Distillation.setting_path
    kind = backbone_kind(cfg.teacher_backbone) if cfg.teacher_backbone in backbone_names() else "conv"
    if kind == "vit" and not image_size:
        raise ValueError(f"{path('teacher_image_size')}: a ViT teacher needs its image size")
    model = ModelConfig(backbone=cfg.teacher_backbone, small_image_stem=cfg.teacher_small_image_stem,
                        patch_size=cfg.teacher_patch_size, init_weights=cfg.teacher_weights)
    try:
        teacher = create_backbone(model, channels, image_size or CONV_BUILD_SIZE)
    except ValueError as error:
        raise ValueError(f"{path('teacher_weights')}: {error}") from None
    return teacher.eval().requires_grad_(False)
