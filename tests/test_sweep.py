"""Sweeps for real: tiny runs trained one after the other on a tiny labelled folder, an Optuna study in a journal
file, a sweep resumed after it stopped (or was killed mid-trial), failed trials recorded, spec errors naming the
field, the command line in a subprocess, and the Runs page sorting a sweep's runs by their score."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from engine_helpers import tiny_config, tiny_dataset
from test_cli import run_cli
from workbench.config import ConfigError, TaskConfig, save_config, setting
from workbench.engine.runs import RunFolder
from workbench.engine.sweep import CLAIM_LOCK_NAME, STUDY_NAME, Sweep, create_sweep, ranking_table, run_score
from workbench.engine.sweep_spec import EXAMPLE, base_config, check_space, parse_spec
from workbench.tasks import PretextTask, TaskOutput, register_task

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("sweep-data") / "scans", per_class=4, size=16)


def write_spec(folder: Path, data: Path, space: dict, trials: int = 3, sampler: str = "random",
               steps: int = 4) -> Path:
    """A spec whose base config trains `steps` steps of SimCLR at 16 px, evaluating at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    base = tiny_config(data, folder / "runs", data={"image_size": 16},
                       train={"steps": steps, "checkpoint_every": steps, "threads": 1},
                       eval={"every_steps": steps, "subset_size": 16})
    save_config(base, folder / "base.yaml")
    spec = {"base": "base.yaml", "trials": trials, "sampler": sampler, "seed": 1, "space": space}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


SPACE = {"task": ["simclr", "barlow_twins"], "train.lr": {"log_uniform": [1e-4, 1e-2]},
         "tasks.simclr.temperature": {"uniform": [0.1, 0.5]}}


def trial_dirs(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("trial-"))


def test_a_sweep_trains_each_trial_in_its_folder_and_ranks_them_by_score(tmp_path, data):
    folder = create_sweep(write_spec(tmp_path, data, SPACE), tmp_path / "sweep")
    seen = []
    results = Sweep(folder).run(on_trial=seen.append)
    assert sorted(path.name for path in folder.iterdir()) == ["base.yaml", CLAIM_LOCK_NAME, STUDY_NAME,
                                                              "sweep.yaml", "trial-000", "trial-001", "trial-002"]
    assert [result.number for result in seen] == [0, 1, 2]
    assert [result.state for result in results] == ["finished"] * 3
    scores = [result.score for result in results]
    assert scores == sorted(scores, reverse=True)
    for result in results:
        run = RunFolder(folder / result.run)
        score = run_score(run)
        assert (score.metric, score.score) == ("knn_accuracy", result.score)  # the data has labels: kNN
        config = yaml.safe_load(run.config_path.read_text())
        assert list(config["tasks"]) == [result.settings["task"]]
        assert config["train"]["lr"] == pytest.approx(result.settings["train.lr"])
        assert ("tasks.simclr.temperature" in result.settings) == (result.settings["task"] == "simclr")
    table = ranking_table(results).splitlines()
    assert table[0].split()[:4] == ["#", "trial", "state", "score"]
    assert [line.split()[1] for line in table[1:]] == [str(result.number) for result in results]


def test_resuming_runs_only_the_trials_still_missing(tmp_path, data):
    folder = create_sweep(write_spec(tmp_path, data, SPACE, trials=2), tmp_path / "sweep")
    Sweep(folder).run()
    first = {name: (folder / name / "metrics.jsonl").stat().st_mtime_ns for name in trial_dirs(folder)}
    spec = yaml.safe_load((folder / "sweep.yaml").read_text())
    spec["trials"] = 3
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    results = Sweep(folder).run()
    assert trial_dirs(folder) == ["trial-000", "trial-001", "trial-002"]
    assert {name: (folder / name / "metrics.jsonl").stat().st_mtime_ns for name in first} == first
    assert sorted(result.number for result in results) == [0, 1, 2]
    assert len({tuple(sorted(result.settings.items())) for result in results}) == 3  # no settings drawn twice
    assert Sweep(folder).run() == results  # nothing left to do


def test_a_trial_left_running_by_a_killed_sweep_is_marked_interrupted_and_not_counted(tmp_path, data):
    folder = create_sweep(write_spec(tmp_path, data, SPACE, trials=2), tmp_path / "sweep")
    killed = Sweep(folder).study().ask()  # what the journal holds when a process dies during a trial
    killed.set_user_attr("run", "trial-000")
    results = Sweep(folder).run()
    states = {result.number: result.state for result in results}
    assert states == {0: "interrupted", 1: "finished", 2: "finished"}
    assert "interrupted" in ranking_table(results)


def test_grid_trials_whose_settings_do_not_fit_together_are_recorded_as_failed(tmp_path, data):
    space = {"augment.crop_scale_min": [0.3, 0.9], "augment.crop_scale_max": [0.5, 1.0]}
    folder = create_sweep(write_spec(tmp_path, data, space, trials=5, sampler="grid"), tmp_path / "sweep")
    results = Sweep(folder).run()
    assert len(results) == 4 and Sweep(folder).run() == results  # the grid's 4 combinations, each once
    failed = [result for result in results if result.state == "failed"]
    assert [result.settings for result in failed] == [{"augment.crop_scale_min": 0.9,
                                                      "augment.crop_scale_max": 0.5}]
    assert "augment.crop_scale_min" in failed[0].error and failed[0].score is None
    assert results[-1] == failed[0]  # ranked after every scored trial
    assert sum(result.state == "finished" for result in results) == 3


