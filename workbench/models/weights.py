"""Starting weights from a local file or folder, matched to an encoder's layout, with errors that say what does not fit.

Accepted: a `.safetensors`, `.pt`/`.pth` or `.bin` file, or a folder holding one (a Hugging Face folder:
`config.json` + `model.safetensors`, sharded or not, or `pytorch_model.bin`; an export of this app). Inside a
checkpoint the weights are found under its usual entries (timm: `state_dict_ema`, then `state_dict`, `model`;
DINO: `teacher`; a run checkpoint of this app: `model`). The encoder's keys are then looked up behind whatever
prefix the file puts before them (`module.`, `model.`, `backbone.`, `timm_model.`, `teacher.backbone.`,
`encoder.body.`, ...): the prefix that holds most of them wins, the teacher's before the student's, and the
file's other keys (a DINO head, a pretext task's projector) are left out. Classifier heads (`fc`, `head`,
`heads`, `classifier`) and DINOv2's mask token are dropped. Shapes are adapted where that is well defined: a
first conv saved for another channel count (timm's rule: RGB summed for 1 channel), a ViT position embedding
for another grid (`timm.layers.resample_abs_pos_embed`). Everything else must fit exactly.

Files are read with `weights_only=True` (or as safetensors): nothing in a file can run code.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Checkpoint entries that hold the weights, most preferred first (timm prefers its EMA weights, DINO its teacher).
_ENTRIES = ("state_dict_ema", "model_ema", "teacher", "state_dict", "model", "student")
# Weight files a folder may hold, most preferred first (Hugging Face names, then any other).
_FOLDER_FILES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin")
_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
# Parts of a network only used to classify or to pretrain it: dropped when the encoder has no such keys.
_DROPPED_NAMES = ("fc", "head", "heads", "classifier", "head_dist", "pre_logits", "mask_token")
_MAX_PREFIX_TOKENS = 16


@dataclass(frozen=True)
class WeightsReport:
    """What was loaded and how it was made to fit: for the training log and the model card (no full paths)."""

    name: str
    """The file read: its name, behind its folder's name when a folder was given (e.g. `dinov2/model.safetensors`)."""
    sha256: str
    """SHA-256 of the file read (of the shards in order, for a sharded folder)."""
    source: list[str]
    """Where the weights were found, e.g. ["entry state_dict_ema", "keys behind teacher.backbone."]."""
    adapted: list[str]
    """What was changed to fit, e.g. ["first conv body.conv1.weight summed 3 -> 1 channel"]."""

    def summary(self) -> str:
        """One line, e.g. "started from w.pth (sha256 1a2b3c4d5e6f): classifier dropped; first conv summed ..."."""
        details = "; ".join(self.source + self.adapted)
        return f"started from {self.name} (sha256 {self.sha256[:12]})" + (f": {details}" if details else "")


