"""The command line: `python main.py [gui|train|scan|tasks|config|export|bench|probe|rank|report|
export-classifier|sweep] ...`."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from workbench.cli import desktop
from workbench.config import ConfigError, dump_yaml
from workbench.config.schema import DEVICES
from workbench.engine.budget import BUDGET_RANGE_S, DEFAULT_BUDGET_S, format_budget
from workbench.control import RunControl

COMMANDS = ("gui", "train", "submit", "scan", "tasks", "config", "export", "bench", "probe", "rank", "report",
            "export-classifier", "sweep")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py", description="Pretext Workbench: self-supervised pretraining of image encoders. "
                                    "Without a command, the desktop app opens.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = commands.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("--data", help="dataset folder to open (default: the built-in demo dataset)")

    train = commands.add_parser("train", help="train an encoder and write a run folder")
    train.add_argument("config", nargs="?", help="YAML config (default: the built-in defaults)")
    train.add_argument("--data", help="dataset folder (overrides data.root)")
    train.add_argument("--out", help="run folder to create (default: under output.out_dir)")
    train.add_argument("--demo", nargs="?", const="scans", choices=("scans", "ct"),
                       help="a built-in demo dataset with the quick CPU preset: 'scans' (the default; 480 "
                            "labelled images) or 'ct' (synthetic CT series in DICOM, soft-tissue window)")
    train.add_argument("--preset", help="start from a named preset, e.g. 'Quick CPU demo'")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint")
    train.add_argument("--steps", type=_at_least(1), help="override train.steps")
    train.add_argument("--auto", action="store_true",
                       help="fit the settings to the data and a time budget (task, backbone, image size, "
                            "augmentations; steps from a few steps timed on this machine), print why, then train")
    train.add_argument("--budget", type=_budget, help=f"--auto: the training time, e.g. 90s, 10m, 1h (default {format_budget(DEFAULT_BUDGET_S)}; "
                            f"{format_budget(BUDGET_RANGE_S[0])} to {format_budget(BUDGET_RANGE_S[1])})")

    submit = commands.add_parser("submit", help="write a run folder and hand its training to a SLURM cluster "
                                                "(or this machine, --local) as a job")
    submit.add_argument("config", nargs="?", help="YAML config (default: the built-in defaults)")
    submit.add_argument("--data", help="dataset folder (overrides data.root)")
    submit.add_argument("--out", help="run folder to create (default: under output.out_dir)")
    submit.add_argument("--steps", type=_at_least(1), help="override train.steps")
    submit.add_argument("--resume", metavar="RUN_DIR", help="submit a job continuing this run from its last checkpoint")
    submit.add_argument("--slurm", default="", metavar="KEY=VALUE,...",
                        help="partition=NAME,gpus=N (per node),nodes=N,time=MINUTES (default: gpus=0,nodes=1,time=60)")
    submit.add_argument("--local", action="store_true", help="run the job on this machine (submitit's local executor)")
    submit.add_argument("--print-script", action="store_true",
                        help="write the equivalent sbatch script into the run folder instead of submitting")
    submit.set_defaults(preset=None, demo=None)

    scan = commands.add_parser("scan", help="report readable images, labels and skipped files of a folder")
    scan.add_argument("folder")
    scan.add_argument("--labels", help="labels CSV (path,label)")
    scan.add_argument("--json", action="store_true", help="print one JSON object")

    commands.add_parser("tasks", help="list the registered pretext tasks (plugins included)")

    config = commands.add_parser("config", help="print the full default config as commented YAML")
    config.add_argument("--preset", help="print this preset instead of the defaults")

    export = commands.add_parser("export", help="export a run's encoder for use elsewhere")
    export.add_argument("run_dir")
    export.add_argument("--format", choices=("safetensors", "torchscript", "onnx"), default="safetensors")
    export.add_argument("--checkpoint", help="best, last, or a checkpoint file (default: the run's best by RankMe "
                                             "or kNN accuracy, else its last)")

    bench = commands.add_parser("bench", help="measure training speed: whole step vs model step alone, "
                                              "optionally side by side with lightly")
    bench.add_argument("config", nargs="?", help="YAML config (default: the quick CPU demo)")
    bench.add_argument("--vs", choices=("lightly",), help="also run a peer library's pipeline, alternating")
    bench.add_argument("--tasks", help="comma-separated tasks (default: simclr,byol with --vs, else the config's)")
    bench.add_argument("--repeats", type=_at_least(1), default=3, help="alternating repeats; medians are reported")
    bench.add_argument("--precision", choices=("fp32", "bf16", "both"), default="both",
                       help="bf16 = bf16 autocast + channels_last")
    bench.add_argument("--steps", type=_at_least(1), default=5, help="timed steps per measurement")
    bench.add_argument("--warmup", type=_at_least(0), default=2, help="untimed steps before each measurement")
    bench.add_argument("--backbone", help="override the config's backbone (e.g. resnet18)")
    bench.add_argument("--image-size", type=_at_least(16), help="override the image size (pixels)")
    bench.add_argument("--batch-size", type=_at_least(2), help="override the batch size")
    bench.add_argument("--threads", type=_at_least(0), default=0,
                       help="torch threads for every pipeline (0 = the app default: all cores but one)")
    bench.add_argument("--knn-steps", type=_at_least(0), help="train this many steps per pipeline and report kNN "
                                                     "accuracy (default: 60 with --vs, else 0 = skip)")
    bench.add_argument("--compile", action="store_true",
                       help="ours with train.compile (torch.compile; it compiles during the warm-up steps)")
    bench.add_argument("--loader-workers", type=_at_least(0), default=2, help="lightly's DataLoader worker processes")
    bench.add_argument("--prefetch", choices=("auto", "on", "off", "both"), default="auto",
                       help="our train.prefetch (views of the next step drawn on a background thread); "
                            "both = compare on and off, alternating")
    other = bench.add_mutually_exclusive_group()
    other.add_argument("--gui", action="store_true", help="measure the GUI's overhead and longest stall instead")
    other.add_argument("--startup", action="store_true",
                       help="measure start-up instead: launch to painted window, Start to first plotted loss "
                            "point (--repeats launches after a first one)")
    other.add_argument("--eval", action="store_true",
                       help="measure evaluation instead: embedding the evaluation subset, kNN and linear probes on "
                            "10,000 x 512 embeddings")
    other.add_argument("--scale", action="store_true",
                       help="measure scanning and caching folders of many tiny PNGs instead (made once)")
    bench.add_argument("--count", type=_counts, help="--scale: image counts, comma-separated "
                                                     "(default: 10000,30000,100000)")
    bench.add_argument("--ram-mb", type=_at_least(1), default=64,
                       help="--scale: the cache's RAM budget (data.cache_ram_mb); above it the cache is memory-mapped")
    _add_probe_commands(commands)
    sweep = commands.add_parser("sweep", help="train several runs that differ in a few settings (Optuna) and rank "
                                              "them by their score (kNN accuracy with labels, else RankMe)")
    sweep.add_argument("spec", nargs="?", help="sweep spec (YAML); see --example")
    sweep.add_argument("--out", help="sweep folder to create (default: sweeps/<spec name>)")
    sweep.add_argument("--resume", metavar="SWEEP_DIR", help="continue a stopped or killed sweep")
    sweep.add_argument("--example", action="store_true", help="print a commented example spec")
    sweep.add_argument("--gpus", help="train trials side by side, one worker process per GPU: indices such as 0,1 "
                                      "or all (each worker's log: SWEEP_DIR/worker-gpu<N>.log)")
    return parser


def _add_probe_commands(commands) -> None:
    """probe, rank, report and export-classifier: does the pretraining help, and what next."""
    from workbench.probes.defaults import (CHECKS, DEFAULT_FRACTIONS, DEFAULT_SEEDS, DEFAULT_STRATEGY, SCRATCH,
                                           STRATEGIES)

    devices = DEVICES
    probe = commands.add_parser("probe", help="does the pretraining help? linear/kNN probes and baselines")
    probe.add_argument("run_dir")
    probe.add_argument("--data", help="labelled dataset folder (default: the run's)")
    probe.add_argument("--checkpoint", help="best, last, or a checkpoint file to probe (default: the run's best by "
                                            "RankMe or kNN accuracy, else its last)")
    probe.add_argument("--fractions", type=_fractions, default=",".join(map(str, DEFAULT_FRACTIONS)),
                       help="shares of the training labels, comma-separated (default: %(default)s)")
    probe.add_argument("--seeds", type=_at_least(1), default=DEFAULT_SEEDS,
                       help="repeats with different splits (mean ± std; default: %(default)s)")
    probe.add_argument("--finetune", action="store_true", help="also fine-tune the encoder (lower lr)")
    probe.add_argument("--no-supervised", action="store_true", help="skip the supervised-from-scratch baseline")
    probe.add_argument("--supervised-steps", type=_at_least(1),
                       help=f"most steps of the supervised/fine-tune trainings (default {SCRATCH.steps}; "
                            f"{SCRATCH.epochs} epochs, at least {SCRATCH.min_steps})")
    probe.add_argument("--supervised-patience", type=_at_least(1),
                       help=f"validation checks ({CHECKS} per training) without improvement before it stops "
                            f"(default {SCRATCH.patience})")
    probe.add_argument("--device", default="auto", choices=devices)
    probe.add_argument("--name", help="keep this probe as probes/NAME.json (default: probe-<step>-<date>-<time>); "
                                      "probe.json is always the latest")

    rank = commands.add_parser("rank", help="what to label next: a CSV of images, most useful first")
    rank.add_argument("run_dir")
    rank.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY)
    rank.add_argument("--count", type=_at_least(1), default=100)
    rank.add_argument("--out", help="CSV to write (default: <run>/to_label_<strategy>.csv)")
    rank.add_argument("--data", help="dataset folder (default: the run's)")
    rank.add_argument("--device", default="auto", choices=devices)

    report = commands.add_parser("report", help="write the run's HTML report (report.html)")
    report.add_argument("run_dir")
    report.add_argument("--open", action="store_true", help="open it in the web browser")
    report.add_argument("--pdf", action="store_true",
                        help="also print it to report.pdf (needs WeasyPrint, wkhtmltopdf or Chromium)")

    classifier = commands.add_parser("export-classifier",
                                     help="export the frozen encoder + a linear head as one classifier")
    classifier.add_argument("run_dir")
    classifier.add_argument("--data", help="labelled dataset folder (default: the run's)")
    classifier.add_argument("--device", default="auto", choices=devices)


def _at_least(low: int):
    """An argparse type: a whole number >= `low` (a bad one becomes a usage error, not a traceback later)."""
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return whole_number


def _budget(text: str) -> float:
    """An argparse type: a time budget in seconds, from "90s", "10m" or "1h"."""
    from workbench.engine.budget import parse_budget

    try:
        return parse_budget(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _counts(text: str) -> list[int]:
    """An argparse type: comma-separated image counts, each at least 1."""
    return [_at_least(1)(part.strip()) for part in text.split(",") if part.strip()]


def _fractions(text: str) -> list[float]:
    """An argparse type: comma-separated numbers (at least one); their range is checked by the probe."""
    try:
        values = [float(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 0.01,0.1,1.0; got {text!r}") \
            from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one share of the labels, e.g. 0.1")
    return values


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui"]
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # a file name that is not valid UTF-8 must not break the output
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    _load_plugins(quiet=args.command not in ("tasks", "gui"))
    handlers = {"gui": _gui, "train": _train, "submit": _submit, "scan": _scan, "tasks": _tasks, "config": _config,
                "export": _export, "bench": _bench, "probe": _probe, "rank": _rank, "report": _report,
                "export-classifier": _export_classifier, "sweep": _sweep}
    try:
        return handlers[args.command](args)
    except ConfigError as error:
        print(f"Invalid configuration:\n{error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, KeyError, ValueError, _checkpoint_error()) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"Error: {message}", file=sys.stderr)
        return 2


def _checkpoint_error() -> type[Exception]:
    """CheckpointError (a missing or damaged checkpoint file), imported only while an error is matched:
    an except clause's tuple is evaluated then, and the module brings in torch."""
    from workbench.engine.checkpoint import CheckpointError

    return CheckpointError


