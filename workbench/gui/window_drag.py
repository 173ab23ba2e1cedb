"""A large image view whose intensity window follows a right- (or middle-) button drag, as in radiology viewers.

Horizontal drag changes the width, vertical drag the level (`workbench.data.windows.dragged_window`). While
dragging, the image is re-windowed from the frame's float32 modality values already in memory, at most
about 30 times a second; nothing is read from disk. A double-click asks to go back to the named window.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QElapsedTimer, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from workbench.data.modality import ModalityImage
from workbench.data.windows import dragged_window
from workbench.gui.thumbnails import pixels_to_qimage
from workbench.gui.widgets import scaling

FRAME_INTERVAL_MS = 33
"""At most ~30 re-renders a second while dragging."""
DRAG_BUTTONS = (Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton)
EDGE_COLOUR = QColor(110, 110, 110)
"""The 1-px line just outside the image: where the file ends shows on the black letterbox, even when the
image's own background is black too."""


class WindowedImageView(QWidget):
    """One image, scaled uniformly to fit (aspect ratio kept, nothing cut), centred on black with a grey line
    around it; enlarged nearest-neighbour from 2x (`widgets.scaling`). With modality values (`show_image(..., values=...)`), a right- or
    middle-button drag changes its window: `window_changing(level, width)` while the mouse moves,
    `window_dragged(level, width)` once it is released; a double-click emits `reset_requested`."""

    window_changing = Signal(float, float)
    window_dragged = Signal(float, float)
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("windowedImage")
        self.setAccessibleName("Large preview of the selected image")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)  # the right button drags
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self._image = QImage()
        self._values: ModalityImage | None = None
        self._window: tuple[float, float] | None = None
        self._message = ""
        self._drag_origin: QPoint | None = None
        self._drag_start: tuple[float, float] | None = None
        self._pending: tuple[float, float] | None = None
        self._since_render = QElapsedTimer()
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.timeout.connect(self._render_pending)
        self.renders = 0
        """Images windowed from the values so far (tests read it)."""

    # -- content --------------------------------------------------------------------------------------
    def show_image(self, pixels: np.ndarray, values: ModalityImage | None = None,
                   window: tuple[float, float] | None = None) -> None:
        """Show `pixels` (HxW[xC] floats in 0..1, as the engine windowed them). With `values` and the
        `window` (level, width) they were shown through, the window can be dragged."""
        self._image = pixels_to_qimage(pixels)
        self._values = values if window is not None else None
        self._window = window
        self._message = ""
        self.update()

    def show_message(self, text: str) -> None:
        """No image, a short line of text instead (e.g. while loading)."""
        self._image = QImage()
        self._values = None
        self._window = None
        self._message = text
        self.update()

    def window(self) -> tuple[float, float] | None:
        """The (level, width) shown, when the image can be windowed."""
        return self._window

    def draggable(self) -> bool:
        return self._values is not None

    def image(self) -> QImage:
        """The image as shown, before scaling to the widget (tests read its pixels)."""
        return self._image

    # -- dragging -------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() in DRAG_BUTTONS and self.draggable():
            self._drag_origin = event.position().toPoint()
            self._drag_start = self._window
            self.setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_origin is None:
            super().mouseMoveEvent(event)
            return
        delta = event.position().toPoint() - self._drag_origin
        self._window = dragged_window(self._drag_start, delta.x(), delta.y())
        self.window_changing.emit(*self._window)
        self._pending = self._window
        if not self._frame_timer.isActive():
            if not self._since_render.isValid() or self._since_render.elapsed() >= FRAME_INTERVAL_MS:
                self._render_pending()
            else:
                self._frame_timer.start(FRAME_INTERVAL_MS - self._since_render.elapsed())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_origin is None or event.button() not in DRAG_BUTTONS:
            super().mouseReleaseEvent(event)
            return
        self._drag_origin = None
        self.unsetCursor()
        self._frame_timer.stop()
        if self._pending is not None:
            self._render_pending()
        if self._window != self._drag_start:
            self.window_dragged.emit(*self._window)
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.draggable():
            self.reset_requested.emit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def _render_pending(self) -> None:
        if self._pending is None or self._values is None:
            return
        self._image = pixels_to_qimage(self._values.windowed(self._pending))
        self._pending = None
        self.renders += 1
        self._since_render.restart()
        self.update()

    # -- painting -------------------------------------------------------------------------------------
    def image_rect(self) -> QRect:
        """Where the image is drawn: as large as fits inside its 1-px edge line, centred, aspect kept."""
        if self._image.isNull():
            return QRect()
        size = self._image.size().scaled(self.size() - QSize(2, 2), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect((self.width() - size.width()) // 2, (self.height() - size.height()) // 2,
                     size.width(), size.height())

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0))
        if self._image.isNull():
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        target = self.image_rect()
        painter.setPen(EDGE_COLOUR)
        painter.drawRect(QRect(target.left() - 1, target.top() - 1, target.width() + 1, target.height() + 1))
        smooth = scaling(self._image.size(), target.size()) == Qt.TransformationMode.SmoothTransformation
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(target, self._image)