@dataclass(frozen=True)
class WeightsFile:
    """The file(s) a weights path names: `files` in reading order, `name` without the full path."""

    files: list[Path]
    name: str
    config_architecture: str | None = None
    """The architecture a Hugging Face folder's config.json names, if any."""

    @classmethod
    def find(cls, path: str | Path) -> "WeightsFile":
        """The weights file of `path` (itself, or the one in a folder); ValueError saying what is wrong."""
        path = Path(path).expanduser()
        if path.is_file():
            return cls([path], path.name)
        if not path.is_dir():
            raise ValueError(f"weights file or folder not found: {path}")
        present = {child.name for child in path.iterdir() if child.is_file()}
        chosen = next((name for name in _FOLDER_FILES if name in present), None)
        if chosen is None:
            candidates = sorted(name for name in present if name.endswith(_SUFFIXES))
            if len(candidates) != 1:
                found = ", ".join(candidates) if candidates else "none"
                run = ("; for a run folder choose a file in its checkpoints folder, or its exports/safetensors "
                       "folder" if (path / "checkpoints").is_dir() else "")
                raise ValueError(f"weights folder {path.name} must hold model.safetensors, pytorch_model.bin or a "
                                 f"single .safetensors/.pt/.pth/.bin file; found {found}{run}")
            chosen = candidates[0]
        files = [path / chosen]
        if chosen.endswith(".index.json"):
            shards = json.loads(files[0].read_text(encoding="utf-8")).get("weight_map", {}).values()
            files = [path / shard for shard in sorted(set(shards))]
        return cls(files, f"{path.name}/{chosen}", _config_architecture(path / "config.json"))

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for file in self.files:
            with open(file, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()


def weights_identity(path: str | Path) -> tuple[str, str]:
    """(name, SHA-256) of the weights file `path` names (a folder: the file in it); ValueError when absent."""
    found = WeightsFile.find(path)
    return found.name, found.sha256()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors a weights file or folder holds (tensors only, never code); ValueError when it holds none."""
    return _read(WeightsFile.find(path))[0]


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> WeightsReport:
    """Load `path` into `encoder`, matching and adapting the layout (see the module); returns what was done.

    ValueError naming the missing, unexpected and misshapen keys when the weights do not fit."""
    found = WeightsFile.find(path)
    state, source = _read(found)
    own = encoder.state_dict()
    state, matched = _match_layout(state, own)
    state, adapted = _adapt_shapes(encoder, state, own)
    state, dropped = _drop_unused(state, own)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}"
                       for key in set(own) & set(state) if state[key].shape != own[key].shape)
    if missing or unexpected or misshapen:
        problems = [f"{label}: {_short_list(keys)}" for label, keys in
                    (("missing keys", missing), ("unexpected keys", unexpected),
                     ("wrong shapes (file vs encoder)", misshapen)) if keys]
        raise ValueError(f"weights file {found.name} does not fit the encoder; " + "; ".join(problems)
                         + _architecture_hint(found, encoder))
    encoder.load_state_dict(state, strict=True)
    return WeightsReport(found.name, found.sha256(), source + matched + dropped, adapted)


def _read(found: WeightsFile) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors of `found` and where in the file they were (e.g. ["entry state_dict_ema"])."""
    state: dict = {}
    for file in found.files:
        if not file.is_file():
            raise ValueError(f"weights file not found: {file.name} (named by {found.name})")
        state.update(_read_file(file))
    state, source = _weights_entry(state)
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise ValueError(f"{found.name} does not hold a state dict of tensors")
    return tensors, source


def _read_file(file: Path) -> dict:
    if file.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(file))
        except SafetensorError as error:
            raise ValueError(f"{file.name} is not a readable safetensors file: {error}") from None
    try:
        # argparse.Namespace: the training arguments timm stores in its checkpoints (plain attributes, no code)
        with torch.serialization.safe_globals([argparse.Namespace]):
            state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"refused to load {file.name}: it contains Python objects other than weights, which "
                         f"could run code ({str(error).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{file.name} is not a readable PyTorch weights file: {error}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{file.name} does not hold a state dict of tensors")
    return state


def _weights_entry(state: dict) -> tuple[dict, list[str]]:
    """The dict of tensors inside a checkpoint: its preferred entry (searched two levels deep), or `state` itself."""
    source: list[str] = []
    for _ in range(2):
        entry = next((name for name in _ENTRIES if isinstance(state.get(name), dict) and state[name]), None)
        if entry is None:
            break
        state = state[entry]
        source.append(f"entry {entry}")
    return state, source


def _match_layout(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]
                  ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`state` in the encoder's layout (its keys behind the best prefix, with the encoder's `body.`); and notes."""
    body = "body." if own and all(key.startswith("body.") for key in own) else ""
    bare = {key[len(body):] for key in own}
    prefix = _best_prefix(state, bare)
    notes = [f"keys behind {prefix}"] if prefix not in ("", body) else []
    outside = [key for key in state if not key.startswith(prefix)]
    if outside:
        notes.append(f"left out {len(outside)} keys outside {prefix} ({_short_list(_groups(outside), 4)})")
    return {body + key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}, notes


def _drop_unused(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]
                 ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`state` without the classifier heads and mask tokens the encoder lacks; and a note naming them."""
    body = "body." if own and all(key.startswith("body.") for key in own) else ""
    dropped = [key for key in state if key not in own and key[len(body):].split(".")[0] in _DROPPED_NAMES]
    notes = [f"dropped {_short_list(sorted(key[len(body):] for key in dropped), 4)}"] if dropped else []
    return {key: value for key, value in state.items() if key not in dropped}, notes


def _best_prefix(state: dict[str, torch.Tensor], bare: set[str]) -> str:
    """The prefix (ending in '.', or '') before which most of the encoder's `bare` keys are found in `state`;
    ties go to a teacher's keys before others and a student's last, then to the shorter prefix."""
    counts: Counter[str] = Counter()
    for key in state:
        parts = key.split(".")
        for cut in range(len(parts)):
            if ".".join(parts[cut:]) in bare:
                counts[".".join(parts[:cut]) + ("." if cut else "")] += 1
    if not counts:
        return ""

    def rank(prefix: str) -> tuple[int, int, int]:
        role = 0 if "teacher" in prefix else 2 if "student" in prefix else 1
        return -counts[prefix], role, len(prefix)

    return min(counts, key=rank)


