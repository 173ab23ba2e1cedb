"""The embedding map, the stall monitor and the GUI benchmark, in the real window with real training."""
from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from gui_helpers import CLASSES, tiny_settings, use_private_settings, write_class_folder  # noqa: E402
from workbench.engine.embedding_map import MAP_NAME, EmbeddingMap  # noqa: E402
from workbench.gui.stall import StallMonitor  # noqa: E402

pytestmark = pytest.mark.slow


def test_training_draws_the_embedding_map_and_hover_shows_the_image(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "images", per_class=4)
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))
    tiny_settings(window, tmp_path / "runs", steps=10)
    train = window.train_panel
    with qtbot.waitSignal(train.run_ended, timeout=60000) as ended:
        window.start_training()
    written = EmbeddingMap.read(os.path.join(ended.args[0], MAP_NAME))
    view = train.embedding_view
    assert "Longest event-loop stall" in train.log.toPlainText()
    train.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.plot.isVisible())
    assert written.step == 10 and view.map.step == 10
    assert view.point_count() == len(written.points) == 12
    assert {label.text for _sample, label in view.legend.items} == set(CLASSES)
    qtbot.mouseMove(view.plot.viewport(), view.point_position(3))
    qtbot.waitUntil(lambda: view.hovered is not None, timeout=5000)
    label = written.labels[view.hovered]
    assert view.hover_text().startswith(written.class_names[label] + " — ")
    assert written.paths[view.hovered] in view.hover_text()
    qtbot.waitUntil(view.thumbnail_shown, timeout=10000)
    assert view.preview.isVisible()

    exported = tmp_path / "map.png"
    assert view.export_png(exported)
    assert QImage(str(exported)).width() > 100

    window.show_step("Runs")
    runs = window.runs_panel
    runs.tabs.setCurrentWidget(runs.embedding_view)
    qtbot.waitUntil(lambda: not runs.loading() and runs.select_run(ended.args[0]), timeout=10000)
    assert runs.embedding_view.point_count() == 12


def test_stall_monitor_measures_a_blocked_event_loop(qtbot):
    monitor = StallMonitor()
    monitor.start()
    qtbot.wait(50)
    time.sleep(0.3)  # the GUI thread is busy: no tick can run
    qtbot.wait(30)
    longest = monitor.stop()
    assert longest >= 250
    assert not monitor.running()


def test_gui_benchmark_times_both_ways_and_reports_the_stall(qapp, monkeypatch, tmp_path):
    from workbench.gui.bench import run_gui_benchmark

    use_private_settings(monkeypatch, tmp_path)
    seen = []
    result = run_gui_benchmark(steps=3, rounds=1, on_round=lambda *figures: seen.append(figures))
    assert len(seen) == 1 and seen[0][0] == 1
    headless, gui = result["rounds"][0]
    assert headless > 0 and gui > 0
    assert result["ratio"] == gui / headless
    assert result["longest_stall_ms"] >= 0
