"""`make gpu-check`: the CUDA path run for real on whatever GPU is at hand, in one command, within minutes.

1. the GPU tests (`pytest -m gpu tests/test_gpu.py`): every task in bf16 and channels-last, images on the GPU
   or pinned, no host synchronisation inside the steps, a real out-of-memory, exports, `torch.compile`, a sweep
   with one worker per GPU;
2. throughput, side by side in one run: ours against lightly's usual recipe (fp32) and against lightly given
   our precision and layout, ResNet-18 at 32 px (batch 512) and at 128 px (batch 256), images/s and our
   whole-step / model-step ratio, each measurement in its own process (`workbench.bench.compare`);
3. where our step's GPU time goes in those settings: drawing the two views against the model step on ready
   views (CUDA events), the views' costliest kernels (torch.profiler), the model step with cudnn.benchmark.

Prints a short table and writes every figure to `<out>/gpu_check.json` (rewritten after each part, so a
check cut short keeps what it measured). Without CUDA it says so and exits 0. Needs no Qt.

    python -m workbench.bench.gpu_check [--out DIR] [--repeats N] [--tasks simclr,byol] [--skip-bench]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import tempfile
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from workbench.bench.command import BenchOptions, base_spec, ratio_lines, speed_table
from workbench.bench.compare import compare
from workbench.bench.spec import BenchSpec
from workbench.bench.machine import describe_machine, machine_line

SOURCE_ROOT = Path(__file__).resolve().parents[2]
RESULT_NAME = "gpu_check.json"
BENCH_IMAGES = 4096
TEST_TIMEOUT_S = 300
TEST_PROCESSES = 4


@dataclass(frozen=True)
class Setting:
    """One throughput setting of the issue: image size, batch, and the ResNet stem that suits the size."""

    image_size: int
    batch_size: int
    small_image_stem: bool

    @property
    def name(self) -> str:
        return f"resnet18, {self.image_size} px, batch {self.batch_size}"


SETTINGS = (Setting(32, 512, True), Setting(128, 256, False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu-check", help="folder for gpu_check.json and the test report")
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats of each measurement")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before timing")
    parser.add_argument("--tasks", default="simclr,byol", help="tasks to time against lightly")
    parser.add_argument("--workers", type=int, default=8, help="lightly's DataLoader workers")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"No CUDA GPU here (torch {torch.__version__}): the GPU check has nothing to run.")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict = {"machine": describe_machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"Machine: {machine_line(figures['machine'])}", flush=True)
    ok = True
    if not args.skip_tests:
        figures["tests"] = run_gpu_tests(out)
        _write(out, figures)
        ok = figures["tests"]["failed"] == 0 and figures["tests"]["errors"] == 0
    if not args.skip_bench:
        figures["throughput"] = run_throughput(args, lambda partial: _write(out, {**figures, "throughput": partial}))
        _write(out, figures)
        figures["step_split"] = [step_split(setting, args.steps) for setting in SETTINGS]
        _write(out, figures)
    print()
    print(summary(figures))
    print(f"\nFigures: {out / RESULT_NAME}")
    return 0 if ok else 1


def _write(out: Path, figures: dict) -> None:
    (out / RESULT_NAME).write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")


def run_gpu_tests(out: Path) -> dict:
    """Run the GPU tests in a fresh process; their outcomes and recorded figures, from the JUnit report."""
    report = out / "gpu_tests.xml"
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "tests/test_gpu.py", "-m", "gpu", "-q", "-p", "no:cacheprovider",
               f"--junitxml={report.resolve()}", "-o", "junit_family=xunit1"]
    if importlib.util.find_spec("xdist") is not None:  # the tests are independent: share the GPU among 4
        command += ["-n", str(TEST_PROCESSES)]
    try:
        done = subprocess.run(command, cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=TEST_TIMEOUT_S,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        tail = (done.stdout + done.stderr)[-4000:]
    except subprocess.TimeoutExpired as expired:
        tail = f"timed out after {TEST_TIMEOUT_S} s\n" + str(expired.stdout or "")[-3000:]
    print(tail, flush=True)
    results = parse_junit(report) if report.is_file() else {"cases": [], "passed": 0, "failed": 0, "errors": 1,
                                                            "skipped": 0}
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def parse_junit(path: Path) -> dict:
    """Each test's outcome, seconds, failure message and recorded properties, and the counts."""
    cases, counts = [], {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind, name in (("failure", "failed"), ("error", "errors"), ("skipped", "skipped")):
            element = case.find(kind)
            if element is not None:
                outcome, message = name, (element.get("message") or "") + "\n" + (element.text or "")[-2000:]
                break
        counts[outcome] += 1
        properties = {prop.get("name"): prop.get("value") for prop in case.iter("property")}
        cases.append({"name": case.get("name"), "outcome": outcome, "seconds": float(case.get("time") or 0),
                      "message": message.strip(), "properties": properties})
    return {"cases": cases, **counts}


def setting_spec(setting: Setting, tasks: list[str], **options) -> BenchSpec:
    """The measurement of one setting: the bench's config on the synthetic folder, ResNet-18, RGB."""
    from workbench.bench.synthetic_folder import synthetic_folder

    spec, _ = base_spec(BenchOptions(versus="lightly", tasks=tasks, backbone="resnet18",
                                     image_size=setting.image_size, batch_size=setting.batch_size, **options))
    spec.config["data"]["root"] = str(synthetic_folder(BENCH_IMAGES))
    spec.config["model"]["small_image_stem"] = setting.small_image_stem
    return spec


def run_throughput(args, on_progress) -> list[dict]:
    """Ours against lightly in every setting; one dict per setting with the medians and ratios."""
    from workbench.bench.lightly_pipeline import lightly_available

    if not lightly_available():
        print("lightly is not installed: the throughput comparison is skipped (make gpu-wheels)")
        return [{"skipped": "lightly is not installed"}]
    tasks = args.tasks.split(",")
    rows = []
    for setting in SETTINGS:
        spec = setting_spec(setting, tasks, repeats=args.repeats, steps=args.steps, warmup=args.warmup,
                            loader_workers=args.workers)
        print(f"\n{setting.name}:", flush=True)
        started = time.perf_counter()
        results = compare(spec, tasks, ["ours", "lightly"], ["bf16", "fp32"], args.repeats,
                          on_result=lambda s, r: print(f"  . {s.task} {s.pipeline} {s.precision}: "
                                                       f"{r['images_per_second']:.0f} img/s", flush=True))
        row = {"setting": setting.name, "seconds": round(time.perf_counter() - started, 1),
               "table": speed_table(results, tasks, ["ours", "lightly"], ["bf16", "fp32"], 0),
               "ratios": ratio_lines(results, tasks, ["bf16", "fp32"]),
               "arms": {f"{task} {pipeline} {precision}": arm.speed for (task, pipeline, precision), arm
                        in results.items()},
               "goals": goal_figures(results, tasks)}
        rows.append(row)
        on_progress(rows)
    return rows


def goal_figures(results, tasks: list[str]) -> dict:
    """The issue's three goals per task: ours (bf16) over lightly's usual fp32 (>= 2), over lightly in bf16
    (>= 1.5), and our whole step over our model step alone (>= 0.95)."""
    figures = {}
    for task in tasks:
        ours = results[(task, "ours", "bf16")]
        speed = ours.median("images_per_second")
        figures[task] = {
            "vs_lightly_usual": round(speed / results[(task, "lightly", "fp32")].median("images_per_second"), 2),
            "vs_lightly_bf16": round(speed / results[(task, "lightly", "bf16")].median("images_per_second"), 2),
            "whole_over_model_step": round(ours.median("ratio"), 3)}
    return figures


def step_split(setting: Setting, steps: int) -> dict:
    """Milliseconds of GPU time per SimCLR step (bf16) in `setting`: drawing its two views, and the model
    step on ready views with cudnn.benchmark off and on; and the views' costliest kernels. A diagnostic:
    an error is reported in the figures, never raised."""
    from workbench.engine.trainer import Trainer

    try:
        spec = replace(setting_spec(setting, ["simclr"]), task="simclr", precision="bf16")
        with tempfile.TemporaryDirectory() as folder:
            trainer = Trainer(spec.run_config(), run_dir=folder)
            trainer.prepare()
            images = trainer.images[: trainer.batch_size].to(trainer.device)
            ready = trainer.draw_views(images, 0, 0)
            batches = trainer.batches()

            def views() -> None:
                for call in (0, 1):
                    trainer.draw_views(images, 0, call)

            def model_step() -> None:
                trainer.train_step(next(batches), lambda batch: ready[: len(batch)])

            figures = {"setting": setting.name, "views_ms": gpu_milliseconds(views, steps),
                       "model_step_ms": gpu_milliseconds(model_step, steps)}
            torch.backends.cudnn.benchmark = True
            figures["model_step_cudnn_benchmark_ms"] = gpu_milliseconds(model_step, steps)
            torch.backends.cudnn.benchmark = False
            figures["view_kernels"] = costliest_kernels(views)
        return figures
    except Exception as error:  # a diagnostic must not cost the figures measured before it
        return {"setting": setting.name, "error": f"{type(error).__name__}: {error}"}


def gpu_milliseconds(work, repeats: int, warmup: int = 3) -> float:
    """Median GPU milliseconds of `work()`, timed with CUDA events after `warmup` calls."""
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return round(statistics.median(times), 3)


def costliest_kernels(work, calls: int = 5, count: int = 8) -> list[str]:
    """The `count` GPU kernels taking most time over `calls` calls of `work()`, as "name: total ms"."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        for _ in range(calls):
            work()
        torch.cuda.synchronize()
    def microseconds(event) -> float:  # named self_cuda_time_total before torch 2.4
        return getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0)

    events = sorted((event for event in profiler.key_averages() if microseconds(event) > 0), key=microseconds,
                    reverse=True)
    return [f"{event.key[:90]}: {microseconds(event) / 1000:.2f} ms ({event.count} calls)" for event in events[:count]]


GOALS = {"vs_lightly_usual": 2.0, "vs_lightly_bf16": 1.5, "whole_over_model_step": 0.95}


def summary(figures: dict) -> str:
    """The short table the check ends with."""
    lines = [f"GPU check on {figures['machine'].get('gpu', '?')}"]
    tests = figures.get("tests")
    if tests:
        lines.append(f"tests: {tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
                     f"{tests['skipped']} skipped in {tests['seconds']:.0f} s")
        lines += [f"  FAILED {case['name']}: {case['message'].splitlines()[0][:160] if case['message'] else ''}"
                  for case in tests["cases"] if case["outcome"] in ("failed", "errors")]
    for row in figures.get("throughput", []):
        if "skipped" in row:
            lines.append(f"throughput: skipped ({row['skipped']})")
            continue
        lines += ["", f"{row['setting']} ({row['seconds']:.0f} s)", row["table"], *row["ratios"]]
        for task, values in row["goals"].items():
            verdict = ", ".join(f"{key} {value} ({'met' if value >= GOALS[key] else 'MISSED'} >= {GOALS[key]})"
                                for key, value in values.items())
            lines.append(f"goals {task}: {verdict}")
    for split in figures.get("step_split", []):
        if "error" in split:
            lines.append(f"\nstep split, {split['setting']}: {split['error']}")
            continue
        lines.append(f"\nstep split, {split['setting']} (SimCLR, bf16, GPU ms per step): two views "
                     f"{split['views_ms']}, model step {split['model_step_ms']} "
                     f"({split['model_step_cudnn_benchmark_ms']} with cudnn.benchmark)")
        lines += [f"  {kernel}" for kernel in split["view_kernels"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
