"""Renaming, archiving and deleting run folders: real folders, real training; refused while a run is trained."""
import pytest

from engine_helpers import tiny_config, tiny_dataset
from workbench.engine.events import FinishedEvent
from workbench.engine.heartbeat import Heartbeat
from workbench.engine.run_admin import (ARCHIVED_NAME, RunChangeRefused, delete_run, is_archived, name_problem,
                                        rename_run, set_archived)
from workbench.engine.runs import RunFolder, list_runs
from workbench.engine.trainer import Trainer
from workbench.tasks import load_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run and the dataset it was trained on, beside its runs folder."""
    root = tmp_path_factory.mktemp("project")
    data = tiny_dataset(root / "data", per_class=4)
    trainer = Trainer(tiny_config(data, root / "runs", train={"steps": 2, "log_every": 1, "warmup_steps": 1},
                                  eval={"every_steps": 2}))
    final = trainer.run()
    assert isinstance(final, FinishedEvent), final
    return RunFolder(trainer.run_dir), data


def test_a_renamed_run_keeps_its_dataset_and_history(trained, tmp_path):
    folder, data = trained
    renamed = rename_run(folder, "baseline simclr")
    try:
        assert renamed.path == folder.path.parent / "baseline simclr" and not folder.path.exists()
        assert load_config(renamed.config_path).data.root == str(data)  # config paths are relative to the run
        assert renamed.status().describe() == "finished at step 2"
        assert [run.name for run in list_runs(folder.path.parent)] == ["baseline simclr"]
    finally:
        rename_run(renamed, folder.name)


@pytest.mark.parametrize("name, problem", [
    ("", "needs a name"), ("  spaced ", "start or end with a space"), ("a/b", "cannot contain /"),
    ("what?", "cannot contain ?"), ("..", "cannot name a folder"), ("trailing.", "end with a dot"),
    ("con", "reserved device name"), ("x" * 256, "at most 255 bytes"), ("taken", "already exists"),
])
def test_a_bad_new_name_is_refused_naming_the_problem(trained, name, problem):
    folder, _ = trained
    (folder.path.parent / "taken").mkdir(exist_ok=True)
    assert problem in name_problem(folder, name)
    with pytest.raises(RunChangeRefused, match=problem.replace("?", r"\?")):
        rename_run(folder, name)
    assert folder.exists()


def test_archiving_marks_the_folder_in_place(trained):
    folder, data = trained
    set_archived(folder, True)
    assert is_archived(folder) and (folder.path / ARCHIVED_NAME).is_file()
    assert load_config(folder.config_path).data.root == str(data)  # still where it was: nothing breaks
    set_archived(folder, False)
    assert not is_archived(folder) and not (folder.path / ARCHIVED_NAME).exists()


def test_a_run_being_trained_cannot_be_renamed_archived_or_deleted(trained):
    folder, _ = trained
    with Heartbeat(folder.path):
        for change, attempt in (("renamed", lambda: rename_run(folder, "other")),
                                ("archived", lambda: set_archived(folder, True)),
                                ("deleted", lambda: delete_run(folder))):
            with pytest.raises(RunChangeRefused, match=f"being trained now and cannot be {change}"):
                attempt()
    assert folder.exists() and not is_archived(folder)


def test_deleting_for_good_removes_only_run_folders(tmp_path):
    stray = tmp_path / "not a run"
    stray.mkdir()
    with pytest.raises(RunChangeRefused, match="not a run folder"):
        delete_run(RunFolder(stray))
    assert stray.is_dir()
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.config_path.write_text("tasks: {simclr: {}}\n", encoding="utf-8")
    delete_run(run)
    assert not run.path.exists()
