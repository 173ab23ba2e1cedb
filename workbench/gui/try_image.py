"""Try an image on a run: drop a file (or choose one) to see the predicted class and the nearest images.

`TryImageBox(parent)`, then `set_run(run_dir)`. The first image prepares an `ImagePredictor` (embeds the
run's dataset once, with progress); later images only embed themselves. Both happen on a BackgroundJob;
neighbour thumbnails load on the ThumbnailModel's loader thread. Call `shutdown()` when the window closes.
"""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout,
                               QWidget)

from workbench.config import DataConfig
from workbench.gui.thumbnails import THUMBNAIL_SIZE, ThumbnailModel, pixels_to_qimage
from workbench.gui.widgets import action_button, thumbnail_grid
from workbench.gui.workers import BackgroundJob

PREVIEW_SIZE = 150
SHOWN_CLASSES = 4
NEIGHBOUR_CELL = QSize(THUMBNAIL_SIZE + 30, THUMBNAIL_SIZE + 40)
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.dcm *.dicom *.nii *.nii.gz);;All files (*)"


class NeighbourThumbnails(ThumbnailModel):
    """The nearest dataset images, nearest first: thumbnail, label and similarity."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.neighbours: list = []

    def set_neighbours(self, root: Path, neighbours: list, data_cfg) -> None:
        self.neighbours = list(neighbours)
        self.set_images(root, [neighbour.record for neighbour in neighbours], data_cfg)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if index.isValid() and role == Qt.ItemDataRole.DisplayRole:
            neighbour = self.neighbours[index.row()]
            return f"{neighbour.label or 'unlabelled'}\nsimilarity {neighbour.similarity:.3f}"
        if index.isValid() and role == Qt.ItemDataRole.ToolTipRole:
            return (f"Similarity {self.neighbours[index.row()].similarity:.3f} (cosine of the embeddings, "
                    f"1 = the same)\n" + super().data(index, role))
        if role == Qt.ItemDataRole.SizeHintRole:
            return NEIGHBOUR_CELL
        return super().data(index, role)


class DropZone(QLabel):
    """Where the tried image is shown; it invites a drop (the whole TryImageBox accepts it)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAccessibleName("Drop an image here")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setFixedSize(PREVIEW_SIZE + 8, PREVIEW_SIZE + 8)
        self.set_hovering(False)

    def set_hovering(self, hovering: bool) -> None:
        colour = "palette(highlight)" if hovering else "rgba(128, 128, 128, 0.6)"
        self.setStyleSheet(f"QLabel#dropZone {{ border: 2px dashed {colour}; border-radius: 8px; padding: 4px; }}")

    def show_text(self, text: str) -> None:
        self.setPixmap(QPixmap())
        self.setText(text)


