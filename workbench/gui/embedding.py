"""The embedding map: the run's 2-D projection (PCA, t-SNE or UMAP) of the evaluation embeddings, coloured by
class or by each image's pretext loss, with the image under the pointer shown beside it. Reads the
`embedding_map.json` the trainer rewrites at each evaluation."""
from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QObject, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPalette
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.config import DataConfig
from workbench.config.formats import ArtefactError
from workbench.engine.embedding_map import EmbeddingMap
from workbench.gui.icons import icon
from workbench.gui.plots import add_save_menu, legend_outside, palette_colour
from workbench.gui.thumbnails import ThumbnailLoader
from workbench.metrics.projection import METHOD_TITLES

HOVER_RADIUS_PX = 8
POINT_SIZE = 8
UNLABELLED = "unlabelled"
UNLABELLED_COLOUR = "#8a8a8a"
LOSS_COLOURS = pg.colormap.get("viridis")
"""Low loss dark blue, high loss yellow: ordered in lightness, readable by colour-blind people."""
NO_LOSS_COLOUR = "#8a8a8a"
LOSS_LEVELS = 64
"""Shades of the loss scale (one brush each, shared by the dots)."""


class EmbeddingView(QWidget):
    """A scatter plot of one embedding map, a legend of classes, hover previews and a PNG export."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("embeddingView")
        self.setAccessibleName("Embedding map")
        self.map: EmbeddingMap | None = None
        self._points = np.zeros((0, 2))
        self._root = Path()
        self._data_cfg = DataConfig()
        self._generation = 0
        self._thumbnails: dict[int, QImage] = {}
        self.hovered: int | None = None
        self._pointer = QPoint()
        self._stale = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        self.caption = QLabel("The map appears at the first evaluation: each dot is an image, placed by a "
                              "2-D projection of its embedding. Hover a dot to see the image.", self)
        self.caption.setProperty("role", "caption")
        self.caption.setWordWrap(True)
        header.addWidget(self.caption, 1)
        header.addWidget(QLabel("Colour by", self))
        self.colour_choice = QComboBox(self)
        self.colour_choice.setObjectName("embeddingColourBy")
        self.colour_choice.setAccessibleName("Colour the dots by")
        self.colour_choice.addItem("label", "label")
        self.colour_choice.addItem("pretext loss", "loss")
        self.colour_choice.setToolTip("Label: one colour per class. Pretext loss: how hard each image's puzzle "
                                      "is for the model now (dark = easy, bright = hard).")
        self.colour_choice.currentIndexChanged.connect(lambda _index: self._draw_when_shown())
        header.addWidget(self.colour_choice)
        self.export_button = QPushButton(icon("export"), "Export PNG…", self)
        self.export_button.setObjectName("exportEmbeddingMap")
        self.export_button.setAccessibleName("Export the embedding map as PNG")
        self.export_button.clicked.connect(self._choose_export_path)
        self.export_button.setEnabled(False)
        header.addWidget(self.export_button)
        layout.addLayout(header)
        palette = self.palette()
        self._foreground = palette.color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
        self.plot.setObjectName("embeddingPlot")
        self.plot.setAccessibleName("Embedding map plot")
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self._label_axes("pca")
        for axis in ("bottom", "left"):
            self.plot.getAxis(axis).setTextPen(self._foreground)
        self.legend = legend_outside(self.plot, self._foreground, below=False)
        self.save_menu = add_save_menu(self.plot, "embedding_map")
        self.loss_scale = LossScale(self.plot)
        self._scatters: list[pg.ScatterPlotItem] = []
        self._scatter_rows: list[np.ndarray] = []
        self._highlight = pg.ScatterPlotItem(size=POINT_SIZE + 8, brush=pg.mkBrush(None),
                                             pen=pg.mkPen(self._foreground, width=2))
        self._highlight.setZValue(10)
        self.plot.addItem(self._highlight)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout.addWidget(self.plot, 1)
        self.preview = QLabel(self.plot)
        self.preview.setObjectName("embeddingHover")
        self.preview.setAccessibleName("Image under the pointer")
        self.preview.setAutoFillBackground(True)
        self.preview.setFrameShape(QLabel.Shape.StyledPanel)
        self.preview.setMargin(6)
        self.preview.setVisible(False)
        self.loader = ThumbnailLoader(self)
        self.loader.ready.connect(self._on_thumbnail)
        self.loader.start()

    # -- showing a map --------------------------------------------------------------------------------
    def show_map(self, path: str | Path, data_cfg: DataConfig) -> bool:
        """Draw the map in `path`; images are read with `data_cfg` (folder, DICOM window). False if unreadable
        (the caption says why when the map was written by a newer version)."""
        from workbench.data import dataset_folder  # the data layer loads torch: not at the window's start

        try:
            record = EmbeddingMap.read(Path(path))
        except ArtefactError as error:
            self.caption.setText(str(error))
            return False
        if record is None or not record.points:
            return False
        self.map = record
        self._data_cfg = replace(data_cfg)
        self._root = dataset_folder(data_cfg)  # the map's image paths are relative to it
        self._generation += 1
        self._thumbnails.clear()
        self.loader.forget_requests()
        self._points = np.asarray(record.points, dtype=float).reshape(-1, 2)
        self._hide_preview()
        self._enable_loss_choice(self.losses() is not None)
        method = record.method
        self._label_axes(method)
        self._draw_when_shown()
        self.caption.setText(f"Step {record.step:,}: {len(self._points):,} images, "
                             f"{len(record.class_names)} classes, placed by {METHOD_TITLES.get(method, method)}. Images of one "
                             "class should gather as training goes on. Hover a dot to see its image.")
        self.export_button.setEnabled(True)
        return True

    def _label_axes(self, method: str) -> None:
        title = METHOD_TITLES.get(method, method)
        for axis, number in (("bottom", 1), ("left", 2)):
            self.plot.setLabel(axis, f"{title} {number}", color=self._foreground.name())

    def _enable_loss_choice(self, enabled: bool) -> None:
        item = self.colour_choice.model().item(self.colour_choice.findData("loss"))
        item.setEnabled(enabled)
        item.setToolTip("" if enabled else "This run's tasks report no loss per image.")

    def losses(self) -> np.ndarray | None:
        """Each point's pretext loss (NaN where unknown), or None when the map has none."""
        values = self.map.loss if self.map else None
        if not values or len(values) != len(self._points):
            return None
        return np.array([np.nan if value is None else value for value in values], dtype=float)

    def colouring(self) -> str:
        """What the dots' colours show now: "label", or "loss" when chosen and the map has losses."""
        chosen = self.colour_choice.currentData()
        return "loss" if chosen == "loss" and self.losses() is not None else "label"

    def set_colouring(self, colouring: str) -> None:
        """Colour the dots by "label" or by "loss" (as the Colour by choice does)."""
        self.colour_choice.setCurrentIndex(self.colour_choice.findData(colouring))

    def clear(self) -> None:
        self.map = None
        self._points = np.zeros((0, 2))
        self._enable_loss_choice(True)
        self._draw_when_shown()
        self.export_button.setEnabled(False)
        self._hide_preview()

    def _draw_when_shown(self) -> None:
        """Draw now if the map is on screen, else at the next showEvent (a hidden tab costs no drawing)."""
        self._stale = True
        if self.isVisible():
            self._draw()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._stale:
            self._draw()

    def _draw(self) -> None:
        self._stale = False
        for scatter in self._scatters:
            self.plot.removeItem(scatter)
        self._scatters, self._scatter_rows = [], []
        self.legend.clear()
        self.loss_scale.setVisible(False)
        if self.map is None:
            return
        if self.colouring() == "loss":
            self._draw_by_loss(self.losses())
        else:
            self._draw_by_label()
        self.plot.plotItem.layout.activate()  # make room for the legend now, so the dots are placed in the final view
        self.plot.autoRange(padding=0.08)

    def _add_scatter(self, rows: np.ndarray, brushes, pens, name: str | None = None) -> None:
        scatter = pg.ScatterPlotItem(self._points[rows, 0], self._points[rows, 1], size=POINT_SIZE,
                                     brush=brushes, pen=pens, name=name)
        self.plot.addItem(scatter)
        self._scatters.append(scatter)
        self._scatter_rows.append(rows)

    def _draw_by_label(self) -> None:
        labels = np.asarray(self.map.labels or [-1] * len(self._points), dtype=int)
        for label in sorted(set(labels.tolist())):
            colour = QColor(UNLABELLED_COLOUR) if label < 0 else palette_colour(label)
            self._add_scatter(np.flatnonzero(labels == label), pg.mkBrush(colour), pg.mkPen(colour.darker(130)),
                              self.class_name(label))

    def _draw_by_loss(self, losses: np.ndarray) -> None:
        """One scatter, hardest images drawn last (on top); images without a loss in gray."""
        known = np.isfinite(losses)
        low, high = (float(losses[known].min()), float(losses[known].max())) if known.any() else (0.0, 0.0)
        rows = np.concatenate([np.flatnonzero(~known), np.flatnonzero(known)[np.argsort(losses[known])]])
        colours = [QColor(NO_LOSS_COLOUR)] + LOSS_COLOURS.map(np.linspace(0, 1, LOSS_LEVELS), mode="qcolor")
        brushes = [pg.mkBrush(colour) for colour in colours]
        pens = [pg.mkPen(colour.darker(130)) for colour in colours]
        scaled = np.nan_to_num((losses[rows] - low) / max(high - low, 1e-12), nan=-1.0)
        levels = np.where(known[rows], 1 + np.round(scaled * (LOSS_LEVELS - 1)).astype(int), 0)
        self._add_scatter(rows, [brushes[level] for level in levels], [pens[level] for level in levels])
        self.loss_scale.set_range(low, high)
        self.loss_scale.setVisible(bool(known.any()))

    def point_colours(self) -> list[str]:
        """The fill colour of each point, in the map's order, as #rrggbb (used by tests)."""
        colours = [""] * len(self._points)
        for scatter, rows in zip(self._scatters, self._scatter_rows):
            for row, spot in zip(rows, scatter.points()):
                colours[row] = spot.brush().color().name()
        return colours

    def class_name(self, label: int) -> str:
        names = self.map.class_names if self.map else []
        return names[label] if 0 <= label < len(names) else UNLABELLED if label < 0 else f"class {label}"

    def point_count(self) -> int:
        """Dots drawn (used by tests)."""
        return sum(len(scatter.data) for scatter in self._scatters)

    # -- hover ----------------------------------------------------------------------------------------
    def point_position(self, index: int) -> QPoint:
        """Where dot `index` is drawn, in the plot widget's coordinates."""
        scene = self.plot.plotItem.vb.mapViewToScene(QPointF(*self._points[index]))
        return self.plot.mapFromScene(scene)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        index = self._nearest_point(scene_pos)
        if index is None:
            self._hide_preview()
            return
        if index != self.hovered:
            self.hovered = index
            self._highlight.setData([self._points[index, 0]], [self._points[index, 1]])
            if index not in self._thumbnails:
                self.loader.request(self._generation, index, self._root / self.map.paths[index],
                                    self.map.frame(index), self._data_cfg)
        self._pointer = self.plot.mapFromScene(scene_pos)
        self._show_preview()

    def _nearest_point(self, scene_pos: QPointF) -> int | None:
        if self.map is None or not len(self._points):
            return None
        view = self.plot.plotItem.vb
        if not view.sceneBoundingRect().contains(scene_pos):
            return None
        pixel_width, pixel_height = view.viewPixelSize()
        pointer = view.mapSceneToView(scene_pos)
        distances = np.hypot((self._points[:, 0] - pointer.x()) / pixel_width,
                             (self._points[:, 1] - pointer.y()) / pixel_height)
        index = int(np.argmin(distances))
        return index if distances[index] <= HOVER_RADIUS_PX else None

    def _hover_parts(self) -> tuple[str, str, str]:
        """(class, file, pretext loss as text or '') of the hovered dot."""
        labels = self.map.labels
        label = int(labels[self.hovered]) if self.hovered < len(labels) else -1
        losses = self.losses()
        loss = "" if losses is None or not np.isfinite(losses[self.hovered]) else f"{losses[self.hovered]:.4g}"
        return self.class_name(label), self.map.paths[self.hovered], loss

    def hover_text(self) -> str:
        """The class, file and pretext loss of the hovered dot, as the preview shows them ('' when none)."""
        if self.hovered is None or self.map is None:
            return ""
        label, path, loss = self._hover_parts()
        return f"{label} — {path}" + (f" — pretext loss {loss}" if loss else "")

    def _show_preview(self) -> None:
        near = self._pointer
        image = self._thumbnails.get(self.hovered)
        picture = ""
        if image is not None and not image.isNull():
            size = image.deviceIndependentSize()
            picture = (f'<img src="data:image/png;base64,{_png_base64(image)}" width="{size.width():.0f}" '
                       f'height="{size.height():.0f}"><br>')
        label, path, loss = self._hover_parts()
        loss_line = f"<br>pretext loss <b>{loss}</b>" if loss else ""
        self.preview.setText(f"{picture}<b>{html.escape(label)}</b>{loss_line}<br><small>{html.escape(path)}</small>")
        self.preview.adjustSize()
        x = near.x() + 16 if near.x() + 16 + self.preview.width() < self.plot.width() else \
            near.x() - 16 - self.preview.width()
        y = min(max(near.y() - self.preview.height() // 2, 0), max(self.plot.height() - self.preview.height(), 0))
        self.preview.move(x, y)
        self.preview.setVisible(True)
        self.preview.raise_()

    def _hide_preview(self) -> None:
        self.hovered = None
        self._highlight.setData([], [])
        self.preview.setVisible(False)

    def _on_thumbnail(self, generation: int, row: int, image: QImage) -> None:
        if generation != self._generation:
            return
        self._thumbnails[row] = image
        if row == self.hovered:
            self._show_preview()

    def thumbnail_shown(self) -> bool:
        """True when the hover preview shows the hovered image (used by tests)."""
        image = self._thumbnails.get(self.hovered) if self.hovered is not None else None
        return self.preview.isVisible() and image is not None and not image.isNull()

    # -- export ---------------------------------------------------------------------------------------
    def _choose_export_path(self) -> None:
        step = self.map.step if self.map else 0
        path, _ = QFileDialog.getSaveFileName(self, "Export the embedding map", f"embedding_map_step{step}.png",
                                              "PNG image (*.png)")
        if path:
            self.export_png(path)

    def export_png(self, path: str | Path) -> bool:
        """Save the plot (dots and legend) as a PNG image."""
        self.preview.setVisible(False)
        saved = self.plot.grab().save(str(path), "PNG")
        self.preview.setVisible(self.hovered is not None)
        return saved

    def shutdown(self) -> None:
        self.loader.stop()


class LossScale(QWidget):
    """The loss colour scale, drawn over the plot's top-right corner (so that a PNG export includes it)."""

    WIDTH, HEIGHT, MARGIN = 150, 44, 10

    def __init__(self, plot: QWidget):
        super().__init__(plot)
        self.setObjectName("embeddingLossScale")
        self.setAccessibleName("Pretext loss colour scale")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFixedSize(self.WIDTH, self.HEIGHT)
        self.low = self.high = 0.0
        self._plot = plot
        plot.installEventFilter(self)
        self.setVisible(False)

    def set_range(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self._place()
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self._plot and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        self.move(self._plot.width() - self.WIDTH - self.MARGIN - 24, self.MARGIN)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        palette = self.palette()
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.setBrush(palette.color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1), 4, 4)
        bar = QRectF(8, 20, self.width() - 16, 8)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for stop in np.linspace(0, 1, 9):
            gradient.setColorAt(float(stop), LOSS_COLOURS.map(float(stop), mode="qcolor"))
        painter.fillRect(bar, gradient)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        top = QRectF(8, 2, self.width() - 16, 17)
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "pretext loss")
        bottom = QRectF(8, 29, self.width() - 16, 14)
        painter.drawText(bottom, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{self.low:.3g}")
        painter.drawText(bottom, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{self.high:.3g}")
        painter.end()


def _png_base64(image: QImage) -> str:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.toBase64()).decode("ascii")
