"""Step 3, Augmentations: the random transforms, and a live preview of the views a task compares."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from workbench.config import AugmentConfig, DataConfig
from workbench.data.modality import carries_modality_values
from workbench.data.windows import chosen_window, describe_jitter_in_hu
from workbench.gui.forms import ConfigForm
from workbench.gui.thumbnails import pixels_to_qimage
from workbench.gui.widgets import Banner, ImageTile, hidden_note, panel_layout
from workbench.gui.workers import JobSlot, WhileBusy

PREVIEW_IMAGES = 4
PREVIEW_POOL = 400
"""Images decoded to choose the preview from: enough to find several classes in most folders."""
VIEWS = 2
TILE = 84
"""The least side of a preview tile, in pixels (tiles grow with the room the window gives them)."""
NO_FIXED_WINDOW = ("The window differs per image (the file's own or automatic), so brightness and contrast have no "
                   "single size in HU: choose a preset or a custom window on the Dataset step to see one.")


def intensity_hint(aug_cfg: AugmentConfig, data_cfg: DataConfig) -> str:
    """Brightness and contrast jitter in HU under the dataset's window (for data with modality values)."""
    window = chosen_window(data_cfg, None)
    return describe_jitter_in_hu(aug_cfg.brightness, aug_cfg.contrast, window) if window else NO_FIXED_WINDOW


def preview_indices(labels: np.ndarray, count: int = PREVIEW_IMAGES) -> list[int]:
    """`count` image indices that cover as many classes as possible: the first image of each class in
    turn, then the second of each, and so on (unlabelled images count as one more class)."""
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(np.asarray(labels).tolist()):
        by_class.setdefault(int(label), []).append(index)
    chosen: list[int] = []
    for rank in range(max((len(members) for members in by_class.values()), default=0)):
        for members in by_class.values():
            if rank < len(members) and len(chosen) < count:
                chosen.append(members[rank])
    return chosen


def preview_views(dataset: Any, aug_cfg: AugmentConfig, seed: int) -> list[list[np.ndarray]]:
    """For each preview image: the cached image and VIEWS augmented views, as HxWxC floats in 0..1."""
    import torch

    from workbench.data import BatchAugmenter

    chosen = preview_indices(np.asarray(dataset.labels))
    images = torch.as_tensor(np.asarray(dataset.images[chosen]))
    size = int(images.shape[-1])
    augmenter = BatchAugmenter(aug_cfg, dataset.channels, size, dataset.mean, dataset.std)
    generator = torch.Generator().manual_seed(seed)
    mean = torch.as_tensor(np.asarray(dataset.mean, dtype=np.float32)).view(1, -1, 1, 1)
    std = torch.as_tensor(np.asarray(dataset.std, dtype=np.float32)).view(1, -1, 1, 1)
    with torch.no_grad():
        views = [(augmenter(images, generator).float() * std + mean).clamp(0, 1) for _ in range(VIEWS)]
    scale = float(torch.iinfo(images.dtype).max) if not images.dtype.is_floating_point else 1.0
    originals = images.float() / scale
    rows = []
    for index in range(images.shape[0]):
        row = [originals[index]] + [view[index] for view in views]
        rows.append([tensor.permute(1, 2, 0).numpy() for tensor in row])
    return rows


