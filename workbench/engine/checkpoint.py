"""Checkpoints: written atomically, read back with `weights_only=True` (nothing in a file can run code).

`Checkpoint` is the typed, versioned content of `checkpoints/step_*.pt`; `save_checkpoint` and
`load_checkpoint` move its plain-dict form to and from disk."""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from workbench.config.atomic import write_atomic
from workbench.config.formats import FORMAT_KEY, ArtefactError, format_version

CHECKPOINT_VERSION = 1
"""The checkpoint format this code writes (files without a version are version 1)."""


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


@dataclass
class Checkpoint:
    """One training checkpoint: the step, the model and optimizer states, the CPU random state and the
    input spec an export needs (size, channels, normalisation, DICOM window, class names, tasks)."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    torch_rng: torch.Tensor
    input_spec: dict[str, Any]

    def save(self, path: Path) -> None:
        """Write the checkpoint atomically, stamped with its format version."""
        save_checkpoint({FORMAT_KEY: CHECKPOINT_VERSION, **{f.name: getattr(self, f.name) for f in fields(self)}},
                        path)

    @classmethod
    def load(cls, path: Path, map_location: str | torch.device = "cpu") -> "Checkpoint":
        """Read a checkpoint safely; CheckpointError for a damaged file or one newer than this code reads."""
        state, name = load_checkpoint(path, map_location), Path(path).name
        if isinstance(state, dict):
            try:
                format_version(state, CHECKPOINT_VERSION, name)
            except ArtefactError as error:
                raise CheckpointError(str(error)) from None
        names = [f.name for f in fields(cls)]
        missing = [key for key in names if key not in state] if isinstance(state, dict) else names
        if missing:
            raise CheckpointError(f"checkpoint {name} is not a Pretext Workbench checkpoint: it lacks "
                                  + ", ".join(missing))
        return cls(**{**{key: state[key] for key in names}, "step": int(state["step"])})
