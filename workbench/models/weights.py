"""Loading a local weights file into an encoder, with errors that say what does not fit."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# Keys of a classifier that a plain torchvision checkpoint carries but an encoder (head = Identity) lacks.
_CLASSIFIER_PREFIXES = ("fc.", "heads.")
# Prefixes that training wrappers add in front of the encoder's own keys.
_WRAPPER_PREFIXES = ("module.", "encoder.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a .safetensors file or a torch .pt/.pth file (tensors only, never code)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path.name} does not hold a state dict of tensors")
    return state


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load `path` into `encoder` strictly; ValueError naming missing, unexpected or misshapen keys.

    Accepted besides the encoder's own state dict: keys behind a `module.`/`encoder.` prefix, and a plain
    torchvision network's state dict (keys without the `body.` prefix; its classifier `fc.*`/`heads.*` is dropped).
    """
    state = _match_layout(read_state_dict(path), encoder.state_dict())
    own = encoder.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}"
                       for key in set(own) & set(state) if state[key].shape != own[key].shape)
    if missing or unexpected or misshapen:
        problems = [f"{label}: {_short_list(keys)}" for label, keys in
                    (("missing keys", missing), ("unexpected keys", unexpected),
                     ("wrong shapes (file vs encoder)", misshapen)) if keys]
        raise ValueError(f"weights file {Path(path).name} does not fit the encoder; " + "; ".join(problems))
    encoder.load_state_dict(state, strict=True)


def _match_layout(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _WRAPPER_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()}
    own_prefix = "body."
    if all(key.startswith(own_prefix) for key in own) and not any(key.startswith(own_prefix) for key in state):
        state = {own_prefix + key: value for key, value in state.items()
                 if not key.startswith(_CLASSIFIER_PREFIXES)}
    return state


def _short_list(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")
