"""The Evaluate panel on a real tiny run: probe table and chart, ranking grid, report file."""
import pytest

pytest.importorskip("pytestqt")

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.panels.evaluate import EvaluatePanel  # noqa: E402
from workbench.probes.finetune import Schedule  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("eval-data"), per_class=4)
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("eval-runs"), train={"steps": 2}))
    trainer.run()
    return trainer.run_dir


def test_probe_fills_table_and_chart_and_ranking_fills_grid(qtbot, run_dir):
    panel = EvaluatePanel(fractions=(1.0,), seeds=1, scratch=Schedule(steps=2, batch_size=4))
    qtbot.addWidget(panel)
    assert not panel.probe_button.isEnabled()
    panel.set_run(run_dir)
    assert panel.probe_button.isEnabled() and panel.table.rowCount() == 0
    with qtbot.waitSignal(panel.probe_finished, timeout=120_000) as blocker:
        panel.start_probe()
    panel.wait()
    methods = [panel.table.item(row, 0).text() for row in range(panel.table.rowCount())]
    assert methods[0] == "linear probe" and "supervised from scratch" in methods
    assert len(panel.chart.getPlotItem().items) == len(methods)
    assert blocker.args[0]["summary"][0]["method"] == "linear probe"

    panel.count.setValue(3)
    panel.strategy.setCurrentText("diversity")
    with qtbot.waitSignal(panel.ranking_finished, timeout=120_000) as ranked:
        panel.start_ranking()
    panel.wait()
    assert panel.grid.count() == 3 == len(ranked.args[0])

    reopened = EvaluatePanel()
    qtbot.addWidget(reopened)
    reopened.set_run(run_dir)  # the probe.json written above is shown at once
    assert reopened.table.rowCount() == panel.table.rowCount()
