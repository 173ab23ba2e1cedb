"""While training, large freed blocks stay in the allocator's heap instead of being unmapped and faulted in
again next step (glibc); the usual behaviour returns afterwards."""
from __future__ import annotations

import ctypes

import pytest
import torch

from workbench.engine.allocator import glibc, keep_freed_memory

pytestmark = pytest.mark.skipif(glibc() is None or not hasattr(glibc(), "mallinfo2"),
                                reason="glibc >= 2.33 only")


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


MB = 1024 * 1024


def mapped_bytes() -> int:
    """Bytes the allocator holds in separately mmapped blocks."""
    libc = glibc()
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2().hblkhd


def mapped_growth(size: int) -> int:
    """How much the mmapped bytes grow while a tensor of `size` bytes lives."""
    before = mapped_bytes()
    tensor = torch.empty(size, dtype=torch.uint8)
    growth = mapped_bytes() - before
    del tensor
    return growth


def test_step_sized_blocks_come_from_the_heap_while_training_only():
    assert mapped_growth(64 * MB) >= 64 * MB  # above anything glibc's own threshold grows to
    with keep_freed_memory() as applied:
        assert applied
        with keep_freed_memory():  # nested (the bench inside a run): still kept when the inner block ends
            pass
        assert mapped_growth(16 * MB) == 0  # a step's activations: kept for the next step
        assert mapped_growth(64 * MB) == 0  # large ones too (ResNet-18 at batch 256 makes 67 MB blocks)
    assert mapped_growth(256 * MB) >= 256 * MB  # the usual behaviour again (larger than any free heap block)


def test_memory_kept_during_training_is_released_after():
    def resident_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / MB

    before = resident_mb()
    with keep_freed_memory():
        for step in range(6):  # blocks that grow a little each time cannot reuse each other: the heap grows
            block = torch.ones((32 + step) * MB // 4)
            del block
        assert resident_mb() > before + 64
    assert resident_mb() < before + 16
