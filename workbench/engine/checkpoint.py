"""Checkpoints: written atomically, read back with `weights_only=True` (nothing in a file can run code)."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from workbench.config.atomic import write_atomic


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, truncated, or carrying code instead of weights."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` (tensors, numbers, strings, lists, dicts) to `path` atomically."""
    write_atomic(Path(path), lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; raises CheckpointError with a plain reason."""
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        what = "the file is empty" if path.stat().st_size == 0 else "it is not a PyTorch checkpoint archive"
        raise CheckpointError(f"checkpoint {path.name} is damaged or incomplete: {what}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refused to load {path.name}: it contains Python objects other than weights, which could run code "
            f"({str(error).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path.name} is damaged or incomplete: {error}") from None
