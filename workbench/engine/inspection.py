"""Running the tasks to look at them, not to train them: each image's pretext loss (the embedding map's
colours, the ranking of images to label) and the tasks' example images, from a run's model or from a fresh
one (the Pretext tasks step's preview). Nothing here changes a model being trained."""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Callable, ContextManager, Iterator

import torch
from torch import nn

from workbench.config import RunConfig
from workbench.control import CancelToken
from workbench.data import BatchAugmenter
from workbench.engine.model import MultiTaskModel
from workbench.tasks import Augment, BatchContext, get_task
from workbench.tasks.display import RendersExamples


def loss_batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Consecutive batches of `order`; a last batch of one image joins the one before (contrastive losses
    need pairs)."""
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


@contextmanager
def left_as_found(model: nn.Module, seed: int) -> Iterator[None]:
    """Evaluation mode, with the tasks' own randomness (masks, shuffles) seeded by `seed`; afterwards the
    model's mode, its buffers (MoCo's queue, DINO's centre) and the global random state are as they were."""
    device = next(model.parameters()).device
    saved = [buffer.clone() for buffer in model.buffers()]
    was_training = model.training
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model.eval()
        try:
            yield
        finally:
            model.train(was_training)
            with torch.no_grad():
                for buffer, value in zip(model.buffers(), saved):
                    buffer.copy_(value)


@torch.no_grad()
def per_image_losses(model: nn.Module, images: torch.Tensor, rows: torch.Tensor, augment: Augment,
                     batch_size: int, seed: int = 0, precision: Callable[[], ContextManager] = nullcontext,
                     contexts: Callable[[torch.Tensor], BatchContext] | None = None,
                     cancel: CancelToken | None = None) -> torch.Tensor | None:
    """The pretext loss of each of `rows` of the cache `images` under a MultiTaskModel: the task-weighted sum
    of `TaskOutput.per_sample_loss` (float32, CPU, in the order of `rows`), or None when no task reports a
    loss per image.

    Batches are consecutive `rows` (contrastive losses depend on the rest of the batch), with views from
    `augment` under `precision` (e.g. autocast) and, for tasks that read one, the batch context from
    `contexts`. The model is left as found (`left_as_found`)."""
    device = next(model.parameters()).device
    losses = torch.zeros(len(rows))
    start = 0
    with left_as_found(model, seed):
        for batch_rows in loss_batches(rows, batch_size):
            if cancel:
                cancel.raise_if_cancelled()
            batch = images[batch_rows.to(images.device)].to(device, non_blocking=True)
            with precision():
                _, outputs = (model(batch, augment, contexts(batch_rows)) if contexts is not None
                              else model(batch, augment))
            per_image = [model.weights[name] * output.per_sample_loss.float().cpu()
                         for name, output in outputs.items() if output.per_sample_loss is not None]
            if not per_image:
                return None
            losses[start:start + len(batch_rows)] = sum(per_image)
            start += len(batch_rows)
    return losses


@torch.no_grad()
def render_examples(model: nn.Module, images: torch.Tensor, augment: Augment,
                    seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """{task name: {panel name: (B, C, H, W) in [0, 1], on the CPU}} for each task of a MultiTaskModel that
    renders examples (`RendersExamples`); the same `seed` gives the same masks and shuffles each time."""
    device = next(model.parameters()).device
    rendered = {}
    with left_as_found(model, seed):
        for name, task in model.tasks.items():
            if isinstance(task, RendersExamples):
                panels = task.render_example(images.to(device), augment)
                rendered[name] = {panel: value.float().cpu() for panel, value in panels.items()}
    return rendered


def preview_examples(config: RunConfig, images: torch.Tensor, channels: int, mean, std,
                     seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """The examples of the configured tasks that render them, from a freshly initialised (seeded) model on
    the CPU: what each task gives the model before any training. `images` are raw cached images; `mean`
    and `std` the dataset's. Raises ValueError when a task cannot be built with these settings."""
    shown = {name: task for name, task in config.tasks.items() if issubclass(get_task(name), RendersExamples)}
    if not shown:
        return {}
    torch.manual_seed(seed)
    model = MultiTaskModel(replace(config, tasks=shown), channels)
    normalize = BatchAugmenter(config.augment, channels, config.data.image_size, mean, std).normalize
    return render_examples(model, images, normalize, seed)
