"""A lazy thumbnail grid model: thumbnails are decoded on a worker thread only when a row is shown.

The view asks `data(DecorationRole)` only for visible rows; an undecoded row answers with a placeholder
and queues a request. The loader serves the newest requests first (what the user scrolled to), and a
bounded cache keeps memory flat with thousands of images.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QSize, Qt, QThread, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPixmap

from workbench.config import DataConfig

THUMBNAIL_SIZE = 96
CACHE_LIMIT = 1500
QUEUE_LIMIT = 400


def pixels_to_qimage(pixels: np.ndarray) -> QImage:
    """A float32 HxWxC image in 0..1 as a QImage (grayscale for 1 channel, RGB for 3 or more)."""
    array = np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    channels = array.shape[2]
    if channels >= 3:
        array = np.ascontiguousarray(array[:, :, :3])
        image_format = QImage.Format.Format_RGB888
    else:
        array = np.ascontiguousarray(array[:, :, 0])
        image_format = QImage.Format.Format_Grayscale8
    height, width = array.shape[:2]
    return QImage(array.data, width, height, array.strides[0], image_format).copy()


def thumbnail_caption(record: Any, relative: bool = False) -> str:
    """The file name; for a slice of a volume, the volume (a NIfTI file, else the series folder) and the
    slice's place in it ('case01 · 7'), since scanners name slice files in an order of their own. With
    `relative`, those names are paths relative to the dataset folder ('4/131.png', 'p1/case01 · 7')."""
    from workbench.data.readers import is_nifti

    path = Path(record.path)
    name = path.as_posix() if relative else path.name
    if record.volume is None:
        return name
    parent = path.parent.as_posix() if relative else path.parent.name
    volume = name if is_nifti(path) or not path.parent.name else parent
    return f"{volume} · {record.slice_index + 1}"


class ThumbnailLoader(QThread):
    """Decodes requested rows with the engine's reader; newest request first; emits `ready(generation, row, image)`."""

    ready = Signal(int, int, QImage)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Condition()
        self._queue: collections.OrderedDict[int, tuple[int, Path, int, DataConfig]] = collections.OrderedDict()
        self._stopping = False
        app = QGuiApplication.instance()
        self._pixel_ratio = app.devicePixelRatio() if app is not None else 1.0
        """Device pixels per logical pixel: thumbnails are decoded sharp on HiDPI screens."""

    def request(self, generation: int, row: int, path: Path, frame: int, data_cfg: DataConfig) -> None:
        with self._lock:
            self._queue.pop(row, None)
            self._queue[row] = (generation, path, frame, data_cfg)
            while len(self._queue) > QUEUE_LIMIT:  # rows scrolled past long ago are dropped
                self._queue.popitem(last=False)
            self._lock.notify()

    def forget_requests(self) -> None:
        with self._lock:
            self._queue.clear()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._queue.clear()
            self._lock.notify()
        self.wait()

    def run(self) -> None:
        from workbench.data import read_frames  # the engine's reader, so thumbnails match training

        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                row, (generation, path, frame, data_cfg) = self._queue.popitem(last=True)
            try:
                frames = read_frames(path, data_cfg)
                image = pixels_to_qimage(frames[min(frame, len(frames) - 1)].pixels)
                side = round(THUMBNAIL_SIZE * self._pixel_ratio)
                image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
                image.setDevicePixelRatio(self._pixel_ratio)
            except Exception:  # a file that fails now was readable at scan time; show an empty tile
                image = QImage()
            self.ready.emit(generation, row, image)


class ThumbnailModel(QAbstractListModel):
    """Rows are the scanned images (ImageRecord); thumbnails load lazily through a ThumbnailLoader."""

    RELATIVE_CAPTIONS = False
    """Caption rows with their paths relative to the dataset folder rather than their file names."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._records: Sequence[Any] = ()
        self._root = Path()
        self._data_cfg = DataConfig()
        self._generation = 0
        self._cache: collections.OrderedDict[int, QPixmap] = collections.OrderedDict()
        self._requested: set[int] = set()
        self._placeholder = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        self._placeholder.fill(QColor(128, 128, 128, 60))
        self.loader = ThumbnailLoader(self)
        self.loader.ready.connect(self._on_ready)
        self.loader.start()

    def set_images(self, root: str | Path, records: Sequence[Any], data_cfg: DataConfig) -> None:
        """Show these scanned images (paths relative to `root`)."""
        self.beginResetModel()
        self._root = Path(root)
        self._records = list(records)
        self._data_cfg = replace(data_cfg)
        self._invalidate()
        self.endResetModel()

    def set_data_config(self, data_cfg: DataConfig) -> None:
        """Re-render the thumbnails with new reading settings (e.g. a DICOM window)."""
        self._data_cfg = replace(data_cfg)
        self._invalidate()
        if self._records:
            self.dataChanged.emit(self.index(0), self.index(len(self._records) - 1),
                                  [Qt.ItemDataRole.DecorationRole])

    def _invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()
        self._requested.clear()
        self.loader.forget_requests()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt override)
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = index.row()
        record = self._records[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return thumbnail_caption(record, self.RELATIVE_CAPTIONS)
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self._cache.get(row)
            if pixmap is not None:
                self._cache.move_to_end(row)
                return pixmap
            if row not in self._requested:
                self._requested.add(row)
                self.loader.request(self._generation, row, self._root / record.path, record.frame, self._data_cfg)
            return self._placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            label = f"\nLabel: {record.label}" if record.label is not None else ""
            frame = f" (frame {record.frame + 1})" if record.frame else ""
            return (f"{record.path}{frame}\n{record.width} × {record.height} px, {record.channels} channel(s), "
                    f"{record.bit_depth}-bit{label}")
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(THUMBNAIL_SIZE + 16, THUMBNAIL_SIZE + 28)
        return None

    def _on_ready(self, generation: int, row: int, image: QImage) -> None:
        if generation != self._generation or row >= len(self._records):
            return
        self._requested.discard(row)
        pixmap = QPixmap.fromImage(image) if not image.isNull() else self._placeholder
        self._cache[row] = pixmap
        while len(self._cache) > CACHE_LIMIT:
            evicted, _ = self._cache.popitem(last=False)
            self._requested.discard(evicted)
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def is_loaded(self, row: int) -> bool:
        """Whether row `row` shows its decoded thumbnail (not the placeholder)."""
        return row in self._cache

    def loaded_count(self) -> int:
        """Thumbnails decoded and cached (used by tests and the status line)."""
        return len(self._cache)

    def shutdown(self) -> None:
        self.loader.stop()
