"""A sweep's spec (sweep.yaml): the run config every trial starts from, the settings varied and how, the number
of trials. Read and checked with errors naming the field (`space.train.lr: ...`), written back as YAML."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from workbench.config import ConfigError, RunConfig, setting
from workbench.config.atomic import write_text_atomic
from workbench.config.io import build_dataclass, read_yaml
from workbench.config.paths import paths_resolved_from
from workbench.engine.recipe import apply_settings

TASK_KEY = "task"
"""The space key that picks the pretext task (the trial trains that one task)."""
RANGES = ("uniform", "log_uniform", "int")
"""Kinds of parameter drawn from a [low, high] range; a list of values is the kind "choice"."""

EXAMPLE = """\
# A sweep: train several runs that differ in a few settings, then rank them by their score
# (kNN accuracy when the data has labels, else RankMe). Run it with: python main.py sweep this.yaml

base: ""              # run config (YAML) every trial starts from, relative to this file; "" = the defaults
settings:             # fixed settings of every trial (dotted keys), on top of the base
  data.root: my_images
  data.image_size: 32
  train.steps: 300
  eval.every_steps: 300
trials: 8             # runs to train
sampler: tpe          # tpe (Optuna's TPE: later trials learn from earlier ones), random, or grid
seed: 0               # the same seed draws the same settings
space:                # the settings varied: a list of values, or {uniform | log_uniform | int: [low, high]}
  task: [simclr, barlow_twins, vicreg]          # the pretext task (task settings below apply when it is chosen)
  train.lr: {log_uniform: [3.0e-4, 3.0e-2]}
  augment.crop_scale_min: {uniform: [0.1, 0.6]}
  augment.rotation_degrees: [0, 15, 30]
  tasks.simclr.temperature: {uniform: [0.05, 0.5]}
# The sweep folder (--out, default: sweeps/<this file's name>) holds this spec, the study (resumable after a
# kill: python main.py sweep --resume SWEEP_DIR) and one run folder per trial.
"""


@dataclass(frozen=True)
class Param:
    """One varied setting: `key` a dotted setting (or "task"); `kind` "choice" (one of `values`) or a range kind
    (`RANGES`) from `low` to `high`, both included."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    values: tuple = ()

    @property
    def task_name(self) -> str | None:
        """The task whose setting this is ("simclr" for tasks.simclr.temperature), else None."""
        parts = self.key.split(".")
        return parts[1] if parts[0] == "tasks" and len(parts) == 3 else None

    def examples(self) -> list[Any]:
        """The values that show whether the setting accepts this parameter: its choices, or its range's ends."""
        if self.kind == "choice":
            return list(self.values)
        return [int(self.low), int(self.high)] if self.kind == "int" else [self.low, self.high]

    def to_yaml(self) -> Any:
        return list(self.values) if self.kind == "choice" else {self.kind: [self.low, self.high]}


@dataclass
class SweepSpec:
    """Everything that defines a sweep; saved as the sweep folder's sweep.yaml."""

    base: str = setting("", "Run config (YAML) every trial starts from, relative to this file. Empty: the defaults.")
    trials: int = setting(8, "Runs to train.", min=1, max=100_000)
    sampler: str = setting("tpe", "How the settings of each trial are drawn: tpe (Optuna's TPE sampler, which "
                                  "learns from earlier trials), random, or grid (every combination of the listed "
                                  "values in turn; ranges are not allowed).", choices=("tpe", "random", "grid"))
    seed: int = setting(0, "Seed of the sampler: the same seed draws the same settings.", min=0, max=2**31 - 1)
    settings: dict[str, Any] = field(default_factory=dict)
    """Fixed settings of every trial: dotted key -> value."""
    space: dict[str, Param] = field(default_factory=dict)
    """The varied settings, by key."""

    def to_yaml(self) -> str:
        record = {"base": self.base, "settings": dict(self.settings), "trials": self.trials, "sampler": self.sampler,
                  "seed": self.seed, "space": {key: param.to_yaml() for key, param in self.space.items()}}
        return yaml.safe_dump(record, sort_keys=False)


def parse_spec(data: Any) -> SweepSpec:
    """The spec in a dict (read from YAML); ConfigError naming each bad field. Whether the settings exist and
    accept the values is checked against the base config by `base_config` and `check_space`."""
    problems: list[tuple[str, str]] = []
    if not isinstance(data, Mapping):
        raise ConfigError([("(top level)", "must be a mapping of sweep settings, e.g. `trials: 8`")])
    spec = build_dataclass(SweepSpec, data, "", problems, skip={"settings", "space"})
    settings = data.get("settings") or {}
    if not isinstance(settings, Mapping):
        problems.append(("settings", "must be a mapping of dotted setting -> value, e.g. `train.steps: 300`"))
    else:
        spec.settings = {str(key): value for key, value in settings.items()}
    space = data.get("space")
    if not isinstance(space, Mapping) or not space:
        problems.append(("space", "must map at least one setting to its values, e.g. `train.lr: {log_uniform: "
                                  "[1.0e-4, 1.0e-2]}` or `task: [simclr, vicreg]`"))
    else:
        spec.space = {str(key): param for key, raw in space.items()
                      if (param := _parse_param(str(key), raw, problems)) is not None}
    for key, param in spec.space.items():
        if spec.sampler == "grid" and param.kind != "choice":
            problems.append((f"space.{key}", "the grid sampler needs a list of values, not a range"))
        if key == TASK_KEY and param.kind != "choice":
            problems.append((f"space.{key}", "must be a list of task names"))
    if problems:
        raise ConfigError(problems)
    return spec


