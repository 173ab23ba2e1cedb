"""The window says which plugin files were loaded, from which folder, and which failed."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui_helpers import use_private_settings  # noqa: E402
from test_plugins import PROJECT_PLUGINS  # noqa: E402
from workbench.gui.app import MainWindow  # noqa: E402
from workbench.tasks import load_plugins  # noqa: E402


def _window(qtbot, monkeypatch, tmp_path, folders):
    use_private_settings(monkeypatch, tmp_path)
    window = MainWindow(plugin_reports=load_plugins(folders), scan_on_open=False)
    qtbot.addWidget(window)
    return window.tasks_panel.banner


def test_loaded_plugins_are_named_with_their_folder(qtbot, monkeypatch, tmp_path):
    banner = _window(qtbot, monkeypatch, tmp_path, [PROJECT_PLUGINS])
    assert banner.level() == "info"
    assert "Plugins loaded:" in banner.label.text()
    assert "flip_prediction.py (flip_prediction)" in banner.label.text() and str(PROJECT_PLUGINS) in banner.label.text()


def test_a_broken_plugin_is_a_warning_beside_the_loaded_ones(qtbot, monkeypatch, tmp_path):
    broken = tmp_path / "mine"
    broken.mkdir()
    (broken / "half.py").write_text("raise RuntimeError('half-written <plugin>')\n")
    banner = _window(qtbot, monkeypatch, tmp_path, [PROJECT_PLUGINS, broken])
    assert banner.level() == "warning"
    text = banner.label.text()
    assert "half.py: RuntimeError: half-written &lt;plugin&gt;" in text and "flip_prediction.py" in text
