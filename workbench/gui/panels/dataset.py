"""Step 1, Dataset: choose a folder, scan it off the GUI thread, see what was found and what was skipped."""
from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListView, QMenu, QProgressBar, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QTabWidget, QToolButton, QVBoxLayout, QWidget, QScrollArea)

from workbench.config import DataConfig
from workbench.data.modality import carries_modality_values
from workbench.data.scan import ScanReport, changes_the_scan, training_problem
from workbench.data.scan_summary import ScanSummary
from workbench.gui import settings
from workbench.gui.forms import Collapsible, ConfigForm
from workbench.gui.thumbnails import THUMBNAIL_SIZE, ThumbnailModel
from workbench.gui.icons import icon
from workbench.gui.widgets import Banner, panel_layout, thumbnail_grid
from workbench.gui.window_preview import WINDOW_FIELDS, WindowPreview, preview_row
from workbench.gui.workers import JobSlot, WhileBusy, format_seconds

if TYPE_CHECKING:  # the recipe imports torch, which the app loads off its thread after launch
    from workbench.engine.recipe import Misfit

VOLUME_FIELDS = ("sequences", "nifti_volumes", "slices_per_volume", "min_foreground", "context_slices")
"""The data settings for volumes (CT/MR series, NIfTI) and image sequences, in a section of their own. Every
other data setting but the folder and the window is a reading setting, so a new one shows without GUI code."""
DEMOS = (("scans", "Scans (PNG photos, 4 classes)"), ("ct", "CT series (DICOM, soft-tissue window)"))
WINDOW_DELAY_MS = 300
FIT_NOTES_LEVEL = "warning"
"""The banner's level for the settings' notes; its other messages (errors, info) are never replaced by them."""


def window_settings(config: DataConfig) -> tuple:
    """The settings that decide the intensity window (level and width count only for the manual one)."""
    if config.dicom_window == "manual":
        return config.dicom_window, config.window_center, config.window_width
    return (config.dicom_window,)


def describe_summary(summary: ScanSummary) -> str:
    """A scan's summary as a few readable lines."""
    if not summary.readable:
        return "No readable images found."
    width, height, common = summary.width, summary.height, summary.common_size
    size_text = (f"all {common['width']} × {common['height']} px" if common["images"] == summary.readable else
                 f"{width['min']}–{width['max']} × {height['min']}–{height['max']} px "
                 f"(most common {common['width']} × {common['height']}, {common['images']} images)")
    channels = ", ".join(f"{count} with {c} channel{'s' if c != '1' else ''}" for c, count in summary.channels.items())
    depths = ", ".join(f"{count} at {d}-bit" for d, count in summary.bit_depths.items())
    classes = summary.labels or {}
    label_text = (f"{len(classes)} classes" if classes else "no labels (kNN probe off)")
    if classes and summary.unlabelled:
        label_text += f", {summary.unlabelled} unlabelled"
    frames = f" from {summary.files} files" if summary.files != summary.readable else ""
    notices = (f" · {len(summary.notices)} to look at (see “Skipped files”)" if summary.notices else "")
    return (f"<b>{summary.readable:,} images</b>{frames} · {label_text} · {len(summary.skipped)} skipped{notices}"
            f"<br>Sizes: {size_text}{_spacing_text(summary)}<br>Channels: {channels}<br>Bit depth: {depths}"
            + (f"<br>Found through DICOMDIR: {html.escape('; '.join(summary.found_through))}"
               if summary.found_through else "")
            + _masks_text(summary))


def _masks_text(summary: ScanSummary) -> str:
    """The structures of the folder's masks with the images containing each ("Masks: Liver (12 images)")."""
    if not summary.structures:
        return ""
    named = ", ".join(f"{name} ({count:,} image{'s' if count != 1 else ''})"
                      for name, count in summary.structures.items())
    return f"<br>Masks: {html.escape(named)}"


def _spacing_text(summary: ScanSummary) -> str:
    """The pixel spacings found, as a summary line ("Spacing: 0.66–0.94 mm"); empty when none is known."""
    spacing = summary.spacing
    if spacing is None:
        return ""
    low, high = f"{spacing['min']:.2f}", f"{spacing['max']:.2f}"
    known = "" if spacing["images"] == summary.readable else f" ({spacing['images']:,} of the images record one)"
    return f"<br>Spacing: {low if low == high else f'{low}–{high}'} mm{known}"


