"""The evaluation values that say how good the embeddings are: which one is a run's score, their names and how
they are written (the same in the terminal, the app, the sweep table and the model card).

The one rule for every place that judges or ranks runs: the best checkpoint, the live verdict, the sweep table.
No torch here: the app's pages import it before torch has loaded."""
from __future__ import annotations

QUALITY_VALUES = ("knn_accuracy", "effective_rank", "lidar")
"""Evaluation values that say how good the embeddings are, in order of trust: the first one an evaluation has is
its score (kNN accuracy when the evaluation subset has labels, else RankMe; LiDAR is shown beside them)."""

SUMMARY_VALUES = (*QUALITY_VALUES, "linear_accuracy", "embedding_std")
"""The values a one-line summary of an evaluation shows, in this order (the others stay in metrics.jsonl)."""

VALUE_NAMES = {"knn_accuracy": "kNN accuracy", "effective_rank": "RankMe", "lidar": "LiDAR",
               "linear_accuracy": "linear accuracy", "embedding_std": "spread (std)"}
"""The evaluation values' names for people."""

ACCURACIES = ("knn_accuracy", "linear_accuracy")
"""Shares of correct answers, written as percentages."""
RANKS = ("effective_rank", "lidar")
"""Numbers of directions, written with one decimal."""


def value_name(key: str) -> str:
    """"RankMe" for "effective_rank"; an unknown key as it is."""
    return VALUE_NAMES.get(key, key)


def format_value(key: str, value: float) -> str:
    """"35.4%" for an accuracy, "33.6" for a rank (RankMe, LiDAR), three significant digits for the others."""
    if key in ACCURACIES:
        return f"{value:.1%}"
    return f"{value:.1f}" if key in RANKS else f"{value:.3g}"


def summarise(values: dict[str, float], classes: int = 0) -> str:
    """"kNN accuracy 35.4% (chance 25%) · RankMe 33.6 · LiDAR 15.0 · linear accuracy 40.0% · spread (std) 0.155":
    the `SUMMARY_VALUES` an evaluation has; with the number of `classes` (2 or more), kNN accuracy's chance level."""
    parts = []
    for key in SUMMARY_VALUES:
        if key in values:
            chance = f" (chance {1 / classes:.0%})" if key == "knn_accuracy" and classes >= 2 else ""
            parts.append(f"{value_name(key)} {format_value(key, values[key])}{chance}")
    return " · ".join(parts)


def score_key(values: dict[str, float]) -> str | None:
    """The key of the evaluation's score: the first of `QUALITY_VALUES` it has; None when it has none."""
    return next((key for key in QUALITY_VALUES if key in values), None)