class TryImageBox(QWidget):
    """Drop or choose an image file: the run's encoder predicts its class and finds its nearest images."""

    predicted = Signal(object)
    """A `workbench.probes.predict.Prediction`."""
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, neighbours: int = 8):
        super().__init__(parent)
        self.setObjectName("tryImage")
        self.setAcceptDrops(True)
        self.neighbour_count = neighbours
        self.run_dir: Path | None = None
        self._predictor = None
        """The ImagePredictor of `run_dir`, made by the first job (used only on job threads)."""
        self._job: BackgroundJob | None = None
        self._pending: Path | None = None
        self.neighbour_model: NeighbourThumbnails | None = None
        """Made at the first result: its loader thread runs until `shutdown()`."""
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 4, 0, 0)
        row.setSpacing(14)
        row.addLayout(self._image_column())
        row.addLayout(self._prediction_column(), 1)
        row.addLayout(self._neighbour_column(), 3)
        self.set_run(None)

    # -- layout ---------------------------------------------------------------------------------------
    def _image_column(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(6)
        self.drop_zone = DropZone(self)
        column.addWidget(self.drop_zone)
        self.choose_button = action_button(self, "Choose image…", "chooseTryImage", "Choose an image file to try",
                                           self.choose_image, "folder")
        column.addWidget(self.choose_button)
        self.file_label = QLabel(self)
        self.file_label.setObjectName("triedFile")
        self.file_label.setProperty("role", "caption")
        self.file_label.setWordWrap(True)
        self.file_label.setMaximumWidth(PREVIEW_SIZE + 8)
        column.addWidget(self.file_label)
        column.addStretch(1)
        return column

    def _prediction_column(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(6)
        self.answer = QLabel(self)
        self.answer.setObjectName("predictedClass")
        self.answer.setAccessibleName("Predicted class")
        self.answer.setProperty("role", "metric")
        self.answer.setTextFormat(Qt.TextFormat.PlainText)
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.answer)
        self.method_label = QLabel(self)
        self.method_label.setObjectName("predictionMethod")
        self.method_label.setProperty("role", "caption")
        self.method_label.setTextFormat(Qt.TextFormat.RichText)
        self.method_label.setWordWrap(True)
        column.addWidget(self.method_label)
        self.class_grid = QGridLayout()
        self.class_grid.setHorizontalSpacing(8)
        self.class_grid.setVerticalSpacing(4)
        self.class_grid.setColumnStretch(1, 1)
        self.class_rows: list[tuple[QLabel, QProgressBar]] = []
        for number in range(SHOWN_CLASSES):
            name = QLabel(self)
            bar = QProgressBar(self)
            bar.setObjectName(f"classProbability{number}")
            bar.setRange(0, 1000)
            bar.setMaximumHeight(self.fontMetrics().height() + 4)
            self.class_grid.addWidget(name, number, 0)
            self.class_grid.addWidget(bar, number, 1)
            self.class_rows.append((name, bar))
        column.addLayout(self.class_grid)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("tryImageProgress")
        self.progress.setAccessibleName("Preparing the run")
        column.addWidget(self.progress)
        self.cancel_button = action_button(self, "Cancel", "cancelTryImage", "Stop preparing the run", self.cancel,
                                           "stop")
        column.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignLeft)
        column.addStretch(1)
        return column

    def _neighbour_column(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(4)
        self.neighbour_caption = QLabel(self)
        self.neighbour_caption.setObjectName("neighbourCaption")
        self.neighbour_caption.setProperty("role", "caption")
        self.neighbour_caption.setWordWrap(True)
        column.addWidget(self.neighbour_caption)
        self.neighbour_view = thumbnail_grid(self, "nearestImages", "Nearest images of the dataset, nearest first",
                                             THUMBNAIL_SIZE, NEIGHBOUR_CELL)
        self.neighbour_view.setWordWrap(True)
        self.neighbour_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.neighbour_view.setMinimumHeight(NEIGHBOUR_CELL.height() + 2 * self.neighbour_view.frameWidth() + 4)
        self.neighbour_view.setAcceptDrops(False)
        column.addWidget(self.neighbour_view, 1)
        return column

    # -- run ------------------------------------------------------------------------------------------
    def set_run(self, run_dir: str | Path | None) -> None:
        """Try images on this run (its predictor is prepared at the first image)."""
        new = Path(run_dir) if run_dir else None
        self.cancel()
        self._predictor = None  # prepared again: the run may have a newer checkpoint by now
        self.run_dir = new
        self._pending = None
        self.clear_result()
        self.drop_zone.show_text("Drop an image here\n(PNG, JPEG, TIFF, DICOM, NIfTI)" if new else
                                 "Choose a run first")
        self._update_state()

    def clear_result(self) -> None:
        self._set_answer("")
        self.method_label.setText("The run's encoder embeds the image; its class comes from a linear head on "
                                  "the embeddings, and the nearest images of the run's dataset are shown.")
        for name, bar in self.class_rows:
            name.setVisible(False)
            bar.setVisible(False)
        self.file_label.clear()
        self.neighbour_caption.setText("Nearest images of the run's dataset")
        if self.neighbour_model is not None:
            self.neighbour_model.set_neighbours(Path(), [], DataConfig())

    def _set_answer(self, text: str) -> None:
        self.answer.setText(text)
        self.answer.setVisible(bool(text))

    def busy(self) -> bool:
        return self._job is not None and self._job.is_running()

    def _update_state(self) -> None:
        self.choose_button.setEnabled(self.run_dir is not None)
        self.progress.setVisible(self.busy())
        self.cancel_button.setVisible(self.busy())

    # -- trying an image ------------------------------------------------------------------------------
    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Image to try", "", IMAGE_FILTER)
        if path:
            self.try_image(path)

    def try_image(self, path: str | Path) -> None:
        """Predict this image file on a job (after the running one, if any)."""
        if self.run_dir is None:
            return
        path = Path(path)
        if self.busy():
            self._pending = path
            return
        run_dir, predictor, count = self.run_dir, self._predictor, self.neighbour_count

        def work(cancel, progress):
            from workbench.probes.predict import ImagePredictor

            ready = predictor or ImagePredictor.open(run_dir, neighbours=count, cancel=cancel, progress=progress)
            try:
                return run_dir, ready, path, ready.predict(path)
            except ValueError as error:  # an unreadable file: the prepared run is kept for the next one
                return run_dir, ready, path, error

        job = BackgroundJob(work, self)
        job.run_dir = run_dir
        job.progress.connect(self._on_progress)
        job.succeeded.connect(self._show)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        job.ended.connect(self._ended)
        self._job = job
        if predictor is None:
            self._set_answer("Preparing the run…")
            self.method_label.setText("Embedding the run's dataset once, so later images are quick.")
        self.progress.setRange(0, 0)
        job.start()
        self._update_state()

    def _on_progress(self, done: int, total: int, _eta: float) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"Embedding the dataset: {done} of {total} images")

    def _show(self, result: tuple) -> None:
        run_dir, predictor, path, prediction = result
        if run_dir != self.run_dir:  # the run changed while this image was being embedded
            return
        self._predictor = predictor
        if isinstance(prediction, ValueError):
            self._show_error(str(prediction))
            return
        self.drop_zone.setPixmap(QPixmap.fromImage(pixels_to_qimage(prediction.pixels)).scaled(
            PREVIEW_SIZE, PREVIEW_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        size = prediction.pixels.shape[0]
        where = f", frame {prediction.frame + 1} of {prediction.frames}" if prediction.frames > 1 else ""
        self.file_label.setText(f"{path.name}{where}\nseen at {size} × {size} px")
        self.file_label.setToolTip(str(path))
        self.drop_zone.setToolTip(f"{path}\nAs the run's encoder sees it: read with the run's settings and "
                                  f"resized to {size} × {size} px")
        self._show_classes(prediction)
        self._show_neighbours(predictor, prediction)
        self.predicted.emit(prediction)

    def _show_classes(self, prediction) -> None:
        best = prediction.best
        if best is None:
            self._set_answer("No labels in this dataset")
        else:
            self._set_answer(f"Predicted: {best.name} ({best.probability:.0%})")
        self.method_label.setText(html.escape(prediction.method[0].upper() + prediction.method[1:]) + ".")
        for (name, bar), score in zip(self.class_rows, prediction.classes + [None] * SHOWN_CLASSES):
            name.setVisible(score is not None)
            bar.setVisible(score is not None)
            if score is not None:
                name.setText(score.name)
                bar.setValue(round(1000 * score.probability))
                bar.setFormat(f"{100 * score.probability:.1f}%")

    def _show_neighbours(self, predictor, prediction) -> None:
        if self.neighbour_model is None:
            self.neighbour_model = NeighbourThumbnails(self)
            self.neighbour_view.setModel(self.neighbour_model)
        self.neighbour_model.set_neighbours(predictor.dataset_root, prediction.neighbours,
                                            predictor.context.config.data)
        self.neighbour_caption.setText(f"The {len(prediction.neighbours)} nearest of the run's "
                                       f"{len(predictor.embeddings)} images, nearest first")

    def _for_this_run(self) -> bool:
        """Whether the job that sent this signal worked on the run shown now."""
        return getattr(self.sender(), "run_dir", None) == self.run_dir

    def _failed(self, message: str, _details: str) -> None:
        if self._for_this_run():
            self._show_error(message)

    def _show_error(self, message: str) -> None:
        self._set_answer("")
        self.method_label.setText(f"<b>That did not work.</b> {html.escape(message)}")
        self.failed.emit(message)

    def _cancelled(self) -> None:
        if self._for_this_run():
            self._set_answer("")
            self.method_label.setText("Cancelled.")

    def _ended(self) -> None:
        self.sender().deleteLater()  # `ended` comes once its thread is done
        if self.sender() is not self._job:
            return
        self._job = None
        self._update_state()
        pending, self._pending = self._pending, None
        if pending is not None:
            self.try_image(pending)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._pending = None

    def wait(self) -> None:
        """Block until a running job ends (shutdown and tests)."""
        if self._job is not None:
            self._job.wait()

    def shutdown(self) -> None:
        """Cancel and wait for a running job, and stop the thumbnail loader (window closing)."""
        self.cancel()
        self.wait()
        if self.neighbour_model is not None:
            self.neighbour_model.shutdown()

    # -- drag and drop --------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self.run_dir is not None and dropped_file(event.mimeData()) is not None:
            event.acceptProposedAction()
            self.drop_zone.set_hovering(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 (Qt override)
        self.drop_zone.set_hovering(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        self.drop_zone.set_hovering(False)
        path = dropped_file(event.mimeData())
        if self.run_dir is None or path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.try_image(path)


def dropped_file(mime) -> Path | None:
    """The first local file among dropped URLs (None when nothing droppable is there)."""
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile() and Path(url.toLocalFile()).is_file():
            return Path(url.toLocalFile())
    return None
