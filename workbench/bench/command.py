"""`python main.py bench`: our training speed (whole step vs model step alone), optionally side by side
with lightly's SimCLR / BYOL pipelines, with kNN accuracy after the same number of images seen; or, with
`--prefetch both`, with and without views drawn ahead; or, with `--eval` and `--scale`, the cost of
evaluation and of scanning and caching large folders (`--startup` and `--gui` live in `workbench.gui`)."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.bench.compare import ArmResults, compare
from workbench.bench.machine import describe_machine, machine_line
from workbench.bench.spec import BenchSpec, spec_config
from workbench.engine.device import default_cpu_threads

PRECISION_NAMES = {"fp32": "fp32", "bf16": "bf16 autocast + channels_last"}
DEFAULT_VERSUS_TASKS = ("simclr", "byol")
DEFAULT_QUALITY_STEPS = 60


def arm_label(arm: ArmResults, pipeline: str, precision: str) -> str:
    """How an arm held its numbers: lightly's fp32 is its usual recipe; ours says when it ran channels-last."""
    if precision == "bf16":
        return PRECISION_NAMES[precision]
    if pipeline != "ours":
        return "fp32 (its usual recipe)"
    return "fp32 + channels_last" if arm.speed and arm.speed[0].get("channels_last") else "fp32"


@dataclass
class BenchOptions:
    """What `python main.py bench` was asked for (see the CLI's bench flags)."""

    config_path: str | None = None
    versus: str | None = None
    tasks: list[str] | None = None
    repeats: int = 3
    precision: str = "both"
    steps: int = 5
    warmup: int = 2
    backbone: str | None = None
    image_size: int | None = None
    batch_size: int | None = None
    threads: int = 0
    knn_steps: int | None = None
    loader_workers: int = 2
    compile: bool = False
    """Our `train.compile`."""
    prefetch: str = "auto"
    """Our `train.prefetch`; "both" compares on and off instead of the usual table."""
    mode: str = "speed"
    """"speed" (training speed), "eval" (evaluation cost) or "scale" (scanning and caching large folders)."""
    counts: list[int] | None = None
    ram_mb: int = 64


def bench_config(options: BenchOptions):
    """The config to measure: the given YAML or the quick CPU demo, with the command line's overrides."""
    from workbench.engine.presets import quick_cpu_demo
    from workbench.tasks import load_config

    config = load_config(options.config_path) if options.config_path else quick_cpu_demo()
    if options.backbone:
        config.model.backbone = options.backbone
    if options.image_size:
        config.data.image_size = options.image_size
    if options.batch_size:
        config.train.batch_size = options.batch_size
    if options.compile:
        config.train.compile = True
    if options.versus:
        config.data.channels = 3  # lightly's transforms are for RGB images: both pipelines see the same
    return config


def base_spec(options: BenchOptions) -> tuple[BenchSpec, list[str]]:
    """The measurement every arm starts from, and the tasks to measure."""
    config = bench_config(options)
    tasks = options.tasks or (list(DEFAULT_VERSUS_TASKS) if options.versus else list(config.tasks))
    spec = BenchSpec(pipeline="ours", task=tasks[0], precision="fp32", config=spec_config(config),
                     steps=options.steps, warmup=options.warmup, threads=options.threads or default_cpu_threads(),
                     loader_workers=options.loader_workers,
                     prefetch="auto" if options.prefetch == "both" else options.prefetch)
    return spec, tasks


def run_benchmark(options: BenchOptions) -> int:
    """Measure, print a markdown table and the ratios; 0 on success."""
    if options.mode == "eval":
        return run_eval_benchmark(options)
    if options.mode == "scale":
        from workbench.bench.scale import DEFAULT_COUNTS, print_scale_figures

        return print_scale_figures(options.counts or DEFAULT_COUNTS, options.ram_mb)
    if options.versus == "lightly":
        from workbench.bench.lightly_pipeline import lightly_available

        if not lightly_available():
            print("--vs lightly needs the optional lightly package: pip install 'pretext-workbench[bench]'")
            return 1
    spec, tasks = base_spec(options)
    pipelines = ["ours", "lightly"] if options.versus else ["ours"]
    precisions = ["bf16", "fp32"] if options.precision == "both" else [options.precision]
    if options.prefetch == "both":
        return run_prefetch_comparison(spec, tasks, precisions, options.repeats)
    knn_steps = options.knn_steps if options.knn_steps is not None else (
        DEFAULT_QUALITY_STEPS if options.versus else 0)
    config = spec.run_config()
    print(f"Machine: {machine_line(describe_machine())}")
    print(setup_line(spec, options.repeats, bool(options.versus)))
    results = compare(spec, tasks, pipelines, precisions, options.repeats, knn_steps,
                      on_result=lambda s, r: print(f"  . {s.mode} {s.task} {s.pipeline} {s.precision}: "
                                                   + _short(r), flush=True))
    print()
    print(speed_table(results, tasks, pipelines, precisions, knn_steps * config.train.batch_size))
    if options.versus:
        print()
        for line in ratio_lines(results, tasks, precisions):
            print(line)
    return 0