@register_task("test_sweep_diverges")
class DivergesWhenAsked(PretextTask):
    """Test task: a real loss on the encoder's features that turns NaN at the second step when `diverge` is on."""

    description = "test only"

    @dataclass
    class Config(TaskConfig):
        diverge: bool = setting(False, "Turn the loss NaN at the second step.")

    def __init__(self, cfg, encoder, embed_dim):
        super().__init__(cfg, encoder, embed_dim)
        self.calls = 0

    def training_step(self, images, augment, context=None):
        self.calls += torch.is_grad_enabled()
        features = self.encoder(augment(images))
        loss = features.pow(2).mean()
        return TaskOutput(loss=loss * float("nan") if self.cfg.diverge and self.calls >= 2 else loss,
                          embeddings=features.detach())


def test_a_trial_whose_loss_turns_nan_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path, data):
    space = {"task": ["test_sweep_diverges"], "tasks.test_sweep_diverges.diverge": [False, True]}
    folder = create_sweep(write_spec(tmp_path, data, space, trials=2, sampler="grid"), tmp_path / "sweep")
    results = Sweep(folder).run()
    assert [(result.settings["tasks.test_sweep_diverges.diverge"], result.state) for result in results] == \
        [(False, "finished"), (True, "failed")]
    assert "NaN" in results[1].error and results[1].score is None


def test_spec_errors_name_the_field(tmp_path, data):
    def problems(spec: dict) -> dict[str, str]:
        with pytest.raises(ConfigError) as caught:
            parsed = parse_spec(spec)
            check_space(parsed, base_config(parsed, tmp_path))
        return dict(caught.value.problems)

    assert "trials" in problems({"trials": 0, "space": {"train.lr": [0.1]}})
    assert "space" in problems({"trials": 2})
    assert set(problems({"sampler": "grid", "space": {"train.lr": {"log_uniform": [0, 1]},
                                                      "train.seed": {"int": [1, 3]}}})) == \
        {"space.train.lr.log_uniform", "space.train.seed"}
    assert "no such setting" in problems({"space": {"train.lrr": [0.1]}})["space.train.lrr"]
    assert "must be <= 10.0" in problems({"space": {"train.lr": [0.1, 20.0]}})["space.train.lr"]
    assert "nosuch" in problems({"space": {"task": ["simclr", "nosuch"]}})["space.task"]
    assert "never train moco" in problems({"space": {"tasks.moco.temperature": [0.1]}})["space.tasks.moco.temperature"]
    assert "settings.train.steps" in problems({"settings": {"train.steps": 0}, "space": {"train.lr": [0.1]}})
    example = parse_spec(yaml.safe_load(EXAMPLE))
    check_space(example, base_config(example, tmp_path))  # the printed example is a valid spec


def test_the_command_line_sweeps_resumes_and_explains_bad_specs(tmp_path, data):
    spec = write_spec(tmp_path, data, {"train.lr": [1e-3, 3e-3]}, trials=2, sampler="grid")
    result = run_cli("sweep", spec, "--out", tmp_path / "sweep")
    assert result.returncode == 0, result.stderr
    ranking = result.stdout.splitlines()[-3:]
    assert ranking[0].split()[:4] == ["#", "trial", "state", "score"]
    assert all("finished" in line and "train.lr=" in line for line in ranking[1:])
    again = run_cli("sweep", "--resume", tmp_path / "sweep")
    assert again.returncode == 0, again.stderr
    assert "Trial " not in again.stdout and again.stdout.splitlines()[-2:] == ranking[1:]
    example = run_cli("sweep", "--example")
    assert example.returncode == 0 and yaml.safe_load(example.stdout)["sampler"] == "tpe"
    spec.write_text(yaml.safe_dump({"base": "base.yaml", "space": {"train.lr": {"uniform": [1, 0]}}}))
    bad = run_cli("sweep", spec, "--out", tmp_path / "other")
    assert bad.returncode == 2 and "space.train.lr.uniform: low must be below high" in bad.stderr


def test_the_runs_page_shows_a_sweeps_scores_and_sorts_by_them(qtbot, tmp_path, data):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtWidgets import QApplication

    from gui_helpers import show_widget
    from workbench.gui.panels.runs import COLUMNS, RunsPanel
    from workbench.gui.workers import finish_running_jobs

    unlabelled = tmp_path / "unlabelled"  # no class folders: the score is RankMe
    unlabelled.mkdir()
    for number, image in enumerate(sorted(data.rglob("*.png"))):
        shutil.copy(image, unlabelled / f"{number}.png")
    folder = create_sweep(write_spec(tmp_path, unlabelled, SPACE), tmp_path / "sweep")
    results = Sweep(folder).run()
    assert {result.metric for result in results} == {"effective_rank"}
    panel = show_widget(qtbot, RunsPanel(), 1200, 700)
    panel.set_out_dir(folder)
    qtbot.waitUntil(lambda: not panel.loading() and panel.table.rowCount() == 3, timeout=15000)
    QApplication.processEvents()  # the columns take their widths
    score = COLUMNS.index("Score")
    header = panel.table.horizontalHeader()
    click = QPoint(header.sectionViewportPosition(score) + header.sectionSize(score) // 2, 5)
    assert header.logicalIndexAt(click) == score
    for _ in range(2):  # the first click sorts ascending, the second descending
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=click)
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert [panel.table.item(row, 0).text() for row in range(3)] == [result.run for result in results]
    assert [panel.table.item(row, score).text() for row in range(3)] == \
        [f"RankMe {result.score:.1f}" for result in results]
    panel.shutdown()
    finish_running_jobs()
