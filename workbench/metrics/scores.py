"""Classification scores: accuracy, balanced accuracy and per-class recall."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Scores:
    """How well predictions match the truth on a test set."""

    accuracy: float
    balanced_accuracy: float
    per_class_recall: list[float]
    """Recall of each class (NaN for a class absent from the test set)."""


def classification_scores(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> Scores:
    """Scores of integer predictions against integer targets."""
    predicted, target = predicted.cpu().long(), target.cpu().long()
    recalls = []
    for label in range(num_classes):
        members = target == label
        recalls.append(float((predicted[members] == label).float().mean()) if members.any() else float("nan"))
    present = [value for value in recalls if value == value]
    balanced = sum(present) / len(present) if present else float("nan")
    return Scores(float((predicted == target).float().mean()), balanced, recalls)