class AugmentPanel(QWidget):
    """The augmentation form beside a preview grid: each row is one image and the views drawn from it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("augmentPanel")
        self.dataset: Any = None
        self._data_cfg: DataConfig | None = None
        self._seed = 0
        self._loads = JobSlot(WhileBusy.REPLACE, self)
        self._drawings = JobSlot(WhileBusy.LATEST, self)
        layout = panel_layout(
            self, "Augmentations", "Each training step shows the model random variations (views) of every image. "
                                   "The model learns to ignore what the views change, so change only what does not "
                                   "matter for your images.")
        self.banner = Banner("Augmentation message", self)
        layout.addWidget(self.banner)
        columns = QHBoxLayout()
        columns.setSpacing(16)
        self.form = ConfigForm(AugmentConfig, "augment", parent=self)
        self.form.changed.connect(self._on_form_changed)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget(scroll)
        holder_layout = QVBoxLayout(holder)
        self.intensity_label = hidden_note(holder, "intensityInHU", "Brightness and contrast in Hounsfield units",
                                           "caption")
        self.intensity_label.setToolTip("In the file's units under the dataset's window: HU for CT.")
        holder_layout.addWidget(self.intensity_label)
        holder_layout.addWidget(self.form)
        scroll.setWidget(holder)
        columns.addWidget(scroll, 1)
        columns.addWidget(self._preview_box(), 1)
        layout.addLayout(columns, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh_views)

    def _preview_box(self) -> QWidget:
        box = QGroupBox("Preview: each image and two random views", self)
        layout = QVBoxLayout(box)
        self.preview_grid = QGridLayout()
        self.preview_grid.setSpacing(6)
        for column, title in enumerate(["Image"] + [f"View {i + 1}" for i in range(VIEWS)]):
            header = QLabel(title, box)
            header.setAlignment(Qt.AlignmentFlag.AlignCenter)
            header.setProperty("role", "subtitle")
            self.preview_grid.addWidget(header, 0, column)
        self.tiles: list[list[ImageTile]] = []
        for row in range(PREVIEW_IMAGES):
            tiles = []
            for column in range(VIEWS + 1):
                tile = ImageTile(TILE, box)
                tile.setAccessibleName(f"Preview image {row + 1}, " + ("original" if column == 0 else
                                                                        f"view {column}"))
                self.preview_grid.addWidget(tile, row + 1, column)
                tiles.append(tile)
            self.tiles.append(tiles)
        layout.addLayout(self.preview_grid, 1)
        self.status_label = QLabel("The preview appears once the dataset is scanned.", box)
        self.status_label.setProperty("role", "caption")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.resample_button = QPushButton("Resample views", box)
        self.resample_button.setObjectName("resampleViews")
        self.resample_button.setAccessibleName("Resample augmented views")
        self.resample_button.clicked.connect(self.resample)
        layout.addWidget(self.resample_button)
        return box

    # -- config ---------------------------------------------------------------------------------------
    def augment_config(self) -> AugmentConfig:
        return self.form.values()

    def set_augment_config(self, config: AugmentConfig) -> None:
        self.form.set_values(config)
        self._debounce.start()

    def forms(self) -> list[ConfigForm]:
        return [self.form]

    def _on_form_changed(self) -> None:
        self.changed.emit()
        self._show_intensity_hint()
        self._debounce.start()

    def _show_intensity_hint(self) -> None:
        """The jitter bounds in HU, shown only for images with modality values (DICOM, NIfTI)."""
        dataset, data_cfg = self.dataset, self._data_cfg
        shown = (dataset is not None and data_cfg is not None
                 and any(carries_modality_values(record) for record in dataset.report.images))
        if shown:
            self.intensity_label.setText(intensity_hint(self.augment_config(), data_cfg))
        self.intensity_label.setVisible(shown)

    # -- preview --------------------------------------------------------------------------------------
    def load_preview_images(self, data_cfg: DataConfig) -> None:
        """Decode a few images of the dataset (off the GUI thread) for the preview."""
        from workbench.data import load_dataset

        limit = PREVIEW_POOL if not data_cfg.max_images else min(PREVIEW_POOL, data_cfg.max_images)
        config = replace(data_cfg, max_images=limit)
        self._loads.run(lambda cancel, progress: load_dataset(config, cancel, progress),
                        succeeded=lambda dataset: self._on_loaded(dataset, data_cfg),
                        failed=lambda message, _details: self.banner.show_message(
                            f"Preview images could not be loaded: {message}", "warning"))
        self.status_label.setText("Loading preview images…")

    def _on_loaded(self, dataset: Any, data_cfg: DataConfig) -> None:
        self.dataset = dataset
        self._data_cfg = data_cfg
        self._show_intensity_hint()
        self.refresh_views()

    def resample(self) -> None:
        self._seed += 1
        self.refresh_views()

    def refresh_views(self) -> None:
        """Draw new views with the current settings (one computation at a time; the latest wins)."""
        if self.dataset is None:
            return
        if self.form.refusals():
            self.status_label.setText("The preview waits until the settings marked in red are fixed.")
            return
        dataset, config, seed = self.dataset, self.augment_config(), self._seed
        self._drawings.run(lambda _cancel, _progress: preview_views(dataset, config, seed),
                           succeeded=self._show_views,
                           failed=lambda message, _details: self.banner.show_message(
                               f"The preview could not be drawn with these settings: {message}", "warning"))

    def _show_views(self, rows: list[list[np.ndarray]]) -> None:
        if self.banner.level() == "warning":
            self.banner.clear()
        for row, images in zip(self.tiles, rows):
            for tile, pixels in zip(row, images):
                tile.set_pixmap(QPixmap.fromImage(pixels_to_qimage(pixels)))
        self.status_label.setText("Views change with every training step. Resample to see others.")


    def preview_ready(self) -> bool:
        """True once the tiles show views (used by tests)."""
        return not self.tiles[0][1].pixmap().isNull()

    def shutdown(self) -> None:
        for slot in (self._loads, self._drawings):
            slot.cancel()
            slot.wait()
