"""The kNN probe, built on `workbench.metrics.knn_predictions` (the classifier `knn_accuracy` scores)."""
from __future__ import annotations

import torch

from workbench.metrics.embedding import knn_predictions
from workbench.metrics.scores import Scores, classification_scores


def knn_probe(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor, test_y: torch.Tensor,
              num_classes: int, k: int) -> Scores:
    """Accuracy, balanced accuracy and per-class recall of a cosine kNN classifier (test samples with a
    label < 0 are left out; NaN scores when no training or test sample is labelled)."""
    train_y, test_y = train_y.to(train_z.device), test_y.to(test_z.device)
    keep = test_y >= 0
    if not bool((train_y >= 0).any()) or not bool(keep.any()):
        return Scores(float("nan"), float("nan"), [float("nan")] * num_classes)
    predicted = knn_predictions(train_z, train_y, test_z[keep], k)
    return classification_scores(predicted, test_y[keep], num_classes)
