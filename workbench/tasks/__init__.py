"""Pretext tasks: one file each, registered by name. Also config loading, which needs the registry."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from workbench.config import RunConfig, io
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.registry import (PluginReport, default_plugin_folders, get_task, load_plugins, register_task, registered_tasks,
                                      task_config_types, task_title)
from workbench.tasks.validation import registry_problems

DEFAULT_TASK = "simclr"
_CHECKS = (registry_problems,)


def default_config() -> RunConfig:
    """The default run: SimCLR on the small CNN, settings that work on a laptop CPU."""
    config = RunConfig()
    config.tasks = {DEFAULT_TASK: get_task(DEFAULT_TASK).Config()}
    return config


def config_from_dict(data: Mapping[str, Any] | None, registry_checks: bool = True) -> RunConfig:
    """Validate a config dict against the registered tasks; raises ConfigError naming each bad field. Without
    `registry_checks` the rules of the backbone and task registries (which import timm for a timm backbone) are
    left to a later `validate_config`."""
    return io.parse_config(data, task_config_types(), _CHECKS if registry_checks else ())


def load_config(path: str | Path, registry_checks: bool = True) -> RunConfig:
    """Read and validate a YAML config file; raises ConfigError naming each bad field. `registry_checks` as for
    `config_from_dict` (the app reads files without them on its own thread, and validates off it)."""
    return io.load_config(path, task_config_types(), _CHECKS if registry_checks else ())


def validate_config(config: RunConfig) -> RunConfig:
    """Re-validate a config edited in code (e.g. by a GUI form)."""
    return io.validate(config, task_config_types(), _CHECKS)


__all__ = ["Augment", "BatchContext", "PretextTask", "TaskOutput", "PluginReport", "get_task", "load_plugins", "register_task",
           "registered_tasks", "task_config_types", "task_title", "default_plugin_folders", "default_config", "config_from_dict", "load_config",
           "validate_config", "DEFAULT_TASK"]
