"""Learning quality as the benchmark compares it: kNN accuracy of an encoder on the evaluation subset."""
from __future__ import annotations

import torch
from torch import nn

from workbench.config import RunConfig
from workbench.data import ImageDataset
from workbench.engine.device import autocast
from workbench.engine.evaluation import choose_eval_subset, embed, health_values


def knn_quality(encoder: nn.Module, dataset: ImageDataset, normalize, config: RunConfig,
                device: torch.device) -> dict[str, float]:
    """kNN accuracy, embedding spread and effective rank, embedded in fp32 whatever the training precision,
    on the subset and split the trainer's own evaluation uses (same seed: same images for every pipeline)."""
    subset = choose_eval_subset(dataset.labels, config.eval.subset_size, config.eval.knn_test_fraction,
                                config.train.seed, dataset.groups)
    embeddings = embed(encoder, dataset.images[subset.indices], normalize, device, 256,
                       lambda: autocast(device, "fp32"))
    values = health_values(embeddings, dataset.labels[subset.indices], subset, config.eval.knn_k)
    values["knn_test_images"] = len(subset.knn_test)
    return values
