"""Shared pieces of the GUI tests: a private settings file and a tiny labelled image folder."""
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
