"""The built-in demo dataset: synthetic chest-like grayscale scans in four classes.

Each image is a body ellipse with two darker lung fields, soft-tissue texture and noise, at a random
position, scale and contrast. The class is given by structure inside the lungs: nothing (`normal`), one
to three bright round nodules (`nodule`), one or two ring-shaped cavities (`cavity`), or a fluid
level at the base of one lung (`effusion`).
Generation is deterministic: image i of class k depends only on (seed, k, i).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from workbench.config import DataConfig
from workbench.data.locations import cache_root, generated_folder

CLASSES = ("normal", "nodule", "cavity", "effusion")
DEMO_PER_CLASS = 120
DEMO_SIZE = 64
DEMO_SEED = 1234
DEMO_FOLDER = "demo-v1"
_GENERATOR_VERSION = 3  # bump when the pictures change, so an older copy is regenerated


def demo_dataset_dir(cache_dir: Path | None = None) -> Path:
    """The demo dataset folder, generated on first use (atomically) under the cache folder."""
    base = Path(cache_dir) if cache_dir is not None else cache_root()
    target = base / DEMO_FOLDER
    expected = f"{len(CLASSES) * DEMO_PER_CLASS} images, generator {_GENERATOR_VERSION}"
    return generated_folder(target, expected,
                            lambda folder: write_demo_dataset(folder, DEMO_PER_CLASS, DEMO_SIZE, DEMO_SEED))


def dataset_folder(data_cfg: DataConfig) -> Path:
    """The folder a config's images are read from: `data.root`, else the demo dataset under the config's cache
    folder (`data.cache_dir`, else the default one). The loader and the app both ask here."""
    return Path(data_cfg.root).expanduser() if data_cfg.root else demo_dataset_dir(cache_root(data_cfg))


def write_demo_dataset(folder: Path, per_class: int, size: int, seed: int) -> None:
    """Write `per_class` PNGs of `size` x `size` pixels into one sub-folder per class."""
    folder = Path(folder)
    for class_index, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            rng = np.random.default_rng([seed, class_index, number])
            pixels = synthetic_scan(rng, name, size)
            Image.fromarray(np.rint(pixels * 255).astype(np.uint8)).save(
                folder / name / f"{name}_{number:04d}.png")


BODY_EXTENT = 0.45
"""The body's half-width (and half-height) plus its centre's offset stays below this: it ends 5 % inside the
picture, its soft edge included."""


def synthetic_scan(rng: np.random.Generator, finding: str, size: int) -> np.ndarray:
    """One float (size, size) image in [0, 1] showing `finding` (one of CLASSES)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size  # coordinates in [0, 1)
    cx, cy = 0.5 + rng.uniform(-0.08, 0.08), 0.5 + rng.uniform(-0.08, 0.08)
    scale = rng.uniform(0.85, 1.1)
    body_a, body_b = 0.40 * scale, 0.32 * scale * rng.uniform(0.9, 1.1)
    body_a = min(body_a, BODY_EXTENT - abs(cx - 0.5))  # the whole body inside the picture, never cut by its edge
    body_b = min(body_b, BODY_EXTENT - abs(cy - 0.5))
    body = _soft_ellipse(x, y, cx, cy, body_a, body_b, edge=0.015)
    texture = _smooth_noise(rng, size, cells=6) * 0.04 + _smooth_noise(rng, size, cells=20) * 0.03
    image = 0.05 + body * (0.55 + texture)

    lungs = []
    for side in (-1, 1):
        lx = cx + side * body_a * rng.uniform(0.42, 0.52)
        ly = cy + rng.uniform(-0.03, 0.03)
        la, lb = body_a * rng.uniform(0.30, 0.36), body_b * rng.uniform(0.62, 0.75)
        lung = _soft_ellipse(x, y, lx, ly, la, lb, edge=0.02)
        image -= lung * 0.40
        lungs.append((lung, lx, ly, la, lb))

    count = rng.integers(1, 4) if finding == "nodule" else rng.integers(1, 3)
    for _ in range(count if finding in ("nodule", "cavity") else 0):
        _, lx, ly, la, lb = lungs[rng.integers(2)]
        px, py = lx + rng.uniform(-0.45, 0.45) * la, ly + rng.uniform(-0.5, 0.5) * lb
        radius = rng.uniform(0.055, 0.085) * scale
        distance = np.hypot(x - px, y - py)
        if finding == "nodule":
            image += 0.45 * np.exp(-(distance / radius) ** 2 * 1.5)
        else:
            ring_radius = radius * 1.3
            image += 0.38 * np.exp(-((distance - ring_radius) / (0.35 * radius)) ** 2)
            image -= 0.08 * np.exp(-(distance / (0.8 * ring_radius)) ** 2)
    if finding == "effusion":
        lung, _, ly, _, lb = lungs[rng.integers(2)]
        level = ly + lb * rng.uniform(-0.2, 0.35)
        fluid = lung * (1.0 / (1.0 + np.exp(-(y - level) / 0.008)))
        image += fluid * 0.38

    contrast, brightness = rng.uniform(0.75, 1.25), rng.uniform(-0.08, 0.08)
    image = (image - 0.35) * contrast + 0.35 + brightness
    image += rng.normal(0.0, rng.uniform(0.015, 0.04), image.shape)
    return np.clip(image, 0.0, 1.0)


def _soft_ellipse(x, y, cx, cy, a, b, edge):
    """1 inside the ellipse, 0 outside, with a smooth border of about `edge`."""
    radius = np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)
    return 1.0 / (1.0 + np.exp((radius - 1.0) / (edge / min(a, b))))


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean noise with features about size/cells pixels wide (coarse noise, bicubic upsampled)."""
    coarse = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    smooth = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
    return np.asarray(smooth, dtype=np.float64)
