"""A folder of many tiny labelled PNGs for the scale benchmark, written fast and made once.

Images are 8-bit gray, a few classes of striped patterns (class = stripe angle and frequency, random
phase and noise), in one sub-folder per class. PNG files are encoded directly (one zlib call per image,
no imaging library) by several processes, so 100 000 files take seconds, not minutes. Generation is
deterministic: image i depends only on (seed, i).
"""
from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from workbench.data.locations import cache_root, generated_folder

CLASSES = ("a", "b", "c", "d")
IMAGE_SIDE = 32
SEED = 2024
CHUNK = 2000
_GENERATOR_VERSION = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of the (H, W) uint8 array."""
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # each row starts with filter type 0 (none)
    rows[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (_PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
            + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def striped_images(first: int, count: int, side: int = IMAGE_SIDE, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Images first .. first+count-1 as (count, side, side) uint8, and their class numbers."""
    numbers = np.arange(first, first + count)
    classes = numbers % len(CLASSES)
    rng = np.random.default_rng([seed, first])
    angle = classes * np.pi / len(CLASSES) + rng.uniform(-0.2, 0.2, count)
    frequency = 2 + classes + rng.uniform(-0.3, 0.3, count)
    phase = rng.uniform(0, 2 * np.pi, count)
    y, x = np.mgrid[0:side, 0:side] / side
    along = (np.cos(angle)[:, None, None] * x + np.sin(angle)[:, None, None] * y) * 2 * np.pi
    pixels = 0.5 + 0.35 * np.sin(frequency[:, None, None] * along + phase[:, None, None])
    pixels += rng.normal(0, 0.06, pixels.shape)
    return np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8), classes


def image_path(folder: Path, number: int, class_number: int) -> Path:
    return folder / CLASSES[class_number] / f"img_{number:07d}.png"


def _write_chunk(folder: str, first: int, count: int) -> None:
    images, classes = striped_images(first, count)
    for offset, (pixels, class_number) in enumerate(zip(images, classes)):
        image_path(Path(folder), first + offset, int(class_number)).write_bytes(png_bytes(pixels))


def write_synthetic_folder(folder: Path, count: int, workers: int | None = None) -> None:
    """Write `count` PNGs into `folder`/<class>/, in chunks spread over `workers` processes."""
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    starts = range(0, count, CHUNK)
    workers = workers or min(os.cpu_count() or 1, len(starts))
    if workers <= 1:
        for first in starts:
            _write_chunk(str(folder), first, min(CHUNK, count - first))
        return
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_chunk, [str(folder)] * len(starts), starts, [min(CHUNK, count - s) for s in starts]))


def synthetic_folder(count: int, base: Path | None = None) -> Path:
    """The folder of `count` synthetic PNGs under the cache folder (`base`), generated on first use."""
    target = (base or cache_root()) / f"bench-scale-{count}"
    expected = f"{count} images of {IMAGE_SIDE} px, generator {_GENERATOR_VERSION}"
    return generated_folder(target, expected, lambda folder: write_synthetic_folder(folder, count))
