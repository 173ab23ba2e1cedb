"""The preview's mask overlay: the structures an image contains (from a SEG or RTSTRUCT, see `workbench.data.masks`)
drawn over it, each in its own semi-transparent colour and named in that colour."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent

from workbench.gui.window_drag import WindowedImageView

MASK_COLOURS = ((255, 70, 70), (60, 200, 255), (255, 200, 0), (110, 230, 110), (230, 110, 255), (255, 140, 40))
"""Structure colours, by the structure's place among the folder's structures (so a structure keeps its colour)."""
MASK_ALPHA = 110
"""Overlay opacity, 0-255: the anatomy under a mask stays visible."""


def mask_colour(name: str, names: list[str]) -> QColor:
    """The colour of structure `name` among the folder's structure `names`."""
    index = names.index(name) if name in names else len(names)
    return QColor(*MASK_COLOURS[index % len(MASK_COLOURS)])


def overlay_image(masks: dict[str, np.ndarray], names: list[str]) -> QImage:
    """The masks (boolean rows x columns, one size) as one RGBA image: each structure in its colour at
    `MASK_ALPHA`, the later over the earlier where they overlap; transparent elsewhere."""
    shape = next(iter(masks.values())).shape
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    for name, mask in masks.items():
        colour = mask_colour(name, names)
        rgba[mask] = (colour.red(), colour.green(), colour.blue(), MASK_ALPHA)
    return QImage(rgba.data, shape[1], shape[0], rgba.strides[0], QImage.Format.Format_RGBA8888).copy()


class MaskedImageView(WindowedImageView):
    """A `WindowedImageView` that draws the shown image's masks over it, each named, unless they are hidden."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._overlay = QImage()
        self._anchors: list[tuple[str, QColor, float, float]] = []
        """Each structure's name, colour and where its name goes (the mask's top centre, as image fractions)."""
        self._masks_shown = True

    def set_masks(self, masks: dict[str, np.ndarray], names: list[str]) -> None:
        """Draw `masks` (by structure name, in the image's pixel grid) over the image; `names`: the folder's
        structures, which decide the colours. Empty: no overlay."""
        masks = {name: mask for name, mask in masks.items() if mask.any()}
        self._overlay = overlay_image(masks, names) if masks else QImage()
        self._anchors = []
        for name, mask in masks.items():
            rows, columns = np.nonzero(mask)
            across = (columns.min() + columns.max() + 1) / 2 / mask.shape[1]
            self._anchors.append((name, mask_colour(name, names), across, rows.min() / mask.shape[0]))
        self.update()

    def show_masks(self, shown: bool) -> None:
        """Show or hide the overlay."""
        self._masks_shown = shown
        self.update()

    def masks_drawn(self) -> bool:
        """Whether an overlay is drawn now (tests read it)."""
        return self._masks_shown and not self._overlay.isNull() and not self.image().isNull()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        if not self.masks_drawn() or self._overlay.size() != self.image().size():
            return
        painter = QPainter(self)
        target = self.image_rect()
        painter.drawImage(target, self._overlay)  # no smoothing: the mask's edge stays on pixel borders
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        height = painter.fontMetrics().height()
        for name, colour, across, down in self._anchors:
            width = painter.fontMetrics().horizontalAdvance(name)
            x = round(target.left() + across * target.width() - width / 2)
            y = max(target.top() + height, round(target.top() + down * target.height()) - 4)
            painter.setPen(QColor(0, 0, 0))
            painter.drawText(QPoint(x + 1, y + 1), name)  # a shadow, readable on bright anatomy
            painter.setPen(colour)
            painter.drawText(QPoint(x, y), name)
        painter.end()

    def show_message(self, text: str) -> None:
        self._overlay = QImage()
        self._anchors = []
        super().show_message(text)
