"""A finished run, opened for probing: its config, its dataset and its trained encoder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from workbench.config import RunConfig
from workbench.control import CancelToken
from workbench.data import ImageDataset, load_dataset
from workbench.data.augment import to_unit
from workbench.engine.device import resolve_device
from workbench.engine.evaluation import embed
from workbench.engine.checkpoint_choice import choose_checkpoint
from workbench.engine.runs import RunFolder
from workbench.export.exporter import NormalizedEncoder, build_encoder, encoder_from_checkpoint, model_section
from workbench.models import load_encoder_weights
from workbench.tasks import load_config

EMBED_BATCH = 256


@dataclass
class RunContext:
    """Everything a probe needs from a run folder."""

    folder: RunFolder
    config: RunConfig
    dataset: ImageDataset
    encoder: NormalizedEncoder
    spec: dict
    step: int
    checkpoint: Path
    device: torch.device
    checkpoint_description: str = ""
    """Which checkpoint this is, for people: "best by RankMe, step 300"."""

    def random_encoder(self, seed: int) -> NormalizedEncoder:
        """The same backbone at random initialisation (seeded), with the run's input normalisation."""
        torch.manual_seed(seed)
        return build_encoder(self.spec, model_section(self.config, self.spec)).to(self.device)

    def starting_encoder(self) -> NormalizedEncoder:
        """The same backbone with the run's starting weights (`model.init_weights`), untrained."""
        path = self.config.model.init_weights
        if not path:
            raise ValueError("this run started from random weights: model.init_weights is not set")
        encoder = build_encoder(self.spec, model_section(self.config, self.spec))
        try:
            load_encoder_weights(encoder.encoder, path)
        except ValueError as error:
            raise ValueError(f"model.init_weights: the starting weights the run began from do not load "
                             f"({error})") from None
        return encoder.to(self.device)


def open_run(run_dir: str | Path, data_root: str | None = None, checkpoint: str | Path | None = None,
             device: str = "auto", cancel: CancelToken | None = None) -> RunContext:
    """Load a run's config, its dataset (or the one at `data_root`) and the encoder of a checkpoint (`checkpoint`:
    "best", "last" or a file; by default the run's best, else its last: see `choose_checkpoint`)."""
    folder = RunFolder(run_dir)
    chosen = choose_checkpoint(folder, checkpoint)
    checkpoint = chosen.path
    config = load_config(folder.config_path)
    if data_root:
        config.data.root = str(data_root)
    target = resolve_device(device if device != "auto" else config.train.device)
    encoder, spec, step = encoder_from_checkpoint(config, checkpoint)
    dataset = load_dataset(config.data, cancel=cancel)
    if dataset.channels != spec["channels"]:
        raise ValueError(f"the dataset has {dataset.channels} channel(s) but the encoder expects {spec['channels']}")
    return RunContext(folder, config, dataset, encoder.to(target).eval(), spec, step, checkpoint, target,
                      chosen.description)


def embed_images(encoder: nn.Module, images: torch.Tensor, device: torch.device,
                 batch_size: int = EMBED_BATCH, cancel: CancelToken | None = None) -> torch.Tensor:
    """Embeddings (float32, on `device`) of cached integer images through an encoder taking [0, 1] floats."""
    return embed(encoder, images, to_unit, device, batch_size, cancel=cancel)
