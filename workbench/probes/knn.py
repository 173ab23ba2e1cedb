"""The kNN probe, built on `workbench.metrics.knn_accuracy`: per-class recall is its accuracy on one class."""
from __future__ import annotations

import torch

from workbench.metrics import knn_accuracy
from workbench.metrics.scores import Scores


def knn_probe(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor, test_y: torch.Tensor,
              num_classes: int, k: int) -> Scores:
    """Accuracy, balanced accuracy and per-class recall of a cosine kNN classifier."""
    train_y, test_y = train_y.to(train_z.device), test_y.to(test_z.device)
    recalls = []
    for label in range(num_classes):
        members = test_y == label
        recalls.append(knn_accuracy(train_z, train_y, test_z[members], test_y[members], k)
                       if members.any() else float("nan"))
    present = [value for value in recalls if value == value]
    balanced = sum(present) / len(present) if present else float("nan")
    return Scores(knn_accuracy(train_z, train_y, test_z, test_y, k), balanced, recalls)
