"""The linear probe: a linear classifier on frozen embeddings, trained full-batch with L-BFGS on the device.

Embeddings are L2-normalised and standardised with the training set's statistics; that preprocessing is
part of `LinearHead`, so the head can be exported with the encoder and applied to raw embeddings.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workbench.metrics.scores import Scores, classification_scores

WEIGHT_DECAY = 1e-3
"""L2 penalty on the weights: keeps the probe stable with a handful of labels."""
LBFGS_ITERATIONS = 200


class LinearHead(nn.Module):
    """Raw embeddings (B, D) -> class logits (B, K): L2-normalise, standardise, then one linear layer."""

    def __init__(self, embed_dim: int, num_classes: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(embed_dim))
        self.register_buffer("std", torch.ones(embed_dim))
        self.linear = nn.Linear(embed_dim, num_classes)

    def features(self, embeddings: torch.Tensor) -> torch.Tensor:
        return (F.normalize(embeddings.float(), dim=1) - self.mean) / self.std

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(embeddings))


def train_linear_head(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int,
                      weight_decay: float = WEIGHT_DECAY, iterations: int = LBFGS_ITERATIONS) -> LinearHead:
    """Fit a LinearHead to labelled embeddings (full batch, L-BFGS, on the embeddings' device)."""
    head = LinearHead(embeddings.shape[1], num_classes).to(embeddings.device)
    labels = labels.to(embeddings.device).long()
    with torch.no_grad():
        normalised = F.normalize(embeddings.float(), dim=1)
        head.mean.copy_(normalised.mean(dim=0))
        head.std.copy_(normalised.std(dim=0, unbiased=False).clamp_min(1e-6) if len(labels) > 1
                       else torch.ones_like(head.std))
        head.linear.weight.zero_()
        head.linear.bias.zero_()
    features = head.features(embeddings).detach()
    optimizer = torch.optim.LBFGS(head.linear.parameters(), lr=1.0, max_iter=iterations,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(head.linear(features), labels) + weight_decay * head.linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head.eval()


@torch.no_grad()
def predict(head: nn.Module, embeddings: torch.Tensor) -> torch.Tensor:
    return head(embeddings).argmax(dim=1)


def linear_probe(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int) -> Scores:
    """Train a linear head on (train_z, train_y) and score it on (test_z, test_y)."""
    head = train_linear_head(train_z, train_y, num_classes)
    return classification_scores(predict(head, test_z), test_y, num_classes)
