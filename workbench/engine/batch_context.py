"""Each training step's `BatchContext`: the batch's dataset rows, their sequences, and a way to load
other frames of those sequences from the decoded cache."""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch

from workbench.data import ImageDataset
from workbench.data.sequences import SequenceTable
from workbench.engine.model import MultiTaskModel
from workbench.tasks import BatchContext


class BatchContexts:
    """Builds the context of a batch of dataset rows. `images` is the cache where the trainer keeps it
    (on the GPU, or pinned in host memory); loaded frames land on `device`, like the batch. `normalize` gives
    un-augmented views (`BatchContext.normalize`)."""

    def __init__(self, dataset: ImageDataset, images: torch.Tensor, device: torch.device,
                 normalize: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.table = SequenceTable(dataset.sequence_index, dataset.sequence_position)
        self.sequence_ids = dataset.sequence_index.to(device)
        self.images = images
        self.device = device
        self.normalize = normalize

    def __call__(self, indices: torch.Tensor) -> BatchContext:
        indices = indices.cpu()
        return BatchContext(indices=indices, sequence_ids=self.sequence_ids[indices.to(self.device, non_blocking=True)],
                            positions=self.table.position[indices], lengths=self.table.length[indices],
                            load_frames=partial(self._load_frames, indices), normalize=self.normalize)

    def _load_frames(self, indices: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        rows = self.table.rows(indices, positions.cpu())
        return self.images[rows.to(self.images.device, non_blocking=True)].to(self.device, non_blocking=True)

    def require(self, needs: dict[str, int]) -> None:
        """Raise a ValueError that says what to change when a task needs longer sequences than the data has."""
        longest = self.table.longest
        for name, frames in needs.items():
            if longest < frames:
                found = ("has no image sequences" if longest <= 1
                         else f"has sequences of at most {longest} frames")
                raise ValueError(f"{name} needs image sequences of at least {frames} frames, but the dataset "
                                 f"{found}: set data.sequences: folders (one folder of frames per sequence) or "
                                 "use volume data (DICOM series, NIfTI)")


def batch_contexts(model: MultiTaskModel, dataset: ImageDataset, images: torch.Tensor, device: torch.device,
                   normalize: Callable[[torch.Tensor], torch.Tensor] | None = None) -> BatchContexts | None:
    """The context builder a run needs (None when none of its tasks reads a context), checked against the
    tasks' sequence needs."""
    if not model.uses_batch_context:
        return None
    contexts = BatchContexts(dataset, images, device, normalize)
    contexts.require(model.sequence_needs())
    return contexts
