"""The run folder's embedding map: a 2-D projection of the evaluation embeddings, rewritten at each evaluation.

`embedding_map.json` holds the step, the projection method, the points, their labels, each image's pretext
loss (null when no task reports one per image) and the images' paths relative to the dataset folder, so a
viewer can colour the points by class or by loss and show the image under the pointer."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from workbench.config.formats import JsonArtefact
from workbench.data import ImageRecord
from workbench.engine.map_worker import fit_in_helper_process
from workbench.metrics.projection import project_2d

MAP_NAME = "embedding_map.json"


@dataclass(frozen=True)
class EmbeddingMap(JsonArtefact):
    """One embedding map: a 2-D point per evaluation image, its label (-1: none), its path relative to the
    dataset folder and frame, and its pretext loss (None where not finite; `loss` None when not reported)."""

    step: int
    points: list[list[float]]
    labels: list[int]
    paths: list[str]
    method: str = "pca"
    frames: list[int] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    loss: list[float | None] | None = None

    def frame(self, index: int) -> int:
        """The frame of point `index` in its file (0 when the map records none)."""
        return self.frames[index] if index < len(self.frames) else 0


def write_embedding_map(path: Path, step: int, embeddings: torch.Tensor, labels: torch.Tensor,
                        images: list[ImageRecord], class_names: list[str], losses: torch.Tensor | None = None,
                        method: str = "pca", seed: int = 0) -> None:
    """Project `embeddings` to 2-D by `method` (seeded) and write the map atomically; `images` are the
    points' scan records and `losses` their pretext losses."""
    points = project_2d(embeddings, method, seed, fit=fit_in_helper_process)
    EmbeddingMap(step, [[round(float(x), 5), round(float(y), 5)] for x, y in points.tolist()],
                 [int(v) for v in labels.tolist()], [image.path for image in images], method,
                 [image.frame for image in images], list(class_names),
                 None if losses is None else [_finite_or_none(v) for v in losses.tolist()]).write(path)


def _finite_or_none(value: float) -> float | None:
    return float(f"{value:.6g}") if math.isfinite(value) else None  # JSON has no NaN

