"""MLflow logs written from the run's event stream, read back with MLflow's own client from the local store
beside the runs: the settings, the same curves as metrics.jsonl, the artifacts, one MLflow run per run folder
across a stop and a resume, each step once; MLFLOW_TRACKING_URI names another store."""
import shutil
from pathlib import Path

import pytest

from engine_helpers import tiny_config
import test_external_logs
from test_external_logs import SETTINGS, recorded_values, train
from workbench.config.io import read_yaml
from workbench.control import RunControl
from workbench.engine.events import FinishedEvent, StepEvent, WarningEvent
from workbench.engine.external_logs import (MLFLOW_DB, MLFLOW_DIR, MLFLOW_EXPERIMENT, MLFLOW_RUN_ID, flatten,
                                            mlflow_store)
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer

pytest.importorskip("mlflow", reason="output.mlflow is tested only where the mlflow package is installed")
from mlflow.tracking import MlflowClient  # noqa: E402

data_root = test_external_logs.data_root  # the same tiny dataset, a fixture


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite database with its tables made: MLflow takes seconds to make them, once per store."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path.as_posix()}").search_experiments()
    return path


def store_beside_the_runs(empty_store: Path, out_dir: Path) -> None:
    """`out_dir`'s local MLflow store, as after an earlier run: a copy of `empty_store`."""
    (out_dir / MLFLOW_DIR).mkdir(parents=True)
    shutil.copyfile(empty_store, out_dir / MLFLOW_DIR / MLFLOW_DB)


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """The working folder while a test runs: another than the runs' (MLflow's own defaults point into it)."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return folder


def the_run(client: MlflowClient):
    """The one MLflow run of the experiment (asserting there is exactly one)."""
    experiment = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, [run.info.run_name for run in runs]
    return runs[0]


def histories(client: MlflowClient, run) -> dict[str, list[tuple[int, float]]]:
    """{key: [(step, value), ...]} of each metric of `run`, in step order."""
    return {key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
            for key in run.data.metrics}


def assert_each_recorded_step_once(folder: RunFolder, logged: dict[str, list[tuple[int, float]]],
                                   redone: set[int] = frozenset()) -> None:
    """MLflow has each step of metrics.jsonl once, with its value; for `redone` steps (logged by a session that
    was killed before their checkpoint) it keeps the first session's values, so the timing ones may differ."""
    recorded = recorded_values(folder)
    assert set(logged) == set(recorded)
    for key, points in logged.items():
        assert [step for step, _ in points] == sorted(recorded[key]), key
        for step, value in points:
            if not (step in redone and key == "images_per_second"):
                assert value == pytest.approx(recorded[key][step], rel=1e-5, abs=1e-6), (key, step)


def test_mlflow_holds_the_settings_the_curves_and_the_artifacts(data_root, empty_store, tmp_path, elsewhere):
    store_beside_the_runs(empty_store, tmp_path)
    folder, _ = train(tiny_config(data_root, tmp_path, output={"mlflow": True}, **SETTINGS))
    store = tmp_path / MLFLOW_DIR
    client = MlflowClient(mlflow_store(folder.path))
    run = the_run(client)
    assert run.info.run_id == (folder.path / MLFLOW_RUN_ID).read_text().strip()
    assert run.info.run_name == folder.name and run.info.status == "FINISHED"

    settings = flatten(read_yaml(folder.config_path))
    assert run.data.params == {key: str(value) for key, value in settings.items()}
    assert run.data.params["train.steps"] == "6" and run.data.params["eval.every_steps"] == "2"
    assert str(data_root) not in "".join(run.data.params.values())  # paths are relative to the run folder

    logged = histories(client, run)
    assert {"loss", "lr", "knn_accuracy", "effective_rank", "lidar", "embedding_std"} <= set(logged), sorted(logged)
    assert [step for step, _ in logged["loss"]] == [2, 4, 6]
    assert [step for step, _ in logged["effective_rank"]] == [0, 2, 4, 6]
    assert_each_recorded_step_once(folder, logged)

    assert run.info.artifact_uri.startswith(store.as_uri())
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml", "metrics.jsonl"}
    copies = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "downloaded")))
    for name in ("config.yaml", "metrics.jsonl"):
        assert (copies / name).read_bytes() == (folder.path / name).read_bytes()
        assert str(data_root) not in (copies / name).read_text()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["downloaded", "elsewhere", MLFLOW_DIR, folder.name]
    assert list(elsewhere.iterdir()) == []  # nothing in the working folder


def stop_at(control: RunControl, step: int):
    def handler(event):
        if isinstance(event, StepEvent) and event.step == step:
            control.cancel()
    return handler


def test_a_stopped_and_resumed_run_logs_to_the_same_mlflow_run_each_step_once(data_root, empty_store, tmp_path):
    store_beside_the_runs(empty_store, tmp_path)
    control = RunControl()
    trainer = Trainer(tiny_config(data_root, tmp_path, output={"mlflow": True}, **SETTINGS), control=control)
    assert trainer.run(stop_at(control, 2)).stopped
    client = MlflowClient(mlflow_store(trainer.run_dir))
    first = the_run(client)
    assert first.info.status == "KILLED"
    assert [step for step, _ in histories(client, first)["loss"]] == [2]

    statuses = []

    def on_event(event):
        if isinstance(event, StepEvent):
            statuses.append(client.get_run(first.info.run_id).info.status)

    folder, events = train(run_dir=trainer.run_dir, resume=True)
    assert [e.step for e in events if isinstance(e, StepEvent)] == [4, 6]
    folder.latest_checkpoint().unlink()  # killed after step 6 was logged, before its checkpoint was written
    final = Trainer(run_dir=folder.path, resume=True).run(on_event)
    assert isinstance(final, FinishedEvent) and not final.stopped and statuses == ["RUNNING"]

    run = the_run(client)
    assert run.info.run_id == first.info.run_id and run.info.status == "FINISHED"
    logged = histories(client, run)
    assert [step for step, _ in logged["loss"]] == [2, 4, 6]
    assert [step for step, _ in logged["knn_accuracy"]] == [0, 2, 4, 6]
    assert_each_recorded_step_once(folder, logged, redone={6})
    assert run.data.params["train.steps"] == "6"


def test_mlflow_tracking_uri_names_the_store(data_root, tmp_path, monkeypatch, elsewhere):
    """The one test whose store MLflow makes from nothing."""
    store = tmp_path / "tracking" / "mlflow.db"
    store.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store.as_posix()}")
    events = []
    config = tiny_config(data_root, tmp_path / "runs", output={"mlflow": True}, train={"steps": 2, "log_every": 1},
                         eval={"every_steps": 2})
    final = Trainer(config).run(events.append)
    assert isinstance(final, FinishedEvent) and not [e for e in events if isinstance(e, WarningEvent)]
    assert not (tmp_path / "runs" / MLFLOW_DIR).exists()
    client = MlflowClient(f"sqlite:///{store.as_posix()}")
    run = the_run(client)
    assert run.info.run_name == Path(final.run_dir).name
    assert [step for step, _ in histories(client, run)["loss"]] == [1, 2]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml", "metrics.jsonl"}
    assert run.info.artifact_uri.startswith(str(elsewhere / "mlruns"))  # MLflow's default, not ours
