"""The probe result table: one row per (method, label fraction, seed), summarised as mean ± std over seeds.

Written to `<run>/probe.json` (and kept under `<run>/probes/`, see `archive`) as a `ProbeResult`; `format_table`
renders the summary as plain text for the terminal."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Mapping

from workbench.config.formats import ArtefactError, JsonArtefact
from workbench.engine.quality_values import value_name
from workbench.metrics.scores import Scores

PROBE_NAME = "probe.json"


@dataclass(frozen=True)
class ProbeRow:
    """One probe on one split."""

    method: str
    fraction: float
    seed: int
    train_size: int
    test_size: int
    accuracy: float
    balanced_accuracy: float
    per_class_recall: list[float]

    @classmethod
    def from_scores(cls, method: str, fraction: float, seed: int, train_size: int, test_size: int,
                    scores: Scores) -> "ProbeRow":
        return cls(method, fraction, seed, train_size, test_size, scores.accuracy, scores.balanced_accuracy,
                   list(scores.per_class_recall))


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def summarise(rows: list[ProbeRow]) -> list[dict]:
    """Mean and std over seeds of each (method, fraction), in the order the rows came."""
    groups: dict[tuple[str, float], list[ProbeRow]] = {}
    for row in rows:
        groups.setdefault((row.method, row.fraction), []).append(row)
    summary = []
    for (method, fraction), members in groups.items():
        accuracy, accuracy_std = _mean_std([r.accuracy for r in members])
        balanced, balanced_std = _mean_std([r.balanced_accuracy for r in members])
        recalls = [_mean_std([r.per_class_recall[i] for r in members])[0]
                   for i in range(len(members[0].per_class_recall))]
        summary.append({"method": method, "fraction": fraction, "seeds": len(members),
                        "train_size": round(statistics.fmean(r.train_size for r in members), 1),
                        "accuracy": accuracy, "accuracy_std": accuracy_std,
                        "balanced_accuracy": balanced, "balanced_accuracy_std": balanced_std,
                        "per_class_recall": recalls})
    return summary


@dataclass(frozen=True)
class ProbeResult(JsonArtefact):
    """probe.json: the rows of one probe, their summary (see `summarise`), and what was probed how."""

    INDENT: ClassVar[int | None] = 1

    summary: list[dict]
    rows: list[ProbeRow]
    run: str = ""
    step: int = 0
    checkpoint: str = ""
    tasks: list[str] = field(default_factory=list)
    backbone: str = ""
    class_names: list[str] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    seeds: int = 0
    test_fraction: float = 0.0
    split: str = "split by image"
    knn_k: int = 0
    device: str = ""
    supervised_schedule: dict | None = None
    finetune_schedule: dict | None = None
    label_counts: list[list[int]] = field(default_factory=list)
    """Per entry of `fractions`, the labelled training images of each seed's split (`splits.label_counts`)."""
    raw_pixels: dict | None = None
    """The raw-pixels row's input (`baselines.raw_pixel_features`); None before that row existed."""
    saved_as: str = ""
    """Where this probe is kept in the run folder, e.g. 'probes/probe-200-20250101-120000.json'."""

    @classmethod
    def of_rows(cls, rows: list[ProbeRow], **info) -> "ProbeResult":
        """The result of `rows`, summarised, with `info` (step, checkpoint name, class names, settings)."""
        return cls(summarise(rows), list(rows), **info)

    @classmethod
    def from_json(cls, record: Mapping, name: str | Path) -> "ProbeResult":
        result = super().from_json(record, name)
        try:
            return replace(result, rows=[ProbeRow(**row) for row in result.rows])
        except TypeError as error:
            raise ArtefactError(f"{name} holds a probe row it cannot read ({error})") from None

    def labels_used(self, fraction: float) -> str:
        """'1% (20 labels)', '1% (18–22 labels)' when seeds differ, '1%' when not recorded (an older file)."""
        counts = next((c for f, c in zip(self.fractions, self.label_counts) if f == fraction and c), None)
        if not counts:
            return fraction_label(fraction)
        low, high = min(counts), max(counts)
        span = f"{low:,}" if low == high else f"{low:,}–{high:,}"
        return f"{fraction_label(fraction)} ({span} label{'s' if high != 1 else ''})"


def percent(value: float, spread: float | None = None) -> str:
    """'91.2%' or '91.2 ± 1.3%'; '—' for NaN."""
    if value != value:
        return "—"
    if spread is None or spread != spread:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.1f} ± {100 * spread:.1f}%"


def fraction_label(fraction: float) -> str:
    return f"{100 * fraction:g}%"


TABLE_HEADER = ("method", "labels", "accuracy", "balanced acc.")
LABELS_RULE = "a share of the labels is taken per class, rounded up: at least one label per class"


def table_cells(entry: dict, result: ProbeResult) -> tuple[str, str, str, str]:
    """One summary entry of `result` as the cells of a table row (see TABLE_HEADER): the CLI's, the report's
    and the app's. A single seed has no spread: its accuracy says '(1 seed)' instead."""
    single = entry["seeds"] == 1
    return (entry["method"], result.labels_used(entry["fraction"]),
            percent(entry["accuracy"], None if single else entry["accuracy_std"]) + (" (1 seed)" if single else ""),
            percent(entry["balanced_accuracy"], None if single else entry["balanced_accuracy_std"]))


