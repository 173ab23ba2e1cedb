"""Probes, splits, ranking and the health detector on data whose answer is known."""
import json
import math

import pytest
import torch

from workbench.probes.knn import knn_probe
from workbench.metrics.linear_probe import linear_probe, train_linear_head
from workbench.engine.inspection import loss_batches
from workbench.probes.ranking import k_center_greedy, rank_by_loss, rank_candidates
from workbench.metrics.scores import classification_scores
from workbench.data.splits import group_split
from workbench.probes.archive import check_name, save_probe
from workbench.probes.splits import label_counts, probe_splits
from workbench.probes.table import PROBE_NAME, ProbeResult, ProbeRow, format_table, pixels_note, summarise


def separable(n_per_class=60, classes=3, dim=16, seed=0):
    """Well-separated Gaussian clusters: a linear classifier must get them all."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator) * 6
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return centres[labels] + torch.randn(len(labels), dim, generator=generator), labels


def image_split(labels, test_fraction, seed):
    """A stratified held-out split of single images (no group ids)."""
    return group_split([""] * len(labels), labels.tolist(), test_fraction, seed)


def test_linear_and_knn_probes_reach_100_percent_on_separable_data():
    z, y = separable()
    train, test = image_split(y, 0.3, seed=0)
    linear = linear_probe(z[train], y[train], z[test], y[test], 3)
    knn = knn_probe(z[train], y[train], z[test], y[test], 3, k=5)
    assert linear.accuracy == 1.0 and linear.balanced_accuracy == 1.0
    assert linear.per_class_recall == [1.0, 1.0, 1.0]
    assert knn.accuracy == 1.0 and knn.per_class_recall == [1.0, 1.0, 1.0]


def test_random_labels_give_chance_level():
    generator = torch.Generator().manual_seed(3)
    z = torch.randn(2000, 32, generator=generator)
    y = torch.randint(0, 4, (2000,), generator=generator)
    train, test = image_split(y, 0.5, seed=0)
    for scores in (linear_probe(z[train], y[train], z[test], y[test], 4),
                   knn_probe(z[train], y[train], z[test], y[test], 4, k=10)):
        assert abs(scores.accuracy - 0.25) < 0.05
        assert abs(scores.balanced_accuracy - 0.25) < 0.05


def test_linear_head_applies_to_raw_embeddings_and_is_deterministic():
    z, y = separable(seed=1)
    first, second = train_linear_head(z, y, 3), train_linear_head(z, y, 3)
    assert torch.equal(first(z), second(z))
    assert (first(z * 5).argmax(1) == y).all()  # the head L2-normalises: scale does not matter


def test_scores_balance_per_class_and_mark_absent_classes():
    scores = classification_scores(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 1]), 3)
    assert scores.accuracy == 1.0 and scores.per_class_recall[:2] == [1.0, 1.0]
    assert math.isnan(scores.per_class_recall[2]) and scores.balanced_accuracy == 1.0
    skewed = classification_scores(torch.zeros(10, dtype=torch.long), torch.tensor([0] * 9 + [1]), 2)
    assert skewed.accuracy == pytest.approx(0.9) and skewed.balanced_accuracy == pytest.approx(0.5)


def test_stratified_fractions_keep_every_class_with_the_right_sizes():
    labels = torch.tensor([0] * 100 + [1] * 50 + [2] * 10 + [-1] * 30)
    tenth, whole = probe_splits(labels, [""] * len(labels), [0.1, 1.0], seeds=1)
    train, test = whole.train, whole.test
    assert set(train.tolist()).isdisjoint(test.tolist()) and torch.equal(tenth.test, test)
    assert (labels[train] >= 0).all() and (labels[test] >= 0).all()
    assert len(train) + len(test) == 160
    assert torch.bincount(labels[test]).tolist() == [30, 15, 3]
    assert set(tenth.train.tolist()) <= set(train.tolist())
    assert torch.bincount(labels[tenth.train]).tolist() == [7, 4, 1]  # ceil of 10% of 70, 35, 7


def test_seeds_give_different_splits_and_the_same_seed_the_same():
    labels = torch.arange(4).repeat_interleave(25)
    splits = probe_splits(labels, [""] * len(labels), [0.1, 1.0], seeds=2)
    assert [(s.fraction, s.seed) for s in splits] == [(0.1, 0), (1.0, 0), (0.1, 1), (1.0, 1)]
    assert not torch.equal(splits[0].train, splits[2].train)
    assert not torch.equal(splits[0].test, splits[2].test)
    again = probe_splits(labels, [""] * len(labels), [0.1, 1.0], seeds=2)
    assert all(torch.equal(a.train, b.train) and torch.equal(a.test, b.test) for a, b in zip(splits, again))


def test_probe_splits_refuse_unlabelled_or_single_class_data():
    with pytest.raises(ValueError, match="two classes"):
        probe_splits(torch.full((10,), -1), [""] * 10, [1.0], 1)
    with pytest.raises(ValueError, match="two classes"):
        probe_splits(torch.zeros(10, dtype=torch.long), [""] * 10, [1.0], 1)


def test_k_center_greedy_picks_one_point_per_cluster_first():
    generator = torch.Generator().manual_seed(0)
    corners = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    points = corners.repeat_interleave(20, dim=0) + 0.1 * torch.randn(80, 2, generator=generator)
    picks, scores = k_center_greedy(points, 4)
    assert sorted((picks // 20).tolist()) == [0, 1, 2, 3]
    assert (scores[1:] <= scores[:-1] + 1e-6).all()
    # points near an already-labelled centre come last: with the first two corners covered, the next picks
    # are in the other two
    covered, _ = k_center_greedy(points, 2, centres=corners[:2])
    assert sorted((covered // 20).tolist()) == [2, 3]


def test_loss_ranking_orders_by_loss_and_mixed_uses_both():
    losses = torch.tensor([0.5, 3.0, 1.0, 2.0, 0.1])
    indices, values = rank_by_loss(losses, 3)
    assert indices.tolist() == [1, 3, 2] and values.tolist() == [3.0, 2.0, 1.0]
    candidates = torch.tensor([0, 2, 4])
    rows, _ = rank_candidates("loss", 2, candidates, losses=losses)
    assert rows.tolist() == [2, 0]
    # two points at one spot, one far away: pure loss picks the two high-loss twins, mixed spreads out
    embeddings = torch.tensor([[0.0, 0.0], [0.0, 0.01], [5.0, 5.0]])
    twin_losses = torch.tensor([1.0, 0.9, 0.0])
    everything = torch.arange(3)
    assert rank_candidates("loss", 2, everything, embeddings, twin_losses)[0].tolist() == [0, 1]
    mixed, _ = rank_candidates("mixed", 2, everything, embeddings, twin_losses, mix=0.5)
    assert sorted(mixed.tolist()) in ([0, 2], [1, 2])
    with pytest.raises(ValueError, match="strategy"):
        rank_candidates("random", 2, everything, embeddings, twin_losses)


def test_loss_batches_never_leave_a_single_image():
    sizes = [len(batch) for batch in loss_batches(torch.arange(9), 4)]
    assert sizes == [4, 5]
    assert torch.cat(loss_batches(torch.arange(9), 4)).tolist() == list(range(9))


def test_summary_is_mean_and_std_over_seeds_and_the_table_shows_them():
    def row(method, fraction, seed, accuracy):
        return ProbeRow(method, fraction, seed, 10, 5, accuracy, accuracy, [accuracy, accuracy])

    rows = [row("linear probe", 0.1, 0, 0.8), row("linear probe", 0.1, 1, 0.9), row("kNN probe", 0.1, 0, 0.5),
            row("kNN probe", 0.1, 1, 0.5)]
    summary = summarise(rows)
    assert [(s["method"], s["seeds"]) for s in summary] == [("linear probe", 2), ("kNN probe", 2)]
    assert summary[0]["accuracy"] == pytest.approx(0.85) and summary[0]["accuracy_std"] == pytest.approx(0.05)
    text = format_table(ProbeResult.of_rows(rows, fractions=[0.1], label_counts=[[10, 12]]))
    assert "85.0 ± 5.0%" in text and "10% (10–12 labels)" in text and text.splitlines()[0].startswith("method")


def test_label_counts_are_the_per_class_share_rounded_up():
    sizes = {0: 30, 1: 20, 2: 10}
    labels = torch.cat([torch.full((n,), c) for c, n in sizes.items()])
    fractions = [0.01, 0.1, 1.0]
    splits = probe_splits(labels, [""] * len(labels), fractions, seeds=2)
    counts = label_counts(splits, fractions)
    for fraction, per_seed in zip(fractions, counts):
        for seed, count in enumerate(per_seed):
            test = next(s.test for s in splits if s.seed == seed)
            trainable = {c: n - int((labels[test] == c).sum()) for c, n in sizes.items()}
            assert count == sum(max(1, math.ceil(fraction * n)) for n in trainable.values())
    assert counts[0] == [3, 3]  # 1%: one label of each of the three classes
    result = ProbeResult.of_rows([], fractions=fractions, label_counts=counts)
    assert result.labels_used(0.01) == "1% (3 labels)" and result.labels_used(1.0) == f"100% ({counts[2][0]} labels)"


def test_an_old_probe_json_without_the_new_fields_still_opens(tmp_path):
    row = ProbeRow("linear probe", 0.1, 0, 8, 4, 0.75, 0.75, [1.0, 0.5])
    old = {key: value for key, value in ProbeResult.of_rows([row], fractions=[0.1]).to_json().items()
           if key not in ("label_counts", "raw_pixels", "saved_as", "format_version")}
    (tmp_path / PROBE_NAME).write_text(json.dumps(old), encoding="utf-8")
    result = ProbeResult.read(tmp_path / PROBE_NAME)
    assert result.rows == [row] and result.label_counts == [] and result.saved_as == ""
    assert result.labels_used(0.1) == "10%" and pixels_note(result) == ""
    assert "linear probe  10%" in format_table(result)


def test_each_probe_is_kept_under_its_own_name_and_probe_json_is_the_latest(tmp_path):
    first = save_probe(ProbeResult.of_rows([], step=7), tmp_path, "baseline")
    second = save_probe(ProbeResult.of_rows([], step=9), tmp_path, "baseline.json")
    third = save_probe(ProbeResult.of_rows([], step=9), tmp_path)
    assert first.saved_as == "probes/baseline.json" and second.saved_as == "probes/baseline-2.json"
    assert third.saved_as.startswith("probes/probe-9-")
    assert [ProbeResult.read(tmp_path / r.saved_as) for r in (first, second, third)] == [first, second, third]
    assert ProbeResult.read(tmp_path / PROBE_NAME) == third
    for bad in ("../up", "a/b", ".hidden", " ", "x:y"):
        with pytest.raises(ValueError, match="plain file name"):
            check_name(bad)


def test_online_linear_accuracy_uses_the_given_split():
    z, y = separable(seed=2)
    train, test = image_split(y, 0.3, seed=1)
    assert linear_probe(z[train], y[train], z[test], y[test], 3).accuracy == 1.0


def test_the_headline_says_whether_the_encoder_beats_its_best_baseline():
    from workbench.probes.report import headline

    def summary(encoder: float, scratch: float, std: float = 0.01) -> list[dict]:
        return [{"method": method, "fraction": 0.1, "accuracy": accuracy, "accuracy_std": std}
                for method, accuracy in (("linear probe", encoder), ("raw pixels, linear", 0.40),
                                         ("random init, linear", 0.30), ("supervised from scratch", scratch),
                                         ("fine-tuned", 0.99))]  # fine-tuning is the encoder, not a baseline

    leads = headline(summary(0.80, 0.70), ["simclr"])
    assert leads.startswith("SimCLR encoder, 10% labels: 80")
    assert leads.endswith("The encoder leads the best baseline, supervised from scratch, by 10.0 points.")
    assert headline(summary(0.57, 0.91), ["simclr"]).endswith(
        "The best baseline, supervised from scratch, beats the encoder by 34.0 points: here the pretraining does "
        "not help.")
    assert headline(summary(0.62, 0.60, std=0.03), ["simclr"]).endswith(
        "within the spread over seeds (2.0 points apart, spread ±3.0).")


def test_a_checkpoint_chosen_with_labels_is_flagged_in_the_probes_notes():
    from workbench.engine.best_checkpoint import BestMarker
    from workbench.probes.table import selection_note

    by_knn = ProbeResult([], [], checkpoint=BestMarker(5, 0.9, "knn_accuracy").describe())
    assert "chosen by kNN accuracy on the labelled evaluation subset" in selection_note(by_knn)
    assert selection_note(ProbeResult([], [], checkpoint=BestMarker(5, 40.0, "effective_rank").describe())) == ""
    assert selection_note(ProbeResult([], [], checkpoint="last checkpoint, step 5")) == ""
