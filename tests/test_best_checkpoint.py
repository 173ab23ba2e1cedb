"""The best checkpoint without labels: kept as checkpoints/best.pt at the best-scoring evaluation, the default
of export and probe (which say so), kept across a resume, and offered first in the GUI's checkpoint drop-downs."""
from __future__ import annotations

import json

import pytest
import torch

from engine_helpers import tiny_config, tiny_dataset
from workbench.cli.main import main
from workbench.control import RunControl
from workbench.engine.best_checkpoint import BestKeeper, BestMarker, checkpoint_score, read_best
from workbench.engine.checkpoint import Checkpoint
from workbench.engine.checkpoint_choice import checkpoint_choices, choose_checkpoint
from workbench.engine.events import StepEvent
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench import load_encoder
from workbench.export import export_run
from workbench.export.description import SPEC_NAME, EncoderDescription
from workbench.export.exporter import encoder_from_checkpoint
from workbench.probes.defaults import Schedule
from workbench.probes.probe import run_probe
from workbench.tasks import load_config

SETTINGS = {"steps": 8, "checkpoint_every": 4, "log_every": 2}
EVALS = {"every_steps": 1, "subset_size": 24, "knn_k": 3}


def _evaluations(folder: RunFolder) -> dict[int, dict]:
    """The trained evaluations in the run's metrics.jsonl, by step."""
    records = [json.loads(line) for line in folder.metrics_path.read_text().splitlines()]
    return {r["step"]: r for r in records if r["event"] == "EvalEvent" and r["step"] > 0}


def _first_best(evaluations: dict[int, dict], key: str) -> int:
    best = max(values[key] for values in evaluations.values())
    return min(step for step, values in evaluations.items() if values[key] == best)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("data"), per_class=4)
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("runs"), train=SETTINGS, eval=EVALS))
    trainer.run()
    return RunFolder(trainer.run_dir)


def test_the_rule_is_knn_accuracy_with_labels_else_rankme():
    assert checkpoint_score({"effective_rank": 12.0, "knn_accuracy": 0.5}) == ("knn_accuracy", 0.5)
    assert checkpoint_score({"effective_rank": 12.0, "embedding_std": 0.3}) == ("effective_rank", 12.0)
    assert checkpoint_score({"effective_rank": float("nan")}) is None


def test_a_run_keeps_its_best_evaluation_as_best_pt_with_a_marker(run):
    marker = read_best(run)
    evaluations = _evaluations(run)
    assert marker.metric == "knn_accuracy"  # the demo data has labels
    assert marker.step == _first_best(evaluations, "knn_accuracy")
    assert marker.score == pytest.approx(evaluations[marker.step]["knn_accuracy"])
    saved = Checkpoint.load(run.checkpoints_dir / "best.pt")
    assert saved.step == marker.step
    record = json.loads((run.checkpoints_dir / "best.json").read_text())
    assert record["format_version"] == BestMarker.VERSION and record["step"] == marker.step
    # best.pt is saved at its evaluation, between the regular checkpoints, and is not one of them
    assert [p.name for p in run.checkpoints()] == ["step_00000004.pt", "step_00000008.pt"]


def test_without_labels_the_best_is_the_highest_rankme(tmp_path):
    classes = tiny_dataset(tmp_path / "classes", per_class=4)
    flat = tmp_path / "flat"
    flat.mkdir()
    for index, image in enumerate(sorted(classes.rglob("*.png"))):
        image.rename(flat / f"{index:03d}.png")  # no class folders: no labels
    trainer = Trainer(tiny_config(flat, tmp_path / "runs", train=SETTINGS, eval=EVALS))
    trainer.run()
    folder = RunFolder(trainer.run_dir)
    marker, evaluations = read_best(folder), _evaluations(folder)
    assert "knn_accuracy" not in evaluations[8] and marker.metric == "effective_rank"
    assert marker.step == _first_best(evaluations, "effective_rank")
    assert marker.describe() == f"best by RankMe, step {marker.step}"


