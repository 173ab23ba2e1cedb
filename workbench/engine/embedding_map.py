"""The run folder's embedding map: a 2-D PCA of the evaluation embeddings, rewritten at each evaluation.

`embedding_map.json` holds the step, the points, their labels and the images' paths relative to the
dataset folder, so a viewer can colour the points by class and show the image under the pointer."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from workbench.config.atomic import write_text_atomic
from workbench.data import ImageRecord
from workbench.metrics import pca_2d

MAP_NAME = "embedding_map.json"


def write_embedding_map(path: Path, step: int, embeddings: torch.Tensor, labels: torch.Tensor,
                        images: list[ImageRecord], class_names: list[str]) -> None:
    """Project `embeddings` to 2-D and write the map atomically; `images` are the points' scan records."""
    points = pca_2d(embeddings)
    record = {"step": step, "points": [[round(float(x), 5), round(float(y), 5)] for x, y in points.tolist()],
              "labels": [int(v) for v in labels.tolist()], "paths": [image.path for image in images],
              "frames": [image.frame for image in images], "class_names": class_names}
    write_text_atomic(path, json.dumps(record))


def read_embedding_map(path: Path) -> dict | None:
    """The map written by `write_embedding_map`, or None when absent or half-written."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
