"""Optional packages that some settings need, and what to tell the user when one is missing.

Only whether a package can be found is checked here (nothing is imported), so validating a config
stays fast whether or not the package is installed."""
from __future__ import annotations

import importlib.util

from workbench.config.schema import OutputConfig

MAP_METHOD_PACKAGES = {"tsne": ("sklearn", "scikit-learn"), "umap": ("umap", "umap-learn")}
"""Embedding-map projections beyond PCA: method -> (module to import, package to install)."""
MAPS_EXTRA = "pip install 'pretext-workbench[maps]'"
LOG_PACKAGES = ("tensorboard", "mlflow")
"""The logs of `OutputConfig` beyond metrics.jsonl: each is named as its setting, its module and its package."""


def installed(module: str) -> bool:
    """True when `module` can be imported (found on the path; not imported)."""
    return importlib.util.find_spec(module) is not None


def log_problems(output: OutputConfig) -> list[tuple[str, str]]:
    """(field, message) for each log that `output` turns on whose package is not installed."""
    return [(f"output.{name}", f"{name} logs need the '{name}' package: pip install {name}")
            for name in LOG_PACKAGES if getattr(output, name) and not installed(name)]


def map_method_problem(method: str) -> str | None:
    """Why the embedding-map projection `method` cannot run here, or None when it can."""
    if method not in MAP_METHOD_PACKAGES:
        return None
    module, package = MAP_METHOD_PACKAGES[method]
    return None if installed(module) else f"{method} needs the '{package}' package: {MAPS_EXTRA}"
