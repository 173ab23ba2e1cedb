"""A timm backbone and a weights file, by clicks alone, in the real main window: type in the backbone picker and
click the match, choose the weights with "Choose weights… ▸ File…", type the steps, Start, then export safetensors
on the Export step and load the export with timm alone. Only Qt's own file dialog is scripted."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QPoint, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QLineEdit, QMenu, QWidget  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from gui_helpers import tiny_settings, write_class_folder  # noqa: E402
from workbench.engine.events import FinishedEvent  # noqa: E402
from workbench.engine.runs import RunFolder  # noqa: E402
from workbench.export import load_encoder  # noqa: E402
from workbench.gui import settings  # noqa: E402
from workbench.gui.app import STEPS  # noqa: E402
from workbench.gui.weights_chooser import WeightsChooser  # noqa: E402
from workbench.tasks import load_config  # noqa: E402

pytestmark = pytest.mark.slow

ARCH = "convnext_atto"


def timm_checkpoint(path: Path) -> Path:
    """A checkpoint as timm's train.py writes it (weights under `state_dict`, a 10-class head), random init."""
    torch.manual_seed(0)
    net = timm.create_model(ARCH, pretrained=False, num_classes=10)
    torch.save({"epoch": 3, "arch": ARCH, "state_dict": net.state_dict(), "version": 2, "metric": 0.5}, path)
    return path


def click_step(qtbot, window, title: str) -> None:
    """Click the step `title` in the list on the left."""
    steps = window.steps
    rect = steps.visualItemRect(steps.item(STEPS.index(title)))
    qtbot.mouseClick(steps.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.stack.currentWidget().isVisible()


def type_into(qtbot, line: QLineEdit, text: str) -> None:
    """Select what the field holds and type `text` over it, then leave the field (Tab), as a user does."""
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Tab)


def click_when_open(qtbot, menu: QMenu, text: str) -> None:
    """Click the item `text` of `menu` once it is open (the button that opens it waits in the menu's own loop)."""
    if not menu.isVisible():
        QTimer.singleShot(20, lambda: click_when_open(qtbot, menu, text))
        return
    action = next(action for action in menu.actions() if action.text() == text)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def grab_with_popup(page: QWidget, popup: QWidget) -> QPixmap:
    """A picture of `page` with `popup` (a window of its own) painted where the user sees it."""
    shot = page.grab()
    painter = QPainter(shot)
    painter.drawPixmap(page.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
    painter.end()
    return shot


def test_a_timm_backbone_and_weights_file_train_and_export_by_clicks(qtbot, window, tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    weights = timm_checkpoint(tmp_path / "weights" / "convnext_atto_ckpt.pth.tar")
    folder = write_class_folder(tmp_path / "images", per_class=4)
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))
    tiny_settings(window, tmp_path / "runs")

    click_step(qtbot, window, "Train & monitor")
    train = window.train_panel
    picker = train.model_form.editor("backbone")
    qtbot.waitUntil(lambda: not window._validate_timer.isActive())  # settled, as by the time a user gets here
    picker.line.setFocus()
    picker.line.selectAll()
    qtbot.keyClicks(picker.line, "convnext_at")
    popup = picker.completer.popup()
    qtbot.waitUntil(lambda: popup.isVisible() and "timm/convnext_atto" in picker.matches(), timeout=20000)
    assert all("convnext_at" in name for name in picker.matches())
    grab_with_popup(train, popup).save(str(tmp_path / "train_picker_open.png"))
    found = popup.model()
    entry = next(found.index(row, 0) for row in range(found.rowCount())
                 if found.index(row, 0).data() == "timm/convnext_atto")
    with qtbot.waitSignal(picker.edited):
        qtbot.mouseClick(popup.viewport(), Qt.MouseButton.LeftButton, pos=popup.visualRect(entry).center())
    assert picker.value() == "timm/convnext_atto" and not popup.isVisible()
    qtbot.waitUntil(lambda: "3.4 M parameters · 320 features" in picker.facts.text(), timeout=20000)

    dialogs = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: dialogs.append(args) or (str(weights), "")))
    chooser = train.model_form.findChild(WeightsChooser, "model.init_weights.browse")
    click_when_open(qtbot, chooser.menu(), "File…")
    qtbot.mouseClick(chooser, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.model_form.editor("init_weights").text() == str(weights), timeout=5000)
    assert len(dialogs) == 1
    assert settings.recent_weights()[0] == str(weights)

    type_into(qtbot, train.train_form.editor("steps"), "4")
    type_into(qtbot, train.train_form.editor("batch_size"), "8")
    type_into(qtbot, train.eval_form.editor("every_steps"), "4")
    assert window.validate() == []

    with qtbot.waitSignal(train.run_ended, timeout=60000) as ended:
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    assert isinstance(train.final_event, FinishedEvent) and train.final_event.step == 4
    run_dir = Path(ended.args[0])
    config = load_config(RunFolder(run_dir).config_path)
    assert (config.model.backbone, config.model.init_weights) == ("timm/convnext_atto", str(weights))
    assert (config.train.steps, config.train.batch_size, config.data.image_size) == (4, 8, 32)
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert f"started from {weights.name} (sha256 {sha256[:12]})" in train.log.toPlainText()

    click_step(qtbot, window, "Export")
    exporter = window.export_panel
    assert Path(exporter.run_edit.text()) == run_dir
    assert exporter.checkpoint_box.isEnabled() and exporter.checkpoint_box.currentText().startswith("best (step 4")
    qtbot.mouseClick(exporter.format_buttons["safetensors"], Qt.MouseButton.LeftButton)
    assert exporter.chosen_format() == "safetensors"
    with qtbot.waitSignal(exporter.exported, timeout=60000) as exported:
        qtbot.mouseClick(exporter.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: exporter.export_button.isEnabled())
    exporter.grab().save(str(tmp_path / "export_done.png"))
    model_file = Path(exported.args[0])
    export_dir = model_file.parent

    description = json.loads((export_dir / "encoder.json").read_text(encoding="utf-8"))
    model = description["model"]
    assert (model["library"], model["architecture"]) == ("timm", ARCH)
    assert model["starting_weights"] == {"file": weights.name, "sha256": sha256}
    net = timm.create_model(model["architecture"], num_classes=0, in_chans=model["in_chans"]).eval()
    net.load_state_dict(load_file(str(model_file)), strict=True)
    spec = description["input"]
    image = torch.rand(2, spec["channels"], spec["image_size"], spec["image_size"])
    mean = torch.tensor(spec["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(spec["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        assert torch.allclose(net((image - mean) / std), load_encoder(export_dir)(image), atol=1e-5)

    card = (export_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"{weights.name} (SHA-256 {sha256})" in card
    for text in (card, (export_dir / "encoder.json").read_text(encoding="utf-8")):
        assert str(weights.parent) not in text and str(tmp_path) not in text
