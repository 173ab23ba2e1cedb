"""The Dataset panel on real files: scanning off the GUI thread, counts, skipped files, thumbnails, DICOM window."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pydicom  # noqa: E402
import pytest  # noqa: E402

from gui_helpers import CLASSES, use_private_settings, write_class_folder  # noqa: E402
from workbench.gui import settings  # noqa: E402
from workbench.gui.panels.dataset import DatasetPanel  # noqa: E402

CT_SMALL = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"


@pytest.fixture
def panel(qtbot, monkeypatch, tmp_path):
    use_private_settings(monkeypatch, tmp_path)
    widget = DatasetPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    yield widget
    widget.shutdown()


def scan(qtbot, panel: DatasetPanel, folder: Path) -> None:
    with qtbot.waitSignal(panel.scanned, timeout=30000):
        panel.open_folder(str(folder))
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=5000)


def test_scan_shows_counts_sizes_skipped_files_and_thumbnails(qtbot, panel, tmp_path):
    folder = write_class_folder(tmp_path / "images")
    scan(qtbot, panel, folder)

    table = panel.class_table
    counts = {table.item(row, 0).text(): table.item(row, 1).text() for row in range(table.rowCount())}
    assert counts == {name: "3" for name in CLASSES}
    assert "12 images" in panel.summary_label.text()
    assert "32 × 32" in panel.summary_label.text()
    assert "1 skipped" in panel.summary_label.text()
    skipped = panel.skipped_table
    assert skipped.rowCount() == 1
    assert skipped.item(0, 0).text().endswith("broken.png")
    assert skipped.item(0, 1).text()  # the reason, in words
    assert not panel.progress.isVisible()
    qtbot.waitUntil(lambda: panel.thumbnails.loaded_count() >= 12, timeout=10000)
    assert settings.recent_folders() == [str(folder)]


def test_a_setting_that_changes_what_the_scan_finds_scans_again(qtbot, panel, tmp_path):
    scan(qtbot, panel, write_class_folder(tmp_path / "images"))
    assert "12 images" in panel.summary_label.text()
    limit = panel.reading_form.editor("max_images")
    with qtbot.waitSignal(panel.scanned, timeout=30000):  # `data.max_images` is one of scan.SCAN_SETTINGS
        limit.setValue(5)
        limit.editingFinished.emit()
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=5000)
    assert "5 images" in panel.summary_label.text()
    assert len(panel.scan_result.report.images) == 5


def test_missing_folder_is_explained_in_the_panel(qtbot, panel, tmp_path):
    panel.open_folder(str(tmp_path / "nowhere"))
    assert "not a folder" in panel.banner.text()
    assert panel.banner.level() == "error"


def test_dicom_window_change_rerenders_thumbnails(qtbot, panel, tmp_path):
    folder = tmp_path / "ct"
    folder.mkdir()
    shutil.copy(CT_SMALL, folder / "ct.dcm")
    scan(qtbot, panel, folder)
    assert "16-bit" in panel.summary_label.text()
    qtbot.waitUntil(lambda: panel.thumbnails.loaded_count() == 1, timeout=10000)
    index = panel.thumbnails.index(0)
    before = panel.thumbnails.data(index, 1).toImage()

    panel.window_form.editor("dicom_window").setCurrentIndex(
        panel.window_form.editor("dicom_window").findData("manual"))
    panel.window_form.editor("window_center").setValue(1000.0)
    panel.window_form.editor("window_width").setValue(50.0)

    def rerendered() -> bool:
        shown = panel.thumbnails.data(index, 1).toImage()
        return panel.thumbnails.loaded_count() == 1 and shown != before

    qtbot.waitUntil(rerendered, timeout=10000)
    assert panel.data_config().dicom_window == "manual"


def test_scan_can_be_cancelled(qtbot, panel, tmp_path):
    folder = write_class_folder(tmp_path / "images", per_class=150)
    panel.open_folder(str(folder))
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=30000)
    panel.cancel_scan()
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=30000)
    assert "cancelled" in panel.banner.text()
    assert panel.scan_result is None
