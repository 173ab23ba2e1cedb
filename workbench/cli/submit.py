"""`main.py submit`: write the run folder, then hand its training to SLURM (or this machine's local executor)."""
from __future__ import annotations

from pathlib import Path

from workbench.config import save_config
from workbench.config.atomic import write_text_atomic
from workbench.engine.cluster import ClusterOptions, require_scheduler, sbatch_script, submit_run
from workbench.engine.runs import RunFolder, new_run_dir

SCRIPT_NAME = "job.sbatch"


def submit(args, make_config) -> int:
    """Submit a new run (its config from `make_config(args)`) or continue one (`--resume RUN_DIR`); with
    `--print-script`, write the equivalent sbatch script into the run folder instead of submitting."""
    options = ClusterOptions.parse(args.slurm or "", local=args.local)
    if not args.print_script:
        require_scheduler(options)  # before the run folder is written
    if args.resume:
        if args.config or args.data or args.out or args.steps:
            raise ValueError("--resume continues a run with its own settings and folder: leave out CONFIG, --data, "
                             "--out and --steps")
        run_dir = Path(args.resume)
        if not RunFolder(run_dir).exists():
            raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml)")
    else:
        config = make_config(args)
        run_dir = Path(args.out) if args.out else new_run_dir(config.output.out_dir, config.output.name,
                                                              list(config.tasks))
        if RunFolder(run_dir).exists():
            raise ValueError(f"{run_dir} is already a run folder: continue it with --resume {run_dir}")
        save_config(config, RunFolder(run_dir).config_path)
    if args.print_script:
        path = run_dir / SCRIPT_NAME
        write_text_atomic(path, sbatch_script(run_dir, options))
        print(f"Wrote the sbatch script to {path} (submit it with: sbatch {path})")
        return 0
    record, job = submit_run(run_dir, options)
    print(f"Submitted job {record.job_id} ({record.executor} executor): {job.state.lower()}. Run folder: {run_dir}")
    print(f"Job log: {record.stdout}")
    return 0