def _adapt_shapes(encoder: nn.Module, state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]
                  ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`state` with its first conv and position embeddings made to fit `own` where that is well defined."""
    from workbench.models.timm_nets import adapt_first_conv

    state, notes = _timm_conversion(encoder, state)
    first = encoder.first_conv() if hasattr(encoder, "first_conv") else None
    key = f"{first}.weight" if first else None
    if key in state and key in own and _differs_only_in(state[key], own[key], dim=1):
        before = state[key].shape[1]
        state = adapt_first_conv(encoder, state)
        how = "summed" if state[key].shape[1] == 1 else "repeated and rescaled"
        notes.append(f"first conv {key} {how} {before} -> {state[key].shape[1]} channel"
                     + ("s" if state[key].shape[1] > 1 else ""))
    for key, target in own.items():
        if "pos_emb" in key and key in state and _differs_only_in(state[key], target, dim=1) and target.ndim == 3:
            resized = _resize_position_embedding(state[key], target.shape[1])
            if resized is not None:
                notes.append(f"position embedding {key} resized {_grids(state[key].shape[1], resized.shape[1])}")
                state = {**state, key: resized}
    return state, notes


def _timm_conversion(encoder: nn.Module, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`state` through timm's own `checkpoint_filter_fn` for a timm body's architecture (it converts e.g.
    DINOv2's register tokens and SwiGLU names, and resizes position embeddings), with notes on what changed.
    Unchanged for other bodies, or when the filter cannot read the state (the key check then says why)."""
    body = getattr(encoder, "body", None)
    module = type(body).__module__
    convert = getattr(sys.modules.get(module), "checkpoint_filter_fn", None) if module.startswith("timm.") else None
    if convert is None or not all(key.startswith("body.") for key in state):
        return state, []
    try:
        converted = convert({key[len("body."):]: value for key, value in state.items()}, body)
    except (KeyError, ValueError, RuntimeError, AttributeError, AssertionError):
        return state, []
    converted = {f"body.{key}": value for key, value in converted.items()}
    notes = []
    renamed = sorted(set(state) ^ set(converted))
    if renamed:
        notes.append(f"timm's {module.rsplit('.', 1)[-1]} conversion renamed or removed "
                     f"{_short_list([key[len('body.'):] for key in renamed], 4)}")
    for key in sorted(set(state) & set(converted)):
        before, after = state[key].shape, converted[key].shape
        if before != after:
            what = "position embedding" if "pos_emb" in key and len(after) == 3 else "tensor"
            grids = _grids(before[1], after[1]) if what != "tensor" else ""
            notes.append(f"{what} {key} resized " + (grids or f"{tuple(before)} -> {tuple(after)}"))
    return converted, notes


def _differs_only_in(tensor: torch.Tensor, target: torch.Tensor, dim: int) -> bool:
    if tensor.ndim != target.ndim or tensor.shape[dim] == target.shape[dim]:
        return False
    return all(a == b for index, (a, b) in enumerate(zip(tensor.shape, target.shape)) if index != dim)


def _resize_position_embedding(embedding: torch.Tensor, tokens: int) -> torch.Tensor | None:
    """A (1, prefix + H*W, D) position embedding resampled to `tokens` = prefix + h*w (square grids, the same
    number of class/register tokens in front); None when no such split exists."""
    from timm.layers import resample_abs_pos_embed

    split = _square_split(embedding.shape[1], tokens)
    if split is None:
        return None
    prefix, old, new = split
    return resample_abs_pos_embed(embedding, new_size=[new, new], old_size=[old, old], num_prefix_tokens=prefix)


def _square_split(old_tokens: int, new_tokens: int) -> tuple[int, int, int] | None:
    """(prefix, H, h) with old_tokens = prefix + H*H and new_tokens = prefix + h*h, the fewest prefix tokens."""
    for prefix in range(_MAX_PREFIX_TOKENS + 1):
        old, new = math.isqrt(max(old_tokens - prefix, 0)), math.isqrt(max(new_tokens - prefix, 0))
        if old > 0 and new > 0 and old * old == old_tokens - prefix and new * new == new_tokens - prefix:
            return prefix, old, new
    return None


def _grids(old_tokens: int, new_tokens: int) -> str:
    """'16x16 -> 4x4' for position embeddings of those token counts ('' when they are no square grids)."""
    split = _square_split(old_tokens, new_tokens)
    return f"{split[1]}x{split[1]} -> {split[2]}x{split[2]}" if split else ""


def _config_architecture(config_json: Path) -> str | None:
    """The architecture a Hugging Face config.json names (timm: `architecture`; transformers: `architectures`)."""
    try:
        config = json.loads(config_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = config.get("architecture") or (config.get("architectures") or [None])[0]
    return str(name) if name else None


def _architecture_hint(found: WeightsFile, encoder: nn.Module) -> str:
    own = encoder.architecture().get("architecture") if hasattr(encoder, "architecture") else None
    if found.config_architecture and own and found.config_architecture != own:
        return f" (its config.json is for {found.config_architecture}, the encoder is {own})"
    return ""


def _groups(keys: list[str]) -> list[str]:
    """Keys shortened to their first two parts, e.g. `teacher.dino_head.*`, without repeats."""
    return sorted({".".join(key.split(".")[:2]) + (".*" if key.count(".") > 1 else "") for key in keys})


def _short_list(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")
