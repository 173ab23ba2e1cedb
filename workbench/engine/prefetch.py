"""Each training step's batch and views, the next step's drawn on a background thread while this one trains.

On a CPU the batched augmentation runs between model steps on the training thread, while torch leaves one
core free (`default_cpu_threads`). With prefetching, the images and views of step s+1 are made on a second
thread while the model trains on step s: torch's kernels release the GIL, so the two overlap on two cores.

Views are the same drawn ahead or not: the k-th view a step draws comes from a generator seeded with
(seed, rank, step, k) alone (`view_seed`), so nothing depends on when or on which thread it was drawn, and
a resumed run draws the same views without any generator state to restore. A view is used ahead only when
the k-th call of the step is on the step's batch (the calls a task makes on other tensors, e.g. frames of
a sequence, are drawn when asked); which calls those are is learnt from the previous step.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Callable, Iterator

import torch

from workbench.data import BatchAugmenter
from workbench.engine.device import usable_cores


def view_seed(seed: int, rank: int, step: int, call: int) -> int:
    """The generator seed of the `call`-th view drawn at `step` by process `rank` of a run seeded `seed`."""
    digest = hashlib.blake2b(f"{seed}:{rank}:{step}:{call}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # 63 bits: a valid seed on every device


def prefetch_helps(mode: str, device: torch.device, torch_threads: int) -> bool:
    """Whether to draw views ahead: "on"/"off" as said; "auto": on a CPU with a core that torch leaves free
    (on a GPU the augmentation is already asynchronous and cheap)."""
    if mode != "auto":
        return mode == "on"
    return device.type == "cpu" and usable_cores() > torch_threads


class ViewDrawer:
    """Draws view `call` of step `step` of a batch: `drawer(images, step, call)`, on any thread.

    Always in full precision, outside the training step's autocast: a thread's autocast is its own, and
    leaving an autocast region on the background thread would clear the autocast cache that all threads
    share, changing how the training thread's bf16 weight gradients are summed (and so the results)."""

    def __init__(self, augmenter: BatchAugmenter, device: torch.device, seed: int, rank: int,
                 channels_last: bool) -> None:
        self.augmenter, self.device, self.seed, self.rank = augmenter, device, seed, rank
        self.channels_last = channels_last

    def __call__(self, images: torch.Tensor, step: int, call: int) -> torch.Tensor:
        generator = torch.Generator(device=self.device).manual_seed(view_seed(self.seed, self.rank, step, call))
        if torch.is_autocast_enabled(self.device.type):  # nested in the step's autocast: leaving it clears nothing
            with torch.autocast(self.device.type, enabled=False):
                views = self.augmenter(images, generator)
        else:
            views = self.augmenter(images, generator)
        return views.contiguous(memory_format=torch.channels_last) if self.channels_last else views


class StepViews:
    """The `augment` of one step: its k-th call gives view k, from `ready` when drawn ahead for this batch."""

    def __init__(self, draw: ViewDrawer, step: int, batch: torch.Tensor | None = None,
                 ready: dict[int, torch.Tensor] | None = None) -> None:
        self.draw, self.step, self.batch, self.ready = draw, step, batch, ready or {}
        self.calls = 0
        self.calls_on_batch: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        call, self.calls = self.calls, self.calls + 1
        if images is not self.batch:
            return self.draw(images, self.step, call)
        self.calls_on_batch.append(call)
        view = self.ready.pop(call, None)
        return view if view is not None else self.draw(images, self.step, call)


StepInputs = tuple[torch.Tensor, torch.Tensor, StepViews]
"""(indices, images on the device, augment) of one step."""


class StepPrefetcher(AbstractContextManager):
    """Iterates over the steps' inputs from `first_step` on; with `ahead`, prepares the next step's images
    and views on one background thread while the caller trains on the current one.

    `load(indices)` gives a batch's images on the device."""

    def __init__(self, batches: Iterator[torch.Tensor], load: Callable[[torch.Tensor], torch.Tensor],
                 draw: ViewDrawer, first_step: int, ahead: bool) -> None:
        self.batches, self.load, self.draw, self.step = batches, load, draw, first_step
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="view-prefetch") if ahead else None
        self._upcoming: Future | None = None
        self._current: StepViews | None = None

    def __iter__(self) -> StepPrefetcher:
        return self

    def __next__(self) -> StepInputs:
        pattern = self._current.calls_on_batch if self._current is not None else []
        if self._upcoming is not None:
            indices, images, ready = self._upcoming.result()
        else:
            indices = next(self.batches)
            images, ready = self.load(indices), {}
        self._current = StepViews(self.draw, self.step, images, ready)
        if self.pool is not None:
            self._upcoming = self.pool.submit(_prepare, self.load, self.draw, next(self.batches), self.step + 1,
                                              list(pattern))
        self.step += 1
        return indices, images, self._current

    def close(self) -> None:
        """Stop the background thread (a step being prepared is finished and dropped)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        # the garbage collector may run this on any thread, the pool's own included: never wait here
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _prepare(load, draw: ViewDrawer, indices: torch.Tensor, step: int, calls: list[int]):
    """A step's inputs, made on the background thread (a plain function: the thread holds no reference to
    the prefetcher, which so is always closed from the thread that drops it)."""
    images = load(indices)
    return indices, images, {call: draw(images, step, call) for call in calls}
