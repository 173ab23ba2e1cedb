"""SimCLR: contrastive learning with the NT-Xent loss."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.config import TaskConfig, setting
from workbench.models.heads import MLPHead
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.losses import nt_xent_loss, pair_cosines
from workbench.tasks.registry import register_task


def same_volume_setting(note: str = "") -> bool:
    """The 'no negatives from the same volume' switch of the contrastive tasks (on by default)."""
    return setting(True, "Never use another slice of the same volume (or frame of the same sequence) as a "
                         "negative: neighbouring slices look alike, and pushing them apart teaches the model "
                         "noise. Has an effect only when a batch holds several images of one volume or "
                         "sequence." + note, label="No negatives from the same volume")


@dataclass
class SimCLRConfig(TaskConfig):
    """Settings of SimCLR."""

    temperature: float = setting(0.2, "How sharply the loss focuses on the most similar wrong images. "
                                      "Lower is stricter; 0.1-0.5 is usual.", min=0.01, max=10.0)
    projector_hidden_dim: int = setting(512, "Width of the projector's hidden layer.", min=8, max=16384,
                                        advanced=True)
    projector_out_dim: int = setting(128, "Size of the projection the loss compares.", min=8, max=16384,
                                     advanced=True)
    exclude_same_volume_negatives: bool = same_volume_setting()


@register_task("simclr")
class SimCLR(PretextTask):
    """Two random views of each image should be recognised as the same image among all the others in the batch.

    The model sees two augmented versions (crops, colour and contrast changes, blur, flips) of every image,
    projects them with a small MLP, and must pick out each view's partner among all the other views in the
    batch by cosine similarity (the NT-Xent loss). The other images in the batch are the negatives, so it
    needs reasonably large batches (128 and more). What it learns is what the augmentations leave unchanged.

    How it fails: too-weak augmentations let it match views by trivial cues (exact intensity, position) and
    the features stay shallow; too-strong ones destroy what matters (e.g. small lesions cropped away). With
    tiny batches there are too few negatives. Slices of one volume (frames of one sequence) are near
    duplicates, so by default they are not used as each other's negatives. Watch positive cosine (should
    rise toward 1) and negative cosine (should stay near 0); an embedding spread near 0 means collapse.

    Paper: "A Simple Framework for Contrastive Learning of Visual Representations" (Chen, Kornblith,
    Norouzi, Hinton, 2020).
    """

    title = "SimCLR"
    description = "Contrastive: two augmented views of an image attract, other images repel (needs negatives)."
    Config = SimCLRConfig
    family = "contrastive"
    uses_batch_context = True

    def __init__(self, cfg: SimCLRConfig, encoder: torch.nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.projector = MLPHead(embed_dim, cfg.projector_hidden_dim, cfg.projector_out_dim)

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        batch = images.shape[0]
        features = self.encode_views(images, augment)
        z1, z2 = self.projector(features).chunk(2)
        exclude = context.same_sequence() if context is not None and self.cfg.exclude_same_volume_negatives else None
        loss, per_sample = nt_xent_loss(z1, z2, self.cfg.temperature, exclude)
        with torch.no_grad():
            positive, negative = pair_cosines(z1, z2)
        return TaskOutput(loss=loss, embeddings=features[:batch].detach(), per_sample_loss=per_sample.detach(),
                          metrics={"positive_cosine": positive, "negative_cosine": negative})
