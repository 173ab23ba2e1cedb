"""Converting the configuration tree to and from plain dicts and YAML, with validation.

Loading rejects unknown keys and bad values with messages that name the field path and the
allowed range, e.g. ``train.batch_size: must be >= 2, got 0``.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from workbench.config.atomic import write_text_atomic
from workbench.config.errors import ConfigError
from workbench.config.extras import log_problems, map_method_problem
from workbench.config.fields import Choices, describe_choices, field_info
from workbench.config.formats import FORMAT_KEY, ArtefactError, format_version
from workbench.config.paths import paths_relative_to, paths_resolved_from
from workbench.config.schema import DEFAULT_RUNS_FOLDER, DataConfig, RunConfig, TaskConfig

TaskTypes = Mapping[str, type[TaskConfig]]
Check = Callable[[RunConfig], list[tuple[str, str]]]
"""A rule from a higher layer: a config's (field, message) problems."""
CONFIG_VERSION = 1
"""The config.yaml format this code writes, as its top `format_version` key (a file without one is version 1)."""


def to_dict(obj: Any) -> Any:
    """A dataclass tree as plain dicts, lists and scalars (what YAML stores)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {key: to_dict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(value) for value in obj]
    return obj


def parse_config(data: Mapping[str, Any] | None, task_types: TaskTypes,
                 checks: Sequence[Check] = (), source: str = "the configuration") -> RunConfig:
    """Build a validated RunConfig from a dict; `task_types` maps task names to their Config class, and
    each of `checks` adds the (field, message) problems of rules this layer cannot know (the registries').
    `source` names where the dict came from, for a format version this code cannot read."""
    problems: list[tuple[str, str]] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([("(top level)", f"must be a mapping of sections, got {type(data).__name__}")])
    try:
        format_version(data, CONFIG_VERSION, source)
    except ArtefactError as error:
        raise ConfigError([(FORMAT_KEY, str(error))]) from None
    raw_tasks = data.get("tasks", None)
    rest = {key: value for key, value in data.items() if key not in ("tasks", FORMAT_KEY)}
    config = _build(RunConfig, rest, "", problems, skip={"tasks"})
    config.tasks = _parse_tasks(raw_tasks, task_types, problems)
    problems.extend(cross_field_problems(config))
    for check in checks:
        problems.extend(check(config))
    if problems:
        raise ConfigError(problems)
    return config


def _parse_tasks(raw: Any, task_types: TaskTypes, problems: list[tuple[str, str]]) -> dict[str, TaskConfig]:
    if raw is None:
        problems.append(("tasks", "choose at least one pretext task, e.g. `tasks: {simclr: {}}`"))
        return {}
    if not isinstance(raw, Mapping):
        problems.append(("tasks", f"must be a mapping of task name to settings, got {type(raw).__name__}"))
        return {}
    tasks: dict[str, TaskConfig] = {}
    for name, settings in raw.items():
        if name not in task_types:
            known = ", ".join(sorted(task_types)) or "none"
            problems.append((f"tasks.{name}", f"unknown task; registered tasks: {known}"))
            continue
        tasks[str(name)] = _build(task_types[name], settings or {}, f"tasks.{name}", problems)
    if not tasks and not any(path.startswith("tasks") for path, _ in problems):
        problems.append(("tasks", "choose at least one pretext task, e.g. `tasks: {simclr: {}}`"))
    return tasks


def build_dataclass(cls: type, data: Any, path: str, problems: list[tuple[str, str]],
                    skip: set[str] = frozenset()):
    """Any dataclass of `setting()` fields from a mapping, by the rules config.yaml is read with: (field path,
    message) appended to `problems` for each bad or unknown key; the fields in `skip` are left to the caller."""
    return _build(cls, data, path, problems, skip)


def _build(cls: type, data: Any, path: str, problems: list[tuple[str, str]], skip: set[str] = frozenset()):
    """Instantiate dataclass `cls` from `data`, appending (path, message) for each problem found."""
    if not isinstance(data, Mapping):
        problems.append((path or "(top level)", f"must be a mapping, got {_describe(data)}"))
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    for key in data:
        if key not in fields and key not in skip:
            allowed = ", ".join(fields)
            problems.append((_join(path, str(key)), f"unknown setting; allowed here: {allowed}"))
    values = {}
    for name, f in fields.items():
        if name not in data:
            continue
        field_path = _join(path, name)
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, data[name] if data[name] is not None else {}, field_path, problems)
            continue
        value, message = _coerce(data[name], kind, field_info(f))
        if message:
            problems.append((field_path, message))
        else:
            values[name] = value
    return cls(**values)


def _coerce(value: Any, kind: Any, info: dict[str, Any]) -> tuple[Any, str | None]:
    """Check one scalar against its type, bounds and choices; returns (value, error message or None)."""
    if kind is bool:
        if not isinstance(value, bool):
            return None, f"must be true or false, got {_describe(value)}"
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return None, f"must be a whole number, got {_describe(value)}"
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"must be a number, got {_describe(value)}"
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            return None, f"must be a finite number, got {value}"
    elif kind is str:
        if value is None:
            value = ""
        if not isinstance(value, str):
            return None, f"must be text, got {_describe(value)}"
    if info["choices"] is not None and value not in info["choices"]:
        hint = info["choices"].hint(value) if isinstance(info["choices"], Choices) else ""
        return None, f"must be one of {describe_choices(info['choices'])}, got {_describe(value)}{hint}"
    if info["min"] is not None and value < info["min"]:
        return None, f"must be >= {info['min']}, got {value}"
    if info["max"] is not None and value > info["max"]:
        return None, f"must be <= {info['max']}, got {value}"
    return value, None


def cross_field_problems(config: RunConfig) -> list[tuple[str, str]]:
    """Checks that involve more than one field."""
    problems = []
    aug = config.augment
    if aug.crop_scale_min > aug.crop_scale_max:
        problems.append(("augment.crop_scale_min",
                         f"must be <= augment.crop_scale_max ({aug.crop_scale_max}), got {aug.crop_scale_min}"))
    train = config.train
    if train.warmup_steps >= train.steps:
        problems.append(("train.warmup_steps",
                         f"must be below train.steps ({train.steps}): the warm-up must end before the run does; "
                         f"got {train.warmup_steps}"))
    stacked = stacked_channels_problem(config.data)
    if stacked:
        problems.append(("data.channels", stacked))
    if config.tasks and sum(task.weight for task in config.tasks.values()) <= 0:
        problems.append(("tasks", "at least one task needs a weight above 0"))
    if not config.output.out_dir.strip():
        problems.append(("output.out_dir", f"must name a folder for the run folders (the default is "
                                           f"{DEFAULT_RUNS_FOLDER})"))
    problems.extend(log_problems(config.output))
    missing = map_method_problem(config.eval.map_method)
    if missing:
        problems.append(("eval.map_method", missing))
    return problems


def stacked_channels_problem(data: DataConfig) -> str | None:
    """Why `data.channels` disagrees with 2.5-D input (1 + 2 x context_slices gray channels), or None."""
    if data.context_slices == 0:
        return None
    channels = 1 + 2 * data.context_slices
    if data.channels in (0, channels):
        return None
    return (f"context_slices={data.context_slices} gives {channels} channels (the slice and its neighbours), "
            f"but channels is set to {data.channels}: set channels to 0")


def validate(config: RunConfig, task_types: TaskTypes, checks: Sequence[Check] = ()) -> RunConfig:
    """Re-check a config built or edited in code (e.g. by a form); raises ConfigError."""
    return parse_config(to_dict(config), task_types, checks)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (Mapping, list)):
        return f"a {type(value).__name__}"
    return f"{value!r}" if value is None or isinstance(value, (int, float, bool)) else type(value).__name__


def _join(path: str, name: str) -> str:
    name = name if name.strip() else repr(name)  # an empty key still gets a visible name
    return f"{path}.{name}" if path else name


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file; a syntax error becomes a ConfigError naming the line."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError([(str(path), f"is not valid YAML: {error}")]) from None
    except OSError as error:
        raise ConfigError([(str(path), f"cannot be read: {error.strerror or error}")]) from None


def load_config(path: str | Path, task_types: TaskTypes, checks: Sequence[Check] = ()) -> RunConfig:
    """Read and validate a YAML config file.

    A relative path in the file (any setting marked `path=`, e.g. data.root or model.init_weights) is relative to
    the folder holding the file, not to the working directory; the config returned holds it as an absolute path.
    A relative data.labels_csv is looked up in the dataset folder first.
    """
    return paths_resolved_from(parse_config(read_yaml(path), task_types, checks, str(path)), Path(path).parent)


def dump_yaml(config: RunConfig, comments: bool = False) -> str:
    """The config as YAML; with `comments`, each setting is preceded by its help text and range."""
    if not comments:
        return yaml.safe_dump({FORMAT_KEY: CONFIG_VERSION, **to_dict(config)}, sort_keys=False)
    lines: list[str] = ["# Pretext Workbench run configuration. Every setting, with its default.",
                        f"{FORMAT_KEY}: {CONFIG_VERSION}  # the layout of this file", ""]
    for f in dataclasses.fields(config):
        section = getattr(config, f.name)
        if f.name == "tasks":
            lines.append("tasks:  # one or more pretext tasks, trained together on one encoder")
            for task_name, task_config in section.items():
                lines.append(f"  {task_name}:")
                lines.extend(_commented_fields(task_config, indent="    "))
        else:
            doc = (type(section).__doc__ or "").strip()
            lines.append(f"{f.name}:  # {doc}" if doc else f"{f.name}:")
            lines.extend(_commented_fields(section, indent="  "))
        lines.append("")
    return "\n".join(lines)


def _commented_fields(section: Any, indent: str) -> list[str]:
    lines = []
    for f in dataclasses.fields(section):
        info = field_info(f)
        note = info["help"]
        if info["choices"]:
            note += f" [{describe_choices(info['choices'])}]"
        elif info["min"] is not None or info["max"] is not None:
            note += f" [{info['min']} .. {info['max']}]"
        value = yaml.safe_dump(getattr(section, f.name), default_flow_style=True).strip()
        value = value.removesuffix("\n...").removesuffix("...").strip()
        lines.append(f"{indent}# {note}")
        lines.append(f"{indent}{f.name}: {value}")
    return lines


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the config as YAML (atomically: a reader never sees half a file).

    Path settings are written relative to the file's folder (see `load_config`), so a run folder's config.yaml
    names no absolute source path.
    """
    write_text_atomic(Path(path), dump_yaml(paths_relative_to(config, Path(path).parent)))
