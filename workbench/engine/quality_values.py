"""The evaluation values that say how good the embeddings are: which one is a run's score, and their names.

The one rule for every place that judges or ranks runs: the best checkpoint, the live verdict, the sweep table.
No torch here: the app's pages import it before torch has loaded."""
from __future__ import annotations

QUALITY_VALUES = ("knn_accuracy", "effective_rank", "lidar")
"""Evaluation values that say how good the embeddings are, in order of trust: the first one an evaluation has is
its score (kNN accuracy when the evaluation subset has labels, else RankMe; LiDAR is shown beside them)."""

VALUE_NAMES = {"knn_accuracy": "kNN accuracy", "effective_rank": "RankMe", "lidar": "LiDAR"}
"""The quality values' names for people."""


def value_name(key: str) -> str:
    """"RankMe" for "effective_rank"; an unknown key as it is."""
    return VALUE_NAMES.get(key, key)


def score_key(values: dict[str, float]) -> str | None:
    """The key of the evaluation's score: the first of `QUALITY_VALUES` it has; None when it has none."""
    return next((key for key in QUALITY_VALUES if key in values), None)
