"""Write two real labelled image sets as PNG class folders (one sub-folder per class), for measuring the app on them.

- `digits`: scikit-learn's `load_digits`, all 1,797 real 8x8 handwritten digits (10 classes), at their native 8x8
  (the 17 grey levels 0-16 scaled to 0-255).
- `fashion-mnist`: a fixed, class-balanced subset of Fashion-MNIST's training images (the first `--per-class` of
  each class in file order; 500 by default: 5,000 images), native 28x28 grayscale. Read from the idx files of the
  Debian package `dataset-fashion-mnist` (installed under /usr/share/datasets/fashion-mnist).

Deterministic: the same files every time. Usage:
  python scripts/real_sets.py OUT [--fashion-mnist PATH] [--per-class 500] [--only digits|fashion-mnist]
"""
from __future__ import annotations

import argparse
import gzip
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.config.atomic import write_atomic  # noqa: E402

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle_boot")
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
SETS = ("digits", "fashion-mnist")


def write_png(path: Path, pixels: np.ndarray) -> None:
    """One grayscale PNG, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda temporary: Image.fromarray(pixels, mode="L").save(temporary, format="PNG"))


def write_digits(out: Path) -> int:
    """All of scikit-learn's digits as 8x8 PNGs under out/<digit>/; the number written."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    for index, (pixels, label) in enumerate(zip(images, digits.target)):
        write_png(out / str(label) / f"digit_{index:04d}.png", pixels)
    return len(images)


def read_idx(path: Path) -> np.ndarray:
    """An idx (MNIST format) array from a .gz file."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_fashion_mnist(source: Path, out: Path, per_class: int) -> int:
    """The first `per_class` training images of each Fashion-MNIST class (file order) as 28x28 PNGs under
    out/<class>/; the number written. SystemExit with a clear message when the files are absent."""
    missing = [name for name in FASHION_FILES if not (source / name).is_file()]
    if missing:
        raise SystemExit(f"--fashion-mnist {source}: {', '.join(missing)} not found; install the Debian package "
                         "dataset-fashion-mnist (or extract its .deb) and pass the folder holding its idx .gz files")
    images, labels = (read_idx(source / name) for name in FASHION_FILES)
    if len(images) != len(labels):
        raise SystemExit(f"--fashion-mnist {source}: {len(images)} images but {len(labels)} labels")
    written = 0
    for label, name in enumerate(FASHION_CLASSES):
        chosen = np.flatnonzero(labels == label)[:per_class]
        if len(chosen) < per_class:
            raise SystemExit(f"--fashion-mnist {source}: only {len(chosen)} images of class {name}, "
                             f"--per-class asks for {per_class}")
        for index in chosen:
            write_png(out / name / f"{name}_{index:05d}.png", images[index])
        written += len(chosen)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write OUT/digits and OUT/fashion-mnist into")
    parser.add_argument("--fashion-mnist", type=Path, default=FASHION_MNIST,
                        help=f"folder of Fashion-MNIST's idx .gz files (default {FASHION_MNIST})")
    parser.add_argument("--per-class", type=int, default=500, help="Fashion-MNIST images per class (default 500)")
    parser.add_argument("--only", choices=SETS, help="write only this set")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class must be at least 1, got {args.per_class}")
    out = Path(args.out)
    for name in (args.only,) if args.only else SETS:
        folder = out / name
        if folder.exists() and any(folder.iterdir()):
            raise SystemExit(f"{folder} already holds files: choose an empty folder (the sets are deterministic)")
        count = (write_digits(folder) if name == "digits"
                 else write_fashion_mnist(args.fashion_mnist, folder, args.per_class))
        print(f"{folder}: {count:,} images in 10 class folders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
