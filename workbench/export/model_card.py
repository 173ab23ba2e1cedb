"""The model card written beside every export: what the encoder is, how it was trained, how to use it.

It names no file paths and no DICOM tag values: only counts, settings and metrics."""
from __future__ import annotations

from pathlib import Path

from workbench.config import RunConfig
from workbench.data import WINDOW_PRESETS
from workbench.engine.events import EvalEvent, StartedEvent
from workbench.engine.quality_values import format_value, value_name
from workbench.engine.runs import RunFolder
from workbench.export.description import EncoderDescription


def write_model_card(path: Path, description: EncoderDescription, config: RunConfig, folder: RunFolder) -> None:
    """Write MODEL_CARD.md for an export described by `description` (its encoder.json)."""
    events = folder.read_events()
    evals = [event for event in events if isinstance(event, EvalEvent)]
    started = next((event for event in events if isinstance(event, StartedEvent)), None)
    spec = description.input
    lines = [
        f"# Encoder: {config.model.backbone} pretrained with {', '.join(description.tasks)}",
        "",
        "Self-supervised image encoder trained with Pretext Workbench. It maps an image to an embedding "
        f"of {description.embed_dim} numbers; similar images get similar embeddings. Use it as frozen "
        "features for a small classifier, for retrieval, or as the starting point for fine-tuning.",
        "",
        "## Input",
        f"- {spec['channels']} channel(s), {spec['image_size']} x {spec['image_size']} pixels, float32 in [0, 1]",
        "- normalisation is built in (mean " + ", ".join(f"{v:.4f}" for v in spec["mean"]) + "; std "
        + ", ".join(f"{v:.4f}" for v in spec["std"]) + ")",
        f"- intensity window for DICOM and NIfTI input (other images are used as stored): {_window_text(spec)}",
        "",
        "## Training",
        f"- pretext task(s): {', '.join(f'{name} (weight {config.tasks[name].weight:g})' for name in config.tasks)}",
        f"- steps: {description.step} of {config.train.steps}, batch size {config.train.batch_size}, "
        f"{config.train.optimizer} at learning rate {config.train.lr:g}",
        f"- checkpoint exported: {description.checkpoint or f'step {description.step}'}",
        f"- starting weights: {_starting_weights_text(description)}",
    ]
    if started is not None:
        lines.append(f"- images: {started.num_images} ({started.num_labelled} labelled); device: {started.device}, "
                     f"precision {started.precision}")
    exported = next((event for event in reversed(evals) if event.step <= description.step), None)
    if exported is not None:
        first = evals[0]
        start = "starting weights" if description.model.get("starting_weights") else "random init"
        lines += ["", "## Embedding health (evaluation subset)",
                  f"| metric | at start ({start}) | exported checkpoint (step {exported.step}) |", "|---|---|---|"]
        for key, value in exported.values.items():
            lines.append(f"| {value_name(key)} | {format_value(key, first.values.get(key, float('nan')))} | "
                         f"{format_value(key, value)} |")
    lines += [
        "",
        "## Use",
        "```python",
        "from workbench import load_encoder",
        "encoder = load_encoder('path/to/this/folder')",
        f"embeddings = encoder(images)  # images: ({spec['channels']}, {spec['image_size']}, "
        f"{spec['image_size']}) floats in [0, 1], batched",
        "```",
        *_timm_use(description),
        "",
        "## Limitations",
        "- Trained without labels on one dataset: embeddings reflect that data's variation and may not transfer.",
        "- Not a diagnostic device. Validate any downstream model on held-out data before relying on it.",
        "- De-identified: no DICOM tag values (patient name, IDs, dates, institution, UIDs) and no file paths of "
        "the training data are recorded in this export; patients and series were only ever handled as salted, "
        "one-way pseudonyms in memory.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _timm_use(description: EncoderDescription) -> list[str]:
    """For a timm network exported as safetensors: how to load it with timm alone (its keys are timm's)."""
    model = description.model
    if description.format != "safetensors" or model.get("library") != "timm":
        return []
    size = f", img_size={model['img_size']}" if "img_size" in model else ""
    return ["", "Without Pretext Workbench (timm's own layout; normalise with the mean and std above first):",
            "```python", "import timm", "from safetensors.torch import load_file",
            f"net = timm.create_model({model['architecture']!r}, num_classes=0, in_chans={model['in_chans']}{size})",
            f"net.load_state_dict(load_file({description.file!r}))", "```"]


def _starting_weights_text(description: EncoderDescription) -> str:
    """The weights training started from, by file name and SHA-256 (`exporter.starting_weights`)."""
    start = description.model.get("starting_weights")
    if not start:
        return "none (random initialisation)"
    sha256 = f"SHA-256 {start['sha256']}" if start["sha256"] else "file gone by export time, SHA-256 unknown"
    return f"{start['file']} ({sha256})"


def _window_text(spec: dict) -> str:
    if spec["dicom_window"] in WINDOW_PRESETS:
        level, width = WINDOW_PRESETS[spec["dicom_window"]]
        return f"{spec['dicom_window'].replace('_', ' ')} preset: level {level:g} HU, width {width:g} HU"
    if spec["dicom_window"] == "manual":
        return f"level {spec['window_center']:g}, width {spec['window_width']:g}"
    if spec["dicom_window"] == "auto":
        return "automatic (1st-99th percentile of each image)"
    return "each file's own WindowCenter/WindowWidth (automatic where absent)"
