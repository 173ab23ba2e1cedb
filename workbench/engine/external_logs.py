"""Logs where users already look: TensorBoard event files in `<run>/tensorboard/` (`output.tensorboard`) and
MLflow (`output.mlflow`; tested with mlflow-skinny 3.18, whose local store needs sqlalchemy and alembic).

Both listen to the run's one event stream (`workbench.engine.events`) and write its values under the keys of
metrics.jsonl (`loss`, `lr`, `simclr/loss`, `knn_accuracy`, `effective_rank`...): nothing is computed again.
Only the main process hears events, so only it writes. No image path goes out: the projector gets each
point's label and pretext loss, and the settings are those of the run folder's config.yaml (paths relative
to the run folder)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from workbench.config.atomic import write_text_atomic
from workbench.config.io import read_yaml
from workbench.engine.embedding_map import EmbeddingMap
from workbench.engine.events import (EmbeddingMapEvent, EvalEvent, Event, EventHandler, FailedEvent, FinishedEvent,
                                     StartedEvent, StepEvent, VerdictEvent, WarningEvent)
from workbench.engine.runs import RunFolder

TENSORBOARD_DIR = "tensorboard"
MLFLOW_DIR = "mlruns"
"""MLflow's store beside the run folders (its SQLite database and artifacts), when MLFLOW_TRACKING_URI names none."""
MLFLOW_DB = "mlflow.db"
MLFLOW_RUN_ID = "mlflow_run_id.txt"
"""The run folder's MLflow run, so that a resumed run logs to the same one."""
MLFLOW_EXPERIMENT = "pretext-workbench"
MAP_TAG = "embedding_map"
UNLABELLED = "(no label)"


def with_external_logs(config, run_dir: str | Path, on_event: EventHandler) -> EventHandler:
    """`on_event`, after the logs that `config.output` turns on have written each event. A log that fails is
    switched off and the listener is told, in a WarningEvent; training goes on."""
    logs: dict[str, Callable[[Event], None]] = {}
    if config.output.tensorboard:
        logs["TensorBoard"] = TensorBoardLog(run_dir)
    if config.output.mlflow:
        logs["MLflow"] = MlflowLog(run_dir)
    if not logs:
        return on_event

    def handle(event: Event) -> None:
        for name, log in list(logs.items()):
            try:
                log(event)
            except Exception as error:  # an external log must not end a run that trains well
                del logs[name]
                on_event(WarningEvent(event.step, f"{name} logging stopped: {type(error).__name__}: {error}. "
                                                  "metrics.jsonl still records the run."))
        on_event(event)
    return handle


