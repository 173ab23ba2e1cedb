"""Trying an image in the Evaluate panel: a real drag-and-drop of a file, the predicted class with its
probabilities, the nearest images as thumbnails, an out-of-distribution image (DICOM CT), an unreadable file,
results clearing at each new file, and a drop anywhere on the panel."""
from pathlib import Path

import pydicom
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from gui_helpers import show_widget  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.panels.evaluate import EvaluatePanel  # noqa: E402
from workbench.gui.try_image import unfamiliar_text  # noqa: E402
from workbench.probes.familiarity import Familiarity  # noqa: E402

DICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
WAIT_MS = 90_000
CLEARED = {"answer": "", "warning": "", "classes": 0, "neighbours": 0, "picture": False}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("try-data"), per_class=4)
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("try-runs"), train={"steps": 4}))
    trainer.run()
    return trainer.run_dir, data


@pytest.fixture
def panel(qtbot, run):
    panel = show_widget(qtbot, EvaluatePanel(), 1200, 850)
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


def shown(box) -> dict:
    """What the box shows of a result."""
    return {"answer": "" if box.answer.isHidden() else box.answer.text(), "warning": box.unfamiliar.text(),
            "classes": sum(not bar.isHidden() for _, bar in box.class_rows),
            "neighbours": box.neighbour_model.rowCount() if box.neighbour_model else 0,
            "picture": not box.drop_zone.pixmap().isNull()}


def test_dropping_an_image_shows_its_class_and_nearest_images(qtbot, panel, run):
    box = panel.try_box
    panel.lower_tabs.setCurrentWidget(box)
    image = run[1] / "nodule" / "nodule_0002.png"
    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS) as result:
        assert drag_and_drop(box, QUrl.fromLocalFile(str(image))) == (True, True)
        assert box.answer.text() == "Preparing the run…" and box.busy()  # the result arrives later
    prediction = result.args[0]
    best = prediction.best
    assert box.answer.text() == f"Predicted: {best.name} ({best.probability:.0%})" and best.name == "nodule"
    assert box.unfamiliar.isHidden() and box.answer.toolTip().startswith("Like the run's images: its 5 nearest")
    assert box.method_label.text() == "Linear head trained on 16 labelled images."
    bars = [bar for _, bar in box.class_rows if not bar.isHidden()]
    assert len(bars) == 4 and bars[0].text() == f"{100 * best.probability:.1f}%"
    assert box.neighbour_model.rowCount() == 8
    assert box.neighbour_model.data(box.neighbour_model.index(0)) == "nodule\nsimilarity 1.000"
    qtbot.waitUntil(lambda: box.neighbour_model.loaded_count() == 8, timeout=WAIT_MS)  # thumbnails decoded
    assert not box.drop_zone.pixmap().isNull() and "nodule_0002.png" in box.file_label.text()
    assert "8 nearest of the run's 16 images" in box.neighbour_caption.text()
    qtbot.waitUntil(lambda: not box.busy())

    broken = run[1].parent / "broken-drop.png"  # a bad file after a good one: the old prediction goes at once
    broken.write_bytes(b"not an image at all")
    with qtbot.waitSignal(box.failed, timeout=WAIT_MS) as failure:
        assert drag_and_drop(box, QUrl.fromLocalFile(str(broken))) == (True, True)
        assert shown(box) == CLEARED and box.drop_zone.text() == "Reading broken-drop.png…"
    assert "broken-drop.png could not be read as an image" in failure.args[0]
    assert "could not be read" in box.method_label.text() and shown(box) == CLEARED
    assert box.file_label.text() == "broken-drop.png" and box.drop_zone.text().startswith("Drop an image here")
    qtbot.waitUntil(lambda: not box.busy())
    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS):
        box.try_image(image)
        assert box.answer.isHidden()  # the run stays prepared after a bad file: no "Preparing the run…"
    assert "could not be read" not in box.method_label.text() and shown(box)["answer"].startswith("Predicted: ")


def test_an_image_unlike_the_run_s_images_gets_a_warning_and_no_class(qtbot, panel, run):
    box = panel.try_box
    image = run[1] / "cavity" / "cavity_0003.png"
    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS):
        box.try_image(image)
    qtbot.waitUntil(lambda: not box.busy())
    assert shown(box)["classes"] == 4

    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS) as result:  # a real CT slice: unlike the chest drawings
        box.try_image(DICOM_FILES / "CT_small.dcm")
        assert shown(box) == CLEARED and box.file_label.text() == "CT_small.dcm"  # the previous result is gone
    familiarity = result.args[0].familiarity
    assert familiarity.out_of_distribution and result.args[0].best is not None  # the engine's guess is not shown
    assert shown(box) == {"answer": "", "warning": "Unlike the images this encoder was trained on (distance "
                          f"{familiarity.times_usual:.1f}× the usual) — no class shown.", "classes": 0,
                          "neighbours": 8, "picture": True}
    assert box.unfamiliar.level() == "warning" and familiarity.times_usual > 1
    assert box.method_label.text().startswith(f"Out of distribution: its 5 nearest images of the run's dataset lie "
                                              f"within {familiarity.distance:.2f}")
    model = box.neighbour_model
    assert model.data(model.index(0)).endswith("\nnot similar") and "none of them is similar" in \
        box.neighbour_caption.text()
    assert model.data(model.index(0), Qt.ItemDataRole.ToolTipRole).startswith("Not similar")
    assert "CT_small.dcm" in box.file_label.text() and "32 × 32 px" in box.file_label.text()
    qtbot.waitUntil(lambda: not box.busy())

    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS):  # a new file: the warning goes with the old result
        box.try_image(image)
        assert shown(box) == CLEARED
    assert box.unfamiliar.isHidden() and shown(box)["classes"] == 4
    assert model.data(model.index(0)) == "cavity\nsimilarity 1.000" and "similar to it" not in \
        box.neighbour_caption.text()


def test_the_warning_leaves_out_a_ratio_when_the_training_images_all_embed_alike():
    collapsed = Familiarity(distance=0.3, usual=0.0, threshold=0.0, nearest=5, percentile=99.0)
    assert collapsed.out_of_distribution
    assert unfamiliar_text(collapsed) == "Unlike the images this encoder was trained on — no class shown."


def test_a_file_dropped_while_another_is_embedded_replaces_it(qtbot, panel, run):
    box = panel.try_box
    results = []
    box.predicted.connect(results.append)
    box.try_image(run[1] / "normal" / "normal_0000.png")
    box.try_image(run[1] / "effusion" / "effusion_0001.png")  # before the first one is done
    assert box.file_label.text() == "effusion_0001.png"
    qtbot.waitUntil(lambda: not box.busy() and bool(results), timeout=WAIT_MS)
    assert len(results) == 1 and results[0].neighbours[0].record.path == "effusion/effusion_0001.png"
    assert box.file_label.text().startswith("effusion_0001.png") and shown(box)["neighbours"] == 8


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
