"""Sweeps: train several runs that differ in a few settings and rank them by their score (kNN accuracy
when the data has labels, else the label-free RankMe).

A sweep is a folder: sweep.yaml (the spec, `sweep_spec.SweepSpec`), base.yaml (the config every trial starts
from, the spec's fixed settings applied), study.log (Optuna's journal of the trials, so a killed sweep resumes
where it stopped; study.lock is taken while a process picks its next trial) and one run folder per trial, trial-000, trial-001... Pointing the app's runs folder at the
sweep folder lists the trials with their scores. Trials run one after the other, on the device the base config
names; with several GPUs, `sweep_workers` starts one process per GPU and each takes the next trial when it is
free (`Sweep.run` in each, sharing the journal). A trial that fails (a diverged loss, settings that do not fit together) is recorded
as failed and the sweep goes on.
"""
from __future__ import annotations

import itertools
import math
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from workbench.config import ConfigError, RunConfig, save_config
from workbench.control import RunControl, held_alone
from workbench.engine.best_checkpoint import format_score, checkpoint_score, read_best
from workbench.engine.events import EvalEvent, Event, EventHandler, FailedEvent, FinishedEvent
from workbench.engine.heartbeat import is_training_now, process_of_record_alive, this_process
from workbench.engine.quality_values import QUALITY_VALUES, format_value, value_name
from workbench.engine.recipe import apply_settings
from workbench.engine.runs import RunFolder, new_run_dir
from workbench.engine.sweep_spec import TASK_KEY, Param, SweepSpec, base_config, check_space, load_spec, save_spec

SPEC_NAME, BASE_NAME, STUDY_NAME, CLAIM_LOCK_NAME = "sweep.yaml", "base.yaml", "study.log", "study.lock"
TRIAL_PREFIX = "trial-"
STUDY = "sweep"
"""The name of the one Optuna study in a sweep's journal."""
TPE_STARTUP_SHARE = 3
STARTING_GRACE_S = 600.0
"""A trial taken by a process on another machine counts as running this long before its run's heartbeat shows."""
"""TPE draws the first trials/this (at least 2) at random before it models the scores."""


class TrialFailed(RuntimeError):
    """A trial that could not give a score (recorded as failed; the sweep goes on)."""


class SweepStopped(RuntimeError):
    """The sweep was stopped (Ctrl-C, Stop) during a trial; `--resume` continues it."""


@dataclass(frozen=True)
class RunScore:
    """The score of a run (`checkpoint_score`: kNN accuracy with labels, else RankMe) and the other
    values of the same evaluation."""

    metric: str
    score: float
    step: int
    values: dict[str, float]


def run_score(folder: RunFolder, events: list[Event] | None = None) -> RunScore | None:
    """The score of the checkpoint the run is used with by default: the evaluation of its best checkpoint
    (`best_checkpoint`), else its last evaluation after step 0; None without one. `events`: the run's, when read."""
    events = folder.read_events() if events is None else events
    evaluations = [event for event in events if isinstance(event, EvalEvent) and event.step > 0]
    if not evaluations:
        return None
    try:
        best = read_best(folder)
    except ValueError:  # a marker of a newer format: the last evaluation stands in
        best = None
    chosen = next((event for event in reversed(evaluations) if best is not None and event.step == best.step),
                  evaluations[-1])
    scored = checkpoint_score(chosen.values)
    return None if scored is None else RunScore(scored[0], scored[1], chosen.step, dict(chosen.values))


@dataclass(frozen=True)
class TrialResult:
    """One trial as the ranking shows it; `state` is "finished", "failed", "interrupted" or "running"."""

    number: int
    state: str
    run: str
    settings: dict[str, Any]
    metric: str = ""
    score: float | None = None
    values: dict[str, float] = field(default_factory=dict)
    error: str = ""


def create_sweep(spec_path: str | Path, sweep_dir: str | Path | None = None) -> Path:
    """Check the spec at `spec_path` (ConfigError naming each bad field) and make its sweep folder: `sweep_dir`,
    else a new folder sweeps/<spec name> (under the working directory). Returns the folder."""
    spec_path = Path(spec_path)
    spec = load_spec(spec_path)
    base = base_config(spec, spec_path.parent)
    check_space(spec, base)
    folder = Path(sweep_dir) if sweep_dir else new_run_dir("sweeps", spec_path.stem, [])
    if (folder / SPEC_NAME).exists():
        raise ValueError(f"{folder} already holds a sweep: continue it with --resume {folder}, or choose another "
                         "folder")
    folder.mkdir(parents=True, exist_ok=True)
    save_config(base, folder / BASE_NAME)
    spec.base, spec.settings = BASE_NAME, {}  # base.yaml has the settings applied
    save_spec(spec, folder / SPEC_NAME)
    return folder


