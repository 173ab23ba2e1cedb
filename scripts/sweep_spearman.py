"""Does the label-free score rank runs the way a linear probe does? End to end, on real handwritten digits.

Writes scikit-learn's `load_digits` (1,797 real 8x8 digits) as 16 px PNGs in class folders, runs a sweep of short
runs (task, learning rate, crop scale and rotation drawn at random), probes each finished run with a linear
probe on 10% of the labels (3 seeds), and prints the Spearman rank correlation between each score of the run's
final evaluation (RankMe, LiDAR, kNN accuracy) and the probe accuracy.

    .venv/bin/python scripts/sweep_spearman.py --work /tmp/digits-sweep            # ~10 min on 2 CPU cores
    .venv/bin/python scripts/sweep_spearman.py --work /tmp/digits-sweep --resume   # continue a killed one
    .venv/bin/python scripts/sweep_spearman.py --work /tmp/fashion-sweep --data /tmp/rs/fashion-mnist --image-size 24
                                                   # another labelled folder (e.g. from scripts/real_sets.py)

Needs Optuna and scikit-learn (`pip install 'pretext-workbench[sweep,maps]'`). Each run evaluates only at its
end (eval.every_steps = train.steps), so its best checkpoint, the one probed, is its last, and every score is
measured on the weights the probe uses. Every finished trial counts (none is left out). `--tasks simclr` sweeps
one task only. Results: <work>/sweep/spearman.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.config.atomic import write_text_atomic  # noqa: E402
from workbench.engine.quality_values import QUALITY_VALUES, value_name  # noqa: E402
from workbench.engine.sweep import Sweep, create_sweep, ranking_table  # noqa: E402

SIDE = 16


def write_digits(folder: Path) -> Path:
    """load_digits as 16 px grayscale PNGs in one folder per class (written once)."""
    from sklearn.datasets import load_digits

    if folder.is_dir() and any(folder.rglob("*.png")):
        return folder
    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        pixels = (image / 16.0 * 255).round().astype(np.uint8)
        target = folder / f"digit_{label}" / f"{index:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, mode="L").resize((SIDE, SIDE), Image.BICUBIC).save(target)
    return folder


SPACES = {
    "mixed": """\
  train.lr: {log_uniform: [3.0e-4, 3.0e-2]}
  augment.crop_scale_min: {uniform: [0.1, 0.8]}
  augment.rotation_degrees: [0, 15, 30]
""",
    "temperature": """\
  tasks.simclr.temperature: {log_uniform: [0.02, 2.0]}
""",
}
"""The settings each `--space` draws (besides the task): several at once, or SimCLR's temperature alone, the
setting RankMe's authors show moving the rank and the probe together."""


def spec_text(data: Path, side: int, trials: int, steps: int, threads: int, tasks: list[str], space: str) -> str:
    return f"""\
settings:
  data.root: {json.dumps(str(data))}
  data.image_size: {side}
  data.channels: 1
  model.backbone: small_cnn
  augment.hflip_p: 0.0
  train.steps: {steps}
  train.warmup_steps: 20
  train.batch_size: 128
  train.threads: {threads}
  train.device: cpu
  train.precision: fp32
  train.checkpoint_every: {steps}
  eval.every_steps: {steps}
  eval.subset_size: 512
trials: {trials}
sampler: random
seed: 0
space:
  task: [{", ".join(tasks)}]
{SPACES[space]}"""


def probe_accuracy(run_dir: Path, seeds: int) -> float:
    """Mean linear-probe accuracy on 10% of the labels over `seeds` splits."""
    from workbench.probes.probe import LINEAR, run_probe

    result = run_probe(run_dir, fractions=[0.1], seeds=seeds, supervised=False, name="sweep-spearman")
    return next(row["accuracy"] for row in result.summary if row["method"] == LINEAR and row["fraction"] == 0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("digits-sweep"), help="folder for the data and the sweep")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3, help="probe splits per run")
    parser.add_argument("--tasks", default="simclr,barlow_twins,vicreg,byol", help="the tasks drawn, comma-separated")
    parser.add_argument("--space", choices=sorted(SPACES), default="mixed",
                        help="mixed: learning rate, crop scale and rotation; temperature: SimCLR's alone")
    parser.add_argument("--resume", action="store_true", help="continue the sweep in <work>/sweep")
    parser.add_argument("--data", type=Path, help="a labelled image folder instead of the digits")
    parser.add_argument("--image-size", type=int, default=SIDE, help="training image side (pixels)")
    args = parser.parse_args()
    from scipy.stats import spearmanr

    from workbench.tasks import default_plugin_folders, load_plugins

    load_plugins(default_plugin_folders())
    data = args.data or write_digits(args.work / "digits")
    folder = args.work / "sweep"
    if not args.resume:
        spec = args.work / "digits-sweep.yaml"
        write_text_atomic(spec, spec_text(data.resolve(), args.image_size, args.trials, args.steps, args.threads,
                                          args.tasks.split(","), args.space))
        create_sweep(spec, folder)
    sweep = Sweep(folder)
    results = sweep.run(on_trial=lambda result: print(f"trial {result.number}: {result.state}", flush=True))
    print(ranking_table(results))
    finished = [result for result in results if result.state == "finished"]
    probes = {}
    for result in finished:
        probes[result.number] = probe_accuracy(folder / result.run, args.seeds)
        print(f"trial {result.number}: 10%-label linear probe {probes[result.number]:.1%}", flush=True)
    accuracy = [probes[result.number] for result in finished]
    correlations = {}
    for key in QUALITY_VALUES:
        name = value_name(key)
        scores = [result.values.get(key, float("nan")) for result in finished]
        rho, p_value = spearmanr(scores, accuracy, nan_policy="omit")
        correlations[key] = {"name": name, "spearman": float(rho), "p_value": float(p_value)}
        print(f"Spearman({name}, 10%-label linear probe) = {rho:.2f} (p = {p_value:.3f}, {len(finished)} runs)")
    record = {"runs": len(finished), "failed": len(results) - len(finished), "correlations": correlations,
              "trials": [{"trial": result.number, "settings": result.settings, "probe_accuracy": probes[result.number],
                          **{key: result.values.get(key) for key in QUALITY_VALUES}} for result in finished]}
    write_text_atomic(folder / "spearman.json", json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
