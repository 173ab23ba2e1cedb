"""The run verdict: its rules on histories recorded from real short runs, and on synthetic loss curves."""
from __future__ import annotations

import pytest

from engine_helpers import tiny_config, tiny_dataset
from workbench.control import RunControl
from workbench.engine.events import EvalEvent, StepEvent, VerdictEvent, WarningEvent
from workbench.engine.health import DimensionalCollapseDetector
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.engine.verdict import (COLLAPSING, DIVERGING, ENDED_LEARNING_MESSAGE, LEARNING, LEARNING_MESSAGE,
                                      PLATEAUED, TOO_LITTLE_DATA, VerdictJudge)
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
    out = capsys.readouterr().out
    assert "verdict @ step 12: Learning" in out and "Let it run." in out
    assert "verdict @ step 16: Still improving when the run ended" in out  # the last step: not told to keep going


def test_learning_at_the_last_step_says_the_run_ended_and_the_advice_works(tmp_path):
    losses = [3.0 - 0.1 * step for step in range(20)]
    history = _history(losses, [HEALTHY] * 4)  # evaluations at steps 5, 10, 15 and 20, the last step
    judge = VerdictJudge(["simclr"])
    said = {}
    for event in history:
        judge.add(event)
        if isinstance(event, EvalEvent):
            said[event.step] = judge.verdict()
    assert {verdict.verdict for verdict in said.values()} == {LEARNING}
    assert all(said[step].message == LEARNING_MESSAGE for step in (5, 10, 15))
    assert said[20].message == ENDED_LEARNING_MESSAGE and "Let it run" not in said[20].message
    # what it advises works: a longer run that starts from the ended run's last checkpoint
    events = _recorded(tmp_path / "first", {"simclr": {}}, steps=4)
    checkpoint = RunFolder(events[0].run_dir).latest_checkpoint()
    data = tiny_dataset(tmp_path / "data", per_class=4)
    longer = Trainer(tiny_config(data, tmp_path / "runs", model={"init_weights": str(checkpoint)},
                                 train={"steps": 6, "threads": 1})).run()
    assert type(longer).__name__ == "FinishedEvent" and longer.step == 6
    started = [event for event in RunFolder(longer.run_dir).read_events() if "started from" in str(event)]
    assert started, "the longer run does not say it started from the checkpoint"


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


def _rank_history(ranks: list[float]) -> list:
    """A run's record: a falling loss, and an evaluation every 4 steps with each RankMe of `ranks`, from step 0."""
    losses = [3.0 - 0.05 * step for step in range(4 * (len(ranks) - 1))]
    evaluations = [dict(HEALTHY, effective_rank=rank) for rank in ranks[1:]]
    return [EvalEvent(0, 0.0, dict(HEALTHY, effective_rank=ranks[0])), *_history(losses, evaluations)]


def _few_directions(events, history=()) -> tuple[list[int], list[int]]:
    """As the trainer feeds them `events` (after a resumed run's `history`): the steps of the health warning
    "fewer and fewer directions" and of the verdict "collapsing to a few directions"."""
    detector = DimensionalCollapseDetector(history=history)
    judge = VerdictJudge(["simclr"], history=history)
    warned, judged = [], []
    for event in events:
        judge.add(event)
        if isinstance(event, EvalEvent):
            if detector.check(event):
                warned.append(event.step)
            verdict = judge.verdict()
            if verdict and verdict.message.startswith("Collapsing to a few directions"):
                judged.append(event.step)
    return warned, judged


def test_a_high_rank_random_init_then_a_stable_rank_is_learning_without_a_warning():
    events = _rank_history([101.0, 12.0, 11.0, 12.5, 11.8])  # 12 is below 15% of 101: step 0 must not count
    assert _few_directions(events) == ([], [])
    assert VerdictJudge(["simclr"], history=events).verdict().verdict == LEARNING


def test_a_rank_drop_after_training_is_warned_and_judged_at_the_same_step():
    warned, judged = _few_directions(_rank_history([101.0, 30.0, 28.0, 3.5, 3.0]))
    assert warned == [12] and judged == [12, 16]  # the warning once, the verdict while it lasts


@pytest.mark.parametrize("resumed_after", [4, 8, 12])
def test_after_a_resume_the_earlier_history_counts_for_warning_and_verdict(resumed_after):
    events = _rank_history([101.0, 30.0, 28.0, 3.5, 3.0])
    before = [event for event in events if event.step <= resumed_after]
    after = [event for event in events if event.step > resumed_after]
    warned, judged = _few_directions(after, history=before)
    assert judged == [step for step in (12, 16) if step > resumed_after]
    assert warned == ([12] if resumed_after < 12 else [])  # given before the resume: not given again
    assert _few_directions([event for event in events if event.step > 8]) == ([], [])  # alone, 3.5 is the best


def test_a_resumed_real_run_says_what_its_whole_record_says(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_class=4)
    config = tiny_config(data, tmp_path / "runs", train={"steps": 12, "log_every": 2, "checkpoint_every": 6,
                                                         "warmup_steps": 0, "threads": 1, "lr": 2e-3},
                         eval={"every_steps": 4}, augment=WEAK_AUGMENT)
    control = RunControl()
    trainer = Trainer(config, control=control)
    trainer.run(lambda event: control.cancel() if isinstance(event, StepEvent) and event.step == 6 else None)
    live = []
    final = Trainer(run_dir=trainer.run_dir, resume=True).run(live.append)
    assert type(final).__name__ == "FinishedEvent" and final.step == 12
    record = RunFolder(trainer.run_dir).read_events()
    judge, replayed = VerdictJudge(["simclr"]), []
    for event in record:
        judge.add(event)
        if isinstance(event, EvalEvent) and judge.verdict():
            replayed.append((event.step, judge.verdict().message))
    said = [(event.step, event.message) for event in record if isinstance(event, VerdictEvent)]
    assert said == replayed and [step for step, _ in said] == [4, 8, 12]
    warnings = [event.message for event in live if isinstance(event, WarningEvent)]
    assert not any("directions" in message for message in warnings)
    assert _few_directions(record)[0] == []
