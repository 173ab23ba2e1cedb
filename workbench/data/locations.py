"""Where the data layer keeps what it writes: the decoded cache and the demo dataset."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from workbench.config import DataConfig

CACHE_ENV = "PRETEXT_WORKBENCH_CACHE"


def cache_root(data_cfg: DataConfig | None = None) -> Path:
    """`data_cfg.cache_dir`, else $PRETEXT_WORKBENCH_CACHE, else ~/.cache/pretext-workbench."""
    if data_cfg is not None and data_cfg.cache_dir:
        return Path(data_cfg.cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "pretext-workbench"


COMPLETE_MARKER = ".complete"


def generated_folder(target: Path, expected: str, write: Callable[[Path], None]) -> Path:
    """`target`, made once by `write(folder)`: built in a temporary folder beside it and renamed into place,
    so a half-written copy is never used. `expected` (stored in a marker file) names the content; a copy
    with another marker (an older generator, an interrupted attempt) is rebuilt."""
    marker = target / COMPLETE_MARKER
    if marker.is_file() and marker.read_text().strip() == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}-building-", dir=target.parent))
    try:
        write(building)
        (building / COMPLETE_MARKER).write_text(expected)
        if target.exists():
            shutil.rmtree(target)  # an older or incomplete copy
        try:
            os.rename(building, target)
        except OSError:
            if not marker.is_file():  # not another process finishing first: a real failure
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target
