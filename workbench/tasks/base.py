"""The pretext-task contract: a task owns its heads and its loss, over a shared encoder."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch
from torch import nn

from workbench.config.schema import RunConfig, TaskConfig

#: Turns a batch of cached images (uint8/uint16, on the device) into one random view (float, normalised).
Augment = Callable[[torch.Tensor], torch.Tensor]


TASK_FAMILIES = ("contrastive", "joint embedding", "masked prediction", "pretext classification")
"""Kinds of pretext task that share advice (`PretextTask.family`)."""


def humanise(name: str) -> str:
    """A task's registered name in words: "flip_prediction" -> "Flip prediction"."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class TaskOutput:
    """What one training step of a task produces."""

    loss: torch.Tensor
    """Scalar loss to minimise."""
    embeddings: torch.Tensor
    """(B, D) encoder features of the first view, detached; used for health metrics."""
    per_sample_loss: torch.Tensor | None = None
    """(B,) loss per image, detached, when the task can tell (for 'hardest images' and ranking)."""
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    """Extra health values of the task (detached scalars), logged beside the loss."""


@dataclass(frozen=True)
class BatchContext:
    """What a task may know about its batch besides the pixels: where the images sit in the dataset.

    Every task's `training_step` takes it (keyword `context`); the trainer builds one per step only when a
    task of the run sets `uses_batch_context = True`, else it is None (as it is in a task test).
    Every image belongs to a sequence: a volume, a folder of frames (`data.sequences: folders`), or, for
    a plain image, a sequence of its own one frame (id -1, length 1).
    """

    indices: torch.Tensor
    """(B,) dataset rows of the batch's images (CPU, int64)."""
    sequence_ids: torch.Tensor
    """(B,) on the batch's device: each image's volume or sequence number, -1 for a plain image."""
    positions: torch.Tensor
    """(B,) CPU: each image's place in its sequence, 0 = first."""
    lengths: torch.Tensor
    """(B,) CPU: frames in each image's sequence (1 for a plain image)."""
    load_frames: Callable[[torch.Tensor], torch.Tensor]
    """(B, k) positions in each image's own sequence (clamped to it) -> (B, k, C, S, S) raw cached frames,
    on the batch's device, like `images`."""
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Raw cached images -> the encoder's input without augmentation (scaled, normalised with the dataset's
    mean and std): an un-augmented view. None where the caller has no dataset statistics."""

    def same_sequence(self) -> torch.Tensor:
        """(B, B) bool on the device: True where images i and j are frames of one sequence (i == j included,
        except for plain images)."""
        ids = self.sequence_ids
        return (ids.unsqueeze(1) == ids.unsqueeze(0)) & (ids >= 0).unsqueeze(1)


class PretextTask(nn.Module):
    """Base class of pretext tasks. Subclass, set the class attributes, register with `register_task`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    """The task's name for people, e.g. "Rotation prediction"; see `display_title` for tasks without one."""
    description: ClassVar[str] = ""
    """One plain-language line: what the model is asked to solve."""
    Config: ClassVar[type[TaskConfig]] = TaskConfig
    uses_batch_context: ClassVar[bool] = False
    """True: the task reads the step's `BatchContext`, so the trainer builds one (else `context` may be None)."""
    backbone_kinds: ClassVar[tuple[str, ...]] = ("conv", "vit")
    """The kinds of backbone the task can train (see `workbench.models.backbones`)."""
    backbone_advice: ClassVar[str] = ""
    """What to use instead when the backbone is of another kind."""
    trains_class_token: ClassVar[bool] = True
    """Whether the loss trains the encoder's pooled output (a ViT's class token). Masked-modelling tasks that
    train only the patch tokens set False; a run of such tasks alone embeds with the mean of the patch tokens
    (`model.pooling: auto`, see `workbench.tasks.pooling`)."""
    family: ClassVar[str] = "pretext classification"
    """The kind of task, one of `TASK_FAMILIES`; the verdict's advice is the family's."""

    def __init__(self, cfg: TaskConfig, encoder: nn.Module, embed_dim: int):
        problem = self.backbone_problem("vit" if getattr(encoder, "is_vit", False) else "conv")
        if problem:
            raise ValueError(problem)
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        self.embed_dim = embed_dim

    @classmethod
    def display_title(cls) -> str:
        """The name shown to people: `title`, else the registered name in words ("flip_prediction" ->
        "Flip prediction"), else the class name."""
        return cls.title or humanise(cls.name) or cls.__name__

    @classmethod
    def backbone_problem(cls, kind: str) -> str | None:
        """Why this task cannot train a backbone of `kind`, or None when it can."""
        if kind in cls.backbone_kinds:
            return None
        needed = " or ".join({"vit": "a ViT backbone (vit_tiny, vit_small)",
                              "conv": "a convolutional backbone"}[k] for k in cls.backbone_kinds)
        return f"{cls.display_title()} needs {needed}" + (f"; {cls.backbone_advice}" if cls.backbone_advice else "")

    @classmethod
    def config_problems(cls, cfg: TaskConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        """(field, message) for each of the task's settings `cfg` that cannot work with the rest of the run's
        `config` on a backbone of `kind` (e.g. an image too small for its tiles); checked before a run starts."""
        return []

    @classmethod
    def setting_path(cls, setting: str) -> str:
        """The config path of one of the task's settings, e.g. `tasks.jigsaw.gap`."""
        return f"tasks.{cls.name}.{setting}"

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        """Compute the loss for one batch of raw cached images, drawing views with `augment`; `context` is the
        step's `BatchContext` when the run builds one (see `uses_batch_context`), else None. Every task takes
        this signature (`register_task` refuses one that does not)."""
        raise NotImplementedError

    def min_sequence_length(self) -> int:
        """Frames the task needs in at least one sequence of the dataset (0 = it needs no sequences)."""
        return 0

    def encode_views(self, images: torch.Tensor, augment: Augment, count: int = 2) -> torch.Tensor:
        """Encoder features of `count` random views of the batch in one pass: (count x B, D), view by view."""
        return self.encoder(torch.cat([augment(images) for _ in range(count)]))

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step (EMA teachers, schedules). Optional."""