def test_export_and_probe_default_to_the_best_and_name_it(run, capsys):
    marker = read_best(run)
    described = f"best by kNN accuracy, step {marker.step}"
    assert marker.describe() == described
    path = export_run(run.path, "safetensors")
    assert EncoderDescription.read(path.parent / SPEC_NAME).checkpoint == described
    best, _, _ = encoder_from_checkpoint(load_config(run.config_path), run.checkpoints_dir / "best.pt")
    last, _, _ = encoder_from_checkpoint(load_config(run.config_path), run.checkpoint_path(8))
    images = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        exported = load_encoder(path)(images)
        assert torch.allclose(exported, best(images), atol=1e-5)
        assert marker.step == 8 or not torch.allclose(exported, last(images), atol=1e-5)
    assert main(["export", str(run.path), "--format", "safetensors", "--checkpoint", "last"]) == 0
    assert "(last checkpoint, step 8)" in capsys.readouterr().out
    assert EncoderDescription.read(path.parent / SPEC_NAME).step == 8

    record = run_probe(run.path, fractions=(1.0,), seeds=1, supervised=False)
    assert record.step == marker.step and record.checkpoint == described
    older = run_probe(run.path, fractions=(1.0,), seeds=1, supervised=False,
                      checkpoint=run.checkpoint_path(4), scratch=Schedule(steps=2, batch_size=4))
    assert older.step == 4 and older.checkpoint == "checkpoint of step 4"


def test_the_choices_list_best_then_last_then_older_steps(run):
    marker = read_best(run)
    labels = [choice.label for choice in checkpoint_choices(run)]
    assert labels[0].startswith(f"best (step {marker.step}, kNN accuracy ") and labels[1:] == ["last (step 8)",
                                                                                                "step 4"]
    assert choose_checkpoint(run).path.name == "best.pt"
    assert choose_checkpoint(run, "last").path.name == "step_00000008.pt"
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        choose_checkpoint(run, run.path / "nope.pt")


def test_resume_keeps_the_best_and_the_marker_matches_the_whole_history(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_class=4)
    control = RunControl()

    def stop_at_four(event):
        if isinstance(event, StepEvent) and event.step == 4:
            control.cancel()

    trainer = Trainer(tiny_config(data, tmp_path / "runs", train=SETTINGS, eval=EVALS), control=control)
    trainer.run(stop_at_four)
    folder = RunFolder(trainer.run_dir)
    before = read_best(folder)
    assert before is not None and before.step <= 4
    Trainer(run_dir=trainer.run_dir, resume=True).run()
    after = read_best(folder)
    evaluations = _evaluations(folder)
    assert max(evaluations) == 8 and after.step == _first_best(evaluations, "knn_accuracy")
    if after.step <= 4:  # not beaten after the resume: the same checkpoint, kept
        assert after == before


def test_a_best_past_the_resumed_step_is_dropped_and_an_earlier_one_must_be_beaten(tmp_path):
    folder = RunFolder(tmp_path)
    checkpoint = Checkpoint(6, {"w": torch.zeros(1)}, {}, torch.get_rng_state(), {})
    assert BestKeeper(folder).offer(6, {"effective_rank": 5.0}, lambda: checkpoint)
    assert not BestKeeper(folder).offer(0, {"effective_rank": 50.0}, lambda: checkpoint)  # random init: reference
    kept = BestKeeper(folder, resumed_step=6)
    assert kept.best.step == 6 and not kept.offer(7, {"effective_rank": 4.0}, lambda: checkpoint)
    assert kept.offer(8, {"effective_rank": 6.0}, lambda: checkpoint) and read_best(folder).step == 8
    BestKeeper(folder, resumed_step=7)
    assert read_best(folder) is None and not (folder.checkpoints_dir / "best.pt").exists()


def test_the_export_and_evaluate_pages_offer_the_checkpoints_best_first(qtbot, run):
    from gui_helpers import show_widget
    from workbench.gui.panels.evaluate import EvaluatePanel
    from workbench.gui.panels.export import ExportPanel

    marker = read_best(run)
    expected = [choice.label for choice in checkpoint_choices(run)]
    exporter = show_widget(qtbot, ExportPanel(), 1000, 700)
    exporter.set_run(run.path)
    box = exporter.checkpoint_box
    assert [box.itemText(i) for i in range(box.count())] == expected and exporter.chosen_checkpoint() is None
    box.setCurrentIndex(1)  # last (step 8)
    with qtbot.waitSignal(exporter.exported, timeout=60_000) as done:
        exporter.export()
    assert EncoderDescription.read(done.args[0].replace("encoder.safetensors", SPEC_NAME)).step == 8
    exporter.set_run("")
    assert box.count() == 0 and not box.isEnabled()

    evaluator = show_widget(qtbot, EvaluatePanel(), 1200, 700)
    evaluator.set_run(run.path)
    box = evaluator.checkpoint_box
    assert [box.itemText(i) for i in range(box.count())] == expected and box.isVisible()
    assert expected[0].startswith(f"best (step {marker.step}, ")
