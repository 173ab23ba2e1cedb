"""The registry of pretext tasks, and loading of task plugins from folders."""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from workbench.config.schema import TaskConfig
from workbench.tasks.base import TASK_FAMILIES, PretextTask, humanise

_TASKS: dict[str, type[PretextTask]] = {}


def register_task(name: str):
    """Class decorator: make a PretextTask available under `name` (in configs, the CLI and the GUI)."""

    def decorate(cls: type[PretextTask]) -> type[PretextTask]:
        if not (isinstance(cls, type) and issubclass(cls, PretextTask)):
            raise TypeError(f"@register_task({name!r}) must decorate a PretextTask subclass")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, TaskConfig)):
            raise TypeError(f"task {name!r}: Config must subclass workbench.config.TaskConfig")
        if cls.family not in TASK_FAMILIES:
            raise TypeError(f"task {name!r}: family must be one of {', '.join(TASK_FAMILIES)}, not {cls.family!r}")
        try:
            inspect.signature(cls.training_step).bind(None, None, None, context=None)
        except TypeError:
            raise TypeError(f"task {name!r}: training_step must take (self, images, augment, context=None); "
                            "`context` is the step's BatchContext or None") from None
        existing = _TASKS.get(name)
        if existing is not None and _origin(existing) != _origin(cls):  # the same class loaded again is fine
            raise TypeError(f"a task named {name!r} is already registered (by {_origin(existing)})")
        cls.name = name
        _TASKS[name] = cls
        return cls

    return decorate


def _origin(cls: type) -> str:
    """Where a class is defined: module and qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_tasks() -> dict[str, type[PretextTask]]:
    """All registered tasks by name (built-in ones and loaded plugins)."""
    _load_builtin_tasks()
    return dict(_TASKS)


def get_task(name: str) -> type[PretextTask]:
    """The task class registered under `name`; KeyError with the known names otherwise."""
    tasks = registered_tasks()
    if name not in tasks:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(tasks))}")
    return tasks[name]


def task_title(name: str) -> str:
    """The name people see for the task registered as `name` (its title); for a task not registered here
    (a run trained with a plugin that is not loaded), `name` in words."""
    task = registered_tasks().get(name)
    return task.display_title() if task is not None else humanise(name)


def task_config_types() -> dict[str, type[TaskConfig]]:
    """Task name -> its Config dataclass, as config parsing needs it."""
    return {name: cls.Config for name, cls in registered_tasks().items()}


def _load_builtin_tasks() -> None:
    import workbench.tasks.builtin  # noqa: F401  (importing registers the built-in tasks)


@dataclass(frozen=True)
class PluginReport:
    """What happened when loading one plugin file."""

    path: Path
    tasks: tuple[str, ...]
    error: str | None = None


def load_plugins(folders: list[str | Path]) -> list[PluginReport]:
    """Import every `*.py` file in the given folders; a failing plugin is reported, never raised."""
    reports = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            reports.append(_load_plugin(path))
    return reports


_LOADED_PLUGINS: dict[Path, PluginReport] = {}


def _load_plugin(path: Path) -> PluginReport:
    """Import one plugin file, once per process: loading the same file again gives the first report."""
    key = path.resolve()
    if key in _LOADED_PLUGINS:
        return _LOADED_PLUGINS[key]
    report = _import_plugin(path)
    if report.error is None:
        _LOADED_PLUGINS[key] = report
    return report


def _import_plugin(path: Path) -> PluginReport:
    before = set(registered_tasks())
    module_name = f"workbench_plugin_{path.stem}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as error:  # a broken plugin must never stop the app
        sys.modules.pop(module_name, None)
        last = traceback.extract_tb(error.__traceback__)[-1]
        return PluginReport(path, (), f"{type(error).__name__}: {error} (line {last.lineno})")
    return PluginReport(path, tuple(sorted(set(_TASKS) - before)))


PLUGIN_PATH_VARIABLE = "PRETEXT_WORKBENCH_PLUGINS"


def default_plugin_folders() -> list[Path]:
    """The project's `plugins/` folder, then folders listed in $PRETEXT_WORKBENCH_PLUGINS (os.pathsep-separated)."""
    folders = [Path(__file__).resolve().parents[2] / "plugins"]
    folders += [Path(p) for p in os.environ.get(PLUGIN_PATH_VARIABLE, "").split(os.pathsep) if p]
    return folders
