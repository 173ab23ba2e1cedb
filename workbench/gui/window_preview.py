"""The Dataset step's preview: the selected image, large, with its intensity window (chooser, level and width,
right-drag to adjust, double-click to go back to the named window).

A window applies to the scanner's values in DICOM and NIfTI files (HU for CT). PNG, JPEG and TIFF images are
used as stored, so for them the window settings give way to a note saying why. A slice of a series is shown
with its series' automatic window (`volume_windows.SeriesRanges`), as training sees it. The structures of the
folder's masks (SEG, RTSTRUCT) that the image contains are drawn over it (`mask_overlay`), with a box to hide them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.config import DataConfig
from workbench.data.masks import MaskSourceError, read_masks, structure_names
from workbench.data.modality import ModalityImage, read_modality_image
from workbench.data.volume_windows import SeriesRanges
from workbench.data.windows import (WINDOW_NAMES, WINDOW_PRESETS, chosen_window, format_window, measured_window,
                                    window_choice_text)
from workbench.gui.forms import ConfigForm
from workbench.gui.mask_overlay import MaskedImageView
from workbench.gui.workers import JobSlot, WhileBusy

WINDOW_FIELDS = ("dicom_window", "window_center", "window_width")
NAMED_WINDOW_DEFAULT = "file"
NO_WINDOW_NOTE = ("These images (PNG, JPEG, TIFF) are used as stored: a window applies to the scanner's values "
                  "in DICOM and NIfTI files (HU for CT).")


@dataclass
class PreviewImage:
    """What the preview shows: the engine's pixels for the current settings, and for DICOM/NIfTI the frame's
    modality values and the (level, width) the pixels were windowed with (None when it cannot be told), and the
    masks of the structures it contains, by name."""

    pixels: np.ndarray
    values: ModalityImage | None = None
    window: tuple[float, float] | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)


def load_preview(path: Path, frame: int, data_cfg: DataConfig, values: ModalityImage | None,
                 windowable: bool, auto_range: tuple[float, float] | None = None) -> PreviewImage:
    """Decode one frame as training sees it (`auto_range`: its series' automatic window range); read its
    modality values too unless `values` are given."""
    from workbench.data import read_frames

    frames = read_frames(path, data_cfg, auto_range)
    pixels = frames[min(frame, len(frames) - 1)].pixels
    if not windowable or pixels.shape[2] != 1:
        return PreviewImage(pixels)
    values = values if values is not None else read_modality_image(path, frame, data_cfg)
    window = chosen_window(data_cfg, None)
    if window is None and data_cfg.dicom_window == "file":
        window = stored_window(path, frame)
    if window is None and auto_range is not None:
        window = ((auto_range[0] + auto_range[1]) / 2.0, auto_range[1] - auto_range[0])
    if window is None:  # a VOI LUT, or a file's own automatic window: measure what the reader applied
        gray = pixels[..., 0]
        window = measured_window(values.values, 1.0 - gray if values.inverted else gray)
    return PreviewImage(pixels, values, window)


def stored_window(path: Path, frame: int) -> tuple[float, float] | None:
    """The (level, width) a DICOM frame stores (its WindowCenter/Width as written, not the effective LINEAR
    one, a unit narrower); None for other files and for a frame whose VOI LUT applies instead."""
    from workbench.data.readers import DICOM_EXTENSIONS, looks_like_dicom

    if path.suffix.lower() not in DICOM_EXTENSIONS and not looks_like_dicom(path):
        return None
    import pydicom

    from workbench.data.dicom import file_window

    dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    window = None if "VOILUTSequence" in dataset else file_window(dataset, frame)
    return (window.level, window.width) if window is not None else None


def series_members(record: Any, records: list[Any]) -> tuple[str, ...]:
    """The files of `record`'s volume among the scanned `records` (just its own file for a 2-D image)."""
    if record.volume is None:
        return (record.path,)
    return tuple(dict.fromkeys(other.path for other in records if other.volume == record.volume))


def with_preset_values(data_cfg: DataConfig) -> DataConfig:
    """`data_cfg` with a preset's level and width in the manual fields (they are ignored until 'manual')."""
    preset = WINDOW_PRESETS.get(data_cfg.dicom_window)
    return replace(data_cfg, window_center=preset[0], window_width=preset[1]) if preset else data_cfg


def preview_row(records: list[Any]) -> int:
    """The image to preview first: the middle slice of the first volume (the first slice of a chest series is
    often below the lungs), else the first image."""
    if not records:
        return -1
    volume = records[0].volume
    if volume is None:
        return 0
    slices = [row for row, record in enumerate(records) if record.volume == volume]
    return slices[len(slices) // 2]


class WindowPreview(QWidget):
    """The selected image, large, over the window settings (`window_form`: chooser, level and width)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("windowPreview")
        self._decodes = JobSlot(WhileBusy.LATEST, self)
        self._source: tuple[Path, int] | None = None
        self._record: tuple[Path, Any] | None = None
        """The previewed image's folder and ImageRecord (its masks are read with the image)."""
        self._masks: tuple[tuple[Path, Any], dict[str, np.ndarray]] | None = None
        """The masks shown, with the (folder, record) they are of."""
        self._structures: list[str] = []
        self._series: tuple[Path, str, tuple[str, ...]] | None = None
        self._ranges: dict[tuple, SeriesRanges] = {}
        """Series ranges (each computed once), by (folder, the volume's files, window mode)."""
        self._values: tuple[tuple[Path, int], ModalityImage] | None = None
        self._windowable = False
        self.named_window = NAMED_WINDOW_DEFAULT
        """The named window (a preset, the file's own, automatic) a double-click goes back to."""

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.window_label = QLabel(self)
        self.window_label.setObjectName("windowLevelWidth")
        self.window_label.setAccessibleName("Window width and level")
        self.window_label.setProperty("role", "metric")
        top.addWidget(self.window_label)
        top.addStretch(1)
        self.masks_box = QCheckBox("Show masks", self)
        self.masks_box.setObjectName("showMasks")
        self.masks_box.setToolTip("Draw the structures of the folder's segmentations (SEG, RTSTRUCT) over the image")
        self.masks_box.setChecked(True)
        self.masks_box.setVisible(False)
        top.addWidget(self.masks_box)
        self.caption = QLabel(self)
        self.caption.setObjectName("previewCaption")
        self.caption.setProperty("role", "caption")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.caption)
        layout.addLayout(top)
        self.view = MaskedImageView(self)
        self.masks_box.toggled.connect(self.view.show_masks)
        self.view.show_message("The selected image appears here.")
        self.view.window_changing.connect(lambda level, width: self.window_label.setText(
            format_window((level, width))))
        self.view.window_dragged.connect(self._use_dragged_window)
        self.view.reset_requested.connect(self.reset_window)
        layout.addWidget(self.view, 1)
        self.hint = QLabel("Right-drag the image: left–right sets the width, up–down the level. "
                           "Double-click: back to the named window.", self)
        self.hint.setProperty("role", "caption")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)

        self.window_box = QGroupBox("Intensity window (DICOM, NIfTI)", self)
        box_layout = QVBoxLayout(self.window_box)
        self.window_form = ConfigForm(DataConfig, "data", fields=WINDOW_FIELDS, parent=self.window_box)
        self._shown_settings = self.window_form.values()
        self.window_form.changed.connect(self._keep_fields_consistent)
        chooser = self.chooser()
        for index in range(chooser.count()):
            chooser.setItemText(index, window_choice_text(chooser.itemData(index)))
        box_layout.addWidget(self.window_form)
        self.note = QLabel(NO_WINDOW_NOTE, self.window_box)
        self.note.setObjectName("windowNote")
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        box_layout.addWidget(self.note)
        layout.addWidget(self.window_box)
        self._show_window_controls()

    def chooser(self) -> QComboBox:
        """The window chooser (presets, the file's own, automatic, custom)."""
        return self.window_form.editor("dicom_window")

    # -- what is shown --------------------------------------------------------------------------------
    def set_windowable(self, windowable: bool) -> None:
        """Whether the scanned data carry modality values (DICOM, NIfTI): else only a note on windows shows."""
        self._windowable = windowable
        self._show_window_controls()

    def show_image(self, root: Path, record: Any | None, data_cfg: DataConfig, records: list[Any] = ()) -> None:
        """Preview `record` (an ImageRecord under `root`; None: nothing) with the settings `data_cfg`; `records`:
        the scanned images, whose slices of the same volume decide its automatic window."""
        if record is None:
            self._source = self._series = self._record = None
            self.masks_box.setVisible(False)
            self._decodes.drop()
            self.caption.clear()
            self.view.show_message("No image to show.")
            self._show_window_controls()
            return
        self._source = (Path(root) / record.path, record.frame)
        self._series = (Path(root), record.path, series_members(record, list(records) or [record]))
        self._record = (Path(root), record)
        self._structures = structure_names(list(records) or [record])
        self.caption.setText(record.path + (f" (frame {record.frame + 1})" if record.frame else ""))
        self.refresh(data_cfg)

    def refresh(self, data_cfg: DataConfig) -> None:
        """Show the previewed image again with new settings (its modality values are not read again).
        One decode at a time: of the settings that arrive meanwhile, the newest is shown when it ends."""
        if self._source is None:
            return
        source, windowable, series, record = self._source, self._windowable, self._series, self._record

        def decode(_cancel, _progress):
            # read when the decode starts, after the one before it has kept the values it read
            known = self._values
            values = known[1] if known is not None and known[0] == source else None
            preview = load_preview(*source, data_cfg, values, windowable, self._series_range(series, data_cfg))
            shown = self._masks  # masks do not depend on the window: read once per image shown
            try:
                preview.masks = shown[1] if shown is not None and shown[0] == record else read_masks(*record)
            except MaskSourceError:  # the SEG or RTSTRUCT changed since the scan: the image without its masks
                preview.masks = {}
            return preview

        self._decodes.run(decode, succeeded=lambda preview: self._on_loaded(source, data_cfg, preview),
                          failed=lambda message, _details: self._on_failed(source, message))

    def _series_range(self, series: tuple[Path, str, tuple[str, ...]], data_cfg: DataConfig
                      ) -> tuple[float, float] | None:
        """The automatic window's range of the previewed slice's series, as the scan decides it (worker thread)."""
        root, relative, members = series
        key = (root, members, data_cfg.dicom_window)
        if key not in self._ranges:
            self._ranges[key] = SeriesRanges(root, list(members), data_cfg)
        return self._ranges[key].range_for(relative)

    def _current(self, source: tuple[Path, int]) -> bool:
        """Whether a finished decode is of the image still chosen."""
        return source == self._source

    def _on_loaded(self, source: tuple[Path, int], data_cfg: DataConfig, preview: PreviewImage) -> None:
        if preview.values is not None:
            self._values = (source, preview.values)
        if self._current(source):
            self._masks = (self._record, preview.masks)
            self.view.show_image(preview.pixels, preview.values, preview.window)
            self.view.set_masks(preview.masks, self._structures)
            self.masks_box.setVisible(bool(preview.masks))
            self._show_window_controls(data_cfg.dicom_window)

    def _on_failed(self, source: tuple[Path, int], message: str) -> None:
        if self._current(source):
            self.view.show_message(f"This image could not be shown: {message}")
            self._show_window_controls()

    def _show_window_controls(self, mode: str | None = None) -> None:
        windowable = self._windowable
        self.window_box.setVisible(self._source is not None)
        self.window_form.setVisible(windowable)  # for PNGs only the note saying why: the image gets the room
        self.note.setVisible(not windowable)
        window = self.view.window()
        self.hint.setVisible(self.view.draggable())
        if window is None:
            self.window_label.setText("")
            return
        per_image = " (this image)" if mode in ("file", "auto") else ""  # it differs per file or series
        self.window_label.setText(format_window(window) + per_image)

    def loading(self) -> bool:
        """True while an image is being decoded (tests wait for it)."""
        return self._decodes.busy

    # -- the window -----------------------------------------------------------------------------------
    def show_window_settings(self, data_cfg: DataConfig) -> None:
        """Show the window settings of `data_cfg` as they are (a preset fills in the level and width only when it
        is chosen here, so a config loaded and read back keeps its own)."""
        self.window_form.set_values(data_cfg)
        self._shown_settings = self.window_form.values()
        self.remember_named_window(data_cfg.dicom_window)

    def _keep_fields_consistent(self) -> None:
        """The level and width fields show the window in use: a chosen preset fills them in, and typing a
        level or width while a named window is chosen makes it a custom one."""
        before, now = self._shown_settings, self.window_form.values()
        typed = (now.window_center, now.window_width) != (before.window_center, before.window_width)
        if typed and now.dicom_window == before.dicom_window and now.dicom_window != "manual":
            now = replace(now, dicom_window="manual")
        self.window_form.set_values(with_preset_values(now))
        self._shown_settings = self.window_form.values()

    def remember_named_window(self, mode: str) -> None:
        """Note `mode` as the window to go back to, unless it is the custom one."""
        if mode in WINDOW_NAMES and mode != "manual":
            self.named_window = mode

    def _use_dragged_window(self, level: float, width: float) -> None:
        """The dragged window becomes the custom (manual) window of the config."""
        current = self.window_form.values()
        self.remember_named_window(current.dicom_window)
        self.window_form.set_values(replace(current, dicom_window="manual", window_center=level,
                                            window_width=width))
        self.window_form.changed.emit()

    def reset_window(self) -> None:
        """Back to the named window chosen before the drag (a preset, the file's own or automatic)."""
        current = self.window_form.values()
        if current.dicom_window == self.named_window:
            return
        self.window_form.set_values(replace(current, dicom_window=self.named_window))
        self.window_form.changed.emit()

    def shutdown(self) -> None:
        """Stop: no further decodes; wait for the one running."""
        self._source = None
        self._decodes.cancel()
        self._decodes.wait()
