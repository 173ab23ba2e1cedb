"""Keeping freed memory for the next training step instead of handing it back to the system (glibc only).

By default glibc serves every allocation above 128 KB-32 MB with a fresh `mmap` and unmaps it when freed,
so each step's activations and gradients (megabytes each) are page-faulted in anew, step after step:
measured on a 2-core EPYC, a ResNet-18 step (batch 256, 32 px) ran 1.16x faster in bf16 and 1.27x in fp32
with them kept, and the quick demo's 1.15x and 1.25x. While training runs, the allocator serves them from
its heap and keeps what is freed; afterwards the usual settings come back and the memory kept is released
(`malloc_trim`). The tensors a step makes are the same sizes every step, so the heap settles at the first
steps' peak. Elsewhere (macOS, Windows, musl) this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
GLIBC_DEFAULTS = {M_TRIM_THRESHOLD: 128 * 1024, M_MMAP_THRESHOLD: 128 * 1024, M_MMAP_MAX: 65536}
KEEP_FREED = {M_TRIM_THRESHOLD: 1 << 30, M_MMAP_MAX: 0}
"""While training: every block comes from the heap (no `mmap`), and only more than 1 GB free at the heap's
top is returned. Blocks whose sizes keep changing can fragment the heap (a 200 MB tensor allocated 20
times, a little larger each time, grew the process by 1 GB), but a run's blocks are the same each step,
and what the heap holds is returned when the run ends. Keeping only blocks up to 32 MB (`M_MMAP_THRESHOLD`,
glibc's largest) gained less: ResNet-18 at batch 256, whose activations are 67 MB, went 103 -> 114 img/s
in bf16 and 55 -> 58 in fp32, against 120 and 71 with every block kept."""


_lock = threading.Lock()
_holders = 0


@lru_cache(maxsize=1)
def glibc():
    """The C library, when it is glibc with `mallopt` and `malloc_trim`; else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _apply(settings: dict[int, int]) -> bool:
    libc = glibc()
    return libc is not None and all(libc.mallopt(option, value) == 1 for option, value in settings.items())


@contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """Within the block, freed memory is kept for reuse; yields whether the allocator could be told so.

    Nested and concurrent blocks are fine: the settings return when the last one ends."""
    global _holders
    with _lock:
        _holders += 1
        applied = _apply(KEEP_FREED) if _holders == 1 else glibc() is not None
    try:
        yield applied
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _apply(GLIBC_DEFAULTS):
                glibc().malloc_trim(0)
