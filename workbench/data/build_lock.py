"""One process at a time decodes a folder into the cache: the others wait, then read what it wrote.

Several processes open the same dataset at once when a run starts under `torchrun` (every worker of a node) or
on a cluster (every node, when the cache is on a shared file system). Entries are written atomically, so
concurrent decoding would be correct, only wasted: each process would decode every file. A file lock per dataset
(folder and decode settings) makes the first process decode while the others wait for it and then find every
file in the cache. The lock is filelock's (flock on Linux and macOS, which NFS v3/v4 honour; Lustre needs its
`flock` mount option; without working locks the processes decode side by side, as before).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from workbench.control import CancelToken

POLL_SECONDS = 0.25
"""How often a waiting process checks for cancellation."""


@contextmanager
def decoding_alone(lock_path: Path, cancel: CancelToken | None = None):
    """Inside: no other process decodes into the cache under `lock_path`'s name; waits (cancellably) for one that is."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    while True:
        try:
            lock.acquire(timeout=POLL_SECONDS)
            break
        except Timeout:
            if cancel:
                cancel.raise_if_cancelled()
    try:
        yield
    finally:
        lock.release()