class TensorBoardLog:
    """Scalars, the embedding map (projector), the settings and the verdicts in `<run>/tensorboard/`; the
    writer opens when the run starts and closes when it ends. A resumed run hides what the first session
    wrote after the resumed step (`purge_step`), as metrics.jsonl drops it, so no step shows twice."""

    def __init__(self, run_dir: str | Path):
        self.folder = RunFolder(run_dir)
        self._writer = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, StartedEvent):
            self._open(event.step)
        elif self._writer is None:
            return
        elif isinstance(event, StepEvent):
            self._scalars(event.values, event.step)
        elif isinstance(event, EvalEvent):
            self._scalars(event.values, event.step)
            self._writer.flush()
        elif isinstance(event, EmbeddingMapEvent):
            self._embedding(EmbeddingMap.read(Path(event.path)))
        elif isinstance(event, VerdictEvent):
            self._writer.add_text("verdict", f"**{event.verdict}**: {event.message}", event.step)
        elif isinstance(event, (FinishedEvent, FailedEvent)):
            self._writer.close()
            self._writer = None

    def _open(self, step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a fresh run evaluates step 0 again (a restarted job may have logged before); a resumed one goes on after it
        self._writer = SummaryWriter(str(self.folder.path / TENSORBOARD_DIR), purge_step=step + 1 if step else 0)
        if step == 0:
            settings = self.folder.config_path.read_text(encoding="utf-8")
            self._writer.add_text("config", "".join(f"    {line}\n" for line in settings.splitlines()), 0)

    def _scalars(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self._writer.add_scalar(key, value, step)

    def _embedding(self, embedding_map: EmbeddingMap) -> None:
        labels = [embedding_map.class_names[label] if 0 <= label < len(embedding_map.class_names) else UNLABELLED
                  for label in embedding_map.labels]
        metadata, header = projector_metadata(labels, embedding_map.loss)
        self._writer.add_embedding(torch.tensor(embedding_map.points), metadata, global_step=embedding_map.step,
                                   tag=MAP_TAG, metadata_header=header)
        self._writer.flush()


def projector_metadata(labels: list[str], losses: list[float | None] | None):
    """(metadata, header) of the projector's points: their labels, and their pretext losses when reported;
    None when there is neither."""
    if losses is None:
        return (labels, None) if any(label != UNLABELLED for label in labels) else (None, None)
    return [[label, "" if loss is None else str(loss)] for label, loss in zip(labels, losses)], ["label", "loss"]


class MlflowLog:
    """The run's settings (flattened config.yaml), its curves at each step and, at its end, config.yaml and
    metrics.jsonl as artifacts, in one MLflow run per run folder, in the store of `mlflow_store`.

    A resumed run logs to the same MLflow run, RUNNING again. MLflow cannot forget a value, so the steps it
    already holds are not logged again: a session killed after logging a step but before its checkpoint leaves
    the first values of the steps the resumed run redoes (metrics.jsonl keeps the redone ones)."""

    def __init__(self, run_dir: str | Path):
        self.folder = RunFolder(run_dir)
        self._client = None
        self._run_id = ""
        self._last_steps: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, StartedEvent):
            self._open()
        elif self._client is None:
            return
        elif isinstance(event, (StepEvent, EvalEvent)):
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            metrics = [Metric(key, value, now, event.step) for key, value in event.values.items()
                       if event.step > self._last_steps.get(key, -1)]
            if metrics:
                self._client.log_batch(self._run_id, metrics=metrics)
        elif isinstance(event, (FinishedEvent, FailedEvent)):
            for path in (self.folder.config_path, self.folder.metrics_path):
                self._client.log_artifact(self._run_id, str(path))
            stopped = isinstance(event, FinishedEvent) and event.stopped
            status = "FAILED" if isinstance(event, FailedEvent) else "KILLED" if stopped else "FINISHED"
            self._client.set_terminated(self._run_id, status)
            self._client = None

    def _open(self) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(mlflow_store(self.folder.path))
        id_path = self.folder.path / MLFLOW_RUN_ID
        if id_path.is_file():
            self._run_id = id_path.read_text(encoding="utf-8").strip()
            self._client.update_run(self._run_id, status="RUNNING")
            self._last_steps = {key: max(metric.step for metric in self._client.get_metric_history(self._run_id, key))
                                for key in self._client.get_run(self._run_id).data.metrics}
            return
        experiment = self._client.get_experiment_by_name(MLFLOW_EXPERIMENT)
        if experiment is None:  # in the local store, artifacts lie beside the database; else the store decides
            local = local_mlflow_folder(self.folder.path)
            experiment_id = self._client.create_experiment(MLFLOW_EXPERIMENT, local and local.as_uri())
        else:
            experiment_id = experiment.experiment_id
        self._run_id = self._client.create_run(experiment_id, run_name=self.folder.name).info.run_id
        write_text_atomic(id_path, self._run_id)
        params = [Param(key, str(value)) for key, value in flatten(read_yaml(self.folder.config_path)).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a call
            self._client.log_batch(self._run_id, params=params[start:start + 100])


def local_mlflow_folder(run_dir: str | Path) -> Path | None:
    """The local MLflow store beside the run folders (`mlflow.db`, SQLite, and the artifacts), or None when
    MLFLOW_TRACKING_URI names the store."""
    return None if os.environ.get("MLFLOW_TRACKING_URI") else Path(run_dir).resolve().parent / MLFLOW_DIR


def mlflow_store(run_dir: str | Path) -> str:
    """The tracking URI the run in `run_dir` logs to: MLFLOW_TRACKING_URI when set, else the SQLite database
    of `local_mlflow_folder` (its folder created here). MLflow 3 refuses its older store, a plain folder."""
    folder = local_mlflow_folder(run_dir)
    if folder is None:
        return os.environ["MLFLOW_TRACKING_URI"]
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / MLFLOW_DB).as_posix()}"


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as one level, keys joined with dots: {"train": {"lr": 0.1}} -> {"train.lr": 0.1}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
