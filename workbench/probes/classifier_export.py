"""The frozen encoder and a linear head trained on every labelled image, exported as one classifier.

`exports/classifier/` holds `classifier.torchscript.pt`, `classifier.onnx` (input: float images in [0, 1],
(B, C, S, S); output: class logits (B, K)) and `classifier.json` with the class names and the input spec.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from workbench.control import CancelToken
from workbench.export.exporter import ONNX_OPSET, NormalizedEncoder, replace_folder
from workbench.probes.context import RunContext, embed_images
from workbench.metrics.linear_probe import LinearHead, train_linear_head
from workbench.probes.table import PROBE_NAME, ProbeResult

FOLDER = "classifier"
FILES = {"torchscript": "classifier.torchscript.pt", "onnx": "classifier.onnx", "spec": "classifier.json"}


class FrozenClassifier(nn.Module):
    """[0, 1] images -> class logits: the run's encoder (with its normalisation) and a LinearHead."""

    def __init__(self, encoder: NormalizedEncoder, head: LinearHead):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))


def build_classifier(context: RunContext, cancel: CancelToken | None = None) -> FrozenClassifier:
    """Train a linear head on the embeddings of all labelled images and join it to the encoder (on the CPU)."""
    dataset = context.dataset
    labelled = torch.nonzero(dataset.labels >= 0).flatten()
    if len(torch.unique(dataset.labels[labelled])) < 2:
        raise ValueError("a classifier needs labelled images of at least two classes")
    embeddings = embed_images(context.encoder, dataset.images[labelled], context.device, cancel=cancel)
    head = train_linear_head(embeddings, dataset.labels[labelled], len(dataset.class_names))
    return FrozenClassifier(context.encoder, head).cpu().eval()


def export_classifier(context: RunContext, cancel: CancelToken | None = None) -> Path:
    """Write `exports/classifier/` (TorchScript, ONNX, classifier.json) whole or not at all; returns the folder."""
    model = build_classifier(context, cancel)
    spec = context.spec
    example = torch.rand(2, spec["channels"], spec["image_size"], spec["image_size"])
    target = context.folder.exports_dir / FOLDER
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-", dir=target.parent))
    staging.chmod(0o755)
    try:
        with torch.no_grad():
            torch.jit.trace(model, example).save(str(staging / FILES["torchscript"]))
        torch.onnx.export(model, (example,), str(staging / FILES["onnx"]), input_names=["images"],
                          output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=ONNX_OPSET, dynamo=False)
        probe = ProbeResult.read(context.folder.path / PROBE_NAME)
        description = {
            "class_names": list(context.dataset.class_names), "step": context.step,
            "checkpoint": context.checkpoint.name, "backbone": spec["backbone"], "tasks": spec["tasks"],
            "files": {"torchscript": FILES["torchscript"], "onnx": FILES["onnx"]},
            "input": {key: spec[key] for key in ("channels", "image_size", "pixel_range", "dicom_window",
                                                 "window_center", "window_width")},
            "expects": "float32 images in [0, 1], shape (batch, channels, image_size, image_size)",
            "output": "class logits (batch, len(class_names)); softmax for probabilities",
            "head": "linear probe trained on the embeddings of all labelled images (encoder frozen)",
            "trained_on_images": int((context.dataset.labels >= 0).sum()),
            "probe_summary": probe.summary if probe else None,
        }
        (staging / FILES["spec"]).write_text(json.dumps(description, indent=1), encoding="utf-8")
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
