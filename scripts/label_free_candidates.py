"""Which label-free score ranks the runs of a sweep the way a linear probe does? Offline, on finished sweeps.

For each run of each sweep folder (made by `scripts/sweep_spearman.py`), this embeds every image with the run's
best checkpoint, probes it with a linear probe at 1 % and 10 % of the labels (10 seeds each, less noisy than the
sweep's own 3), computes candidate label-free scores and prints each candidate's Spearman rank correlation with
the probe across the sweep's runs:

- RankMe on 512 images and on all of them (`metrics.effective_rank`, what the app shows);
- LiDAR with the run's own augmentation (what the app shows) and with one fixed augmentation for every run
  (the defaults without flips), 256 images x 8 views;
- alpha-ReQ: the slope of the embedding covariance's eigenspectrum (Agrawal et al. 2022);
- view retrieval: the share of augmented views whose nearest neighbour is a view of the same image;
- cluster learnability: k-means (20 clusters) on half the embeddings, kNN predicting the clusters of the other half;
- uniformity and alignment (Wang and Isola 2020), signed so that higher is better;
- agreement with the sweep: how many of an image's nearest neighbours the sweep's other runs also find.

It also prints how well the probe ranks the runs against itself (`split_half_spearman`): the ceiling for any score.

    .venv/bin/python scripts/label_free_candidates.py /tmp/digits-sweep /tmp/fashion-sweep   # ~2 min per sweep

Results: printed, and written to label_free_candidates.json in the current folder.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.config import AugmentConfig  # noqa: E402
from workbench.data.augment import BatchAugmenter  # noqa: E402
from workbench.metrics import effective_rank, knn_accuracy, lidar  # noqa: E402
from workbench.metrics.linear_probe import linear_probe  # noqa: E402
from workbench.probes.context import RunContext, embed_images, open_run  # noqa: E402
from workbench.probes.splits import probe_splits  # noqa: E402

PROBE_SEEDS = 10
VIEW_IMAGES, VIEWS = 256, 8
SUBSET = 512
CLUSTERS = 20
NEIGHBOURS = 10


def probe_accuracies(context: RunContext, z: torch.Tensor, fraction: float) -> list[float]:
    """Linear-probe accuracy on each of `PROBE_SEEDS` splits with `fraction` of the labels (the same splits for
    every run of a sweep)."""
    dataset = context.dataset
    splits = probe_splits(dataset.labels, dataset.groups, [fraction], PROBE_SEEDS, 0.3, dataset.class_names)
    labels, classes = dataset.labels, len(dataset.class_names)
    return [float(linear_probe(z[s.train], labels[s.train], z[s.test], labels[s.test], classes).accuracy)
            for s in splits]


def split_half_spearman(per_seed: list[list[float]]) -> float:
    """How well the probe ranks the runs against itself: the Spearman correlation between the runs' mean accuracy
    on half the seeds and on the other half, averaged over every way of halving them. A label-free score can
    only match the probe's ranking as far as the probe agrees with itself."""
    from itertools import combinations

    from scipy.stats import spearmanr

    table = np.asarray(per_seed)  # runs x seeds
    seeds = range(table.shape[1])
    halves = [list(half) for half in combinations(seeds, len(seeds) // 2) if 0 in half]
    return float(np.mean([spearmanr(table[:, half].mean(1), np.delete(table, half, 1).mean(1))[0]
                          for half in halves]))


def augmented_views(context: RunContext, images: torch.Tensor, augment: AugmentConfig) -> torch.Tensor:
    """(images, VIEWS, dim) embeddings of seeded augmented views."""
    dataset = context.dataset
    augmenter = BatchAugmenter(augment, dataset.channels, context.config.data.image_size, dataset.mean,
                               dataset.std, colour=not dataset.stacked_slices)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        return torch.stack([context.encoder.encoder(augmenter(images, generator)).float() for _ in range(VIEWS)], 1)


def alpha_req(z: torch.Tensor) -> float:
    """Minus the slope of log eigenvalue against log rank of the centred embeddings' covariance."""
    eigenvalues = torch.linalg.svdvals((z - z.mean(0)).double()) ** 2
    eigenvalues = eigenvalues[eigenvalues > eigenvalues.max() * 1e-8].numpy()
    ranks = np.arange(1, len(eigenvalues) + 1)
    return float(-np.polyfit(np.log(ranks), np.log(eigenvalues), 1)[0])


def view_retrieval(views: torch.Tensor) -> float:
    """Share of views whose nearest other view (cosine) comes from the same image."""
    count, per_image, dim = views.shape
    flat = F.normalize(views.reshape(count * per_image, dim), dim=1)
    similarity = flat @ flat.T
    similarity.fill_diagonal_(-2.0)
    nearest_image = similarity.argmax(1) // per_image
    return float((nearest_image == torch.arange(count).repeat_interleave(per_image)).float().mean())


def cluster_learnability(z: torch.Tensor) -> float:
    """kNN accuracy at predicting, on one half, the k-means clusters fitted on the other half."""
    from sklearn.cluster import KMeans

    normalised = F.normalize(z, dim=1)
    half = len(normalised) // 2
    kmeans = KMeans(CLUSTERS, n_init=3, random_state=0).fit(normalised[:half].numpy())
    fitted, predicted = torch.tensor(kmeans.labels_), torch.tensor(kmeans.predict(normalised[half:].numpy()))
    return knn_accuracy(normalised[:half], fitted, normalised[half:], predicted, 10)


def neighbours(z: torch.Tensor, k: int = NEIGHBOURS) -> torch.Tensor:
    """(images, k) indices of each image's k nearest other images (cosine)."""
    normalised = F.normalize(z, dim=1)
    similarity = normalised @ normalised.T
    similarity.fill_diagonal_(-2.0)
    return similarity.topk(k, dim=1).indices


def sweep_agreement(subsets: list[torch.Tensor]) -> list[float]:
    """For each run, how far its nearest neighbours agree with those of the sweep's other runs: the mean share of
    an image's k nearest neighbours that another run also finds, averaged over the other runs. Runs that learnt
    the structure most runs share score high, idiosyncratic ones low (a score of the sweep, not of one run)."""
    sets = [neighbours(z) for z in subsets]
    count, k = sets[0].shape

    def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(np.mean([len(set(a[i].tolist()) & set(b[i].tolist())) / k for i in range(count)]))

    pairs = {(i, j): overlap(sets[i], sets[j]) for i in range(len(sets)) for j in range(i + 1, len(sets))}
    return [float(np.mean([pairs[min(i, j), max(i, j)] for j in range(len(sets)) if j != i]))
            for i in range(len(sets))]


def uniformity(z: torch.Tensor) -> float:
    """Minus Wang and Isola's uniformity: -log mean exp(-2 |zi - zj|^2) over pairs of normalised embeddings."""
    normalised = F.normalize(z.double(), dim=1)
    distances = torch.pdist(normalised).pow(2)
    return float(-torch.log(torch.exp(-2 * distances).mean()))


def alignment(views: torch.Tensor) -> float:
    """Minus Wang and Isola's alignment: -mean |z_a - z_b|^2 between two normalised views of each image."""
    normalised = F.normalize(views.double(), dim=2)
    return float(-(normalised[:, 0] - normalised[:, 1]).pow(2).sum(1).mean())


def scores_of(run: Path) -> dict[str, float]:
    """The probe accuracies and every candidate score of one run; "subset" holds the embeddings of the subset,
    for the sweep's agreement."""
    context = open_run(run, device="cpu")
    z = embed_images(context.encoder, context.dataset.images, context.device)
    subset = torch.randperm(len(z), generator=torch.Generator().manual_seed(1))[:SUBSET]
    images = context.dataset.images[subset[:VIEW_IMAGES]]
    own = augmented_views(context, images, context.config.augment)
    fixed = augmented_views(context, images, AugmentConfig(hflip_p=0.0))
    return {"probe 1%": probe_accuracies(context, z, 0.01), "probe 10%": probe_accuracies(context, z, 0.1),
            "RankMe (512)": effective_rank(z[subset]), "RankMe (all)": effective_rank(z),
            "LiDAR (own views)": lidar(own), "LiDAR (fixed views)": lidar(fixed), "alpha-ReQ": alpha_req(z[subset]),
            "view retrieval (own)": view_retrieval(own), "view retrieval (fixed)": view_retrieval(fixed),
            "cluster learnability": cluster_learnability(z[subset]), "uniformity": uniformity(z[subset]),
            "alignment (fixed views)": alignment(fixed), "subset": z[subset]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="folders made by sweep_spearman.py (holding sweep/)")
    args = parser.parse_args()
    from scipy.stats import spearmanr

    from workbench.tasks import default_plugin_folders, load_plugins

    load_plugins(default_plugin_folders())
    torch.set_num_threads(1)
    record = {}
    for sweep in args.sweeps:
        runs = [run for run in sorted((sweep / "sweep").glob("trial-*")) if (run / "checkpoints").is_dir()]
        rows = [scores_of(run) for run in runs]
        agreement = sweep_agreement([row.pop("subset") for row in rows])
        for row, value in zip(rows, agreement):
            row["agreement with the sweep"] = value
        reliability = {target: split_half_spearman([row[target] for row in rows]) for target in ("probe 1%",
                                                                                                  "probe 10%")}
        for row in rows:
            row.update({target: float(np.mean(row[target])) for target in reliability})
        correlations = {target: {name: float(spearmanr([row[name] for row in rows], [row[target] for row in rows])[0])
                                 for name in rows[0] if not name.startswith("probe")}
                        for target in ("probe 1%", "probe 10%")}
        spread = [row["probe 10%"] for row in rows]
        print(f"{sweep}: {len(rows)} runs, 10%-label probe {min(spread):.1%} to {max(spread):.1%}")
        for target, by_name in correlations.items():
            print(f"  Spearman with the {target} probe: " +
                  ", ".join(f"{name} {rho:+.2f}" for name, rho in by_name.items()) +
                  f"; the probe with itself (split-half over seeds) {reliability[target]:+.2f}")
        record[str(sweep)] = {"runs": [str(run) for run in runs], "scores": rows, "spearman": correlations,
                              "probe_split_half_spearman": reliability}
    Path("label_free_candidates.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