def _parse_param(key: str, raw: Any, problems: list[tuple[str, str]]) -> Param | None:
    path = f"space.{key}"
    if isinstance(raw, list):
        if not raw:
            problems.append((path, "the list of values is empty"))
            return None
        return Param(key, "choice", values=tuple(raw))
    if not isinstance(raw, Mapping) or len(raw) != 1 or next(iter(raw)) not in RANGES:
        problems.append((path, "must be a list of values or one of {uniform | log_uniform | int: [low, high]}"))
        return None
    kind, bounds = next(iter(raw.items()))
    numbers = isinstance(bounds, list) and len(bounds) == 2 and all(
        isinstance(bound, (int, float)) and not isinstance(bound, bool) and math.isfinite(bound) for bound in bounds)
    if not numbers:
        problems.append((f"{path}.{kind}", f"must be [low, high], two numbers, got {bounds!r}"))
        return None
    low, high = bounds
    if not low < high:
        problems.append((f"{path}.{kind}", f"low must be below high, got [{low}, {high}]"))
    elif kind == "log_uniform" and low <= 0:
        problems.append((f"{path}.{kind}", f"a log-uniform range must start above 0, got {low}"))
    elif kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        problems.append((f"{path}.{kind}", f"must be whole numbers, got [{low}, {high}]"))
    else:
        return Param(key, kind, float(low), float(high))
    return None


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep.yaml; ConfigError naming each bad field (or the file when it cannot be read)."""
    return parse_spec(read_yaml(path))


def save_spec(spec: SweepSpec, path: str | Path) -> None:
    write_text_atomic(Path(path), spec.to_yaml())


def base_config(spec: SweepSpec, folder: str | Path) -> RunConfig:
    """The config every trial starts from: the spec's base (relative to `folder`, the spec file's) or the
    defaults, with the spec's fixed settings; ConfigError naming the field ("settings.train.steps: ...")."""
    from workbench.tasks import default_config, load_config

    config = load_config(Path(folder) / spec.base) if spec.base else default_config()
    unknown = [key for key in spec.settings if not _settable(config, key)]
    if unknown:
        raise ConfigError([(f"settings.{key}", "no such setting") for key in unknown])
    try:
        config = apply_settings(config, spec.settings)
    except ConfigError as error:
        raise ConfigError([(f"settings.{path}", message) for path, message in error.problems]) from None
    return paths_resolved_from(config, folder)


def check_space(spec: SweepSpec, base: RunConfig) -> None:
    """ConfigError naming `space.<key>` for each varied setting that does not exist or does not accept its
    values (each value tried alone on the base config)."""
    from workbench.tasks import registered_tasks

    problems: list[tuple[str, str]] = []
    chosen_tasks = spec.space[TASK_KEY].values if TASK_KEY in spec.space else tuple(base.tasks)
    for key, param in spec.space.items():
        path = f"space.{key}"
        if key == TASK_KEY:
            unknown = [name for name in param.values if name not in registered_tasks()]
            if unknown:
                problems.append((path, f"unknown task(s) {', '.join(map(str, unknown))}; registered tasks: "
                                       f"{', '.join(sorted(registered_tasks()))}"))
            continue
        task = param.task_name
        if task is not None and task not in chosen_tasks:
            problems.append((path, f"the trials never train {task}: add it to the base config's tasks or to "
                                   f"space.{TASK_KEY}"))
            continue
        start = apply_settings(base, {"tasks": {task: 1.0}}) if task is not None and task not in base.tasks \
            else base
        if not _settable(start, key):
            problems.append((path, "no such setting (a dotted key such as train.lr, augment.crop_scale_min or "
                                   f"tasks.simclr.temperature, or {TASK_KEY})"))
            continue
        for value in param.examples():
            try:
                apply_settings(start, {key: value})
            except ConfigError as error:
                problems.extend((path, f"{value!r}: {message}") for _, message in error.problems)
                break
    if problems:
        raise ConfigError(problems)


def _settable(config: RunConfig, key: str) -> bool:
    """Whether `key` is a dotted path to one setting (not a section) of `config`."""
    from workbench.config import to_dict

    node: Any = to_dict(config)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return not isinstance(node, dict)
