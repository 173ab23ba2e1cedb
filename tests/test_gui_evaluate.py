"""The Evaluate panel on a real tiny run: headline, probe table and chart, ranking grid with thumbnails, CSV."""
import csv

import pytest

pytest.importorskip("pytestqt")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QFontMetrics  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset, with_a_131_png_per_class  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.panels.evaluate import EvaluatePanel  # noqa: E402
from workbench.probes.defaults import Schedule  # noqa: E402
from workbench.probes.report import headline  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    data = with_a_131_png_per_class(tiny_dataset(tmp_path_factory.mktemp("eval-data"), per_class=4))
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("eval-runs"), train={"steps": 2}))
    trainer.run()
    return trainer.run_dir


def test_probe_fills_table_and_chart_and_ranking_fills_grid(qtbot, run_dir):
    panel = EvaluatePanel(fractions=(1.0,), seeds=1, scratch=Schedule(steps=2, batch_size=4))
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    assert not panel.probe_button.isEnabled() and panel.choose_button.isEnabled()
    for button in (panel.probe_button, panel.report_button, panel.rank_button, panel.choose_button):
        assert button.objectName() and button.accessibleName() and not button.icon().isNull()
    panel.set_run(run_dir)
    assert panel.probe_button.isEnabled() and panel.table.rowCount() == 0
    assert "not been probed" in panel.banner.text() and panel.headline.isHidden()
    with qtbot.waitSignal(panel.probe_finished, timeout=120_000) as blocker:
        panel.start_probe()
    panel.wait()
    record = blocker.args[0]
    methods = [panel.table.item(row, 0).text() for row in range(panel.table.rowCount())]
    assert methods[0] == "linear probe" and "supervised from scratch" in methods
    assert record.summary[0]["method"] == "linear probe" and "raw pixels, linear" in methods
    labels = [panel.table.item(row, 1).text() for row in range(panel.table.rowCount())]
    assert labels == [record.labels_used(1.0)] * len(methods) and labels[0].endswith(" labels)")
    assert [label for _, label in panel.chart.getAxis("bottom")._tickLevels[0]] == [labels[0]]
    assert f"Kept as {record.saved_as}." in panel.methods_caption.text() and "Raw pixels: the images as the run reads them" in \
        panel.methods_caption.text()
    assert panel.headline.text() == headline(record.summary, record.tasks) != ""
    assert not panel.table.verticalHeader().isVisible() and not panel.table.wordWrap()
    first_column = [panel.table.item(row, 0) for row in range(panel.table.rowCount())]
    assert all(QFontMetrics(item.font()).horizontalAdvance(item.text()) < panel.table.columnWidth(0)
               for item in first_column)  # no eliding
    best = max(entry["accuracy"] for entry in record.summary)
    assert [item.font().bold() for item in first_column] == [e["accuracy"] == best for e in record.summary]
    assert [bar.opts["name"] for bar in panel.bars()] == methods
    assert all(name in panel.chart_legend.text().replace("&nbsp;", " ") for name in methods)
    assert [label for _, label in panel.chart.getAxis("left")._tickLevels[0]][-1] == "100%"
    assert panel.chart.getAxis("bottom").labelText and panel.chart.getAxis("left").labelText == "Accuracy (%)"
    qtbot.wait(50)  # the value labels are placed at the next paint
    view = panel.chart.getPlotItem().vb.sceneBoundingRect()
    values = [item for item in panel.chart.getPlotItem().items if isinstance(item, pg.TextItem)]
    assert len(values) == len(methods) and all(view.contains(item.sceneBoundingRect()) for item in values)
    assert panel.methods_caption.isHidden()  # the long details wait behind "Methods and training details"
    panel.methods_details.toggle.click()
    assert panel.methods_caption.isVisible()

    panel.count.setValue(3)
    panel.strategy.setCurrentIndex(panel.strategy.findData("diversity"))
    with qtbot.waitSignal(panel.ranking_finished, timeout=120_000) as ranked:
        panel.start_ranking()
    panel.wait()
    ranking = ranked.args[0]
    assert panel.ranked.rowCount() == 3 == len(ranking)
    first = panel.ranked.index(0)
    assert panel.ranked.data(first) == f"1. {ranking[0][0]}\nscore {ranking[0][1]:.3g}"  # relative to the dataset
    assert "Rank 1" in panel.ranked.data(first, Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: panel.ranked.loaded_count() == 3, timeout=30_000)  # decoded on the loader thread
    with open(run_dir / "to_label_diversity.csv", newline="", encoding="utf-8") as handle:
        assert [row["path"] for row in csv.DictReader(handle)] == [path for path, _ in ranking]
    assert "to_label_diversity.csv" in panel.banner.text()
    panel.count.setValue(2)
    panel.strategy.setCurrentIndex(panel.strategy.findData("loss"))
    with qtbot.waitSignal(panel.ranking_finished, timeout=120_000):
        panel.start_ranking()
    panel.wait()
    assert panel.ranked.rowCount() == 2 and (run_dir / "to_label_loss.csv").is_file()
    panel.count.setValue(16)  # every image: each class folder's 131.png is listed, told apart by its folder
    with qtbot.waitSignal(panel.ranking_finished, timeout=120_000):
        panel.start_ranking()
    panel.wait()
    captions = [panel.ranked.data(panel.ranked.index(row)).split("\n")[0].split(" ", 1)[1] for row in range(16)]
    twins = sorted(caption for caption in captions if caption.endswith("131.png"))
    assert twins == ["cavity/131.png", "effusion/131.png", "nodule/131.png", "normal/131.png"]
    panel.shutdown()

    reopened = EvaluatePanel()
    qtbot.addWidget(reopened)
    reopened.set_run(run_dir)  # the probe.json written above is shown at once
    assert reopened.table.rowCount() == panel.table.rowCount()
    assert reopened.headline.text() == panel.headline.text() and not reopened.banner.text()


