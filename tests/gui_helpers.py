"""Shared pieces of the GUI tests: a private settings file, a tiny labelled image folder, tiny run settings."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from workbench.gui.settings import SETTINGS_ENV

CLASSES = ("cat", "dog", "fish", "owl")


def write_class_folder(root: Path, per_class: int = 3, size: int = 32) -> Path:
    """`per_class` random grayscale PNGs in one sub-folder per class, plus one broken file."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        for index in range(per_class):
            path = root / name / f"{name}_{index}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(path)
    (root / "cat" / "broken.png").write_bytes(b"this is not a PNG")
    return root


def use_private_settings(monkeypatch, tmp_path: Path) -> Path:
    """Point the app's QSettings at a file in `tmp_path` (never the user's settings)."""
    path = tmp_path / "settings.ini"
    monkeypatch.setenv(SETTINGS_ENV, str(path))
    return path


def tiny_settings(window, out_dir: Path, steps: int = 150) -> None:
    """A run that takes seconds on a CPU: small CNN, 32 px, batches of 8, an evaluation every 5 steps."""
    config = window.current_config()
    config.data.image_size = 32
    config.model.backbone = "small_cnn"
    config.train.batch_size = 8
    config.train.steps = steps
    config.train.warmup_steps = 2
    config.train.log_every = 2
    config.train.checkpoint_every = 1000
    config.train.threads = 1
    config.train.precision = "fp32"
    config.eval.every_steps = 5
    config.eval.subset_size = 12
    config.eval.knn_k = 2
    config.output.out_dir = str(out_dir)
    window.apply_config(config, rescan=False)


def show_widget(qtbot, widget, width: int, height: int):
    """`widget`, owned by qtbot, resized and shown on the (offscreen) screen."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    return widget