def _load_plugins(quiet: bool) -> None:
    from workbench.tasks import default_plugin_folders, load_plugins

    for report in load_plugins(default_plugin_folders()):
        if report.error:
            print(f"Plugin {report.path.name} was skipped: {report.error}", file=sys.stderr)
        elif not quiet and report.tasks:
            print(f"Plugin {report.path.name} loaded: {', '.join(report.tasks)}", file=sys.stderr)


def _gui(args) -> int:
    return desktop.open_app(args.data)


def _train_config(args):
    from workbench.engine.presets import preset_config, quick_cpu_demo, use_demo_data
    from workbench.tasks import default_config, load_config, validate_config

    if args.config:
        config = load_config(args.config)
    elif args.preset:
        config = preset_config(args.preset)
    elif args.demo:
        config = quick_cpu_demo()
    else:
        config = default_config()
    if args.demo:
        config.data = use_demo_data(config.data, args.demo)
    if args.data:
        config.data.root = os.path.abspath(os.path.expanduser(args.data))  # relative to the working directory
    if args.steps:
        _set_steps(config.train, args.steps)
    return validate_config(config)


def _set_steps(train, steps: int) -> None:
    """`--steps`: the run's length; a shorter run keeps its warm-up's share of the schedule, and says so."""
    from workbench.engine.schedule import shortened_warmup

    warmup = shortened_warmup(train.warmup_steps, train.steps, steps)
    if warmup != train.warmup_steps:
        print(f"--steps {steps}: train.warmup_steps lowered from {train.warmup_steps} to {warmup}, the same share "
              f"of the run as {train.warmup_steps} of {train.steps} steps", file=sys.stderr)
    train.steps, train.warmup_steps = steps, warmup