class Sweep:
    """An existing sweep folder: its spec, its base config and its study."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not (self.folder / SPEC_NAME).is_file():
            raise FileNotFoundError(f"{self.folder} is not a sweep folder (no {SPEC_NAME})")
        self.spec: SweepSpec = load_spec(self.folder / SPEC_NAME)
        self.base: RunConfig = base_config(self.spec, self.folder)

    def study(self):
        """The Optuna study in the folder's journal (made on first use), maximising the score."""
        try:
            import optuna
            from optuna.storages.journal import JournalFileBackend, JournalStorage
        except ImportError:
            raise ValueError("sweeps need Optuna: pip install 'pretext-workbench[sweep]'") from None

        optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by `run`, not as tracebacks
        self._storage = JournalStorage(JournalFileBackend(str(self.folder / STUDY_NAME)))
        return optuna.create_study(storage=self._storage, study_name=STUDY, direction="maximize",
                                   sampler=self._sampler(0), load_if_exists=True)

    def _sampler(self, seed: int):
        """The spec's sampler, seeded with the spec's seed plus `seed` (the trials already made), so a resumed
        sweep does not draw the same settings again."""
        import optuna

        seed += self.spec.seed
        if self.spec.sampler in ("random", "grid"):  # a grid trial's settings are enqueued (`_enqueue_grid_point`)
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, self.spec.trials // TPE_STARTUP_SHARE),
                                          constant_liar=True)  # trials running side by side are not drawn alike

    def planned_trials(self) -> int:
        """The spec's trials; with the grid sampler at most the grid's combinations (none is trained twice)."""
        if self.spec.sampler != "grid":
            return self.spec.trials
        return min(self.spec.trials, len(self._grid()))

    def _grid(self) -> list[dict[str, Any]]:
        """The grid's combinations, in an order shuffled by the spec's seed."""
        keys = list(self.spec.space)
        points = [dict(zip(keys, values)) for values in itertools.product(*(self.spec.space[key].values
                                                                           for key in keys))]
        random.Random(self.spec.seed).shuffle(points)
        return points

    def _enqueue_grid_point(self, study, trials) -> None:
        """Queue the first grid combination no trial has taken (interrupted ones are taken again). Optuna's
        GridSampler is not used: it stops the study from `tell`, which only works inside `Study.optimize`."""
        grid = self._grid()
        taken = {trial.user_attrs.get("grid_point") for trial in trials if _result(trial).state != "interrupted"}
        point = next(index for index in range(len(grid)) if index not in taken)
        study.enqueue_trial(grid[point], user_attrs={"grid_point": point})

    def results(self) -> list[TrialResult]:
        """Every trial, ranked: finished ones by score (best first), then the others by number."""
        return ranked([_result(trial) for trial in self.study().trials])

    def run(self, control: RunControl | None = None, on_event: EventHandler | None = None,
            on_trial: Callable[[TrialResult], None] | None = None) -> list[TrialResult]:
        """Train trials until the spec's count is reached, then return the ranking. Finished and failed trials
        count, and so do trials other processes are training now: several processes (one per GPU,
        `sweep_workers`) can run one sweep side by side, each taking the next trial under the folder's lock.
        Trials left running by a process that died are marked interrupted and redone with new settings.
        `control` stops the sweep during a trial (its run is left stopped and marked interrupted: SweepStopped);
        `on_event` sees each trial's training events, `on_trial` each trial's result."""
        from optuna.trial import TrialState

        control = control or RunControl()
        study = self.study()
        while (trial := self._claim(study, control)) is not None:
            try:
                score = self._trial(trial, control, on_event)
            except TrialFailed:
                study.tell(trial, state=TrialState.FAIL)
            except BaseException:  # stopped, or an error of the sweep itself: the trial is redone on resume
                trial.set_user_attr("interrupted", True)
                study.tell(trial, state=TrialState.FAIL)
                raise
            else:
                study.tell(trial, score)
            if on_trial:
                on_trial(_result(study.get_trials(deepcopy=False)[trial.number]))
        return self.results()

    def _claim(self, study, control: RunControl):
        """The next trial for this process to train, or None when the finished, failed and running trials already
        reach the spec's count. Taken under the sweep's lock, so processes side by side never take one too many;
        the sampler is seeded by the trial's number, so each trial draws its own settings."""
        if control.cancelled:
            raise SweepStopped(f"the sweep was stopped between trials; continue it with --resume {self.folder}")
        with held_alone(self.folder / CLAIM_LOCK_NAME, control):
            self._mark_interrupted(study.get_trials(deepcopy=False))
            trials = study.get_trials(deepcopy=False)
            states = [_result(trial).state for trial in trials]
            if sum(state in ("finished", "failed", "running") for state in states) >= self.planned_trials():
                return None
            study.sampler = self._sampler(len(trials))
            if self.spec.sampler == "grid":
                self._enqueue_grid_point(study, trials)
            trial = study.ask()
            trial.set_user_attr("owner", this_process())
            return trial

    def _trial(self, trial, control: RunControl, on_event: EventHandler | None) -> float:
        """Train one trial's run and return its score; TrialFailed (recorded) when it gives none."""
        from workbench.engine.trainer import Trainer  # torch and the models: only once a trial trains

        run_dir = self.folder / f"{TRIAL_PREFIX}{trial.number:03d}"
        trial.set_user_attr("run", run_dir.name)
        settings = draw_settings(trial, self.spec.space, self.base)
        try:
            config = apply_settings(self.base, settings)
            final = Trainer(config, run_dir=run_dir, control=control).run(on_event)
        except ConfigError as error:
            raise self._failed(trial, f"settings that do not fit together: {error}") from None
        except Exception as error:  # an unexpected error in one trial must not end the sweep
            raise self._failed(trial, f"{type(error).__name__}: {error}") from None
        if isinstance(final, FailedEvent):
            raise self._failed(trial, final.message)
        if isinstance(final, FinishedEvent) and final.stopped:
            trial.set_user_attr("interrupted", True)
            raise SweepStopped(f"the sweep was stopped during trial {trial.number}; continue it with "
                               f"--resume {self.folder}")
        score = run_score(RunFolder(run_dir))
        if score is None:
            raise self._failed(trial, "the run has no score (no evaluation after step 0)")
        trial.set_user_attr("metric", score.metric)
        trial.set_user_attr("values", {key: value for key, value in score.values.items() if math.isfinite(value)})
        return score.score

    @staticmethod
    def _failed(trial, message: str) -> TrialFailed:
        trial.set_user_attr("error", message)
        return TrialFailed(message)

    def _mark_interrupted(self, trials) -> None:
        """Trials left running by a process that died become failed, marked interrupted (they are not counted as
        done, so another trial takes their place)."""
        from optuna.trial import TrialState

        storage = self._storage
        study_id = storage.get_study_id_from_name(STUDY)
        for trial in trials:
            if trial.state != TrialState.RUNNING or _trial_alive(self.folder, trial):
                continue
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, "interrupted", True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)


