"""Collapse and divergence warnings: fire when they should, once, and not on healthy runs."""
from workbench.engine.health import COLLAPSE_STD, CollapseDetector, DimensionalCollapseDetector, DivergenceDetector


def test_collapse_warns_once_per_episode_and_not_at_step_zero():
    detector = CollapseDetector()
    assert detector.check(0, 0.01) is None  # random init may be narrow: no warning before training
    assert detector.check(10, 0.5) is None
    message = detector.check(20, COLLAPSE_STD / 2)
    assert "collapsing" in message and "learning rate" in message
    assert detector.check(30, 0.01) is None
    assert detector.check(40, 0.4) is None
    assert detector.check(50, 0.02) is not None


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


def test_dimensional_collapse_is_a_rank_far_below_its_best_with_healthy_spread():
    detector = DimensionalCollapseDetector()
    assert detector.check(0, 40.0, 0.5) is None
    assert detector.check(10, 30.0, 0.5) is None
    assert detector.check(20, 3.0, 0.05) is None  # full collapse is the other detector's message
    message = detector.check(30, 4.0, 0.4)
    assert "fewer and fewer directions" in message and "VICReg" in message
    assert detector.check(40, 2.0, 0.4) is None