def _train(args) -> int:
    from workbench.cli.progress import ConsoleReporter
    from workbench.engine.events import FinishedEvent
    from workbench.engine.recipe import RECIPE_NAME
    from workbench.engine.trainer import Trainer

    control = RunControl()
    if args.resume:
        if args.auto:
            raise ValueError("--auto makes a new run; --resume continues one with its own settings")
        if args.steps:
            raise ValueError("--steps and --resume: a run continues to its own train.steps; for more steps, start a "
                             "new run from its last checkpoint (model.init_weights: RUN/checkpoints/step_*.pt)")
        trainer = Trainer(run_dir=args.resume, control=control, resume=True)
    elif args.auto:
        config, recipe = _auto_config(args)
        trainer = Trainer(config, run_dir=args.out, control=control)
        recipe.write(trainer.run_dir / RECIPE_NAME)
    else:
        if args.budget:
            raise ValueError("--budget goes with --auto (the recipe computes the steps from it)")
        trainer = Trainer(_train_config(args), run_dir=args.out, control=control)

    def stop_cleanly(signum, frame):
        print("\nStopping after this step and saving a checkpoint (Ctrl-C again to abort)...", file=sys.stderr)
        control.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop_cleanly)
    try:
        final = trainer.run(ConsoleReporter())
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0 if isinstance(final, FinishedEvent) else 1


