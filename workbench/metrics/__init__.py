"""Embedding health measures: pure tensor functions."""
from __future__ import annotations

from workbench.metrics.embedding import (alignment, effective_rank, embedding_std, knn_accuracy, lidar,
                                         uniformity)
from workbench.metrics.projection import pca_2d

__all__ = ["alignment", "effective_rank", "embedding_std", "knn_accuracy", "lidar", "pca_2d", "uniformity"]
