"""Honest curves (issue 19): a smoothed loss that does not lag, legends, per-task plots, plots that save
themselves, class colours that do not repeat, and a resumed run that shows its whole history."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QRectF, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QScrollArea  # noqa: E402

from gui_helpers import tiny_settings, write_class_folder  # noqa: E402
from workbench.config import DataConfig  # noqa: E402
from workbench.engine.events import EvalEvent, FinishedEvent, StepEvent  # noqa: E402
from workbench.gui.embedding import EmbeddingView  # noqa: E402
from workbench.gui.history import SMOOTHING_HALF_WIDTH, MetricHistory  # noqa: E402
from workbench.gui.plots import PLOT_HEIGHT, PLOTS, TICK_GAP, MonitorPlots, save_plot  # noqa: E402

SHOTS = Path("/tmp/shots19")


def falling_loss_history(steps: int = 100, tasks: bool = True) -> MetricHistory:
    """A loss falling fast from 6 to about 2 with noise, logged every step; with two tasks' losses and a metric."""
    rng = np.random.default_rng(0)
    history = MetricHistory()
    for step in range(1, steps + 1):
        trend = 2 + 4 * np.exp(-step / 20)
        values = {"loss": float(trend + rng.normal(0, 0.3)), "lr": 0.1}
        if tasks:
            values.update({"simclr/loss": trend * 0.6, "rotation/loss": trend * 0.4,
                           "rotation/accuracy": 1 - np.exp(-step / 30)})
        history.add(StepEvent(step, step / 10, steps, values))
        if step % 10 == 0:
            history.add(EvalEvent(step, step / 10, {"embedding_std": 0.3, "effective_rank": 9.0, "knn_accuracy": 0.5}))
    return history


def shown_plots(qtbot, history: MetricHistory) -> MonitorPlots:
    plots = MonitorPlots()
    qtbot.addWidget(plots)
    plots.resize(1100, 800)
    plots.set_runs([("this run", history)])
    plots.show()
    qtbot.waitExposed(plots)
    return plots


def test_smoothed_loss_follows_the_trend_and_both_lines_are_named(qtbot):
    history = falling_loss_history()
    plots = shown_plots(qtbot, history)
    steps, smoothed = history.series("loss_smoothed")
    trend = 2 + 4 * np.exp(-steps / 20)
    inner = slice(SMOOTHING_HALF_WIDTH, -SMOOTHING_HALF_WIDTH)  # the last points are averaged over fewer
    assert np.abs(smoothed[inner] - trend[inner]).max() < 0.35  # the old EMA was 0.77 above the trend at step 20
    assert abs(np.mean(smoothed[inner] - trend[inner])) < 0.05  # no lag: as often below the trend as above
    assert plots.point_count("loss_smoothed") == plots.point_count("loss") == 100
    labels = plots.legend_labels("loss")
    assert labels[0] == "raw" and labels[1].startswith("smoothed (centred")
    assert plots.legend_labels("lr") == []  # one line: no legend


def test_task_plots_show_each_task_with_a_legend_only_when_the_run_has_them(qtbot):
    plots = shown_plots(qtbot, falling_loss_history())
    assert plots.plots["task_losses"].isVisible() and plots.plots["task_metrics"].isVisible()
    assert plots.legend_labels("task_losses") == ["simclr", "rotation"]
    assert plots.point_count("rotation/loss") == 100 and plots.point_count("rotation/accuracy") == 100

    plots.set_runs([("plain", falling_loss_history(tasks=False))])
    assert not plots.plots["task_losses"].isVisible() and not plots.plots["task_metrics"].isVisible()
    plots.set_runs([("a", falling_loss_history()), ("b", falling_loss_history(tasks=False))])
    assert plots.legend_labels("lr") == ["a", "b"]
    assert plots.plots["task_losses"].isVisible()


