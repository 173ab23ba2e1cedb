"""Try an image on a run: drop a file (or choose one) to see the predicted class and the nearest images.

An image unlike the run's dataset (out of distribution) gets a warning and no class; its nearest images are
still shown, marked as not similar. A new image clears the previous result at once.

`TryImageBox(parent)`, then `set_run(run_dir)`. The first image prepares an `ImagePredictor` (embeds the
run's dataset once, with progress); later images only embed themselves. Both happen on a JobSlot;
neighbour thumbnails load on the ThumbnailModel's loader thread. Call `shutdown()` when the window closes.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent, QPalette, QPixmap
from PySide6.QtWidgets import (QApplication, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                               QVBoxLayout, QWidget)

from workbench.config import DataConfig
from workbench.gui.thumbnails import THUMBNAIL_SIZE, ThumbnailModel, pixels_to_qimage
from workbench.gui.widgets import Banner, action_button, scaled_to_fit, thumbnail_grid
from workbench.gui.workers import JobSlot, WhileBusy

PREVIEW_SIZE = 150
SHOWN_CLASSES = 4
NEIGHBOUR_CELL = QSize(THUMBNAIL_SIZE + 30, THUMBNAIL_SIZE + 40)
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.dcm *.dicom *.nii *.nii.gz);;All files (*)"
DROP_INVITATION = "Drop an image here\n(PNG, JPEG, TIFF, DICOM, NIfTI)"


class NeighbourThumbnails(ThumbnailModel):
    """The nearest dataset images, nearest first: thumbnail, label and similarity; greyed and marked "not
    similar" when the tried image is out of distribution."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.neighbours: list = []
        self.similar = True

    def set_neighbours(self, root: Path, neighbours: list, data_cfg, similar: bool = True) -> None:
        self.neighbours = list(neighbours)
        self.similar = similar
        self.set_images(root, [neighbour.record for neighbour in neighbours], data_cfg)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if index.isValid() and role == Qt.ItemDataRole.DisplayRole:
            neighbour = self.neighbours[index.row()]
            closeness = f"similarity {neighbour.similarity:.3f}" if self.similar else "not similar"
            return f"{neighbour.label or 'unlabelled'}\n{closeness}"
        if index.isValid() and role == Qt.ItemDataRole.ForegroundRole and not self.similar:
            return QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        if index.isValid() and role == Qt.ItemDataRole.ToolTipRole:
            warning = "" if self.similar else "Not similar: the tried image is unlike all of the dataset's images.\n"
            return (f"{warning}Similarity {self.neighbours[index.row()].similarity:.3f} (cosine of the embeddings, "
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
        self._prepared: tuple[Path, object] | None = None
        """(run folder, its ImagePredictor) once prepared."""
        """The ImagePredictor of `run_dir`, made by the first job (used only on job threads)."""
        self._jobs = JobSlot(WhileBusy.LATEST, self)
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
        self.unfamiliar = Banner("Out of distribution", self)
        column.addWidget(self.unfamiliar)
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
        self._prepared = None  # prepared again: the run may have a newer checkpoint by now
        self.run_dir = new
        self.clear_result()
        self.drop_zone.show_text(DROP_INVITATION if new else "Choose a run first")
        self._update_state()

    def clear_result(self) -> None:
        """Forget the shown result: class, scores, warning, error, file and nearest images."""
        self._set_answer("")
        self.answer.setToolTip("")
        self.unfamiliar.setVisible(False)
        self.method_label.setText("The run's encoder embeds the image; its class comes from a linear head on "
                                  "the embeddings, and the nearest images of the run's dataset are shown.")
        self._show_scores([])
        self.file_label.clear()
        self.file_label.setToolTip("")
        self.drop_zone.setToolTip("")
        self.neighbour_caption.setText("Nearest images of the run's dataset")
        if self.neighbour_model is not None:
            self.neighbour_model.set_neighbours(Path(), [], DataConfig())

    def _set_answer(self, text: str) -> None:
        self.answer.setText(text)
        self.answer.setVisible(bool(text))

    def busy(self) -> bool:
        """Whether a job is in flight: from its start until its `ended` is handled (its result signals may
        still be queued after its thread stops)."""
        return self._jobs.busy

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
        """Predict this image file on a job (after the running one, if any: a result that arrives once a
        newer image is waiting is not shown)."""
        if self.run_dir is None:
            return
        path = Path(path)
        self.clear_result()
        self.drop_zone.show_text(f"Reading {path.name}…")
        self.file_label.setText(path.name)
        run_dir, count = self.run_dir, self.neighbour_count

        def work(cancel, progress):
            from workbench.probes.predict import ImagePredictor

            prepared = self._prepared  # read when the job starts: the job before it may have prepared the run
            ready = prepared[1] if prepared is not None and prepared[0] == run_dir else ImagePredictor.open(
                run_dir, neighbours=count, cancel=cancel, progress=progress)
            try:
                return run_dir, ready, path, ready.predict(path, cancel=cancel)
            except ValueError as error:  # an unreadable file: the prepared run is kept for the next one
                return run_dir, ready, path, error

        self._jobs.run(work, progress=self._on_progress, succeeded=self._show,
                       failed=lambda message, _details: self._failed(run_dir, message),
                       cancelled=lambda: self._cancelled(run_dir), ended=self._update_state)
        if self._prepared is None:
            self._set_answer("Preparing the run…")
            self.method_label.setText("Embedding the run's dataset once, so later images are quick.")
        self.progress.setRange(0, 0)
        self._update_state()

    def _on_progress(self, done: int, total: int, _eta: float) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"Embedding the dataset: {done} of {total} images")

    def _show(self, result: tuple) -> None:
        run_dir, predictor, path, prediction = result
        if run_dir != self.run_dir:  # the run changed while this image was being embedded
            return
        self._prepared = (run_dir, predictor)
        if self._jobs.waiting:  # another image was dropped meanwhile: it comes next
            return
        if isinstance(prediction, ValueError):
            self._show_error(str(prediction))
            return
        image = pixels_to_qimage(prediction.pixels)
        self.drop_zone.setPixmap(QPixmap.fromImage(scaled_to_fit(image, QSize(PREVIEW_SIZE, PREVIEW_SIZE))))
        size = prediction.pixels.shape[0]
        where = f", frame {prediction.frame + 1} of {prediction.frames}" if prediction.frames > 1 else ""
        self.file_label.setText(f"{path.name}{where}\nseen at {size} × {size} px")
        self.file_label.setToolTip(str(path))
        self.drop_zone.setToolTip(f"{path}\nAs the run's encoder sees it: read with the run's settings and "
                                  f"resized to {size} × {size} px")
        self._show_classes(prediction)
        if prediction.stacking:  # where a 2.5-D input's channels came from (its neighbours, or why not)
            self.method_label.setText(self.method_label.text() + "<br>"
                                      + html.escape(f"2.5-D input: {prediction.stacking}.", quote=False))
        self._show_neighbours(predictor, prediction)
        self.predicted.emit(prediction)

    def _show_classes(self, prediction) -> None:
        familiarity = prediction.familiarity
        if familiarity.out_of_distribution:
            self._set_answer("")  # no class, nor "Preparing the run…" when this was the run's first image
            self.unfamiliar.show_message(unfamiliar_text(familiarity), "warning")
            self.method_label.setText(html.escape(f"Out of distribution: {distance_text(familiarity)}. "
                                                  "Beyond that, a class would only be a guess.", quote=False))
            return  # the scores stay hidden, as `try_image` cleared them
        best = prediction.best
        if best is None:
            self._set_answer("No labels in this dataset")
        else:
            self._set_answer(f"Predicted: {best.name} ({best.probability:.0%})")
        self.answer.setToolTip(f"Like the run's images: {distance_text(familiarity)}.")
        self.method_label.setText(html.escape(prediction.method[0].upper() + prediction.method[1:]) + ".")
        self._show_scores(prediction.classes)

    def _show_scores(self, classes: list) -> None:
        for (name, bar), score in zip(self.class_rows, classes + [None] * SHOWN_CLASSES):
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
        similar = not prediction.familiarity.out_of_distribution
        self.neighbour_model.set_neighbours(predictor.dataset_root, prediction.neighbours,
                                            predictor.context.config.data, similar)
        self.neighbour_caption.setText(f"The {len(prediction.neighbours)} nearest of the run's "
                                       f"{len(predictor.embeddings)} images, nearest first"
                                       + ("" if similar else " — none of them is similar to it"))

    def _failed(self, run_dir: Path, message: str) -> None:
        if run_dir == self.run_dir and not self._jobs.waiting:
            self._show_error(message)

    def _show_error(self, message: str) -> None:
        self._set_answer("")
        self.drop_zone.show_text(DROP_INVITATION)
        self.method_label.setText(f"<b>That did not work.</b> {html.escape(message)}")
        self.failed.emit(message)

    def _cancelled(self, run_dir: Path) -> None:
        if run_dir == self.run_dir:
            self._set_answer("")
            self.drop_zone.show_text(DROP_INVITATION)
            self.method_label.setText("Cancelled.")

    def cancel(self) -> None:
        self._jobs.cancel()

    def wait(self) -> None:
        """Block until a running job ends (shutdown and tests)."""
        self._jobs.wait()

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


def distance_text(familiarity) -> str:
    """How far an image's embedding lies from the run's images, against how far they lie from each other."""
    return (f"its {familiarity.nearest} nearest images of the run's dataset lie within {familiarity.distance:.2f}, "
            f"where the run's images usually have theirs within {familiarity.usual:.2f}, and "
            f"{familiarity.percentile:g}% within {familiarity.threshold:.2f}")


def unfamiliar_text(familiarity) -> str:
    """The warning for an image out of distribution."""
    times = familiarity.times_usual
    how_far = f" (distance {times:.1f}× the usual)" if math.isfinite(times) else ""
    return f"Unlike the images this encoder was trained on{how_far} — no class shown."


def dropped_file(mime) -> Path | None:
    """The first local file among dropped URLs (None when nothing droppable is there)."""
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile() and Path(url.toLocalFile()).is_file():
            return Path(url.toLocalFile())
    return None
