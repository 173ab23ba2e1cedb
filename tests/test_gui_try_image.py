"""Trying an image in the Evaluate panel: a real drag-and-drop of a file, the predicted class with its
probabilities, the nearest images as thumbnails, DICOM input, an unreadable file, and a drop anywhere on
the panel."""
from pathlib import Path

import pydicom
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.panels.evaluate import EvaluatePanel  # noqa: E402

DICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
WAIT_MS = 90_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("try-data"), per_class=4)
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("try-runs"), train={"steps": 2}))
    trainer.run()
    return trainer.run_dir, data


@pytest.fixture
def panel(qtbot, run):
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 850)
    panel.show()
    panel.set_run(run[0])
    yield panel
    panel.shutdown()


def drag_and_drop(widget, *urls: QUrl) -> tuple[bool, bool]:
    """Drag files onto `widget` and drop them, as the window system does: (enter accepted, drop accepted)."""
    mime = QMimeData()
    mime.setUrls(list(urls))
    centre = widget.rect().center()  # QDragEnterEvent takes a QPoint (PySide6 < 6.12)
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False, False
    drop = QDropEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return True, drop.isAccepted()


def test_dropping_an_image_shows_its_class_and_nearest_images(qtbot, panel, run):
    box = panel.try_box
    panel.lower_tabs.setCurrentWidget(box)
    image = run[1] / "nodule" / "nodule_0002.png"
    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS) as shown:
        assert drag_and_drop(box, QUrl.fromLocalFile(str(image))) == (True, True)
        assert box.answer.text() == "Preparing the run…" and box.busy()  # the result arrives later
    prediction = shown.args[0]
    best = prediction.best
    assert box.answer.text() == f"Predicted: {best.name} ({best.probability:.0%})" and best.name == "nodule"
    assert box.method_label.text() == "Linear head trained on 16 labelled images."
    bars = [bar for _, bar in box.class_rows if not bar.isHidden()]
    assert len(bars) == 4 and bars[0].text() == f"{100 * best.probability:.1f}%"
    assert box.neighbour_model.rowCount() == 8
    assert box.neighbour_model.data(box.neighbour_model.index(0)) == "nodule\nsimilarity 1.000"
    qtbot.waitUntil(lambda: box.neighbour_model.loaded_count() == 8, timeout=WAIT_MS)  # thumbnails decoded
    assert not box.drop_zone.pixmap().isNull() and "nodule_0002.png" in box.file_label.text()
    assert "8 nearest of the run's 16 images" in box.neighbour_caption.text()
    qtbot.waitUntil(lambda: not box.busy())

    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS) as shown:  # the run is prepared: only the image now
        box.try_image(DICOM_FILES / "CT_small.dcm")
        assert box.answer.text().startswith("Predicted: nodule")  # no preparing again: the previous result stays
    assert shown.args[0].best is not None and box.answer.text().startswith("Predicted: ")
    assert "CT_small.dcm" in box.file_label.text() and "32 × 32 px" in box.file_label.text()
    qtbot.waitUntil(lambda: not box.busy())

    broken = run[1].parent / "broken-drop.png"
    broken.write_bytes(b"not an image at all")
    with qtbot.waitSignal(box.failed, timeout=WAIT_MS) as failure:
        assert drag_and_drop(box, QUrl.fromLocalFile(str(broken))) == (True, True)
    assert "broken-drop.png could not be read as an image" in failure.args[0]
    assert "could not be read" in box.method_label.text() and box.answer.isHidden()
    qtbot.waitUntil(lambda: not box.busy())
    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS):
        box.try_image(image)
        assert box.answer.isHidden()  # the run stays prepared after a bad file: no "Preparing the run…"


def test_a_drop_anywhere_on_the_panel_opens_try_an_image(qtbot, panel, run):
    assert panel.lower_tabs.currentWidget() is panel.ranking_page
    assert drag_and_drop(panel, QUrl("https://example.org/scan.png")) == (False, False)  # not a local file
    with qtbot.waitSignal(panel.try_box.predicted, timeout=WAIT_MS):
        assert drag_and_drop(panel, QUrl.fromLocalFile(str(run[1] / "cavity" / "cavity_0001.png"))) == (True, True)
    assert panel.lower_tabs.currentWidget() is panel.try_box
    panel.set_run(None)
    assert not panel.try_box.choose_button.isEnabled() and "Choose a run first" in panel.try_box.drop_zone.text()
    assert drag_and_drop(panel.try_box, QUrl.fromLocalFile(str(run[1] / "cavity" / "cavity_0001.png"))) == (
        False, False)