def test_the_supervised_baseline_can_be_left_out(qtbot, run_dir):
    panel = EvaluatePanel(fractions=(1.0,), seeds=1, scratch=Schedule(steps=2, batch_size=4))
    qtbot.addWidget(panel)
    panel.set_run(run_dir)
    assert panel.supervised_box.isChecked()  # the fair bar is on by default
    narrow = panel.minimumSizeHint().width()
    panel.run_label.setText("Run: " + "a-very-long-run-name-" * 8)  # shortened in the middle, never widening the page
    assert panel.minimumSizeHint().width() == narrow and "…" in panel.run_label.text()
    panel.supervised_box.setChecked(False)
    with qtbot.waitSignal(panel.probe_finished, timeout=120_000) as blocker:
        panel.start_probe()
    panel.wait()
    methods = [panel.table.item(row, 0).text() for row in range(panel.table.rowCount())]
    assert methods[0] == "linear probe" and "supervised from scratch" not in methods
    assert not any(entry["method"] == "supervised from scratch" for entry in blocker.args[0].summary)


def test_an_older_checkpoint_can_be_probed(qtbot, tmp_path):
    data = tiny_dataset(tmp_path / "data", per_class=4)
    trainer = Trainer(tiny_config(data, tmp_path / "runs", train={"steps": 4, "checkpoint_every": 2}))
    trainer.run()
    panel = EvaluatePanel(fractions=(1.0,), seeds=1, scratch=Schedule(steps=2, batch_size=4))
    qtbot.addWidget(panel)
    panel.set_run(trainer.run_dir)
    choices = [panel.checkpoint_box.itemText(i) for i in range(panel.checkpoint_box.count())]
    assert choices[0].startswith("best (step 4, kNN accuracy ") and choices[1:] == ["last (step 4)", "step 2"]
    assert panel.chosen_checkpoint() is None  # the run's default: its best
    panel.checkpoint_box.setCurrentIndex(2)
    with qtbot.waitSignal(panel.probe_finished, timeout=120_000) as blocker:
        panel.start_probe()
    panel.wait()
    assert blocker.args[0].step == 2


def test_cancel_stops_a_long_probe_and_the_bar_counts_its_work(qtbot, run_dir):
    endless = Schedule(steps=1_000_000, min_steps=1_000_000, batch_size=4)  # hours of training: only Cancel ends it
    panel = EvaluatePanel(fractions=(1.0,), seeds=1, scratch=endless)
    qtbot.addWidget(panel)
    panel.show()
    panel.set_run(run_dir)
    before = (run_dir / "probe.json").stat().st_mtime_ns if (run_dir / "probe.json").exists() else None
    values = []
    panel.progress.valueChanged.connect(values.append)
    panel.start_probe()
    qtbot.waitUntil(lambda: len(values) > 3, timeout=120_000)  # the probes are done, training has begun
    total = panel.progress.maximum()
    assert total > 3 * 1_000_000 * 4 and 0 < panel.progress.value() < total / 100
    assert "left" in panel.eta_label.text()
    assert panel.cancel_button.isVisible()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy(), timeout=30_000)
    assert not panel.busy() and panel.banner.text() == "Cancelled." and panel.probe_button.isEnabled()
    assert not panel.cancel_button.isVisible()
    after = (run_dir / "probe.json").stat().st_mtime_ns if (run_dir / "probe.json").exists() else None
    assert after == before  # nothing half-done was written
