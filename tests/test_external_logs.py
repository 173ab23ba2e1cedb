"""TensorBoard logs written from the run's event stream: the same values as metrics.jsonl, the embedding map in
the projector, each step once after a resume; nothing when off; MLflow refused when its package is missing."""
import json
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine_helpers import tiny_config, tiny_dataset
from workbench.config.errors import ConfigError
from workbench.config.extras import installed
from workbench.engine.events import FinishedEvent, StepEvent, WarningEvent
from workbench.engine.external_logs import MLFLOW_RUN_ID, TENSORBOARD_DIR
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer

SETTINGS = {"train": {"steps": 6, "log_every": 2, "checkpoint_every": 2}, "eval": {"every_steps": 2}}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("data"), per_class=4)


def train(config=None, **kwargs):
    events = []
    final = Trainer(config, **kwargs).run(events.append)
    assert isinstance(final, FinishedEvent) and not final.stopped, final
    return RunFolder(final.run_dir), events


def recorded_values(folder: RunFolder) -> dict[str, dict[int, float]]:
    """metrics.jsonl's values of step and evaluation records: {key: {step: value}}."""
    values: dict[str, dict[int, float]] = {}
    for line in folder.metrics_path.read_text().splitlines():
        record = json.loads(line)
        if record["event"] in ("StepEvent", "EvalEvent"):
            for key, value in record.items():
                if key not in ("event", "step", "epoch", "total_steps", "eta_seconds"):
                    values.setdefault(key, {})[record["step"]] = value
    return values


def logged_values(folder: RunFolder) -> dict[str, list[tuple[int, float]]]:
    """TensorBoard's scalars as its own reader sees them: {tag: [(step, value), ...]}."""
    reader = EventAccumulator(str(folder.path / TENSORBOARD_DIR))
    reader.Reload()
    return {tag: [(s.step, s.value) for s in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


def assert_same_values(folder: RunFolder) -> None:
    recorded, logged = recorded_values(folder), logged_values(folder)
    assert set(logged) == set(recorded)
    for key, points in logged.items():
        steps = [step for step, _ in points]
        assert steps == sorted(recorded[key]), key  # each step once, in order
        for step, value in points:
            assert value == pytest.approx(recorded[key][step], rel=1e-6, abs=1e-7), (key, step)


def test_tensorboard_logs_equal_metrics_jsonl_and_hold_the_embedding_map(data_root, tmp_path):
    folder, _ = train(tiny_config(data_root, tmp_path, output={"tensorboard": True}, **SETTINGS))
    assert_same_values(folder)
    logged = logged_values(folder)
    assert {"loss", "lr", "knn_accuracy", "effective_rank", "lidar", "embedding_std"} <= set(logged)
    assert [step for step, _ in logged["knn_accuracy"]] == [0, 2, 4, 6]

    board = folder.path / TENSORBOARD_DIR
    projector = (board / "projector_config.pbtxt").read_text()
    for step in (0, 2, 4, 6):
        assert f"{step:05d}/embedding_map/tensors.tsv" in projector
        points = (board / f"{step:05d}" / "embedding_map" / "tensors.tsv").read_text().splitlines()
        metadata = (board / f"{step:05d}" / "embedding_map" / "metadata.tsv").read_text().splitlines()
        assert len(points) == len(metadata) - 1 == 16 and len(points[0].split("\t")) == 2
        assert metadata[0] == "label\tloss"
        labels = {row.split("\t")[0] for row in metadata[1:]}
        assert labels <= {"normal", "nodule", "cavity", "effusion"} and len(labels) > 1
    written = b"".join(path.read_bytes() for path in board.rglob("*") if path.is_file())
    assert str(data_root).encode() not in written and b".png" not in written  # no image path goes out
    reader = EventAccumulator(str(board))
    reader.Reload()
    assert reader.Tags()["tensors"] and "config" in "".join(reader.Tags()["tensors"])


def test_a_resumed_run_logs_each_step_once(data_root, tmp_path):
    folder, _ = train(tiny_config(data_root, tmp_path, output={"tensorboard": True}, **SETTINGS))
    folder.latest_checkpoint().unlink()  # killed after step 6 was logged, before its checkpoint was written
    _, events = train(run_dir=folder.path, resume=True)
    assert [e.step for e in events if isinstance(e, StepEvent)] == [6]
    assert len(list((folder.path / TENSORBOARD_DIR).glob("events.out.tfevents.*"))) == 2
    assert_same_values(folder)  # images_per_second of step 6 differs between the sessions: the resumed one shows


def test_no_external_log_by_default(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path, train={"steps": 2, "log_every": 1}, eval={"every_steps": 2})
    assert not config.output.tensorboard and not config.output.mlflow
    folder, _ = train(config)
    assert not (folder.path / TENSORBOARD_DIR).exists() and not (folder.path / MLFLOW_RUN_ID).exists()
    assert not (tmp_path / "mlruns").exists()


def test_a_log_that_cannot_write_is_switched_off_with_a_warning(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path, output={"tensorboard": True}, train={"steps": 2, "log_every": 1},
                         eval={"every_steps": 2})
    trainer = Trainer(config)
    (trainer.run_dir / TENSORBOARD_DIR).write_text("a file where the logs' folder should be")
    events = []
    final = trainer.run(events.append)
    assert isinstance(final, FinishedEvent) and final.step == 2 and not final.stopped
    warnings = [e.message for e in events if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and warnings[0].startswith("TensorBoard logging stopped: FileExistsError")
    assert [e.step for e in events if isinstance(e, StepEvent)] == [1, 2]


def test_a_log_whose_packages_are_missing_is_refused_naming_the_field_and_the_package(data_root, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # Python's own way to make a module unimportable
    assert not installed("sqlalchemy")
    with pytest.raises(ConfigError) as caught:
        tiny_config(data_root, tmp_path, output={"mlflow": True, "tensorboard": True})
    assert caught.value.problems == [("output.mlflow", "mlflow logs need 'mlflow', 'sqlalchemy' and 'alembic' "
                                                       "(missing: sqlalchemy): pip install 'pretext-workbench[logs]'")]