def _trial_alive(folder: Path, trial) -> bool:
    """Whether the process that took a running trial still works on it: its run is being trained now, or the
    process is alive (on this machine) or took it less than `STARTING_GRACE_S` ago (on another machine, before
    its run's heartbeat starts). A trial without an owner (written before owners were recorded) is not alive."""
    owner = trial.user_attrs.get("owner")
    run = trial.user_attrs.get("run")
    if run and is_training_now(folder / run):
        return True
    if not isinstance(owner, dict) or not isinstance(owner.get("time"), (int, float)):
        return False
    if owner.get("host") != socket.gethostname():
        return time.time() - owner["time"] < STARTING_GRACE_S
    return process_of_record_alive(owner)


def draw_settings(trial, space: dict[str, Param], base: RunConfig) -> dict[str, Any]:
    """The trial's settings (dotted keys, and "tasks" when the task is varied), drawn by the trial's sampler:
    the task first, then the other settings; a task's own settings only when that task is trained."""
    settings: dict[str, Any] = {}
    tasks = list(base.tasks)
    if TASK_KEY in space:
        name = trial.suggest_categorical(TASK_KEY, list(space[TASK_KEY].values))
        tasks = [name]
        settings["tasks"] = {name: base.tasks[name].weight if name in base.tasks else 1.0}
    for key, param in space.items():
        if key == TASK_KEY or (param.task_name is not None and param.task_name not in tasks):
            continue
        if param.kind == "choice":
            settings[key] = trial.suggest_categorical(key, list(param.values))
        elif param.kind == "int":
            settings[key] = trial.suggest_int(key, int(param.low), int(param.high))
        else:
            settings[key] = trial.suggest_float(key, param.low, param.high, log=param.kind == "log_uniform")
    return settings


def _result(trial) -> TrialResult:
    """A stored Optuna trial as a `TrialResult`."""
    attrs = trial.user_attrs
    state = {"COMPLETE": "finished", "RUNNING": "running"}.get(trial.state.name, "failed")
    if attrs.get("interrupted"):
        state = "interrupted"
    return TrialResult(trial.number, state, attrs.get("run", ""), dict(trial.params), attrs.get("metric", ""),
                       trial.value if state == "finished" else None, dict(attrs.get("values", {})),
                       attrs.get("error", ""))


def ranked(results: list[TrialResult]) -> list[TrialResult]:
    """Finished trials by score, best first, then the others by number."""
    return sorted(results, key=lambda result: (result.score is None, -(result.score or 0.0), result.number))


def ranking_table(results: list[TrialResult]) -> str:
    """The ranking as a plain-text table: rank, trial, state, settings, score, and the evaluation's RankMe,
    LiDAR and kNN accuracy where measured."""
    shown = [key for key in QUALITY_VALUES if any(key in result.values for result in results)]
    rows = [["#", "trial", "state", "score", *(value_name(key) for key in shown), "settings"]]
    for place, result in enumerate(results, start=1):
        score = format_score(result.metric, result.score) if result.score is not None else "–"
        values = [_value(key, result.values.get(key)) for key in shown]
        settings = ", ".join(f"{key}={_setting(value)}" for key, value in result.settings.items())
        if result.error:
            settings += f"  ({result.error.splitlines()[0][:120]})"
        rows.append([str(place), str(result.number), result.state, score, *values, settings])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
                     for row in rows)


def _value(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return format_value(key, value)


def _setting(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
