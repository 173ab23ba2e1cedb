"""The Runs page on real run folders: task, backbone and dataset columns; a run being trained shows as
running and cannot be renamed, archived or deleted; rename, archive and delete (to the trash, or for good
where there is none) change the folders for real. The name is typed into the real rename dialog; only the
answers of the yes/no confirmations are scripted."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from gui_helpers import show_widget  # noqa: E402
from runs_helpers import NO, YES, Dialogs, rename_to, select, use_trash  # noqa: E402
from workbench.engine.events import FinishedEvent  # noqa: E402
from workbench.engine.heartbeat import Heartbeat  # noqa: E402
from workbench.engine.run_admin import ARCHIVED_NAME  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.panels.runs import COLUMNS, RunsPanel  # noqa: E402
from workbench.gui.workers import finish_running_jobs  # noqa: E402

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """One finished tiny run (rotation + SimCLR), copied by the tests into runs folders of their own."""
    root = tmp_path_factory.mktemp("trained")
    data = tiny_dataset(root / "chest scans", per_class=4)
    config = tiny_config(data, root / "runs", tasks={"rotation": {}, "simclr": {}},
                         train={"steps": 2, "log_every": 1, "warmup_steps": 1}, eval={"every_steps": 2})
    trainer = Trainer(config)
    final = trainer.run()
    assert isinstance(final, FinishedEvent), final
    return trainer.run_dir


@pytest.fixture
def runs(trained_run, tmp_path) -> Path:
    """A runs folder with the runs "alpha", "beta" and "gamma" (copies of the trained run), beside the dataset
    they name relatively."""
    shutil.copytree(trained_run.parent.parent / "chest scans", tmp_path / "chest scans")
    for name in ("alpha", "beta", "gamma"):
        shutil.copytree(trained_run, tmp_path / "runs" / name)
    return tmp_path / "runs"


@pytest.fixture
def panel(qtbot, runs):
    """The Runs page, shown, listing `runs`; its background work is finished afterwards."""
    page = show_widget(qtbot, RunsPanel(), 1200, 700)
    page.set_out_dir(runs)
    qtbot.waitUntil(lambda: not page.loading(), timeout=15000)
    yield page
    page.shutdown()
    finish_running_jobs()


def cell(panel: RunsPanel, name: str, column: str):
    row = [run.path.name for run in panel.runs].index(name)
    return panel.table.item(row, COLUMNS.index(column))


def listed(panel: RunsPanel) -> list[str]:
    return sorted(run.path.name for run in panel.runs)


def refreshed(qtbot, panel: RunsPanel) -> None:
    qtbot.waitUntil(lambda: not panel.loading(), timeout=15000)


def test_the_list_shows_task_backbone_and_dataset(panel, runs):
    assert listed(panel) == ["alpha", "beta", "gamma"]
    assert cell(panel, "alpha", "Task").text() == "Rotation prediction + SimCLR"
    assert "rotation, simclr" in cell(panel, "alpha", "Task").toolTip()
    assert cell(panel, "alpha", "Backbone").text() == "small_cnn"
    dataset = cell(panel, "alpha", "Dataset")
    assert dataset.text() == "chest scans" and dataset.toolTip() == str(runs.parent / "chest scans")
    assert cell(panel, "alpha", "Status").text() == "finished"


def test_a_run_being_trained_shows_as_running_and_is_protected(qtbot, panel, runs, monkeypatch):
    dialogs = Dialogs(monkeypatch)  # no answers: asking anything would fail the test
    select(qtbot, panel, "beta")
    assert panel.delete_button.isEnabled()
    with Heartbeat(runs / "beta"):  # a training process (here or elsewhere) is writing the folder
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)  # the list does not know yet
        assert "being trained now" in panel.banner.text() and panel.banner.level() == "error"
        assert (runs / "beta").is_dir() and dialogs.asked == []
        panel.recheck_running()
        refreshed(qtbot, panel)
        assert cell(panel, "beta", "Status").text() == "running" and cell(panel, "beta", "Status").font().bold()
        assert panel.selected_runs()[0].path.name == "beta"
        for button in (panel.rename_button, panel.archive_button, panel.delete_button, panel.resume_button):
            assert not button.isEnabled()
        assert "being trained" in panel.delete_button.toolTip()
    panel.recheck_running()  # training ended: the heartbeat is gone
    refreshed(qtbot, panel)
    assert cell(panel, "beta", "Status").text() == "finished" and panel.delete_button.isEnabled()


def test_archive_hides_a_run_until_show_archived(qtbot, panel, runs):
    select(qtbot, panel, "gamma")
    qtbot.mouseClick(panel.archive_button, Qt.MouseButton.LeftButton)
    refreshed(qtbot, panel)
    assert (runs / "gamma" / ARCHIVED_NAME).is_file()
    assert listed(panel) == ["alpha", "beta"] and "Show archived" in panel.banner.text()
    panel.show_archived.setChecked(True)
    assert listed(panel) == ["alpha", "beta", "gamma"] and panel.show_archived.text() == "Show archived (1)"
    assert cell(panel, "gamma", "Status").text() == "finished, archived" and cell(panel, "gamma", "Run").font().italic()
    select(qtbot, panel, "gamma")
    assert panel.archive_button.text() == "Un-archive"
    qtbot.mouseClick(panel.archive_button, Qt.MouseButton.LeftButton)
    refreshed(qtbot, panel)
    assert not (runs / "gamma" / ARCHIVED_NAME).exists()
    panel.show_archived.setChecked(False)
    assert listed(panel) == ["alpha", "beta", "gamma"]


def test_rename_refuses_a_taken_or_invalid_name_and_renames_the_folder(qtbot, panel, runs):
    select(qtbot, panel, "alpha")
    rename_to(qtbot, panel, "beta")
    assert "“beta” already exists" in panel.banner.text() and panel.banner.level() == "error"
    rename_to(qtbot, panel, "a/b")
    assert "cannot contain /" in panel.banner.text()
    assert (runs / "alpha").is_dir()
    rename_to(qtbot, panel, "baseline")
    refreshed(qtbot, panel)
    assert not (runs / "alpha").exists() and (runs / "baseline" / "config.yaml").is_file()
    assert listed(panel) == ["baseline", "beta", "gamma"]
    assert [run.path.name for run in panel.selected_runs()] == ["baseline"]
    assert cell(panel, "baseline", "Dataset").text() == "chest scans"  # its dataset still found


@pytest.mark.skipif(os.name != "posix" or not hasattr(os, "getuid"), reason="a freedesktop trash")
def test_delete_moves_runs_to_the_trash_after_confirmation(qtbot, panel, runs, monkeypatch, tmp_path):
    trash = use_trash(monkeypatch, tmp_path, exists=True)
    dialogs = Dialogs(monkeypatch, NO, YES)
    for name in ("alpha", "beta"):  # two runs, control-clicked
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                         panel.table.visualItemRect(cell(panel, name, "Run")).center())
    assert sorted(run.path.name for run in panel.selected_runs()) == ["alpha", "beta"]
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert (runs / "alpha").is_dir() and (runs / "beta").is_dir()  # answered No
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    refreshed(qtbot, panel)
    assert "the 2 runs" in dialogs.asked[1] and "“alpha”" in dialogs.asked[1] and "“beta”" in dialogs.asked[1]
    assert listed(panel) == ["gamma"] and not (runs / "alpha").exists()
    assert (trash / "files" / "alpha" / "config.yaml").is_file() and (trash / "files" / "beta").is_dir()
    assert "moved to the trash" in panel.banner.text()


@pytest.mark.skipif(os.name != "posix" or not hasattr(os, "getuid"), reason="a freedesktop trash")
def test_without_a_trash_delete_asks_again_before_deleting_for_good(qtbot, panel, runs, monkeypatch, tmp_path):
    use_trash(monkeypatch, tmp_path, exists=False)
    dialogs = Dialogs(monkeypatch, YES, NO, YES, YES)
    select(qtbot, panel, "gamma")
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert "has no trash" in dialogs.asked[1] and "cannot be undone" in dialogs.asked[1]
    assert (runs / "gamma" / "config.yaml").is_file()  # the second question was answered No
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    refreshed(qtbot, panel)
    assert len(dialogs.asked) == 4 and not (runs / "gamma").exists()
    assert listed(panel) == ["alpha", "beta"] and "deleted" in panel.banner.text()