def _submit(args) -> int:
    from workbench.cli.submit import submit

    return submit(args, _train_config)


def _auto_config(args):
    """`train --auto`: the config with the recipe for its data and the budget applied, the recipe printed."""
    from workbench.engine.recipe import suggest

    if args.steps:
        raise ValueError("--steps and --auto: the recipe computes the steps from --budget")
    budget = args.budget or DEFAULT_BUDGET_S
    config = _train_config(args)
    print(f"Suggesting a recipe for {format_budget(budget)} of training (timing a few steps on this machine)...",
          file=sys.stderr, flush=True)
    recipe = suggest(config, budget)
    print(f"Recipe ({format_budget(budget)}{'' if args.budget else ', the default budget'}):")
    for line in recipe.lines():
        print(f"  {line}")
    return recipe.apply(config), recipe


def _scan(args) -> int:
    from workbench.config import DataConfig
    from workbench.data import scan_folder

    folder = Path(args.folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    report = scan_folder(folder, DataConfig(root=str(folder), labels_csv=args.labels or "")).report
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
        return 0
    print(f"{report.readable} readable image(s) in {folder}")
    if report.labels:
        for name, count in sorted(report.labels.items()):
            print(f"  {name}: {count}")
    else:
        print("  unlabelled (no class sub-folders or labels CSV)")
    if report.skipped:
        print(f"{len(report.skipped)} file(s) skipped:")
        for skipped in report.skipped:
            print(f"  {skipped.path}: {skipped.reason}")
    return 0


def _tasks(args) -> int:
    from workbench.tasks import registered_tasks

    tasks = registered_tasks()
    width = max(len(name) for name in tasks)
    for name, cls in sorted(tasks.items()):
        print(f"{name:<{width}}  {cls.description}")
    return 0


def _config(args) -> int:
    from workbench.engine.presets import preset_config
    from workbench.tasks import default_config

    config = preset_config(args.preset) if args.preset else default_config()
    print(dump_yaml(config, comments=True))
    return 0


def _export(args) -> int:
    from workbench.export import export_run
    from workbench.export.description import SPEC_NAME, EncoderDescription

    path = export_run(args.run_dir, args.format, checkpoint=args.checkpoint)
    print(f"Exported {args.format} encoder ({EncoderDescription.read(path.parent / SPEC_NAME).checkpoint}) to {path}")
    return 0


def _bench(args) -> int:
    if args.gui:
        return desktop.bench_gui(args.steps, args.repeats)
    if args.startup:
        return desktop.bench_startup(args.repeats)
    from workbench.bench.command import BenchOptions, run_benchmark

    tasks = [name.strip() for name in args.tasks.split(",") if name.strip()] if args.tasks else None
    return run_benchmark(BenchOptions(
        config_path=args.config, versus=args.vs, tasks=tasks, repeats=args.repeats, precision=args.precision,
        steps=args.steps, warmup=args.warmup, backbone=args.backbone, image_size=args.image_size,
        batch_size=args.batch_size, threads=args.threads, knn_steps=args.knn_steps,
        loader_workers=args.loader_workers, prefetch=args.prefetch, compile=args.compile,
        mode="eval" if args.eval else "scale" if args.scale else "speed", counts=args.count, ram_mb=args.ram_mb))


def _probe(args) -> int:
    from dataclasses import replace

    from workbench.cli.progress import PercentProgress
    from workbench.probes.defaults import FINETUNE, SCRATCH
    from workbench.probes.probe import run_probe
    from workbench.probes.report import headline
    from workbench.probes.table import (LABELS_RULE, PROBE_NAME, format_table, pixels_note, schedule_note,
                                        selection_note)

    steps = {key: value for key, value in (("steps", args.supervised_steps), ("patience", args.supervised_patience))
             if value}
    record = run_probe(args.run_dir, args.data, args.fractions, args.seeds, finetune=args.finetune,
                       supervised=not args.no_supervised, device=args.device, scratch=replace(SCRATCH, **steps),
                       tuning=replace(FINETUNE, **steps), progress=PercentProgress("Probing"),
                       checkpoint=args.checkpoint, name=args.name)
    print(f"Probe of {record.run}, {record.checkpoint} ({record.seeds} seeds, "
          f"{record.test_fraction:.0%} held out), {record.split}:")
    print(format_table(record))
    if headline(record.summary, record.tasks):
        print(headline(record.summary, record.tasks))
    print(f"Labels: {LABELS_RULE}; {pixels_note(record)}.")
    if schedule_note(record):
        print(f"Trained baselines: {schedule_note(record)}")
    if selection_note(record):
        print(f"Note: {selection_note(record)}.")
    print(f"Written to {Path(args.run_dir) / record.saved_as} (the latest is also {Path(args.run_dir) / PROBE_NAME})")
    return 0


def _rank(args) -> int:
    from workbench.probes.context import open_run
    from workbench.probes.defaults import ranking_csv
    from workbench.probes.ranking import rank_run, write_ranking_csv

    context = open_run(args.run_dir, args.data, device=args.device)
    rows, scores = rank_run(context, args.strategy, args.count)
    images = context.dataset.report.images
    out = Path(args.out) if args.out else ranking_csv(args.run_dir, args.strategy)
    write_ranking_csv(out, [images[row].path for row in rows], scores)
    if bool((context.dataset.labels >= 0).all()):
        print("Every image is already labelled: ranked all of them (a review order).", file=sys.stderr)
    print(f"Wrote {len(rows)} image(s), most useful first, to {out}")
    return 0


def _report(args) -> int:
    from workbench.probes.report import PDF_INSTALL_HINT, build_report, convert_to_pdf, find_pdf_converter

    path = build_report(args.run_dir)
    print(f"Report written to {path}")
    status = 0
    converter = find_pdf_converter() if args.pdf else None
    if converter:
        try:
            print(f"PDF written to {convert_to_pdf(path, converter)} (with {converter.name})")
        except RuntimeError as error:
            print(f"No PDF: {error}", file=sys.stderr)
            status = 1
    elif args.pdf:
        print(f"No PDF: no converter found. To print the report to PDF, install one of: {PDF_INSTALL_HINT}. "
              "The HTML report is complete.", file=sys.stderr)
        status = 1
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return status


def _export_classifier(args) -> int:
    from workbench.probes.classifier_export import export_classifier
    from workbench.probes.context import open_run

    folder = export_classifier(open_run(args.run_dir, args.data, device=args.device))
    print(f"Exported the classifier (TorchScript, ONNX, class names) to {folder}")
    return 0


def _sweep_gpus(text: str) -> list[str]:
    """`--gpus`' list; a warning when this machine has no CUDA GPU (the workers then share the CPU)."""
    import torch

    from workbench.engine.sweep_workers import parse_gpus

    visible = torch.cuda.device_count()
    gpus = parse_gpus(text, visible)
    if visible == 0:
        print(f"Warning: no CUDA GPU here; the {len(gpus)} workers train on the CPU side by side.", file=sys.stderr)
    return gpus


def _sweep(args) -> int:
    """`sweep SPEC` or `sweep --resume SWEEP_DIR`: train the trials (one after the other, or side by side with
    --gpus), then print the ranking."""
    from workbench.cli.progress import ConsoleReporter
    from workbench.engine.sweep import Sweep, SweepStopped, create_sweep, ranking_table
    from workbench.engine.sweep_spec import EXAMPLE

    if args.example:
        print(EXAMPLE, end="")
        return 0
    if bool(args.spec) == bool(args.resume):
        raise ValueError("give a sweep spec (sweep SPEC.yaml) or a sweep folder to continue (--resume SWEEP_DIR)")
    if args.resume and args.out:
        raise ValueError("--out makes a new sweep; --resume continues one in its own folder")
    gpus = _sweep_gpus(args.gpus) if args.gpus else None
    folder = args.resume or create_sweep(args.spec, args.out)
    sweep = Sweep(folder)
    side_by_side = f", {len(gpus)} workers (GPUs {', '.join(gpus)})" if gpus else ""
    print(f"Sweep folder {folder}: {sweep.planned_trials()} trials, {sweep.spec.sampler} sampler{side_by_side}",
          flush=True)
    control = RunControl()

    def stop_cleanly(signum, frame):
        print("\nStopping the sweep after this step (Ctrl-C again to abort)...", file=sys.stderr)
        control.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def trial_ended(result) -> None:
        ended = f"score {result.score:.4g}" if result.score is not None else result.error or result.state
        print(f"Trial {result.number} {result.state} ({result.run}): {ended}", flush=True)

    previous = signal.signal(signal.SIGINT, stop_cleanly)
    try:
        if gpus:
            from workbench.engine.sweep_workers import run_on_gpus

            results, ends = run_on_gpus(sweep, gpus, control, trial_ended)
            for end in ends:
                if end.failed:
                    print(f"The worker on GPU {end.gpu} ended with exit code {end.returncode}; its log: {end.log}",
                          file=sys.stderr)
        else:
            results = sweep.run(control, ConsoleReporter(), trial_ended)
    except SweepStopped as stopped:
        print(f"Stopped: {stopped}", file=sys.stderr)
        results = sweep.results()
    finally:
        signal.signal(signal.SIGINT, previous)
    print(ranking_table(results))
    return 0 if any(result.state == "finished" for result in results) else 1
