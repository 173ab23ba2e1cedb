"""Where the data layer keeps what it writes: the decoded cache and the demo dataset."""
from __future__ import annotations

import os
from pathlib import Path

from workbench.config import DataConfig

CACHE_ENV = "PRETEXT_WORKBENCH_CACHE"


def cache_root(data_cfg: DataConfig | None = None) -> Path:
    """`data_cfg.cache_dir`, else $PRETEXT_WORKBENCH_CACHE, else ~/.cache/pretext-workbench."""
    if data_cfg is not None and data_cfg.cache_dir:
        return Path(data_cfg.cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "pretext-workbench"
