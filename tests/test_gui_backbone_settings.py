"""The model form shows only the per-backbone settings that apply to the chosen backbone (the registry's rule,
`backbone_settings`), and the starting-weights field keeps room for a path."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel, QToolButton  # noqa: E402

from gui_helpers import show_widget, use_private_settings  # noqa: E402
from workbench.config import ModelConfig  # noqa: E402
from workbench.gui.forms import ConfigForm  # noqa: E402
from workbench.gui.weights_chooser import FIELD_MIN_WIDTH, WeightsChooser  # noqa: E402
from workbench.models import BACKBONE_SETTINGS, backbone_settings, register_backbone  # noqa: E402


def test_the_registry_says_which_settings_apply_to_each_backbone():
    assert backbone_settings("small_cnn") == ()
    assert backbone_settings("resnet18") == backbone_settings("resnet50") == ("small_image_stem",)
    assert backbone_settings("vit_tiny") == backbone_settings("vit_small") == ("patch_size", "pooling")
    assert backbone_settings("timm/convnext_atto") == ()  # a timm architecture fixes its own stem and patches
    assert backbone_settings("timm/vit_tiny_patch16_224") == ("pooling",)
    with pytest.raises(ValueError, match="backbone settings must be among small_image_stem, patch_size, pooling"):
        register_backbone("a_new_cnn", "conv", settings=("stem_width",))


def type_backbone(qtbot, form: ConfigForm, name: str) -> None:
    """Type `name` over the backbone field and press Enter, as a user does."""
    line = form.editor("backbone").line
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, name)
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert form.values().backbone == name


def shown_settings(form: ConfigForm) -> set[str]:
    """The per-backbone settings whose row (label and editor) the form shows."""
    shown = {name for name in BACKBONE_SETTINGS if form.editor(name).isVisibleTo(form)}
    labels = {name for name in BACKBONE_SETTINGS for label in form.findChildren(QLabel)
              if label.buddy() is form.editor(name) and label.isVisibleTo(form)}
    assert shown == labels
    return shown


def test_switching_backbones_shows_only_the_settings_that_apply(qtbot, monkeypatch, tmp_path):
    use_private_settings(monkeypatch, tmp_path)
    form = show_widget(qtbot, ConfigForm(ModelConfig, "model"), 460, 700)
    form.findChild(QToolButton, "model.advanced").setChecked(True)  # pooling lives under Advanced settings
    assert shown_settings(form) == set()  # small_cnn, the default
    for name, expected in (("resnet18", {"small_image_stem"}), ("vit_tiny", {"patch_size", "pooling"}),
                           ("small_cnn", set())):
        type_backbone(qtbot, form, name)
        assert shown_settings(form) == expected == set(backbone_settings(name))
    type_backbone(qtbot, form, "vit_tiny")
    form.editor("patch_size").setText("16")
    type_backbone(qtbot, form, "resnet50")
    assert shown_settings(form) == {"small_image_stem"}
    assert form.values().patch_size == 16  # hidden, not forgotten: it is back if a ViT is chosen again

    type_backbone(qtbot, form, "timm/vit_tiny_patch16_224")  # known once read, off the GUI thread
    qtbot.waitUntil(lambda: shown_settings(form) == {"pooling"}, timeout=60_000)
    form.editor("backbone").wait()


def test_an_unknown_backbone_leaves_the_settings_as_they_were(qtbot, monkeypatch, tmp_path):
    use_private_settings(monkeypatch, tmp_path)
    form = show_widget(qtbot, ConfigForm(ModelConfig, "model"), 460, 700)
    type_backbone(qtbot, form, "resnet18")
    type_backbone(qtbot, form, "resnet19")
    assert shown_settings(form) == {"small_image_stem"}
    form.editor("backbone").wait()


def test_the_weights_field_keeps_room_for_a_path_with_its_button_under_it(qtbot, monkeypatch, tmp_path):
    use_private_settings(monkeypatch, tmp_path)
    form = show_widget(qtbot, ConfigForm(ModelConfig, "model"), 360, 600)
    line = form.editor("init_weights")
    chooser = form.findChild(WeightsChooser, "model.init_weights.browse")
    assert line.width() >= FIELD_MIN_WIDTH
    assert chooser.mapTo(form, chooser.rect().topLeft()).y() >= line.mapTo(form, line.rect().bottomLeft()).y()
    path = "/data/weights/resnet18_mocov3.pt"
    line.setText(path)
    assert line.fontMetrics().horizontalAdvance(path) < line.width()  # a folder and file name read whole
