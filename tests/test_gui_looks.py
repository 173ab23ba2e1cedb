"""Small pieces of the window's looks: the preview covers several classes, the icons load, the dark palette."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtGui import QPalette  # noqa: E402

from workbench.gui.icons import ICON_FOLDER, icon  # noqa: E402
from workbench.gui.panels.augment import preview_indices  # noqa: E402
from workbench.gui.style import dark_palette  # noqa: E402


def test_preview_takes_one_image_of_each_class_in_turn():
    labels = np.array([0, 0, 0, 1, 1, 2, -1])
    assert preview_indices(labels, 4) == [0, 3, 5, 6]
    assert preview_indices(labels, 6) == [0, 3, 5, 6, 1, 4]
    assert preview_indices(np.array([2, 2, 2]), 4) == [0, 1, 2]


def test_every_icon_in_resources_renders(qapp):
    names = sorted(path.stem for path in ICON_FOLDER.glob("*.svg"))
    assert {"app", "start", "pause", "stop", "folder", "export"} <= set(names)
    for name in names:
        image = icon(name).pixmap(32, 32).toImage()
        drawn = sum(image.pixelColor(x, y).alpha() > 0 for x in range(32) for y in range(32))
        assert drawn > 40, name


def test_dark_palette_is_dark(qapp):
    palette = dark_palette()
    assert palette.color(QPalette.ColorRole.Window).lightness() < 60
    assert palette.color(QPalette.ColorRole.Text).lightness() > 200
