"""Step 6, Evaluate: does the pretraining help? The probe table and bar chart, the HTML report (and its PDF),
what to label next (with thumbnails), and trying the encoder on one image.

`EvaluatePanel(parent)`, then `set_run(run_dir)`; probes, rankings and the PDF run on a JobSlot,
thumbnails are decoded on the ThumbnailModel's loader thread. An image file dropped anywhere on the panel is
tried on the run. Call `shutdown()` when the window closes."""
from __future__ import annotations

import html
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QModelIndex, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QDragEnterEvent, QDropEvent, QFont, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QProgressBar, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
                               QTabWidget, QVBoxLayout, QWidget)

from workbench.config import DataConfig
from workbench.config.formats import ArtefactError
from workbench.engine.checkpoint_choice import checkpoint_choices
from workbench.engine.runs import RunFolder
from workbench.gui.forms import Collapsible
from workbench.gui.report_pdf import print_report_with_qt
from workbench.gui.thumbnails import THUMBNAIL_SIZE, ThumbnailModel
from workbench.gui.try_image import TryImageBox, dropped_file
from workbench.gui.widgets import Banner, ElidedLabel, action_button, panel_layout, thumbnail_grid
from workbench.gui.workers import JobSlot, WhileBusy, format_seconds
from workbench.probes.defaults import DEFAULT_FRACTIONS, DEFAULT_SEEDS, SCRATCH, Schedule, ranking_csv
from workbench.probes.report import PDF_INSTALL_HINT, build_report, convert_to_pdf, find_pdf_converter, headline
from workbench.probes.svg import PALETTE
from workbench.probes.table import (LABELS_RULE, PROBE_NAME, ProbeResult, pixels_note, schedule_note, selection_note,
                                    starting_note, table_cells)

COLUMNS = ("Method", "Labels\nused", "Accuracy", "Balanced\naccuracy")
STRATEGIES = (("mix of both", "mixed"), ("hardest for the model", "loss"), ("least like the others", "diversity"))
"""(what the list shows, the ranking strategy)."""
PERCENT_TICKS = [[(value / 100, f"{value}%") for value in range(0, 101, 25)]]
CHART_TOP = 1.2
"""The chart's y axis ends above 100%, so the value over a full bar stays in view."""
CHART_HEIGHT = 150
"""The bar chart's least height: bars, their values and both axes' labels readable."""
RESULTS_FIRST = 10_000
"""The table and chart take the height first; the tabs below, their least, and a third of any more."""
CELL_SIZE = QSize(THUMBNAIL_SIZE + 40, THUMBNAIL_SIZE + 44)
METHODS_HELP = ("Accuracy on held-out labelled images (mean ± spread over seeds; best per share in bold). "
                "<b>Linear / kNN probe</b>: the pretrained encoder, frozen, plus a simple classifier. "
                "<b>Raw pixels</b>: the same linear probe on the images themselves. "
                "<b>Random init</b>: the same network untrained; <b>starting weights</b>: the weights the run began "
                "from, before pretraining. <b>Supervised from scratch</b>: the same network trained on the labels "
                "alone, with the run's augmentations, early-stopped on a part of those labels. Pretraining helps "
                "when the probes beat random init by far, and beat supervised training on few labels.")
RANKING_HELP = ("Unlabelled images, most useful to label first: hard for the encoder, unlike those already "
                "labelled, or both. Also saved as to_label_&lt;strategy&gt;.csv in the run folder.")


class RankedThumbnails(ThumbnailModel):
    """The ranked images, best first: thumbnail, rank, path in the dataset folder ('4/131.png') and score."""

    RELATIVE_CAPTIONS = True

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.scores: list[float] = []

    def set_ranking(self, root: str | Path, records: list, scores: list[float], data_cfg) -> None:
        self.scores = list(scores)
        self.set_images(root, records, data_cfg)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if index.isValid() and role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row() + 1}. {super().data(index, role)}\nscore {self.scores[index.row()]:.3g}"
        if index.isValid() and role == Qt.ItemDataRole.ToolTipRole:
            return (f"Rank {index.row() + 1}, score {self.scores[index.row()]:.4g} (higher: more useful to label)\n"
                    + super().data(index, role))
        if role == Qt.ItemDataRole.SizeHintRole:
            return CELL_SIZE
        return super().data(index, role)


