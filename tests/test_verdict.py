"""The run verdict: its rules on histories recorded from real short runs, and on synthetic loss curves."""
from __future__ import annotations

import pytest

from engine_helpers import tiny_config, tiny_dataset
from workbench.engine.events import EvalEvent, StepEvent, VerdictEvent
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.engine.verdict import (COLLAPSING, DIVERGING, LEARNING, PLATEAUED, TOO_LITTLE_DATA,
                                      VerdictJudge)
from workbench.cli.progress import ConsoleReporter

WEAK_AUGMENT = {"crop_scale_min": 0.8, "color_jitter_p": 0.0, "blur_p": 0.0, "grayscale_p": 0.0}


def _recorded(tmp_path, tasks: dict, steps: int, **train):
    """The events a real run recorded in its metrics.jsonl."""
    data = tiny_dataset(tmp_path / "data", per_class=4)
    config = tiny_config(data, tmp_path / "runs", tasks=tasks, model={"backbone": train.pop("backbone", "small_cnn"),
                                                                      "patch_size": 8},
                         train={"steps": steps, "log_every": 1, "warmup_steps": 0, "threads": 1, **train},
                         eval={"every_steps": 4}, augment=WEAK_AUGMENT)
    final = Trainer(config).run()
    assert type(final).__name__ == "FinishedEvent", final
    return RunFolder(final.run_dir).read_events()


def _verdicts(events) -> list[str]:
    return [event.verdict for event in events if isinstance(event, VerdictEvent)]


def test_a_healthy_simclr_run_is_learning_and_says_so_at_each_evaluation(tmp_path, capsys):
    events = _recorded(tmp_path, {"simclr": {}}, steps=16, lr=2e-3)
    evaluations = [event for event in events if isinstance(event, EvalEvent)]
    assert all("lidar" in event.values and event.values["lidar"] >= 1 for event in evaluations)
    assert _verdicts(events) == [LEARNING] * (len(evaluations) - 1)  # none for the random-init evaluation
    judge = VerdictJudge(["simclr"], history=events)  # the record alone gives the same verdict
    assert judge.verdict().verdict == LEARNING
    reporter = ConsoleReporter()
    for event in events:
        reporter(event)
    assert "verdict @ step 16: Learning" in capsys.readouterr().out


def test_simsiam_without_stop_gradient_is_called_collapsing(tmp_path):
    events = _recorded(tmp_path, {"simsiam": {"projector_hidden_dim": 64, "stop_gradient": False}}, steps=16,
                       backbone="vit_tiny", lr=1e-2)
    verdicts = [event for event in events if isinstance(event, VerdictEvent)]
    assert verdicts[-1].verdict == COLLAPSING and "learning rate" in verdicts[-1].message


def _history(losses: list[float], evaluations: list[dict], epoch_per_step: float = 0.5):
    steps = [StepEvent(step, step * epoch_per_step, len(losses), {"loss": loss})
             for step, loss in enumerate(losses, start=1)]
    every = len(losses) // len(evaluations)
    evals = [EvalEvent(every * (index + 1), every * (index + 1) * epoch_per_step, values)
             for index, values in enumerate(evaluations)]
    return sorted([*steps, *evals], key=lambda event: (event.step, isinstance(event, EvalEvent)))


HEALTHY = {"embedding_std": 0.4, "effective_rank": 20.0, "lidar": 10.0, "knn_accuracy": 0.6}


def test_a_flat_loss_with_flat_signals_has_plateaued_with_advice_for_the_task():
    losses = [3.0 - 0.1 * step for step in range(10)] + [2.0] * 20
    judge = VerdictJudge(["mae"], history=_history(losses, [HEALTHY] * 5))
    verdict = judge.verdict()
    assert verdict.verdict == PLATEAUED and "more steps will not help much" in verdict.message
    assert "mask ratio" in verdict.message
    rising = [dict(HEALTHY, lidar=10.0 + index) for index in range(5)]  # the embeddings still improve
    assert VerdictJudge(["mae"], history=_history(losses, rising)).verdict().verdict == LEARNING


def test_a_loss_back_above_its_start_is_diverging():
    losses = [3.0, 2.5, 2.0, 1.8, 2.2, 2.9, 3.4, 3.6]
    verdict = VerdictJudge(["simclr"], history=_history(losses, [HEALTHY] * 2)).verdict()
    assert verdict.verdict == DIVERGING and "learning rate" in verdict.message


def test_memorising_a_small_dataset_is_too_little_data():
    losses = [3.0 - 0.08 * step for step in range(30)]
    knn = [dict(HEALTHY, knn_accuracy=value) for value in (0.5, 0.6, 0.55, 0.45, 0.4)]
    verdict = VerdictJudge(["simclr"], history=_history(losses, knn, epoch_per_step=2.0)).verdict()
    assert verdict.verdict == TOO_LITTLE_DATA and "more images" in verdict.message
    few_epochs = VerdictJudge(["simclr"], history=_history(losses, knn, epoch_per_step=0.5)).verdict()
    assert few_epochs.verdict == LEARNING


@pytest.mark.parametrize("values", [{"embedding_std": 0.05}, {"effective_rank": 1.5}])
def test_lost_spread_or_directions_are_collapsing(values):
    evaluations = [HEALTHY, dict(HEALTHY, **values)]
    verdict = VerdictJudge(["byol"], history=_history([3.0, 2.9, 2.8, 2.7], evaluations)).verdict()
    assert verdict.verdict == COLLAPSING
