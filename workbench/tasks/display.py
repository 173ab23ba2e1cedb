"""Small example images a task can show in the GUI (input, masked input, reconstruction, ...)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from workbench.tasks.base import Augment


@runtime_checkable
class RendersExamples(Protocol):
    """A task with an image output. The GUI checks `isinstance(task, RendersExamples)` and calls:

    `render_example(images, augment)` -> {name: (B, C, H, W) float tensor in [0, 1]}, in display order,
    for a few raw cached images. Its caller (`workbench.engine.inspection.render_examples`) puts the task in
    evaluation mode and restores its mode, buffers and random state afterwards; the task only draws.
    """

    def render_example(self, images: torch.Tensor, augment: Augment) -> dict[str, torch.Tensor]: ...


def to_display(images: torch.Tensor) -> torch.Tensor:
    """Normalised float images to [0, 1] for display: each image stretched from its own min to max."""
    images = images.detach().float()
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    return ((images - low) / (high - low).clamp_min(1e-6)).cpu()
