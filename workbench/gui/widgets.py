"""Small widgets shared by the panels: a message banner, a titled panel header, a scrolling page stack, an
image tile that grows with its room."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListView, QPushButton, QScrollArea, QSizePolicy,
                               QStackedWidget, QToolButton, QVBoxLayout, QWidget)

from workbench.gui.icons import icon

SHARP_FROM = 2.0
"""The scale from which an image is enlarged nearest-neighbour (each file pixel an even block of screen pixels)."""


def scaling(source: QSize, shown: QSize) -> Qt.TransformationMode:
    """How an image of size `source` is drawn at size `shown`: nearest-neighbour once each of its pixels covers
    `SHARP_FROM` or more screen pixels, so a small scan shows its true pixels with no made-up in-between values
    (a 64 x 64 image looks as coarse as the model sees it); smooth below that, where nearest-neighbour would
    double or drop single rows unevenly (and alias when shrinking)."""
    sharp = shown.width() >= SHARP_FROM * source.width() and shown.height() >= SHARP_FROM * source.height()
    return Qt.TransformationMode.FastTransformation if sharp else Qt.TransformationMode.SmoothTransformation


def scaled_to_fit(picture, room: QSize):
    """`picture` (a QImage or QPixmap) as large as fits in `room`, its aspect ratio kept, by the `scaling` rule."""
    fitted = picture.size().scaled(room, Qt.AspectRatioMode.KeepAspectRatio)
    return picture.scaled(fitted, Qt.AspectRatioMode.KeepAspectRatio, scaling(picture.size(), fitted))


class Banner(QFrame):
    """A dismissable message shown inside the window (never only in a terminal), with an optional button that
    acts on it."""

    dismissed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setAccessibleName(name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self.action = QPushButton(self)
        self.action.setObjectName("bannerAction")
        self.action.setVisible(False)
        self.action.clicked.connect(self._act)
        self._on_action: Callable[[], None] | None = None
        layout.addWidget(self.action, 0, Qt.AlignmentFlag.AlignTop)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setAccessibleName(f"Dismiss {name.lower()}")
        close.clicked.connect(self.clear)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.setVisible(False)

    def show_message(self, text: str, level: str = "info",
                     action: tuple[str, str, Callable[[], None]] | None = None) -> None:
        """Show `text`; `level` is info, warning or error; `action` (button text, tooltip, what a click does) adds a
        button beside it."""
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text)
        self._on_action = action[2] if action else None
        if action:
            self.action.setText(action[0])
            self.action.setToolTip(action[1])
            self.action.setAccessibleName(action[0])
        self.action.setVisible(action is not None)
        self.setVisible(True)

    def _act(self) -> None:
        if self._on_action is not None:
            self._on_action()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""

    def level(self) -> str:
        return str(self.property("level") or "")

    def clear(self) -> None:
        self.setVisible(False)
        self.label.clear()
        self.action.setVisible(False)
        self._on_action = None
        self.dismissed.emit()


def action_button(parent: QWidget, text: str, name: str, accessible: str, slot, icon_name: str) -> QPushButton:
    """A push button with an icon, an object name and an accessible name, calling `slot` when clicked."""
    button = QPushButton(icon(icon_name), text, parent)
    button.setObjectName(name)
    button.setAccessibleName(accessible)
    button.clicked.connect(slot)
    return button


def hidden_note(parent: QWidget, name: str, accessible: str, role: str) -> QLabel:
    """A word-wrapped note, hidden until there is something to say; `role` styles it ("error", "caption")."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setAccessibleName(accessible)
    label.setProperty("role", role)
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def panel_layout(panel: QWidget, title: str, subtitle: str, spacing: int = 10) -> QVBoxLayout:
    """The vertical layout of a workflow panel, with the panel's margins and its header already in it."""
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(18, 14, 18, 14)
    layout.setSpacing(spacing)
    layout.addWidget(panel_header(title, subtitle))
    return layout


def panel_header(title: str, subtitle: str, parent: QWidget | None = None) -> QWidget:
    """The title line and one-line explanation at the top of a workflow panel."""
    box = QWidget(parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 6)
    layout.setSpacing(2)
    heading = QLabel(title, box)
    heading.setProperty("role", "title")
    layout.addWidget(heading)
    explanation = QLabel(subtitle, box)
    explanation.setProperty("role", "subtitle")
    explanation.setWordWrap(True)
    layout.addWidget(explanation)
    return box


def thumbnail_grid(parent: QWidget, name: str, accessible_name: str, icon_size: int, cell: QSize) -> QListView:
    """A static grid of captioned thumbnails, `icon_size` pixels in cells of `cell`."""
    grid = QListView(parent)
    grid.setObjectName(name)
    grid.setAccessibleName(accessible_name)
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setMovement(QListView.Movement.Static)
    grid.setUniformItemSizes(True)
    grid.setIconSize(QSize(icon_size, icon_size))
    grid.setGridSize(cell)
    return grid


class ElidedLabel(QLabel):
    """A one-line label that takes the room left to it and shows its text shortened in the middle ("Run: simclr-
    2026…012133") when that is too narrow; the whole text is its tooltip."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, self.width()))


class PageStack(QStackedWidget):
    """A stack of pages sized by the page shown, not by the largest one: in a scroll area, a short page never
    scrolls because a taller page hides behind it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.currentChanged.connect(self.updateGeometry)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        page = self.currentWidget()
        return page.sizeHint() if page is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        page = self.currentWidget()
        return page.minimumSizeHint() if page is not None else super().minimumSizeHint()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        """The shown page's least height at `width` (a scroll area asks this; the preferred height would make
        every page with wrapped text scroll)."""
        page = self.currentWidget()
        layout = page.layout() if page is not None else None
        if layout is None or not layout.hasHeightForWidth():
            return -1
        return max(layout.minimumHeightForWidth(width), page.minimumSizeHint().height())


def scrolling(widget: QWidget, name: str) -> QScrollArea:
    """`widget` in a frameless scroll area that stretches it to fill the view and scrolls only what does not fit."""
    area = QScrollArea(widget.parentWidget())
    area.setObjectName(name)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


class ImageTile(QWidget):
    """A framed square image that grows with the room it is given (never under `side` pixels), keeping its
    aspect ratio."""

    def __init__(self, side: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(side, side)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._pixmap = QPixmap()
        self._scaled = QPixmap()
        self._room = QSize()
        """The size `_scaled` was scaled to fit (the pixmap is rescaled only when it changes)."""

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap
        self._room = QSize()
        self.update()

    def pixmap(self) -> QPixmap:
        return self._pixmap

    def square(self) -> QRect:
        """The square the tile's frame is drawn around: as large as fits, centred."""
        side = min(self.width(), self.height())
        return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        frame = self.square()
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.drawRect(frame.adjusted(0, 0, -1, -1))
        if self._pixmap.isNull():
            return
        room = frame.adjusted(2, 2, -2, -2).size()
        if room != self._room:
            self._scaled = scaled_to_fit(self._pixmap, room)
            self._room = room
        target = QRect(QPoint(0, 0), self._scaled.size())
        target.moveCenter(frame.center())
        painter.drawPixmap(target, self._scaled)