def pixels_note(result: ProbeResult) -> str:
    """What the raw-pixels row fed its linear probe, e.g. 'raw pixels: the images as the run reads them (64×64),
    area-averaged to 32×32 per channel (3,072 values per image), then the same linear probe'; '' when the row
    did not run."""
    shape = result.raw_pixels
    if not shape:
        return ""
    values = shape["channels"] * shape["rows"] * shape["columns"]
    resized = (shape["rows"], shape["columns"]) != (shape["height"], shape["width"])
    return (f"raw pixels: the images as the run reads them ({shape['height']}×{shape['width']})"
            + (f", area-averaged to {shape['rows']}×{shape['columns']} per channel" if resized else "")
            + f" ({values:,} values per image), then the same linear probe")


STARTING_WEIGHTS = "starting weights"
"""The rows of the run's starting weights (`model.init_weights`) before pretraining begin with this."""
LINEAR, KNN = "linear probe", "kNN probe"
RANDOM_LINEAR, RANDOM_KNN = "random init, linear", "random init, kNN"
STARTING_LINEAR, STARTING_KNN = f"{STARTING_WEIGHTS}, linear", f"{STARTING_WEIGHTS}, kNN"
PIXELS_LINEAR = "raw pixels, linear"
SCRATCH_METHOD, FINETUNE_METHOD = "supervised from scratch", "fine-tuned"
"""The methods (rows) of a probe table, as probe.json names them."""


def selection_note(result: ProbeResult) -> str:
    """A caveat when the probed checkpoint was chosen by kNN accuracy: that used the labels of the evaluation
    subset, which the test split can share, so the choice may flatter the encoder's rows a little; '' otherwise."""
    if not result.checkpoint.startswith(f"best by {value_name('knn_accuracy')}"):
        return ""
    return ("the checkpoint was chosen by kNN accuracy on the labelled evaluation subset, which can share images "
            "with the test split; probe --checkpoint last (or pick it on the Evaluate page) for rows free of that "
            "choice")


def starting_note(result: ProbeResult) -> str:
    """What the starting-weights rows probed; '' when the run started from random weights (no such rows)."""
    if not any(entry["method"].startswith(STARTING_WEIGHTS) for entry in result.summary):
        return ""
    return (f"{STARTING_WEIGHTS}: the same backbone with the weights the run started from (model.init_weights), "
            "before pretraining, frozen; what the trained encoder gains over them is what the continued "
            "pretraining added")


def schedule_note(result: ProbeResult) -> str:
    """What the trained baselines ran, e.g. 'supervised from scratch: augmented (the run's augmentations), AdamW
    lr 0.002 + cosine over 50 epochs (200–2,000 steps, batches of up to 64), early-stopped on 15 % of the
    training labels, best weights kept: 1% best at step 40–90 of at most 200, ..., 3 seeds'; '' when none ran.
    Probes written before early stopping say '150 steps, batches of up to 64 labelled images, lr 0.002, ...'."""
    notes = []
    for name, schedule in ((SCRATCH_METHOD, result.supervised_schedule), (FINETUNE_METHOD, result.finetune_schedule)):
        if schedule:
            seeds = schedule.get("seeds", result.seeds)
            how = _stopping(schedule) if "trainings" in schedule else (
                f"{schedule['steps']} steps, batches of up to {schedule['batch_size']} labelled images, "
                f"lr {schedule['lr']:g}")
            notes.append(f"{name}: {how}, at the run's resolution, {seeds} seed"
                         + ("s" if seeds != 1 else "") + (f" of {result.seeds}" if seeds < result.seeds else ""))
    return "; ".join(notes)


def _span(values: list[int]) -> str:
    """'120' or '40–120'."""
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _stopping(schedule: dict) -> str:
    """How an early-stopped schedule (see `finetune.Schedule`, `probe.trained_schedule`) trained, per fraction."""
    by_fraction: dict[float, list[dict]] = {}
    for training in schedule["trainings"]:
        by_fraction.setdefault(training["fraction"], []).append(training)
    stops = []
    for fraction, trainings in by_fraction.items():
        planned = _span([t["planned"] for t in trainings])
        validated = [t for t in trainings if t["validation"]]
        if not validated:
            stops.append(f"{fraction_label(fraction)} all {planned} steps (too few labels per class to validate)")
            continue
        unvalidated = len(trainings) - len(validated)
        stops.append(f"{fraction_label(fraction)} best at step {_span([t['best_step'] for t in validated])} of at "
                     f"most {planned}" + (f" ({unvalidated} seed(s) unvalidated)" if unvalidated else ""))
    length = (f"{schedule['steps']:,} steps" if schedule["min_steps"] >= schedule["steps"] else
              f"{schedule['epochs']} epochs ({schedule['min_steps']:,}–{schedule['steps']:,} steps)")
    return (f"augmented (the run's augmentations), AdamW lr {schedule['lr']:g} + cosine over {length}, batches "
            f"of up to {schedule['batch_size']}, early-stopped on {schedule['validation_fraction']:.0%} of the "
            f"training labels (patience {schedule['patience']} checks), best weights kept: " + ", ".join(stops))


def format_table(result: ProbeResult) -> str:
    """A plain-text table: rows = method x label fraction, accuracy and balanced accuracy, mean ± std."""
    header = TABLE_HEADER
    lines = [table_cells(entry, result) for entry in result.summary]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row) -> str:
        return "  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *map(render, lines)])
