"""Real image sequences on disk for the batch-context and frame-order tests: a folder of PNG frames each."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def frame_name(t: int) -> str:
    """File names whose text order differs from their frame order: frame_0, frame_3, ..., frame_21."""
    return f"frame_{3 * t}.png"


def write_blob_sequences(root: Path, sequences: int = 6, frames: int = 8, size: int = 24, seed: int = 0,
                         moving: bool = True) -> Path:
    """`sequences` folders of `frames` frames: a bright Gaussian blob crossing a noisy gray background
    along a straight line, half the image long, in a random direction, or, with `moving=False`, standing still (every
    frame of a folder the same image), where frame order cannot be told."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    for number in range(sequences):
        angle, centre = rng.uniform(0, 2 * np.pi), size / 2 + rng.uniform(-2, 2, 2)
        half_way = size / 4 * np.array([np.cos(angle), np.sin(angle)])
        start, end = centre - half_way, centre + half_way
        noise = rng.normal(0, 4, (size, size))
        folder = root / f"clip_{number}"
        folder.mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            x, y = start + (end - start) * t / (frames - 1) if moving else start
            blob = 180 * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * 3.0 ** 2))
            if moving:
                noise = rng.normal(0, 4, (size, size))
            pixels = np.clip(40 + blob + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / frame_name(t))
    return root


def write_numbered_frames(folder: Path, numbers: list[int], size: int = 16) -> None:
    """Frames `frame_<n>.png` whose every pixel is 10 * n: the order can be read back from the pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        Image.fromarray(np.full((size, size), 10 * number, dtype=np.uint8)).save(folder / f"frame_{number}.png")
