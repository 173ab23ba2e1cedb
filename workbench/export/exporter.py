"""Exporting a run's encoder: safetensors + config, TorchScript, or ONNX, each with a model card.

Every export takes float images in [0, 1], shape (B, C, S, S), and normalises them itself, so a user
needs only the input spec in `encoder.json` (size, channels, DICOM window) to use it elsewhere.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from workbench.config import RunConfig
from workbench.control import CancelToken, Progress
from workbench.engine.checkpoint import Checkpoint
from workbench.engine.runs import RunFolder
from workbench.export.description import SPEC_NAME, EncoderDescription
from workbench.export.model_card import write_model_card
from workbench.models import create_backbone
from workbench.tasks import load_config

FORMATS = ("safetensors", "torchscript", "onnx")
FILE_NAMES = {"safetensors": "encoder.safetensors", "torchscript": "encoder.torchscript.pt", "onnx": "encoder.onnx"}
ONNX_OPSET = 17


class NormalizedEncoder(nn.Module):
    """The encoder with its input normalisation built in: [0, 1] pixels in, (B, D) embeddings out."""

    def __init__(self, encoder: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder((images - self.mean) / self.std)


def build_encoder(spec: dict, model_config: dict) -> NormalizedEncoder:
    """A fresh (untrained) NormalizedEncoder for an input spec and the model section of a config."""
    from workbench.config import ModelConfig

    model_cfg = ModelConfig(**{**model_config, "init_weights": ""})
    encoder = create_backbone(model_cfg, spec["channels"], spec["image_size"])
    return NormalizedEncoder(encoder, spec["mean"], spec["std"]).eval()


def encoder_from_checkpoint(config: RunConfig, checkpoint: Path) -> tuple[NormalizedEncoder, dict, int]:
    """The trained encoder of a checkpoint, its input spec and its step."""
    state = Checkpoint.load(checkpoint)
    model = build_encoder(state.input_spec, _model_section(config))
    prefix = "encoder."
    weights = {key[len(prefix):]: value for key, value in state.model.items() if key.startswith(prefix)}
    model.encoder.load_state_dict(weights)
    return model, state.input_spec, state.step


def export_run(run_dir: str | Path, fmt: str, checkpoint: str | Path | None = None,
               cancel: CancelToken | None = None, progress: Progress | None = None) -> Path:
    """Export the encoder of a run (its latest checkpoint unless one is named) into `exports/<fmt>/`.

    The folder appears whole or not at all. Returns the path of the model file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    folder = RunFolder(run_dir)
    checkpoint = folder.require_checkpoint(checkpoint)
    report = progress or (lambda done, total: None)
    config = load_config(folder.config_path)
    report(0, 3)
    model, spec, step = encoder_from_checkpoint(config, checkpoint)
    if cancel:
        cancel.raise_if_cancelled()
    report(1, 3)
    target = folder.exports_dir / fmt
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{fmt}-", dir=target.parent))
    staging.chmod(0o755)
    try:
        _write_model(model, spec, fmt, staging / FILE_NAMES[fmt])
        if cancel:
            cancel.raise_if_cancelled()
        description = EncoderDescription(fmt, FILE_NAMES[fmt], step, _input_section(spec), _model_section(config),
                                         spec["embed_dim"], spec["tasks"])
        description.write(staging / SPEC_NAME)
        write_model_card(staging / "MODEL_CARD.md", description, config, folder)
        report(2, 3)
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(3, 3)
    return target / FILE_NAMES[fmt]


def _model_section(config: RunConfig) -> dict:
    model = config.model
    return {"backbone": model.backbone, "small_image_stem": model.small_image_stem, "patch_size": model.patch_size}


def _input_section(spec: dict) -> dict:
    keys = ("channels", "image_size", "mean", "std", "pixel_range", "dicom_window", "window_center",
            "window_width", "context_slices", "slices_per_volume", "min_foreground")
    section = {key: spec[key] for key in keys if key in spec}
    section["expects"] = "float32 images in [0, 1], shape (batch, channels, image_size, image_size)"
    return section


def _write_model(model: NormalizedEncoder, spec: dict, fmt: str, path: Path) -> None:
    example = torch.rand(2, spec["channels"], spec["image_size"], spec["image_size"])
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    elif fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        traced.save(str(path))
    else:
        torch.onnx.export(model, (example,), str(path), input_names=["images"], output_names=["embeddings"],
                          dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}},
                          opset_version=ONNX_OPSET, dynamo=False)


def replace_folder(staging: Path, target: Path) -> None:
    """Swap the finished staging folder into place; an older export of the same format is replaced."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
