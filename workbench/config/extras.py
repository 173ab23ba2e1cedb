"""Optional packages that some settings need, and what to tell the user when one is missing.

Only whether a package can be found is checked here (nothing is imported), so validating a config
stays fast whether or not the package is installed."""
from __future__ import annotations

import importlib.util

from workbench.config.schema import OutputConfig

MAP_METHOD_PACKAGES = {"tsne": ("sklearn", "scikit-learn"), "umap": ("umap", "umap-learn")}
"""Embedding-map projections beyond PCA: method -> (module to import, package to install)."""
MAPS_EXTRA = "pip install 'pretext-workbench[maps]'"
LOG_MODULES = {"tensorboard": ("tensorboard",), "mlflow": ("mlflow", "sqlalchemy", "alembic")}
"""The logs of `OutputConfig` beyond metrics.jsonl (named as their settings) -> the modules each needs: MLflow's
local store, a SQLite file, needs sqlalchemy and alembic, which its skinny package leaves out."""
LOGS_EXTRA = "pip install 'pretext-workbench[logs]'"


def installed(module: str) -> bool:
    """True when `module` can be imported (found on the path; not imported)."""
    return importlib.util.find_spec(module) is not None


def log_problems(output: OutputConfig) -> list[tuple[str, str]]:
    """(field, message) for each log that `output` turns on but a package it needs is not installed for."""
    problems = []
    for name, modules in LOG_MODULES.items():
        missing = [module for module in modules if not installed(module)]
        if getattr(output, name) and missing:
            needed = ", ".join(repr(module) for module in modules)
            needed = " and ".join(needed.rsplit(", ", 1))
            problems.append((f"output.{name}", f"{name} logs need {needed} (missing: {', '.join(missing)}): "
                                               f"{LOGS_EXTRA}"))
    return problems


def map_method_problem(method: str) -> str | None:
    """Why the embedding-map projection `method` cannot run here, or None when it can."""
    if method not in MAP_METHOD_PACKAGES:
        return None
    module, package = MAP_METHOD_PACKAGES[method]
    return None if installed(module) else f"{method} needs the '{package}' package: {MAPS_EXTRA}"
