"""The run folder's embedding map: a 2-D projection of the evaluation embeddings, rewritten at each evaluation.

`embedding_map.json` holds the step, the projection method, the points, their labels, each image's pretext
loss (null when no task reports one per image) and the images' paths relative to the dataset folder, so a
viewer can colour the points by class or by loss and show the image under the pointer."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from workbench.config.atomic import write_text_atomic
from workbench.data import ImageRecord
from workbench.engine.map_worker import fit_in_helper_process
from workbench.metrics.projection import project_2d

MAP_NAME = "embedding_map.json"


def write_embedding_map(path: Path, step: int, embeddings: torch.Tensor, labels: torch.Tensor,
                        images: list[ImageRecord], class_names: list[str], losses: torch.Tensor | None = None,
                        method: str = "pca", seed: int = 0) -> None:
    """Project `embeddings` to 2-D by `method` (seeded) and write the map atomically; `images` are the
    points' scan records and `losses` their pretext losses."""
    points = project_2d(embeddings, method, seed, fit=fit_in_helper_process)
    record = {"step": step, "method": method,
              "points": [[round(float(x), 5), round(float(y), 5)] for x, y in points.tolist()],
              "labels": [int(v) for v in labels.tolist()], "paths": [image.path for image in images],
              "frames": [image.frame for image in images], "class_names": class_names,
              "loss": None if losses is None else [_finite_or_none(v) for v in losses.tolist()]}
    write_text_atomic(path, json.dumps(record))


def _finite_or_none(value: float) -> float | None:
    return float(f"{value:.6g}") if math.isfinite(value) else None  # JSON has no NaN


def read_embedding_map(path: Path) -> dict | None:
    """The map written by `write_embedding_map`, or None when absent or half-written."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
