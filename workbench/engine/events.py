"""The one event stream of a run. The trainer emits these; the CLI prints them, the GUI bridge
re-emits them as Qt signals, and the run folder records them in metrics.jsonl."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Union


@dataclass(frozen=True)
class StartedEvent:
    """The run began (or resumed) at `step`."""

    run_dir: str
    step: int
    total_steps: int
    device: str
    precision: str
    """How the numbers are held, e.g. "bf16 autocast, channels-last" (`Trainer.numeric_path`)."""
    num_images: int
    num_labelled: int


@dataclass(frozen=True)
class StepEvent:
    """Training progress, every `train.log_every` steps."""

    step: int
    epoch: float
    total_steps: int
    values: dict[str, float] = field(default_factory=dict)
    """loss, lr, images_per_second and each task's own loss (`simclr/loss`) and health values (`simclr/<metric>`)."""
    eta_seconds: float | None = None


@dataclass(frozen=True)
class EvalEvent:
    """Health of the embeddings: embedding_std, effective_rank (RankMe), lidar, knn_accuracy (when labelled)..."""

    step: int
    epoch: float
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EmbeddingMapEvent:
    """A new 2-D map of the evaluation embeddings was written (see `workbench.engine.embedding_map`)."""

    step: int
    path: str


@dataclass(frozen=True)
class TaskExamplesEvent:
    """New example images of the tasks with an image output were written (see `workbench.engine.task_examples`)."""

    step: int
    path: str


@dataclass(frozen=True)
class CheckpointEvent:
    step: int
    path: str


@dataclass(frozen=True)
class WarningEvent:
    """Something the user should know (collapse, divergence, a skipped file); the run goes on."""

    step: int
    message: str


@dataclass(frozen=True)
class NoteEvent:
    """Something worth knowing that needs no action (e.g. which starting weights were read and how they were
    adapted): logged, never shown as a warning."""

    step: int
    message: str


@dataclass(frozen=True)
class VerdictEvent:
    """How training is going, in plain words, after an evaluation (`workbench.engine.verdict`)."""

    step: int
    verdict: str
    """learning, plateaued, collapsing, diverging or too little data."""
    message: str
    """The verdict in a sentence, and what to try."""


@dataclass(frozen=True)
class PausedEvent:
    step: int
    paused: bool


@dataclass(frozen=True)
class FinishedEvent:
    """The run ended normally, or was stopped by the user (`stopped`); a checkpoint was saved."""

    step: int
    run_dir: str
    stopped: bool = False


@dataclass(frozen=True)
class FailedEvent:
    """The run could not go on; `message` says why and what to try. Last good checkpoint is kept."""

    step: int
    message: str
    checkpoint: str | None = None


Event = Union[StartedEvent, StepEvent, EvalEvent, EmbeddingMapEvent, TaskExamplesEvent, CheckpointEvent, WarningEvent,
              NoteEvent, VerdictEvent, PausedEvent, FinishedEvent, FailedEvent]
EventHandler = Callable[[Event], None]

EVENT_TYPES = {cls.__name__: cls for cls in (StartedEvent, StepEvent, EvalEvent, EmbeddingMapEvent, TaskExamplesEvent,
                                              CheckpointEvent, WarningEvent, NoteEvent, VerdictEvent, PausedEvent,
                                              FinishedEvent, FailedEvent)}


TASK_LOSS = "loss"
"""The name of a task's own loss among its values: `<task>/loss` beside `<task>/<metric>`."""


def task_value_key(task: str, name: str) -> str:
    """The key of a task's own value (its loss or one of its metrics) in step values and metrics.jsonl."""
    return f"{task}/{name}"


def is_task_loss(key: str) -> bool:
    """Whether `key` names one task's loss (`<task>/loss`)."""
    return key.endswith("/" + TASK_LOSS)


def current_key(key: str) -> str:
    """A recorded value's key as written now: runs recorded before each task's loss became `<task>/loss`
    wrote `loss/<task>`."""
    task = key.removeprefix(TASK_LOSS + "/")
    return task_value_key(task, TASK_LOSS) if task != key else key


def event_to_record(event: Event) -> dict[str, Any]:
    """A flat JSON-ready dict of an event: its kind, its fields, and its named values at top level
    (so a metrics.jsonl line reads `{"event": "StepEvent", "step": 5, "epoch": 0.1, "loss": 4.2, ...}`)."""
    record: dict[str, Any] = {"event": type(event).__name__}
    for key, value in asdict(event).items():
        if key == "values":
            record.update(value)
        else:
            record[key] = value
    return record


def record_to_event(record: dict[str, Any]) -> Event | None:
    """The event a metrics.jsonl record describes (None for an unknown kind), its value keys as written now
    (`current_key`), whichever version of the app recorded it."""
    record = dict(record)
    cls = EVENT_TYPES.get(record.pop("event", ""))
    if cls is None:
        return None
    names = cls.__dataclass_fields__
    kwargs = {key: value for key, value in record.items() if key in names}
    if "values" in names:
        kwargs["values"] = {current_key(key): value for key, value in record.items() if key not in names}
    return cls(**kwargs)