class DatasetPanel(QWidget):
    """Folder choice, scan with progress and cancel, thumbnails, per-class counts, skipped files, reading settings."""

    scanned = Signal(object)
    """A scan finished: the ScanResult."""
    changed = Signal()
    """The data settings changed."""
    window_applied = Signal()
    """Thumbnails and preview now show a new intensity window (others, e.g. the augmentation preview, follow)."""
    train_requested = Signal()
    """"Train on this dataset" was clicked."""
    fit_requested = Signal(dict)
    """The fitting values of the settings that go against the images (dotted keys), asked for from the banner."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("datasetPanel")
        self.setAcceptDrops(True)
        self.root = ""
        """The dataset folder; '' means the built-in demo dataset."""
        self.scan_result: Any = None
        self._scanned_config: DataConfig | None = None
        self._fit_notes = ""  # the settings' notes last shown (`show_fit_notes`)
        self._config = DataConfig()
        """The data config last shown: what the forms edit, the folder and the settings they do not show."""
        self._scans = JobSlot(WhileBusy.REPLACE, self)
        self._folder_problem = ""
        """Why the folder in use could not be scanned (it does not exist...); '' when it could."""

        layout = panel_layout(
            self, "Dataset", "Choose a folder of images (PNG, JPEG, TIFF, DICOM…), or drop one here. Sub-folders "
                             "become classes, used only to measure how good the embeddings are.")
        layout.addLayout(self._folder_row())
        layout.addLayout(self._progress_row())
        self.banner = Banner("Dataset message", self)
        layout.addWidget(self.banner)
        self.summary_label = QLabel("No folder scanned yet.", self)
        self.summary_label.setObjectName("datasetSummary")
        self.summary_label.setAccessibleName("Dataset summary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        summary_row = QHBoxLayout()
        summary_row.addWidget(self.summary_label, 1)
        self.train_button = QPushButton(icon("start"), "Train on this dataset ▸", self)
        self.train_button.setObjectName("trainOnDataset")
        self.train_button.setAccessibleName("Train on this dataset")
        self.train_button.setProperty("primary", True)
        self.train_button.clicked.connect(self.train_requested)
        summary_row.addWidget(self.train_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(summary_row)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self._thumbnail_view())
        splitter.addWidget(self._side_tabs())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([640, 420])
        layout.addWidget(splitter, 1)

        self._window_timer = QTimer(self)
        self._window_timer.setSingleShot(True)
        self._window_timer.setInterval(WINDOW_DELAY_MS)
        self._window_timer.timeout.connect(self._apply_window)
        self._refresh_recent_menu()

    # -- layout ---------------------------------------------------------------------------------------
    def _folder_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setObjectName("data.root")
        self.folder_edit.setAccessibleName("Dataset folder")
        self.folder_edit.setPlaceholderText("Built-in demo dataset")
        self.folder_edit.textEdited.connect(self.changed)
        self.folder_edit.editingFinished.connect(self._open_typed_folder)
        row.addWidget(self.folder_edit, 1)
        self.open_button = QPushButton(icon("folder"), "Open folder…", self)
        self.open_button.setObjectName("openFolder")
        self.open_button.setAccessibleName("Open dataset folder")
        self.open_button.clicked.connect(self.choose_folder)
        row.addWidget(self.open_button)
        self.recent_button = QToolButton(self)
        self.recent_button.setText("Recent")
        self.recent_button.setObjectName("recentFolders")
        self.recent_button.setAccessibleName("Recent dataset folders")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self)
        self.recent_button.setMenu(self.recent_menu)
        row.addWidget(self.recent_button)
        demo = QToolButton(self)
        demo.setText("Demo data")
        demo.setObjectName("useDemoDataset")
        demo.setAccessibleName("Use a built-in demo dataset")
        demo.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.demo_menu = QMenu(self)
        for kind, text in DEMOS:
            self.demo_menu.addAction(text).triggered.connect(lambda _checked=False, chosen=kind: self.open_demo(chosen))
        demo.setMenu(self.demo_menu)
        row.addWidget(demo)
        self.rescan_button = QPushButton(icon("refresh"), "Rescan", self)
        self.rescan_button.setObjectName("rescan")
        self.rescan_button.setAccessibleName("Scan the folder again")
        self.rescan_button.clicked.connect(self.scan)
        row.addWidget(self.rescan_button)
        return row

    def _progress_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setObjectName("scanProgress")
        self.progress.setAccessibleName("Scan progress")
        self.progress.setFormat("Scanning… %v / %m files")
        row.addWidget(self.progress, 1)
        self.eta_label = QLabel(self)
        row.addWidget(self.eta_label)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelScan")
        self.cancel_button.setAccessibleName("Cancel scan")
        self.cancel_button.clicked.connect(self.cancel_scan)
        row.addWidget(self.cancel_button)
        self._progress_widgets = (self.progress, self.eta_label, self.cancel_button)
        for widget in self._progress_widgets:
            widget.setVisible(False)
        return row

    def _thumbnail_view(self) -> QWidget:
        self.thumbnails = ThumbnailModel(self)
        self.thumbnail_view = thumbnail_grid(self, "thumbnailGrid", "Image thumbnails", THUMBNAIL_SIZE,
                                             QSize(THUMBNAIL_SIZE + 20, THUMBNAIL_SIZE + 30))
        self.thumbnail_view.setLayoutMode(QListView.LayoutMode.Batched)
        self.thumbnail_view.setBatchSize(200)
        self.thumbnail_view.setSpacing(4)
        self.thumbnail_view.setWordWrap(False)
        self.thumbnail_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.thumbnail_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.thumbnail_view.setModel(self.thumbnails)
        self.thumbnail_view.selectionModel().currentChanged.connect(lambda current, _previous: self.preview_image(
            current.row()))
        return self.thumbnail_view

    def _side_tabs(self) -> QWidget:
        tabs = QTabWidget(self)
        tabs.setObjectName("datasetDetails")
        self.preview = WindowPreview(self)
        self.window_form = self.preview.window_form
        tabs.addTab(self.preview, "Preview")
        self.class_table = self._table(["Class", "Images"], "classCounts", "Images per class")
        tabs.addTab(self.class_table, "Classes")
        self.skipped_table = self._table(["File", "Why it was skipped"], "skippedFiles", "Skipped files")
        self._skipped_tab = tabs.addTab(self.skipped_table, "Skipped files")

        settings_page = QWidget(self)
        settings_layout = QVBoxLayout(settings_page)
        reading = QGroupBox("Reading", settings_page)
        reading_layout = QVBoxLayout(reading)
        self.reading_form = ConfigForm(DataConfig, "data", exclude=("root", *WINDOW_FIELDS, *VOLUME_FIELDS),
                                       parent=reading)
        reading_layout.addWidget(self.reading_form)
        self.volume_form = ConfigForm(DataConfig, "data", fields=VOLUME_FIELDS)
        self.volumes = Collapsible("Volumes and sequences", "data.volumes", self.volume_form, reading)
        reading_layout.addWidget(self.volumes)
        settings_layout.addWidget(reading)
        settings_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(settings_page)
        tabs.addTab(scroll, "Reading settings")
        self.reading_form.changed.connect(self._on_reading_changed)
        self.volume_form.changed.connect(self._on_reading_changed)  # the 4-D NIfTI setting rescans too
        self.window_form.changed.connect(self._on_window_changed)
        self.tabs = tabs
        return tabs

    def _table(self, headers: list[str], name: str, accessible: str) -> QTableWidget:
        table = QTableWidget(0, len(headers), self)
        table.setObjectName(name)
        table.setAccessibleName(accessible)
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.setAlternatingRowColors(True)
        return table

    # -- config ---------------------------------------------------------------------------------------
    def data_config(self) -> DataConfig:
        """The data section as edited here: the config last shown with the folder and each form's fields."""
        config = self._config
        for form in self.forms():
            config = form.values(config)
        return replace(config, root=self.root)

    def set_data_config(self, config: DataConfig) -> None:
        """Show `config` (does not rescan; call `scan` for that, else a new window is applied to what is shown).
        The volume settings open when they differ from the defaults."""
        new_window = window_settings(config) != window_settings(self.data_config())
        self._config = config
        for form in (self.reading_form, self.volume_form):
            form.set_values(config)
        self.preview.show_window_settings(config)
        self._set_root(config.root)
        if self.volume_form.values(DataConfig()) != DataConfig():
            self.volumes.expand()
        if new_window and self.scan_result is not None:
            self._window_timer.start()

    def forms(self) -> list[ConfigForm]:
        return [self.reading_form, self.volume_form, self.window_form]

    def _set_root(self, root: str) -> None:
        self.root = root
        self.folder_edit.setText(root)

    def scanned_report(self) -> ScanReport | None:
        """The report of the folder in use, once scanned (None before, or while another folder is typed)."""
        if self.scan_result is None or self._scanned_config is None or self._scanned_config.root != self.root:
            return None
        return self.scan_result.report

    def show_fit_notes(self, found: list[Misfit]) -> None:
        """Show what in the settings goes against these images (a warning, as a run says at its start), with a button
        that applies the fitting values (`fit_requested`); never over the banner's other messages (why the folder
        cannot train), and not again once dismissed until it changes. Nothing found: clear the notes shown."""
        text = ("<b>Settings that go against these images:</b> " +
                " ".join(html.escape(misfit.note) + "." for misfit in found)) if found else ""
        ours = self.banner.isHidden() or self.banner.level() == FIT_NOTES_LEVEL
        if not ours or text == self._fit_notes:
            return
        self._fit_notes = text
        if text:
            from workbench.engine.recipe import settings_text  # loaded by now: notes come once torch is

            fitting = {key: value for misfit in found for key, value in misfit.fitting.items()}
            fix = ", ".join(misfit.fix for misfit in found)
            self.banner.show_message(text, FIT_NOTES_LEVEL, (fix[:1].upper() + fix[1:], "Set " + settings_text(fitting),
                                                             lambda: self.fit_requested.emit(fitting)))
        elif not self.banner.isHidden():
            self.banner.clear()

    def offer_training(self, problems: list[tuple[str, str]]) -> None:
        """Enable "Train on this dataset" when nothing keeps Start disabled; else its tooltip names why."""
        self.train_button.setEnabled(not problems)
        self.train_button.setToolTip("\n".join(f"{path}: {message}" for path, message in problems) if problems else
                                     "Go to Train & monitor and start a run with the current settings")

    def problems(self) -> list[tuple[str, str]]:
        """Why the folder cannot train, as ("data.root", message): a path typed but not opened, a folder that
        could not be scanned, or a scan that found too few readable images. Empty while unknown (not scanned)."""
        typed = self.folder_edit.text().strip()
        if typed != self.root:
            return [("data.root", f"“{typed}” is typed but not opened yet: press Enter to use it")]
        if self._folder_problem:
            return [("data.root", self._folder_problem)]
        scanned = self._scanned_config is not None and self._scanned_config.root == self.root
        problem = scanned and training_problem(self.scan_result.report, self.root or "The demo dataset")
        return [("data.root", problem)] if problem else []

    # -- folder choice --------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", self.root or str(Path.home()))
        if folder:
            self.open_folder(folder)

    def open_demo(self, demo: str) -> None:
        """Use a built-in demo dataset ('scans' or 'ct', see `DEMOS`) with its settings, and scan it."""
        from workbench.engine.presets import use_demo_data

        self.set_data_config(use_demo_data(self.data_config(), demo))
        self.changed.emit()
        self.scan()

    def open_folder(self, folder: str) -> None:
        """Use `folder` ('' for the demo dataset) and scan it; one that is not a folder is shown as the folder in
        use, with the reason it cannot train."""
        if folder and not Path(folder).is_dir():
            self._set_root(folder)
            self._show_unusable(f"“{folder}” is not a folder that exists.")
            self.changed.emit()
            return
        if folder:
            settings.remember_folder(folder)
            self._refresh_recent_menu()
        self._set_root(folder)
        self.changed.emit()
        self.scan()

    def _open_typed_folder(self) -> None:
        """Open the path typed in the folder box (Enter or leaving the box), unless it is the folder in use."""
        typed = self.folder_edit.text().strip()
        if typed != self.root:
            self.open_folder(typed)

    def _show_unusable(self, message: str) -> None:
        """Say why the folder in use cannot be used, and show no images rather than another folder's."""
        self._drop_scan()
        self._folder_problem = message
        self.scan_result = self._scanned_config = None
        self._show_report(ScanReport(self.root), self.data_config())
        self.banner.show_message(html.escape(message), "error")

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = settings.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _checked=False, chosen=folder: self.open_folder(chosen))
        self.recent_button.setEnabled(bool(folders))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self._dropped_folder(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folder = self._dropped_folder(event)
        if folder is not None:
            event.acceptProposedAction()
            self.open_folder(folder)

    @staticmethod
    def _dropped_folder(event: QDragEnterEvent | QDropEvent) -> str | None:
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if url.isLocalFile() and path.is_dir():
                return str(path)
            if url.isLocalFile() and path.is_file():
                return str(path.parent)
        return None

    # -- scanning -------------------------------------------------------------------------------------
    def scanning(self) -> bool:
        """True until the scan job has ended (its progress row is hidden by then)."""
        return self._scans.busy

    def scan(self) -> None:
        """Scan the chosen folder on a worker thread (a running scan is cancelled first)."""
        from workbench.data import dataset_folder, scan_folder

        self._window_timer.stop()  # the scan shows everything with the current window anyway
        config = self.data_config()
        root = dataset_folder(config)
        self.folder_edit.setPlaceholderText(f"Built-in demo dataset ({root})")
        self.banner.clear()
        self._fit_notes = ""  # a new scan: its notes are shown afresh
        self._folder_problem = ""
        self._scans.run(lambda cancel, progress: scan_folder(root, config, cancel=cancel, progress=progress),
                        progress=self._on_progress,
                        succeeded=lambda result: self._on_scanned(result, config),
                        failed=lambda message, _details: self._on_failed(message),
                        cancelled=self._on_cancelled, ended=self._hide_progress)
        self.progress.setRange(0, 0)
        self.eta_label.clear()
        for widget in self._progress_widgets:
            widget.setVisible(True)

    def _drop_scan(self) -> None:
        """Cancel the running scan, if any, and ignore what it still reports."""
        self._scans.drop()
        self._hide_progress()

    def cancel_scan(self) -> None:
        self._scans.cancel()

    def _hide_progress(self) -> None:
        for widget in self._progress_widgets:
            widget.setVisible(False)

    def _on_progress(self, done: int, total: int, eta: float) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.eta_label.setText(f"about {format_seconds(eta)} left" if eta >= 0 else "")

    def _on_scanned(self, result: Any, config: DataConfig) -> None:
        self.scan_result = result
        self._scanned_config = config
        self._show_report(result.report, config)
        problems = self.problems()
        if problems:
            where = " The “Skipped files” tab says why each file was left out." if result.report.skipped else ""
            self.banner.show_message(f"<b>This folder cannot train.</b> {html.escape(problems[0][1])}{where}",
                                     "error")
        self.scanned.emit(result)

    def _show_report(self, report: Any, config: DataConfig) -> None:
        """Show a scan's summary, class counts, skipped files and thumbnails."""
        summary = ScanSummary.of(report)
        self.summary_label.setText(describe_summary(summary))
        self._fill_table(self.class_table, sorted((summary.labels or {}).items()))
        self._fill_table(self.skipped_table, [(item.path, item.reason) for item in report.skipped]
                         + [(item.path, f"kept, but: {item.reason}") for item in report.notices])
        notices = f" · notices ({len(report.notices)})" if report.notices else ""
        self.tabs.setTabText(self._skipped_tab, f"Skipped files ({len(report.skipped)}){notices}")
        self.thumbnails.set_images(report.root, report.images, config)
        self.preview.set_windowable(any(carries_modality_values(record) for record in report.images))
        self._select_preview(preview_row(report.images))
        if any(record.volume is not None for record in report.images):
            self.volumes.expand()

    def _on_failed(self, message: str) -> None:
        self._show_unusable(f"The folder could not be scanned: {message}")
        self.changed.emit()

    def _on_cancelled(self) -> None:
        self.banner.show_message("Scan cancelled. The previous results (if any) are still shown.", "info")

    @staticmethod
    def _fill_table(table: QTableWidget, rows: list[tuple[Any, Any]]) -> None:
        table.setRowCount(len(rows))
        for row, (first, second) in enumerate(rows):
            table.setItem(row, 0, QTableWidgetItem(str(first)))
            item = QTableWidgetItem(f"{second:,}" if isinstance(second, int) else str(second))
            if isinstance(second, int):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, 1, item)

    # -- settings changes -----------------------------------------------------------------------------
    def _on_reading_changed(self) -> None:
        self.changed.emit()
        if self._scanned_config is not None and changes_the_scan(self._scanned_config, self.data_config()):
            self.scan()

    def _on_window_changed(self) -> None:
        self.changed.emit()
        self.preview.remember_named_window(self.window_form.values().dicom_window)
        self._window_timer.start()

    def _apply_window(self) -> None:
        config = self.data_config()
        self.thumbnails.set_data_config(config)
        self.preview.refresh(config)
        self.window_applied.emit()

    # -- preview --------------------------------------------------------------------------------------
    def preview_image(self, row: int) -> None:
        """Show scanned image `row` large in the Preview tab."""
        records = self.scan_result.report.images if self.scan_result is not None else []
        record = records[row] if 0 <= row < len(records) else None
        self.preview.show_image(self.scan_result.report.root if record else Path(), record, self.data_config(),
                                records)

    def _select_preview(self, row: int) -> None:
        """Make `row` the grid's current image (without a second preview) and preview it."""
        selection = self.thumbnail_view.selectionModel()
        selection.blockSignals(True)
        self.thumbnail_view.setCurrentIndex(self.thumbnails.index(row))
        selection.blockSignals(False)
        self.preview_image(row)

    def shutdown(self) -> None:
        """Stop background work (window closing)."""
        self._scans.cancel()
        self._scans.wait()
        self.thumbnails.shutdown()
        self.preview.shutdown()
