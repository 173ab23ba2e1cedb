"""The command line: `python main.py [gui|train|scan|tasks|config|export|bench] ...`."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from workbench.config import ConfigError, dump_yaml
from workbench.control import RunControl

COMMANDS = ("gui", "train", "scan", "tasks", "config", "export", "bench")


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
    train.add_argument("--demo", action="store_true", help="the built-in demo dataset and the quick CPU preset")
    train.add_argument("--preset", help="start from a named preset, e.g. 'Quick CPU demo'")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint")
    train.add_argument("--steps", type=int, help="override train.steps")

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
    export.add_argument("--checkpoint", help="checkpoint file (default: the run's latest)")

    bench = commands.add_parser("bench", help="measure training speed: whole step vs model step alone")
    bench.add_argument("config", nargs="?", help="YAML config (default: the quick CPU demo)")
    bench.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    bench.add_argument("--vs", choices=("lightly",), help="also run a peer library's pipeline side by side")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui"]
    args = build_parser().parse_args(argv)
    _load_plugins(quiet=args.command not in ("tasks", "gui"))
    handlers = {"gui": _gui, "train": _train, "scan": _scan, "tasks": _tasks, "config": _config,
                "export": _export, "bench": _bench}
    try:
        return handlers[args.command](args)
    except ConfigError as error:
        print(f"Invalid configuration:\n{error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"Error: {message}", file=sys.stderr)
        return 2


def _load_plugins(quiet: bool) -> None:
    from workbench.tasks import default_plugin_folders, load_plugins

    for report in load_plugins(default_plugin_folders()):
        if report.error:
            print(f"Plugin {report.path.name} was skipped: {report.error}", file=sys.stderr)
        elif not quiet and report.tasks:
            print(f"Plugin {report.path.name} loaded: {', '.join(report.tasks)}", file=sys.stderr)


def _gui(args) -> int:
    from workbench.gui.app import main as gui_main

    return gui_main(["--data", args.data] if args.data else [])


def _train_config(args):
    from workbench.engine.presets import preset_config, quick_cpu_demo
    from workbench.tasks import default_config, load_config

    if args.config:
        config = load_config(args.config)
    elif args.preset:
        config = preset_config(args.preset)
    elif args.demo:
        config = quick_cpu_demo()
    else:
        config = default_config()
    if args.demo:
        config.data.root = ""
    if args.data:
        config.data.root = args.data
    if args.steps:
        config.train.steps = args.steps
    from workbench.tasks import validate_config

    return validate_config(config)


def _train(args) -> int:
    from workbench.cli.progress import ConsoleReporter
    from workbench.engine.events import FinishedEvent
    from workbench.engine.trainer import Trainer

    control = RunControl()
    if args.resume:
        trainer = Trainer(run_dir=args.resume, control=control, resume=True)
    else:
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

    path = export_run(args.run_dir, args.format, checkpoint=args.checkpoint)
    print(f"Exported {args.format} encoder to {path}")
    return 0


def _bench(args) -> int:
    from workbench.engine.bench import run_benchmark

    return run_benchmark(args.config, steps=args.steps, versus=args.vs)
