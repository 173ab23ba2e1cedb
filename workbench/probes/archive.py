"""Where probes are kept: `<run>/probe.json` is always the latest (the app and the report read it), and each
probe is also kept as `<run>/probes/<name>.json`, never overwriting an earlier one."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from workbench.probes.table import PROBE_NAME, ProbeResult

PROBES_DIR = "probes"


def check_name(name: str | None) -> str | None:
    """`name` without a '.json' ending; ValueError when it cannot be a file name in the probes folder."""
    if name is None:
        return None
    stem = name[:-5] if name.endswith(".json") else name
    if not stem.strip() or stem.startswith(".") or any(c in stem for c in '/\\:*?"<>|') or stem != stem.strip():
        raise ValueError(f"a probe name must be a plain file name (no folders, no leading dot), got {name!r}")
    return stem


def _free_path(folder: Path, stem: str) -> Path:
    """`folder/<stem>.json`, or `<stem>-2.json`, `-3`, ... when taken."""
    path, number = folder / f"{stem}.json", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}.json"
    return path


def save_probe(result: ProbeResult, run_path: Path, name: str | None = None) -> ProbeResult:
    """Write `result` as `probes/<name>.json` (default 'probe-<step>-<date>-<time>') and as probe.json;
    returns it with `saved_as` set to the kept file, relative to the run folder."""
    stem = check_name(name) or f"probe-{result.step}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = _free_path(run_path / PROBES_DIR, stem)
    result = replace(result, saved_as=path.relative_to(run_path).as_posix())
    result.write(path)
    result.write(run_path / PROBE_NAME)
    return result
