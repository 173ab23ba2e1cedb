"""Does distillation help a small encoder? End to end on a CPU, in a few minutes.

1. A teacher: a small CNN (`--teacher-backbone resnet18`: a ResNet-18, slower) pretrained with SimCLR by the CLI
   (`main.py train`) for `--teacher-steps`, on `--data DIR` (a labelled image folder, e.g. one written by
   scripts/real_sets.py) or, without it, the built-in demo scans (480 images, 4 classes), at `--image-size`.
2. A small CNN distilled from that frozen teacher for `--steps` steps (teacher views 'clean': the teacher's
   embedding of each image is computed once and kept).
3. The same small CNN trained with SimCLR alone for the same wall time as step 2.
4. The 10 %-label linear probe of each (`main.py probe RUN --fractions 0.1 --seeds 3`), as a Markdown table.

    .venv/bin/python scripts/distillation_bench.py [--data DIR] [--image-size 32] [--teacher-views same]
        [--teacher-backbone resnet18]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.control import RunControl  # noqa: E402
from workbench.engine.events import FinishedEvent, StepEvent  # noqa: E402
from workbench.engine.runs import RunFolder  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.tasks import config_from_dict  # noqa: E402

DATA: dict = {}
"""`--data` and `--image-size`, set once from the command line."""
COMMON = {"data": {"image_size": 32},
          "train": {"batch_size": 64, "warmup_steps": 10, "log_every": 10, "precision": "fp32", "device": "cpu"},
          "eval": {"every_steps": 100000, "subset_size": 64}}


def config(tasks: dict, backbone: str, steps: int, out: Path) -> dict:
    return {**COMMON, "data": {**COMMON["data"], **DATA}, "tasks": tasks, "model": {"backbone": backbone},
            "train": {**COMMON["train"], "steps": steps, "checkpoint_every": steps},
            "output": {"out_dir": str(out)}}


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return done.stdout


def train_teacher(out: Path, backbone: str, steps: int) -> tuple[Path, float]:
    """The teacher, trained by the CLI: (its last checkpoint, which the distillation task reads, seconds)."""
    path = out / "teacher.yaml"
    settings = config({"simclr": {}}, backbone, steps, out)
    settings["model"]["small_image_stem"] = False  # a ResNet at 32 px: the cheap ImageNet stem, for a CPU
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    run = out / "teacher"
    started = time.perf_counter()
    cli("train", str(path), "--out", str(run))
    return RunFolder(run).latest_checkpoint(), time.perf_counter() - started


def train_student(name: str, tasks: dict, out: Path, steps: int,
                  seconds: float | None = None) -> tuple[Path, float, int]:
    """A small CNN student trained through the Trainer; with `seconds`, stopped once it has trained that long
    (the step-0 evaluation included, as for the student it is compared with). Returns (run, seconds, steps)."""
    control = RunControl()
    trainer = Trainer(config_from_dict(config(tasks, "small_cnn", steps, out)), run_dir=out / name, control=control)
    begin = time.perf_counter()

    def stop_in_time(event) -> None:
        if seconds is not None and isinstance(event, StepEvent) and time.perf_counter() - begin >= seconds:
            control.cancel()

    final = trainer.run(stop_in_time)
    if not isinstance(final, FinishedEvent):
        raise RuntimeError(f"{name} failed: {getattr(final, 'message', final)}")
    return trainer.run_dir, time.perf_counter() - begin, final.step


def linear_probe(run: Path, fraction: float) -> dict[str, str]:
    """`main.py probe` of the run at one label fraction: method -> "mean ± std" accuracy over 3 splits."""
    cli("probe", str(run), "--fractions", str(fraction), "--seeds", "3", "--no-supervised", "--device", "cpu")
    rows = json.loads((run / "probe.json").read_text(encoding="utf-8"))["rows"]
    found = {}
    for method in {row["method"] for row in rows}:
        scores = torch.tensor([row["accuracy"] for row in rows if row["method"] == method]) * 100
        found[method] = f"{scores.mean():.1f} ± {scores.std():.1f} %"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/distillation-bench")
    parser.add_argument("--teacher-backbone", default="small_cnn", help="small_cnn or resnet18 (slow on a CPU)")
    parser.add_argument("--teacher-steps", type=int, default=600)
    parser.add_argument("--steps", type=int, default=500, help="distillation steps of the student")
    parser.add_argument("--teacher-views", default="clean", choices=("clean", "same"),
                        help="clean: the teacher's embeddings computed once per image; same: every step, on the "
                             "student's views, with dense features too")
    parser.add_argument("--fraction", type=float, default=0.1, help="share of the labels the linear probe gets")
    parser.add_argument("--data", help="labelled image folder (default: the built-in demo scans)")
    parser.add_argument("--image-size", type=int, default=32, help="training image side in pixels")
    args = parser.parse_args()
    DATA.update({"root": str(Path(args.data).resolve())} if args.data else {})
    DATA["image_size"] = args.image_size
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights, teacher_seconds = train_teacher(out, args.teacher_backbone, args.teacher_steps)
    distil = {"distillation": {"teacher_backbone": args.teacher_backbone, "teacher_weights": str(weights),
                               "teacher_views": args.teacher_views, "teacher_small_image_stem": False,
                               "dense_weight": 0.5 if args.teacher_views == "same" else 0.0}}
    distilled, seconds, steps = train_student("student-distilled", distil, out, args.steps)
    simclr, simclr_seconds, simclr_steps = train_student("student-simclr", {"simclr": {}}, out, 100_000, seconds)
    rows = [(f"teacher: {args.teacher_backbone}, SimCLR (by the CLI)", out / "teacher", teacher_seconds,
             args.teacher_steps),
            (f"small CNN distilled from the teacher ({args.teacher_views} views)", distilled, seconds, steps),
            ("small CNN, SimCLR for the same wall time", simclr, simclr_seconds, simclr_steps)]
    label = f"{args.fraction:.0%} labels"
    print(f"| encoder | steps | wall time | linear probe, {label} |\n|---|---|---|---|")
    random_init = ""
    for name, run, wall, count in rows:
        found = linear_probe(run, args.fraction)
        random_init = found["random init, linear"]
        print(f"| {name} | {count} | {wall:.0f} s | {found['linear probe']} |", flush=True)
    print(f"| small CNN, random init (reference) | 0 | 0 s | {random_init} |")


if __name__ == "__main__":
    main()