def test_squeezed_plots_scroll_and_keep_their_ticks_apart_and_legends_whole(qtbot):
    history = falling_loss_history()
    for step in (10, 20, 30):
        history.add(EvalEvent(step, step / 10, {"effective_rank": 20.0 + step, "lidar": 45.0 - step}))
    for step in range(101, 106):
        history.add(StepEvent(step, step / 10, 105, {"loss": 2.0, "simclr/positive_cosine": 0.6}))
    plots = MonitorPlots()
    qtbot.addWidget(plots)
    plots.resize(600, 470)  # the Curves tab of Train & monitor in a 1280 x 720 window
    plots.set_runs([("this run", history)])
    plots.show()
    qtbot.waitExposed(plots)
    qtbot.wait(50)  # the legends are laid out at the next event loop pass
    scroll = plots.findChild(QScrollArea)
    assert scroll.verticalScrollBar().maximum() > 0  # the grid scrolls instead of squashing its plots
    for key, plot in plots.plots.items():
        assert plot.height() >= PLOT_HEIGHT, key
        axis = plot.getAxis("left")
        low, high = plot.viewRange()[1]
        major = axis.tickSpacing(low, high, axis.height())[0][0]
        assert major * axis.height() / (high - low) >= TICK_GAP, key  # y labels never touch
    assert set(plots.legends) == {"loss", "effective_rank", "task_losses", "task_metrics"}
    for key, legend in plots.legends.items():
        assert QRectF(plots.plots[key].rect()).contains(legend.sceneBoundingRect()), key  # nothing cut off
    rankme, lidar = (item.opts["pen"].color() for item in plots.plots["effective_rank"].listDataItems())
    assert rankme != lidar  # one run: each value its own colour, not only its own dash

    plots.set_runs([("a", history), ("b", history)])
    a_rankme, _a_lidar, b_rankme, _b_lidar = (item.opts["pen"].color()
                                            for item in plots.plots["effective_rank"].listDataItems())
    assert a_rankme == rankme != b_rankme  # several runs: one colour per run


def test_a_per_task_plot_shown_alone_takes_the_whole_row(qtbot):
    history = falling_loss_history(tasks=False)
    for step in range(1, 11):
        history.add(StepEvent(step, step / 10, 10, {"simclr/positive_cosine": 0.5, "simclr/negative_cosine": 0.1}))
    plots = shown_plots(qtbot, history)
    metrics, losses, loss, lr = (plots.plots[key] for key in ("task_metrics", "task_losses", "loss", "lr"))
    assert metrics.isVisible() and not losses.isVisible()
    assert metrics.x() == loss.x() and metrics.geometry().right() == lr.geometry().right()  # no empty cell


def test_the_knn_plot_names_its_level_at_the_start_in_a_run_read_from_disk(qtbot):
    history = MetricHistory()
    history.add(EvalEvent(0, 0.0, {"knn_accuracy": 0.25}))
    history.add(EvalEvent(10, 1.0, {"knn_accuracy": 0.5}))
    plots = MonitorPlots()  # as on the Runs page: filled before it is shown
    qtbot.addWidget(plots)
    plots.set_runs([("finished", history)])
    line = next(item for item in plots.plots["knn_accuracy"].plotItem.items if isinstance(item, pg.InfiniteLine))
    assert line.isVisible() and line.label.textItem.toPlainText() == "at start: 25%"


def test_every_plot_saves_as_png_svg_and_csv(qtbot, tmp_path):
    plots = shown_plots(qtbot, falling_loss_history())
    for spec in PLOTS:
        plot = plots.plots[spec.key]
        image = QImage(str(save_plot(plot, tmp_path / f"{spec.key}.png")))
        assert image.width() > 100, spec.key
        assert "<svg" in save_plot(plot, tmp_path / f"{spec.key}.svg").read_text(encoding="utf-8")
        rows = list(csv.reader(save_plot(plot, tmp_path / f"{spec.key}.csv").open(encoding="utf-8")))
        assert len(rows) >= 11, spec.key  # header and at least the ten evaluations
    header = next(csv.reader((tmp_path / "loss.csv").open(encoding="utf-8")))
    assert header[:2] == ["raw_x", "raw_y"] and header[2].startswith("smoothed")


