"""Exporting a run's encoder: safetensors + config, TorchScript, or ONNX, each with a model card.

Every export takes float images in [0, 1], shape (B, C, S, S), and normalises them itself, so a user
needs only the input spec in `encoder.json` (size, channels, DICOM window) to use it elsewhere.
The safetensors file holds the bare network in its library's own layout (timm's for "timm/..." backbones,
torchvision's for resnet18/50): `encoder.json`'s model section names the library, architecture and `in_chans`,
so e.g. `timm.create_model(arch, num_classes=0, in_chans=...).load_state_dict(...)` works without this package;
the normalisation (input mean/std) is in `encoder.json`, and `load_encoder` puts it back in front.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from workbench.config import RunConfig
from workbench.control import CancelToken, Progress
from workbench.engine.checkpoint import Checkpoint
from workbench.engine.checkpoint_choice import choose_checkpoint
from workbench.engine.runs import RunFolder
from workbench.export.description import SPEC_NAME, EncoderDescription
from workbench.export.model_card import write_model_card
from workbench.models import create_backbone
from workbench.models.weights import weights_identity
from workbench.tasks import load_config
from workbench.tasks.pooling import recorded_pooling

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

    known = {f.name for f in dataclasses.fields(ModelConfig)}  # an export's architecture keys are no settings
    model_cfg = ModelConfig(**{key: value for key, value in model_config.items() if key in known}, init_weights="")
    encoder = create_backbone(model_cfg, spec["channels"], spec["image_size"])
    encoder.pooling = recorded_pooling(model_config)
    return NormalizedEncoder(encoder, spec["mean"], spec["std"]).eval()


def encoder_from_checkpoint(config: RunConfig, checkpoint: Path) -> tuple[NormalizedEncoder, dict, int]:
    """The trained encoder of a checkpoint, its input spec and its step."""
    state = Checkpoint.load(checkpoint)
    model = build_encoder(state.input_spec, model_section(config, state.input_spec))
    prefix = "encoder."
    weights = {key[len(prefix):]: value for key, value in state.model.items() if key.startswith(prefix)}
    model.encoder.load_state_dict(weights)
    return model, state.input_spec, state.step


def export_run(run_dir: str | Path, fmt: str, checkpoint: str | Path | None = None,
               cancel: CancelToken | None = None, progress: Progress | None = None) -> Path:
    """Export the encoder of a run into `exports/<fmt>/`: the checkpoint named ("best", "last" or a file), else
    the run's best (see `choose_checkpoint`), else its last; encoder.json records which.

    The folder appears whole or not at all. Returns the path of the model file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    folder = RunFolder(run_dir)
    chosen = choose_checkpoint(folder, checkpoint)
    checkpoint = chosen.path
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
        description = EncoderDescription(fmt, FILE_NAMES[fmt], step, _input_section(spec),
                                         {**model_section(config, spec), **model.encoder.architecture(),
                                          **starting_weights(config, spec)},
                                         spec["embed_dim"], spec["tasks"], chosen.description)
        description.write(staging / SPEC_NAME)
        write_model_card(staging / "MODEL_CARD.md", description, config, folder)
        report(2, 3)
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(3, 3)
    return target / FILE_NAMES[fmt]


def model_section(config: RunConfig, spec: dict) -> dict:
    """What rebuilds the encoder of a run whose checkpoint has the input spec `spec`: the config's model
    section, with the pooling the run trained (`recorded_pooling`)."""
    model = config.model
    return {"backbone": model.backbone, "small_image_stem": model.small_image_stem, "patch_size": model.patch_size,
            "pooling": recorded_pooling(spec)}


def starting_weights(config: RunConfig, spec: dict) -> dict:
    """`{"starting_weights": {"file": name, "sha256": hex}}` for a run that started from `model.init_weights`
    (the file's name, never its path), else {}: as the checkpoint recorded them when training began, or for a
    checkpoint older than that record, read from the file now (sha256 None when it is gone)."""
    path = config.model.init_weights
    if not path:
        return {}
    if "starting_weights" in spec:
        return {"starting_weights": spec["starting_weights"]}
    try:
        name, sha256 = weights_identity(path)
    except ValueError:
        name, sha256 = Path(path).name, None
    return {"starting_weights": {"file": name, "sha256": sha256}}


def _input_section(spec: dict) -> dict:
    keys = ("channels", "image_size", "mean", "std", "pixel_range", "dicom_window", "window_center",
            "window_width", "context_slices", "slices_per_volume", "min_foreground")
    section = {key: spec[key] for key in keys if key in spec}
    section["expects"] = "float32 images in [0, 1], shape (batch, channels, image_size, image_size)"
    return section


def _write_model(model: NormalizedEncoder, spec: dict, fmt: str, path: Path) -> None:
    example = torch.rand(2, spec["channels"], spec["image_size"], spec["image_size"])
    if fmt == "safetensors":
        network = model.encoder.body.state_dict()  # the library's own layout: no `encoder.body.` prefix
        metadata = {key: str(value) for key, value in model.encoder.architecture().items()}
        save_file({k: v.contiguous() for k, v in network.items()}, str(path), metadata=metadata)
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
