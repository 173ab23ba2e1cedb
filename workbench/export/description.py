"""`encoder.json`, written beside every exported encoder: what a user needs to feed it and what it is."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.config.formats import JsonArtefact

SPEC_NAME = "encoder.json"


@dataclass(frozen=True)
class EncoderDescription(JsonArtefact):
    """An export's format and model file, the checkpoint step, the input it expects (channels, image size,
    normalisation, DICOM window), the backbone settings with the network's library, architecture and `in_chans`
    (e.g. timm's convnext_atto: the safetensors keys are then timm's), the embedding size and the pretext tasks."""

    INDENT: ClassVar[int | None] = 1

    format: str
    file: str
    step: int
    input: dict[str, Any]
    model: dict[str, Any]
    embed_dim: int
    tasks: list[str]
    checkpoint: str = ""
    """Which checkpoint of the run was exported, e.g. "best by RankMe, step 300" (empty in older exports)."""
