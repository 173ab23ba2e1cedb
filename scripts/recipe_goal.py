"""Does the recipe's pretraining help? End to end on one labelled class folder: train with the recipe the app
proposes for a time budget (`main.py train --auto --budget`), probe the run (`workbench.probes.probe.run_probe`:
linear and kNN probes on the same splits as the raw-pixels, random-init and supervised-from-scratch baselines),
then print a markdown table (accuracy, mean ± std over seeds; one column per label fraction with its label count)
and whether the goal holds: in every column the encoder's linear probe, mean - std, is above every baseline's
mean + std.

Usage:
  python scripts/recipe_goal.py DATA_FOLDER --out RUN_DIR [--budget 10m] [--fractions 0.01,0.1] [--seeds 5]
  python scripts/recipe_goal.py DATA_FOLDER --out RUN_DIR --probe-only     # probe an already trained run again
The table is also written to RUN_DIR/goal.md (goal-CHECKPOINT.md with --checkpoint; -supervisedNe with a longer
supervised baseline: --supervised-epochs N --supervised-min-steps M, a check that it is not simply under-trained).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.config.atomic import write_text_atomic  # noqa: E402
from workbench.engine.recipe import RECIPE_NAME, Recipe  # noqa: E402
from workbench.probes.defaults import SCRATCH  # noqa: E402
from workbench.probes.probe import (KNN, LINEAR, PIXELS_LINEAR, RANDOM_KNN, RANDOM_LINEAR,  # noqa: E402
                                    SCRATCH_METHOD, run_probe)
from workbench.probes.table import ProbeResult, percent, pixels_note, schedule_note  # noqa: E402

ENCODER = LINEAR
"""The row the goal is about: the recipe's encoder, frozen, with the linear probe."""
BASELINES = (PIXELS_LINEAR, RANDOM_LINEAR, RANDOM_KNN, SCRATCH_METHOD)
ROW_NAMES = {LINEAR: "recipe's encoder, linear", KNN: "recipe's encoder, kNN", PIXELS_LINEAR: PIXELS_LINEAR,
             RANDOM_LINEAR: RANDOM_LINEAR, RANDOM_KNN: RANDOM_KNN, SCRATCH_METHOD: SCRATCH_METHOD}


def train(data: Path, out: Path, budget: str, config: Path | None = None) -> float:
    """`main.py train [CONFIG] --auto --budget` on `data` into `out` (the app's own CLI); the seconds it took."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "main.py"), "train", *([str(config)] if config else []), "--auto",
                    "--budget", budget, "--data", str(data), "--out", str(out)], check=True)
    return time.perf_counter() - start


def entries(result: ProbeResult) -> dict[tuple[str, float], dict]:
    """The probe's summary by (method, fraction)."""
    return {(entry["method"], entry["fraction"]): entry for entry in result.summary}


def goal_verdicts(result: ProbeResult) -> dict[float, list[str]]:
    """Per fraction, the baselines the encoder's linear probe does NOT beat by more than the spreads
    (encoder mean - std > baseline mean + std); an empty list: the goal holds in that column."""
    found = entries(result)
    failures = {}
    for fraction in result.fractions:
        encoder = found[(ENCODER, fraction)]
        low = encoder["accuracy"] - encoder["accuracy_std"]
        failures[fraction] = [method for method in BASELINES if (method, fraction) in found
                              and not low > found[(method, fraction)]["accuracy"]
                              + found[(method, fraction)]["accuracy_std"]]
    return failures


def markdown(result: ProbeResult, title: str) -> str:
    """The accuracy table (rows: the encoder's probes, then the baselines; columns: label fractions with their
    label counts) and the goal's verdict per column."""
    found = entries(result)
    columns = [f"{result.labels_used(fraction)}" for fraction in result.fractions]
    lines = [f"**{title}** — test accuracy, mean ± std over {result.seeds} seeds "
             f"({result.test_fraction:.0%} of the images held out for testing)", "",
             "| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for method, name in ROW_NAMES.items():
        if any((method, fraction) in found for fraction in result.fractions):
            cells = [percent(found[(method, f)]["accuracy"], found[(method, f)]["accuracy_std"])
                     if (method, f) in found else "—" for f in result.fractions]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for fraction, failures in goal_verdicts(result).items():
        verdict = ("holds: the encoder's linear probe beats every baseline by more than the spreads" if not failures
                   else "does not hold: not beaten by more than the spreads: " + ", ".join(failures))
        lines.append(f"- Goal at {result.labels_used(fraction)}: {verdict}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="labelled class folder (e.g. from scripts/real_sets.py)")
    parser.add_argument("--out", type=Path, required=True, help="run folder to create (or, --probe-only, to probe)")
    parser.add_argument("--budget", default="10m", help="the recipe's training budget, e.g. 5m, 10m (default 10m)")
    parser.add_argument("--fractions", default="0.01,0.1", help="label fractions (default 0.01,0.1)")
    parser.add_argument("--seeds", type=int, default=5, help="splits per fraction (default 5)")
    parser.add_argument("--config", type=Path,
                        help="YAML config the recipe starts from (e.g. another train.seed; default the app's)")
    parser.add_argument("--probe-only", action="store_true", help="probe the existing run in --out again")
    parser.add_argument("--supervised-epochs", type=int, default=SCRATCH.epochs,
                        help=f"the supervised-from-scratch baseline's epochs (default the app's, {SCRATCH.epochs})")
    parser.add_argument("--supervised-min-steps", type=int, default=SCRATCH.min_steps,
                        help=f"its least steps (default the app's, {SCRATCH.min_steps})")
    parser.add_argument("--checkpoint", help="best, last or a checkpoint file (default: the app's choice, its best)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"data folder {args.data} not found")
    fractions = [float(part) for part in args.fractions.split(",")]
    scratch = replace(SCRATCH, epochs=args.supervised_epochs, min_steps=args.supervised_min_steps,
                      steps=max(SCRATCH.steps, args.supervised_min_steps))
    trained_s = None
    if not args.probe_only:
        if args.out.exists():
            parser.error(f"--out {args.out} already exists: choose a new run folder (or pass --probe-only)")
        trained_s = train(args.data, args.out, args.budget, args.config)
    start = time.perf_counter()
    result = run_probe(args.out, str(args.data), fractions, args.seeds, checkpoint=args.checkpoint, scratch=scratch)
    probe_s = time.perf_counter() - start
    recipe = Recipe.read(args.out / RECIPE_NAME)
    title = (f"{args.data.name}: {len(result.class_names)} classes, the recipe ({', '.join(result.tasks)}, "
             f"{result.backbone}, {recipe.overrides['data.image_size']} px, {recipe.overrides['train.steps']:,} steps "
             f"for {args.budget}); probed: {result.checkpoint}")
    table = markdown(result, title)
    notes = [f"Recipe: {line}" for line in recipe.lines()] + [
        f"Measured speed: {json.dumps(recipe.measured)}",
        f"Training (train --auto, incl. the recipe's measurement): {trained_s:.0f} s" if trained_s else "",
        f"Probe: {probe_s:.0f} s; {pixels_note(result)}", f"Split: {result.split}",
        f"Trained baselines: {schedule_note(result)}"]
    text = table + "\n\n" + "\n".join(f"- {note}" for note in notes if note) + "\n"
    longer = "" if scratch == SCRATCH else f"-supervised{scratch.epochs}e"
    write_text_atomic(args.out / f"goal{'-' + args.checkpoint if args.checkpoint else ''}{longer}.md", text)
    print(text)
    return 0 if not any(goal_verdicts(result).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