def test_right_click_menu_saves_the_plot(qtbot, tmp_path, monkeypatch):
    plots = shown_plots(qtbot, falling_loss_history())
    plot = plots.plots["lr"]
    menu = plots.save_menus["lr"]
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.RightButton, pos=plot.viewport().rect().center())
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    target = tmp_path / "chosen"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), ""))
    titles = [action.text() for action in menu.actions()]
    assert titles == ["Save PNG image…", "Save SVG image…", "Save data as CSV…"]
    menu.actions()[2].trigger()
    assert (tmp_path / "chosen.csv").read_text(encoding="utf-8").startswith("Learning rate_x")


def test_ten_classes_get_ten_colours_and_the_legend_covers_no_point(qtbot, tmp_path):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 8)
    points = rng.normal(size=(80, 2)) + labels[:, None] * 2.0
    path = tmp_path / "embedding_map.json"
    path.write_text(json.dumps({"step": 5, "method": "pca", "points": points.tolist(), "labels": labels.tolist(),
                                "paths": [f"x{i}.png" for i in range(80)], "frames": [0] * 80,
                                "class_names": [f"class {i}" for i in range(10)], "loss": None}))
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    assert view.show_map(path, DataConfig(root=str(tmp_path)))
    colours = view.point_colours()
    assert len({colours[row] for row in np.flatnonzero(np.diff(labels, prepend=-1))}) == 10
    assert len(view.legend.items) == 10
    legend, points = view.legend, view.plot.plotItem.vb
    qtbot.waitUntil(lambda: legend.sceneBoundingRect().width() > 60)  # laid out at the next event loop pass
    assert legend.sceneBoundingRect().left() >= points.sceneBoundingRect().right() - 1  # (its border pen)
    SHOTS.mkdir(exist_ok=True)
    assert view.grab().save(str(SHOTS / "embedding_10_classes.png"))
    view.shutdown()


@pytest.mark.slow
def test_stopped_then_resumed_run_shows_its_whole_history_and_its_last_step(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "images", per_class=4)
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))
    tiny_settings(window, tmp_path / "runs", steps=60)
    window.tasks_panel.cards["simclr"].checkbox.setChecked(True)
    window.tasks_panel.cards["rotation"].checkbox.setChecked(True)
    train = window.train_panel
    with qtbot.waitSignal(train.run_ended, timeout=60000) as ended:
        window.start_training()
        qtbot.waitUntil(lambda: train.history.last_step is not None and train.history.last_step.step >= 21,
                        timeout=60000)
        train.stop()
    stopped = train.final_event
    assert isinstance(stopped, FinishedEvent) and stopped.stopped
    assert train.stat_labels["step"].text() == f"{stopped.step:,} / 60"
    assert train.progress.value() == stopped.step and train.stat_labels["eta"].text() == "–"
    train.tabs.setCurrentWidget(train.plots)
    qtbot.wait(300)
    SHOTS.mkdir(exist_ok=True)
    train.grab().save(str(SHOTS / "train_after_short_run.png"))

    with qtbot.waitSignal(train.run_ended, timeout=60000):
        window.resume_run(ended.args[0])
    assert isinstance(train.final_event, FinishedEvent) and train.final_event.step == 60
    recorded = MetricHistory.of_run(ended.args[0])
    assert train.history.first("loss")[0] == recorded.first("loss")[0] == 2
    assert train.history.count("loss") == recorded.count("loss") == 30
    train.plots.refresh()
    assert train.plots.point_count("loss") == 30
    assert train.plots._knn_reference.isVisible()
    assert train.stat_labels["step"].text() == "60 / 60"
    qtbot.wait(300)
    assert set(train.plots.legend_labels("task_losses")) == {"simclr", "rotation"}
    train.grab().save(str(SHOTS / "train_resumed.png"))
