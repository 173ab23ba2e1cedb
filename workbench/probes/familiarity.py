"""Is an image like those a run's encoder was trained on? A nearest-neighbour rule on unit embeddings.

The training set's own spread sets the bar: for each training embedding (a seeded sample of them in a big
dataset), the distance to its k-th nearest other training embedding; the 99th percentile of those distances
is the threshold. An image whose k-th nearest training embedding lies farther than that is out of
distribution (the rule of Sun et al., 2022, "Out-of-distribution detection with deep nearest neighbors").
Distances are Euclidean between L2-normalised embeddings: sqrt(2 - 2 cos).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

NEAREST = 5
"""k: the distance to the k-th nearest training embedding is compared (fewer in a tiny dataset)."""
PERCENTILE = 99.0
"""The threshold: this percentile of the training embeddings' own k-th nearest distances."""
REFERENCE_SAMPLE = 2048
"""At most this many training embeddings measure the spread (each against all), so big datasets stay quick."""
CHUNK = 256


@dataclass(frozen=True)
class Familiarity:
    """How far one image's embedding lies from the training embeddings, against their own spread.

    `distance`: to its k-th nearest training embedding (k = `nearest`). `usual`: the median of the same
    distance among the training embeddings themselves. `threshold`: its `percentile`-th percentile; farther
    than that is out of distribution.
    """

    distance: float
    usual: float
    threshold: float
    nearest: int
    percentile: float

    @property
    def out_of_distribution(self) -> bool:
        return self.distance > self.threshold

    @property
    def times_usual(self) -> float:
        """`distance` as a multiple of `usual` (infinite when the training embeddings all coincide)."""
        return self.distance / self.usual if self.usual > 0 else float("inf")


class TrainingSpread:
    """The k-th-nearest-neighbour distances within a set of unit embeddings, summarised once; `check`
    then places a query against them."""

    def __init__(self, embeddings: torch.Tensor, nearest: int = NEAREST, percentile: float = PERCENTILE,
                 sample: int = REFERENCE_SAMPLE, seed: int = 0):
        count = len(embeddings)
        if count < 2:
            raise ValueError(f"the spread of training embeddings needs at least 2 of them, not {count}")
        self.nearest = min(nearest, count - 1)
        self.percentile = percentile
        generator = torch.Generator().manual_seed(seed)
        rows = torch.randperm(count, generator=generator)[:sample] if count > sample else torch.arange(count)
        distances = torch.cat([self._kth_other(embeddings, chunk.to(embeddings.device))
                               for chunk in rows.split(CHUNK)]).cpu()
        self.usual = float(distances.median())
        self.threshold = float(torch.quantile(distances, percentile / 100))

    def _kth_other(self, embeddings: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Distance from each of `rows` to its k-th nearest embedding other than itself."""
        similarity = embeddings[rows] @ embeddings.T
        similarity[torch.arange(len(rows), device=rows.device), rows] = -torch.inf
        return chord(similarity.topk(self.nearest, dim=1).values[:, -1])

    def check(self, similarity: torch.Tensor) -> Familiarity:
        """Where a query stands, from its (N,) cosine similarities to the same training embeddings."""
        distance = float(chord(similarity.topk(self.nearest).values[-1]))
        return Familiarity(distance, self.usual, self.threshold, self.nearest, self.percentile)


def chord(similarity: torch.Tensor) -> torch.Tensor:
    """Euclidean distance between unit vectors of this cosine similarity."""
    return (2 - 2 * similarity).clamp(min=0).sqrt()
