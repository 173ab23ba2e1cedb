"""The probe result table: one row per (method, label fraction, seed), summarised as mean ± std over seeds.

Written to `<run>/probe.json`; `format_table` renders the summary as plain text for the terminal."""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.config.atomic import write_text_atomic
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


def write_probe_json(path: Path, rows: list[ProbeRow], info: dict) -> dict:
    """Write rows, summary and `info` (step, checkpoint name, class names, settings) atomically; returns it."""
    record = {**info, "summary": summarise(rows), "rows": [asdict(row) for row in rows]}
    write_text_atomic(Path(path), json.dumps(record, indent=1, allow_nan=True))
    return record


def read_probe_json(path: Path) -> dict | None:
    """The record written by `write_probe_json`, or None when absent or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def percent(value: float, spread: float | None = None) -> str:
    """'91.2%' or '91.2 ± 1.3%'; '—' for NaN."""
    if value != value:
        return "—"
    if spread is None or spread != spread:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.1f} ± {100 * spread:.1f}%"


def fraction_label(fraction: float) -> str:
    return f"{100 * fraction:g}%"


TABLE_HEADER = ("method", "labels", "n train", "accuracy", "balanced acc.")


def table_cells(entry: dict) -> tuple[str, str, str, str, str]:
    """One summary entry as the cells of a table row (see TABLE_HEADER): the CLI's table and the app's."""
    return (entry["method"], fraction_label(entry["fraction"]), f"{entry['train_size']:g}",
            percent(entry["accuracy"], entry["accuracy_std"]),
            percent(entry["balanced_accuracy"], entry["balanced_accuracy_std"]))


def format_table(summary: list[dict]) -> str:
    """A plain-text table: rows = method x label fraction, accuracy and balanced accuracy, mean ± std."""
    header = TABLE_HEADER
    lines = [table_cells(entry) for entry in summary]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row) -> str:
        return "  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *map(render, lines)])