def setup_line(spec: BenchSpec, repeats: int, versus: bool, prefetch: str | None = None) -> str:
    """What every measurement ran: network, input, batch, threads, steps, repeats, our prefetch mode."""
    config = spec.run_config()
    return (f"Setup: {config.model.backbone}, {config.data.image_size} px, {config.data.channels or 'auto'} "
            f"channel(s), batch {config.train.batch_size}, {spec.threads} torch threads, {spec.steps} timed steps "
            f"after {spec.warmup} warm-up, each measurement in its own process, {repeats} alternating repeats, "
            f"our views drawn ahead: {prefetch or spec.prefetch}" + (", ours compiled" if config.train.compile else "")
            + (f", lightly DataLoader workers {spec.loader_workers}" if versus else ""))


def run_eval_benchmark(options: BenchOptions) -> int:
    """`bench --eval` on the bench config, at its own precision unless one was chosen."""
    from workbench.bench.evaluation import print_eval_figures

    config = bench_config(options)
    config.train.threads = options.threads
    if options.precision != "both":
        config.train.precision = options.precision
    print(f"Machine: {machine_line(describe_machine())}")
    return print_eval_figures(config, options.repeats)


def run_prefetch_comparison(spec: BenchSpec, tasks: list[str], precisions: list[str], repeats: int) -> int:
    """Print our speed with and without drawing views ahead, alternating; 0 on success."""
    from workbench.bench.prefetch_ab import prefetch_comparison, prefetch_table

    print(f"Machine: {machine_line(describe_machine())}")
    print(setup_line(spec, repeats, versus=False, prefetch="on and off, alternating"))
    results = prefetch_comparison(spec, tasks, precisions, repeats, on_result=lambda s, r: print(
        f"  . {s.task} {s.precision} prefetch {s.prefetch}: " + _short(r), flush=True))
    print()
    print(prefetch_table(results, tasks, precisions))
    return 0


def _short(result: dict) -> str:
    return ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                     for key, value in result.items())


def speed_table(results: dict[tuple[str, str, str], ArmResults], tasks: list[str], pipelines: list[str],
                precisions: list[str], images_seen: int) -> str:
    """A markdown table: median img/s (min-max), our data-path ratio, kNN accuracy where measured."""
    knn_header = f" kNN acc. after {images_seen} images |" if images_seen else ""
    lines = [f"| task | pipeline | precision | img/s median (min-max) | whole / model step |{knn_header}",
             "|---|---|---|---|---|" + ("---|" if images_seen else "")]
    for task in tasks:
        for precision in precisions:
            for pipeline in pipelines:
                arm = results[(task, pipeline, precision)]
                low, high = arm.spread("images_per_second")
                ratio = f"{arm.median('ratio'):.2f}" if pipeline == "ours" else "-"
                row = (f"| {task} | {pipeline} | {arm_label(arm, pipeline, precision)} | "
                       f"{arm.median('images_per_second'):.0f} ({low:.0f}-{high:.0f}) | {ratio} |")
                if images_seen:
                    row += f" {arm.quality['knn_accuracy']:.3f} |" if arm.quality else " - |"
                lines.append(row)
    return "\n".join(lines)


def ratio_lines(results: dict[tuple[str, str, str], ArmResults], tasks: list[str], precisions: list[str]) -> list[str]:
    """Ours / lightly speed ratios: against lightly's usual fp32 recipe and at equal precision."""
    lines = []
    ours_default = "bf16" if "bf16" in precisions else precisions[0]
    for task in tasks:
        ours = results[(task, "ours", ours_default)].median("images_per_second")
        parts = []
        for precision in precisions:
            peer = results[(task, "lightly", precision)].median("images_per_second")
            label = "lightly's usual recipe (fp32)" if precision == "fp32" else "lightly given bf16 + channels_last"
            parts.append(f"{ours / peer:.2f}x vs {label}")
        if "fp32" in precisions and ours_default != "fp32":
            same = (results[(task, "ours", "fp32")].median("images_per_second")
                    / results[(task, "lightly", "fp32")].median("images_per_second"))
            parts.append(f"{same:.2f}x both fp32")
        lines.append(f"{task}: ours ({PRECISION_NAMES[ours_default]}) is " + "; ".join(parts))
    return lines
