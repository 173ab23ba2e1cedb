"""Collapse and divergence warnings: fire when they should, once, and not on healthy runs."""
from workbench.engine.events import EvalEvent
from workbench.engine.health import (COLLAPSE_STD, CollapseDetector, DimensionalCollapseDetector, DivergenceDetector,
                                     RankCollapse, rank_collapse)


def test_collapse_warns_once_per_episode_and_not_at_step_zero():
    detector = CollapseDetector()
    assert detector.check(0, 0.01) is None  # random init may be narrow: no warning before training
    assert detector.check(10, 0.5) is None
    message = detector.check(20, COLLAPSE_STD / 2)
    assert "collapsing" in message and "learning rate" in message
    assert detector.check(30, 0.01) is None
    assert detector.check(40, 0.4) is None
    assert detector.check(50, 0.02) is not None


def test_a_collapse_warned_of_before_a_resume_is_not_warned_of_again():
    before = [_evaluation(10, 30.0), _evaluation(20, 30.0, spread=COLLAPSE_STD / 2)]  # warned at step 20
    assert CollapseDetector().check(30, 0.01) is not None  # without the history, the resumed run would warn again
    resumed = CollapseDetector(history=before)
    assert resumed.check(30, 0.01) is None
    assert resumed.check(40, 0.4) is None and resumed.check(50, 0.02) is not None  # a new episode still warns


def test_divergence_needs_a_fall_then_a_climb_past_the_start():
    detector = DivergenceDetector(warmup_steps=5)
    for step, loss in [(5, 5.0), (10, 4.0), (15, 3.5), (20, 4.9), (25, 5.0)]:
        assert detector.check(step, loss) is None
    message = detector.check(30, 5.3)
    assert "diverging" in message and "5.3000" in message and "3.5000" in message
    assert detector.check(35, 9.0) is None  # said once


def test_divergence_works_for_negative_losses_and_ignores_warmup():
    detector = DivergenceDetector(warmup_steps=20)
    assert detector.check(5, -0.2) is None
    assert detector.check(10, -0.9) is None
    assert detector.check(15, 0.5) is None  # still warming up
    assert detector.check(25, -0.95) is None
    assert detector.check(30, -0.05) is not None


def test_a_loss_that_never_falls_is_not_called_diverging():
    detector = DivergenceDetector(warmup_steps=0)
    assert all(detector.check(step, 1.0 + step) is None for step in range(1, 10))


def _evaluation(step: int, rank: float, spread: float = 0.4) -> EvalEvent:
    return EvalEvent(step, step / 10, {"embedding_std": spread, "effective_rank": rank})


def test_dimensional_collapse_is_a_rank_far_below_its_best_with_healthy_spread():
    detector = DimensionalCollapseDetector()
    assert detector.check(_evaluation(0, 40.0)) is None
    assert detector.check(_evaluation(10, 30.0)) is None
    assert detector.check(_evaluation(20, 3.0, spread=0.05)) is None  # full collapse is the other detector's message
    message = detector.check(_evaluation(30, 4.0))
    assert "fewer and fewer directions" in message and "down from 30.0" in message and "VICReg" in message
    assert detector.check(_evaluation(40, 2.0)) is None


def test_the_random_init_rank_is_no_best_to_fall_from():
    history = [_evaluation(0, 101.0), _evaluation(10, 12.0), _evaluation(20, 11.5), _evaluation(30, 12.5)]
    detector = DimensionalCollapseDetector()
    assert [detector.check(evaluation) for evaluation in history] == [None] * 4  # 12 < 15% of 101, yet no warning
    assert rank_collapse(history) is None
    assert rank_collapse(history + [_evaluation(40, 1.5)]) == RankCollapse(40, 1.5, 12.5)


def test_a_resumed_runs_earlier_evaluations_count_and_a_given_warning_is_not_repeated():
    before = [_evaluation(0, 101.0), _evaluation(10, 30.0), _evaluation(20, 28.0)]
    assert DimensionalCollapseDetector().check(_evaluation(30, 4.0)) is None  # alone, 4.0 is its own best
    assert "down from 30.0" in DimensionalCollapseDetector(history=before).check(_evaluation(30, 4.0))
    warned_before = DimensionalCollapseDetector(history=[*before, _evaluation(30, 4.0)])
    assert warned_before.check(_evaluation(40, 3.0)) is None
