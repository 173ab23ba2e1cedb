"""What to label next: rank images by pretext loss (hard = informative), by diversity (k-centre greedy
coverage of the embedding space), or by a mix of both; written as a CSV (path, score) for annotators."""
from __future__ import annotations

import csv
from pathlib import Path

import torch

from workbench.control import CancelToken
from workbench.data import BatchAugmenter
from workbench.engine.batch_context import batch_contexts
from workbench.engine.checkpoint import Checkpoint
from workbench.engine.inspection import per_image_losses
from workbench.engine.model import MultiTaskModel
from workbench.probes.context import RunContext, embed_images
from workbench.probes.defaults import STRATEGIES

LOSS_BATCH = 128
LOSS_REPEATS = 2
"""Contrastive losses depend on the rest of the batch: average over this many shuffled passes."""


def pretext_losses(context: RunContext, repeats: int = LOSS_REPEATS, batch_size: int = LOSS_BATCH,
                   seed: int = 0, cancel: CancelToken | None = None) -> torch.Tensor:
    """Per-image loss of the run's task(s) (weighted sum, `TaskOutput.per_sample_loss`), averaged over passes."""
    config, dataset, device = context.config, context.dataset, context.device
    model = MultiTaskModel(config, dataset.channels).to(device)
    model.load_state_dict(Checkpoint.load(context.checkpoint, map_location=device).model)
    augmenter = BatchAugmenter(config.augment, dataset.channels, config.data.image_size, context.spec["mean"],
                               context.spec["std"])
    generator = torch.Generator(device=device).manual_seed(seed)
    contexts = batch_contexts(model, dataset, dataset.images, device, augmenter.normalize)
    total = torch.zeros(len(dataset))
    for repeat in range(repeats):
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed + repeat))
        losses = per_image_losses(model, dataset.images, order, lambda batch: augmenter(batch, generator),
                                  batch_size, seed=seed + repeat, contexts=contexts, cancel=cancel)
        if losses is None:
            raise ValueError("the run's tasks report no per-image loss; rank by diversity instead")
        total[order] += losses
    return total / repeats


def k_center_greedy(embeddings: torch.Tensor, count: int, centres: torch.Tensor | None = None,
                    bonus: torch.Tensor | None = None, bonus_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick `count` rows, each the one farthest from everything picked so far (and from `centres`).

    With `bonus` (one value in [0, 1] per row) each pick maximises
    (1 - bonus_weight) * distance / largest distance + bonus_weight * bonus. Returns (indices, scores),
    the score being that value at the moment of the pick (so it decreases as coverage grows).
    """
    z = embeddings.float()
    count = min(count, len(z))
    if centres is not None and len(centres):
        nearest = torch.cdist(z, centres.float().to(z.device)).min(dim=1).values
    else:
        nearest = (z - z.mean(dim=0, keepdim=True)).norm(dim=1)
    scale = nearest.max().clamp_min(1e-12)
    taken = torch.zeros(len(z), dtype=torch.bool, device=z.device)
    picks, scores = [], []
    for _ in range(count):
        value = nearest / scale
        if bonus is not None:
            value = (1 - bonus_weight) * value + bonus_weight * bonus.to(z.device)
        value = value.masked_fill(taken, float("-inf"))
        pick = int(value.argmax())
        picks.append(pick)
        scores.append(float(value[pick]))
        taken[pick] = True
        nearest = torch.minimum(nearest, (z - z[pick]).norm(dim=1))
    return torch.tensor(picks, dtype=torch.long), torch.tensor(scores)


def rank_by_loss(losses: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` highest losses, highest first: (indices, losses)."""
    values, indices = losses.topk(min(count, len(losses)))
    return indices, values


def _unit_interval(values: torch.Tensor) -> torch.Tensor:
    low, high = values.min(), values.max()
    return (values - low) / (high - low).clamp_min(1e-12)


def rank_candidates(strategy: str, count: int, candidates: torch.Tensor, embeddings: torch.Tensor | None = None,
                    losses: torch.Tensor | None = None, labelled: torch.Tensor | None = None,
                    mix: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank dataset rows `candidates` by `strategy`; labelled rows count as already covered (diversity)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy == "loss":
        chosen, scores = rank_by_loss(losses[candidates], count)
        return candidates[chosen], scores
    centres = embeddings[labelled] if labelled is not None and len(labelled) else None
    bonus = _unit_interval(losses[candidates]) if strategy == "mixed" else None
    chosen, scores = k_center_greedy(embeddings[candidates.to(embeddings.device)], count, centres, bonus,
                                     mix if strategy == "mixed" else 0.0)
    return candidates[chosen], scores


def rank_run(context: RunContext, strategy: str, count: int, mix: float = 0.5,
             cancel: CancelToken | None = None) -> tuple[list[int], list[float]]:
    """Rank a run's unlabelled images (all images when every one is labelled): (dataset rows, scores)."""
    labels = context.dataset.labels
    candidates = torch.nonzero(labels < 0).flatten()
    labelled = torch.nonzero(labels >= 0).flatten()
    if len(candidates) == 0:  # nothing left unlabelled: rank everything, as a review order
        candidates, labelled = torch.arange(len(labels)), torch.empty(0, dtype=torch.long)
    losses = pretext_losses(context, cancel=cancel) if strategy in ("loss", "mixed") else None
    embeddings = (embed_images(context.encoder, context.dataset.images, context.device, cancel=cancel).cpu()
                  if strategy in ("diversity", "mixed") else None)
    rows, scores = rank_candidates(strategy, count, candidates, embeddings, losses, labelled, mix)
    return rows.tolist(), scores.tolist()


def write_ranking_csv(path: Path, paths: list[str], scores: list[float]) -> Path:
    """A CSV with a header row `path,score`, best first; paths are relative to the dataset folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "score"])
        writer.writerows((name, f"{score:.6g}") for name, score in zip(paths, scores))
    return path