class EvaluatePanel(QWidget):
    """Probe a run (linear/kNN, random init and supervised baselines), open its report or save it as a PDF,
    rank images to label, and try the encoder on one image."""

    probe_finished = Signal(object)  # the ProbeResult
    ranking_finished = Signal(list)
    pdf_saved = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, fractions=DEFAULT_FRACTIONS, seeds: int = DEFAULT_SEEDS,
                 scratch: Schedule = SCRATCH):
        super().__init__(parent)
        self.setObjectName("evaluatePanel")
        self.fractions, self.seeds, self.scratch = list(fractions), seeds, scratch
        self.run_dir: Path | None = None
        self._jobs = JobSlot(WhileBusy.IGNORE, self)
        palette = self.palette()
        self._foreground = palette.color(QPalette.ColorRole.Text)
        self._background = palette.color(QPalette.ColorRole.Base)
        layout = panel_layout(
            self, "Evaluate", "Does the pretraining help with few labels? Compare it with an untrained network "
                              "and with training from scratch, pick the images to label next, or try an image.")
        layout.addLayout(self._action_row())
        self.banner = Banner("Evaluate message", self)
        layout.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self._results())
        self.lower_tabs = QTabWidget(self)
        self.lower_tabs.setObjectName("evaluateTabs")
        self.ranking_page = self._ranking_box()
        self.lower_tabs.addTab(self.ranking_page, "What to label next")
        self.try_box = TryImageBox(self)
        self.lower_tabs.addTab(self.try_box, "Try an image")
        splitter.addWidget(self.lower_tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([RESULTS_FIRST, 1])  # the tabs below start at their least (a row of thumbnails)
        layout.addWidget(splitter, 1)
        self.setAcceptDrops(True)
        app = QCoreApplication.instance()
        if app is not None:  # the loader thread must end before the window is destroyed
            app.aboutToQuit.connect(self.shutdown)
        self.set_run(None)

    # -- layout ---------------------------------------------------------------------------------------
    def _action_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.probe_button = action_button(self, "Run probe", "runProbe", "Measure how good the encoder is",
                                          self.start_probe, "start")
        self.probe_button.setProperty("primary", True)
        self.report_button = action_button(self, "Open report", "openReport", "Write and open the run's HTML report",
                                           self.open_report, "watch")
        self.pdf_button = action_button(self, "Save PDF", "saveReportPdf", "Write the run's report as a PDF",
                                        self.save_pdf, "export")
        self.choose_button = action_button(self, "Choose run…", "chooseEvaluateRun",
                                           "Choose a run folder to evaluate", self._choose_run, "folder")
        for button in (self.probe_button, self.report_button, self.pdf_button, self.choose_button):
            row.addWidget(button)
        self.checkpoint_label = QLabel("Checkpoint", self)
        row.addWidget(self.checkpoint_label)
        self.checkpoint_box = QComboBox(self)
        self.checkpoint_label.setBuddy(self.checkpoint_box)
        self.checkpoint_box.setObjectName("probeCheckpoint")
        self.checkpoint_box.setAccessibleName("Checkpoint to probe")
        self.checkpoint_box.setToolTip("Which of the run's checkpoints the probe measures")
        row.addWidget(self.checkpoint_box)
        self.supervised_box = QCheckBox("Supervised baseline", self)
        self.supervised_box.setObjectName("probeSupervised")
        self.supervised_box.setChecked(True)
        self.supervised_box.setToolTip("Also train the same network from scratch on the labels of each split (the "
                                       "fair bar to beat; minutes on a CPU). Unchecked: the probe takes seconds.")
        row.addWidget(self.supervised_box)
        row.addSpacing(12)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("evaluateProgress")
        self.progress.setAccessibleName("Evaluation progress")
        row.addWidget(self.progress, 1)
        self.eta_label = QLabel(self)
        self.eta_label.setProperty("role", "caption")
        row.addWidget(self.eta_label)
        self.cancel_button = action_button(self, "Cancel", "cancelEvaluate", "Cancel the probe or ranking", self.cancel,
                                           "stop")
        row.addWidget(self.cancel_button)
        self._progress_widgets = (self.progress, self.eta_label, self.cancel_button)
        for widget in self._progress_widgets:
            widget.setVisible(False)
        self.run_label = ElidedLabel(self)  # the buttons come first: a long run name is shortened on a narrow window
        self.run_label.setObjectName("evaluateRun")
        self.run_label.setProperty("role", "caption")
        self.run_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.run_label, 1)
        return row

    def _results(self) -> QWidget:
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 6)
        column.setSpacing(6)
        self.headline = QLabel(box)
        self.headline.setObjectName("probeHeadline")
        self.headline.setAccessibleName("Probe result in one line")
        self.headline.setProperty("role", "metric")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.headline)
        side_by_side = QSplitter(Qt.Orientation.Horizontal, box)
        side_by_side.addWidget(self._table())
        side_by_side.addWidget(self._chart())
        side_by_side.setStretchFactor(0, 0)
        side_by_side.setStretchFactor(1, 1)
        side_by_side.setChildrenCollapsible(False)
        column.addWidget(side_by_side, 1)
        self.methods_caption = QLabel(METHODS_HELP, box)
        self.methods_caption.setProperty("role", "caption")
        self.methods_caption.setWordWrap(True)
        self.methods_caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.methods_details = Collapsible("Methods and training details", "probeDetails", self.methods_caption, box)
        column.addWidget(self.methods_details)
        return box

    def _table(self) -> QTableWidget:
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("probeTable")
        self.table.setAccessibleName("Probe results")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return self.table

    def _fit_table_width(self) -> None:
        """Wide enough for every column without eliding (the chart takes the rest)."""
        header = self.table.horizontalHeader()
        columns = sum(max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c))
                      for c in range(self.table.columnCount()))
        self.table.setMinimumWidth(columns + self.table.verticalScrollBar().sizeHint().width()
                                   + 2 * self.table.frameWidth() + 12)

    def _chart(self) -> QWidget:
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(6, 0, 0, 0)
        column.setSpacing(2)
        self.chart_legend = QLabel(box)
        self.chart_legend.setObjectName("chartLegend")
        self.chart_legend.setAccessibleName("Chart legend")
        self.chart_legend.setWordWrap(True)
        column.addWidget(self.chart_legend)
        self.chart = pg.PlotWidget(background=self._background)
        self.chart.setObjectName("probeChart")
        self.chart.setAccessibleName("Accuracy by share of labels")
        self.chart.setMenuEnabled(False)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.chart.showGrid(y=True, alpha=0.15)
        for axis, title in (("left", "Accuracy (%)"), ("bottom", "Share of the labels used for training")):
            self.chart.setLabel(axis, title, color=self._foreground.name())
            self.chart.getAxis(axis).setTextPen(self._foreground)
            self.chart.getAxis(axis).setPen(QColor(self._foreground.red(), self._foreground.green(),
                                                   self._foreground.blue(), 120))
        self.chart.getAxis("left").setTicks(PERCENT_TICKS)
        self.chart.setYRange(0, CHART_TOP, padding=0)
        self.chart.setMinimumHeight(CHART_HEIGHT)
        column.addWidget(self.chart, 1)
        return box

    def _ranking_box(self) -> QWidget:
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 4, 0, 0)
        column.setSpacing(6)
        caption = QLabel(RANKING_HELP, box)
        caption.setProperty("role", "caption")
        caption.setWordWrap(True)
        column.addWidget(caption)
        row = QHBoxLayout()
        row.addWidget(QLabel("Rank by", box))
        self.strategy = QComboBox(box)
        self.strategy.setObjectName("rankingStrategy")
        self.strategy.setAccessibleName("How to rank the images")
        for text, strategy in STRATEGIES:
            self.strategy.addItem(text, strategy)
        row.addWidget(self.strategy)
        row.addSpacing(8)
        row.addWidget(QLabel("Show", box))
        self.count = QSpinBox(box)
        self.count.setObjectName("rankingCount")
        self.count.setAccessibleName("How many images to list")
        self.count.setRange(1, 1000)
        self.count.setValue(24)
        self.count.setSuffix(" images")
        row.addWidget(self.count)
        row.addSpacing(8)
        self.rank_button = action_button(self, "Rank images", "rankImages", "Rank the images to label next",
                                         self.start_ranking, "refresh")
        row.addWidget(self.rank_button)
        row.addStretch(1)
        column.addLayout(row)
        self.ranked: RankedThumbnails | None = None
        """Made at the first ranking: its loader thread runs until `shutdown()`."""
        self.grid = thumbnail_grid(box, "rankedImages", "Images to label next, best first", THUMBNAIL_SIZE,
                                   CELL_SIZE)
        self.grid.setWordWrap(True)
        self.grid.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.grid.setMinimumHeight(CELL_SIZE.height() + 2 * self.grid.frameWidth() + 8)
        column.addWidget(self.grid, 1)
        return box

    # -- run ------------------------------------------------------------------------------------------
    def set_run(self, run_dir: str | Path | None) -> None:
        """Show the run's probe results (if probed before) and enable the actions."""
        self.run_dir = Path(run_dir) if run_dir else None
        if self.run_dir is None:
            self.run_label.setText("No run chosen: train one, or choose a run folder")
        else:
            self.run_label.setText(f"Run: {self.run_dir.name}")
        self.run_label.setToolTip(str(self.run_dir or ""))
        self._list_checkpoints()
        self._update_buttons()
        self.try_box.set_run(self.run_dir)
        if self.ranked is not None:
            self.ranked.set_ranking(Path(), [], [], DataConfig())
        self.banner.clear()
        self._show_saved_probe()

    def _list_checkpoints(self) -> None:
        """Fill the checkpoint chooser: the run's default first (its best, else its last), then the others."""
        self.checkpoint_box.clear()
        found = checkpoint_choices(RunFolder(self.run_dir)) if self.run_dir else []
        for position, choice in enumerate(found):
            self.checkpoint_box.addItem(choice.label, None if position == 0 else str(choice.path))
        for widget in (self.checkpoint_label, self.checkpoint_box):
            widget.setVisible(len(found) > 1)

    def chosen_checkpoint(self) -> str | None:
        """The checkpoint file chosen for the probe; None means the run's default (`choose_checkpoint`)."""
        return self.checkpoint_box.currentData()

    def _choose_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Run folder to evaluate", str(self.run_dir or ""))
        if folder:
            self.set_run(folder)

    def busy(self) -> bool:
        return self._jobs.busy

    def _update_buttons(self) -> None:
        ready = self.run_dir is not None and not self.busy()
        for button in (self.probe_button, self.report_button, self.pdf_button, self.rank_button):
            button.setEnabled(ready)
        self.choose_button.setEnabled(not self.busy())
        self.supervised_box.setEnabled(not self.busy())

    # -- probe ----------------------------------------------------------------------------------------
    def start_probe(self) -> None:
        from workbench.probes.probe import run_probe

        run_dir, fractions, seeds, scratch = self.run_dir, self.fractions, self.seeds, self.scratch
        checkpoint, supervised = self.chosen_checkpoint(), self.supervised_box.isChecked()
        self._start(lambda cancel, progress: run_probe(run_dir, fractions=fractions, seeds=seeds, scratch=scratch,
                                                       supervised=supervised, cancel=cancel, progress=progress,
                                                       checkpoint=checkpoint),
                    self._probe_done)

    def _show_saved_probe(self) -> None:
        """Show the run's probe.json, if any (the banner says why when it cannot be read)."""
        try:
            self.show_probe(ProbeResult.read(self.run_dir / PROBE_NAME) if self.run_dir else None)
        except ArtefactError as error:
            self.show_probe(None)
            self.banner.show_message(html.escape(str(error)), "error")

    def _probe_done(self, record: ProbeResult) -> None:
        self.show_probe(record)
        self.probe_finished.emit(record)

    def show_probe(self, record: ProbeResult | None) -> None:
        """Fill the headline, table and bar chart from a probe result (clear them for None)."""
        summary = record.summary if record else []
        self.headline.setText(headline(summary, record.tasks) if record else "")
        self.headline.setVisible(bool(summary))
        note = schedule_note(record) if record else ""
        pixels = pixels_note(record) if record else ""
        starting = starting_note(record) if record else ""
        chosen = selection_note(record) if record else ""
        self.methods_caption.setText(METHODS_HELP + f" Labels: {LABELS_RULE}."
                                     + "".join(f" {html.escape(text[:1].upper() + text[1:])}."
                                               for text in (starting, pixels, chosen) if text)
                                     + (f" Trained here: {html.escape(note)}." if note else "")
                                     + (f" Kept as {html.escape(record.saved_as)}." if record and record.saved_as
                                        else ""))
        self._fill_table(record)
        self._draw_chart(record)
        if self.run_dir is not None and not summary:
            self.banner.show_message("This run has not been probed yet. Press <b>Run probe</b> to measure it "
                                     "(about a minute for 2,000 images on a CPU).", "info")

    def _fill_table(self, record: ProbeResult | None) -> None:
        summary = record.summary if record else []
        best = {}
        for entry in summary:
            if entry["accuracy"] == entry["accuracy"] and entry["accuracy"] > best.get(entry["fraction"], -1.0):
                best[entry["fraction"]] = entry["accuracy"]
        fractions = list(dict.fromkeys(entry["fraction"] for entry in summary))
        shade = self.palette().color(QPalette.ColorRole.AlternateBase)
        bold = QFont(self.table.font())
        bold.setBold(True)
        self.table.setRowCount(len(summary))
        for row, entry in enumerate(summary):
            cells = table_cells(entry, record)
            is_best = best.get(entry["fraction"]) == entry["accuracy"]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if fractions.index(entry["fraction"]) % 2:  # one band per share of labels
                    item.setBackground(shade)
                if is_best:
                    item.setFont(bold)
                    item.setToolTip(f"Best accuracy with {record.labels_used(entry['fraction'])}")
                self.table.setItem(row, column, item)
        self._fit_table_width()

    def _draw_chart(self, record: ProbeResult | None) -> None:
        summary = record.summary if record else []
        self.chart.clear()
        fractions = list(dict.fromkeys(entry["fraction"] for entry in summary))
        methods = list(dict.fromkeys(entry["method"] for entry in summary))
        width = 0.8 / max(1, len(methods))
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() - 1.5))
        for number, method in enumerate(methods):
            colour = PALETTE[number % len(PALETTE)]
            values = {e["fraction"]: e["accuracy"] for e in summary if e["method"] == method}
            places = [(i + (number - (len(methods) - 1) / 2) * width, values[f]) for i, f in enumerate(fractions)
                      if f in values and values[f] == values[f]]
            if not places:
                continue
            xs, heights = zip(*places)
            self.chart.addItem(pg.BarGraphItem(x=list(xs), height=list(heights), width=width * 0.88, name=method,
                                               brush=colour, pen=pg.mkPen(None)))
            for x, height in places:
                label = pg.TextItem(f"{100 * height:.0f}", color=self._foreground, anchor=(0.5, 1.0))
                label.setFont(small)
                label.setPos(x, height)
                self.chart.addItem(label)
        self.chart.getAxis("bottom").setTicks([[(i, record.labels_used(f)) for i, f in enumerate(fractions)]])
        self.chart.setXRange(-0.5, max(len(fractions), 1) - 0.5, padding=0.02)
        swatches = (f"<span style='color:{PALETTE[n % len(PALETTE)]}; font-size:13pt'>■</span>&nbsp;"
                    + html.escape(m).replace(" ", "&nbsp;") for n, m in enumerate(methods))
        self.chart_legend.setText("   ".join(swatches))
        self.chart_legend.setVisible(bool(methods))

    def bars(self) -> list[pg.BarGraphItem]:
        """The chart's bar series, one per method (used by tests)."""
        return [item for item in self.chart.getPlotItem().items if isinstance(item, pg.BarGraphItem)]

    # -- report ---------------------------------------------------------------------------------------
    def open_report(self) -> Path | None:
        """Write the run's report.html and open it in the web browser; returns its path."""
        if self.run_dir is None:
            return None
        try:
            path = build_report(self.run_dir)
        except Exception as error:  # an unreadable run folder is explained, not raised into Qt
            self.banner.show_message(f"<b>The report could not be written.</b> {html.escape(str(error))}", "error")
            return None
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.resolve())))
        self.banner.show_message(f"Report written to <b>{html.escape(str(path))}</b> and opened in your browser.",
                                 "info")
        return path

    def save_pdf(self) -> None:
        """Write report.html and print it to report.pdf: with an installed converter (full layout), else (or
        when it fails) with Qt (plain layout); the banner says which."""
        run_dir = self.run_dir

        def work(cancel, progress):
            path = build_report(run_dir)
            converter = find_pdf_converter()
            if converter is None:
                return print_report_with_qt(path), None, ""
            try:
                return convert_to_pdf(path, converter), converter.name, ""
            except RuntimeError as error:
                return print_report_with_qt(path), None, str(error)

        self._start(work, self._pdf_done)

    def _pdf_done(self, result: tuple) -> None:
        pdf, converter, problem = result
        where = f"<b>{html.escape(str(pdf))}</b>"
        if converter:
            self.banner.show_message(f"PDF written to {where} (printed with {html.escape(converter)}).", "info")
        elif problem:
            self.banner.show_message(f"{html.escape(problem)}. The PDF was printed by Qt instead, in a plain layout "
                                     f"(text, tables and charts, without the report's styling): {where}", "warning")
        else:
            self.banner.show_message(
                f"PDF written to {where} by Qt, in a plain layout: the text, tables and charts without the "
                f"report's styling. For the full layout, install one of: {html.escape(PDF_INSTALL_HINT)}.", "info")
        self.pdf_saved.emit(str(pdf))

    # -- try an image (dropped anywhere on the panel) ------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self.run_dir is not None and dropped_file(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        path = dropped_file(event.mimeData())
        if self.run_dir is None or path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.lower_tabs.setCurrentWidget(self.try_box)
        self.try_box.try_image(path)

    # -- ranking --------------------------------------------------------------------------------------
    def start_ranking(self) -> None:
        run_dir, strategy, count = self.run_dir, self.strategy.currentData(), self.count.value()

        def work(cancel, progress):
            from workbench.data import dataset_folder
            from workbench.probes.context import open_run
            from workbench.probes.ranking import rank_run, write_ranking_csv

            context = open_run(run_dir, cancel=cancel)
            rows, scores = rank_run(context, strategy, count, cancel=cancel)
            records = [context.dataset.report.images[row] for row in rows]
            csv = write_ranking_csv(ranking_csv(run_dir, strategy), [r.path for r in records], scores)
            return dataset_folder(context.config.data), records, scores, context.config.data, csv

        self._start(work, self._ranking_done)

    def _ranking_done(self, result: tuple) -> None:
        root, records, scores, data_cfg, csv = result
        if self.ranked is None:
            self.ranked = RankedThumbnails(self)
            self.grid.setModel(self.ranked)
        self.ranked.set_ranking(root, records, scores, data_cfg)
        self.lower_tabs.setCurrentWidget(self.ranking_page)
        self.banner.show_message(f"{len(records)} images ranked, best first. The list is saved as "
                                 f"<b>{html.escape(str(csv))}</b>.", "info")
        self.ranking_finished.emit([(record.path, score) for record, score in zip(records, scores)])

    # -- jobs -----------------------------------------------------------------------------------------
    def _start(self, work, on_success) -> None:
        if self.run_dir is None or not self._jobs.run(
                work, progress=self._on_progress, succeeded=on_success, failed=self._failed,
                cancelled=lambda: self.banner.show_message("Cancelled.", "info"), ended=self._ended):
            return
        self.banner.clear()
        self.progress.setRange(0, 0)
        self.eta_label.clear()
        for widget in self._progress_widgets:
            widget.setVisible(True)
        self._update_buttons()

    def _on_progress(self, done: int, total: int, eta: float) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        left = format_seconds(eta)
        self.eta_label.setText(f"about {left} left" if left else "")

    def cancel(self) -> None:
        self._jobs.cancel()

    def _failed(self, message: str, _details: str) -> None:
        self.banner.show_message(f"<b>That did not work.</b> {html.escape(message)}", "error")
        self.failed.emit(message)

    def _ended(self) -> None:
        for widget in self._progress_widgets:
            widget.setVisible(False)
        self._update_buttons()

    def wait(self) -> None:
        """Block until a running job ends (shutdown and tests)."""
        self._jobs.wait()

    def shutdown(self) -> None:
        """Cancel and wait for a running job, and stop the thumbnail loader (window closing)."""
        self.cancel()
        self.wait()
        self.try_box.shutdown()
        if self.ranked is not None:
            self.ranked.shutdown()
