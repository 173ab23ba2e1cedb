"""Live training curves (pyqtgraph). Redrawn from a timer, never per event, one changed plot per tick (so
each repaint is a short pause of the event loop), with downsampling and clipping to the view so long runs
stay smooth. Every plot saves itself as PNG or SVG and its data as CSV from its right-click menu."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import colorcet
import pyqtgraph as pg
from pyqtgraph.exporters import CSVExporter, ImageExporter
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QFrame, QGridLayout, QMenu, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from workbench.engine.events import TASK_LOSS
from workbench.engine.health import COLLAPSE_STD
from workbench.engine.quality_values import value_name
from workbench.gui.history import SMOOTHED, SMOOTHING_HALF_WIDTH, MetricHistory

REFRESH_MS = 100
"""One changed plot is redrawn per tick: with all seven changing, each is redrawn more than once a second."""
MIN_STEP_SPAN = 10
PALETTE = colorcet.b_glasbey_category10
"""Distinguishable colours (Glasbey), the first ten those of matplotlib's category10: runs, tasks, classes."""
RUN_DASHES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
"""Per-task lines of overlaid runs: one colour per task, one dash pattern per run."""
SAVE_FORMATS = {"png": "PNG image", "svg": "SVG image", "csv": "data as CSV"}
SERIES_LABELS = {"loss": "raw", SMOOTHED: f"smoothed (centred mean of {2 * SMOOTHING_HALF_WIDTH + 1} points)",
                 "effective_rank": value_name("effective_rank"), "lidar": value_name("lidar")}


def palette_colour(index: int) -> QColor:
    """The `index`-th colour of the palette (it repeats only after 256)."""
    return QColor(PALETTE[index % len(PALETTE)])


@dataclass(frozen=True)
class _PlotSpec:
    key: str
    title: str
    series: tuple[str, ...] = ()
    """The values drawn; none: the run's per-task values (`task_losses` picks losses or metrics)."""
    task_losses: bool = False

    def series_of(self, history: MetricHistory) -> list[str]:
        return list(self.series) if self.series else history.task_series(self.task_losses)


PLOTS = (
    _PlotSpec("loss", "Loss", ("loss", SMOOTHED)),
    _PlotSpec("lr", "Learning rate", ("lr",)),
    _PlotSpec("embedding_std", "Embedding spread (std)", ("embedding_std",)),
    _PlotSpec("effective_rank", "Effective ranks", ("effective_rank", "lidar")),
    _PlotSpec("knn_accuracy", "kNN probe accuracy", ("knn_accuracy",)),
    _PlotSpec("task_losses", "Loss per task", task_losses=True),
    _PlotSpec("task_metrics", "Task metrics"),
)
PLOT_HEIGHT = 170
"""A plot's least height: title, axes, a legend row and about 80 px of curves with three y labels apart. A
smaller area scrolls instead of squashing the plots."""
TICK_GAP = 16
"""Pixels at least between two y tick labels (pyqtgraph puts two or three on any axis, however short)."""
POSITIONS = {"loss": (0, 0, 1, 2), "lr": (0, 2, 1, 1), "embedding_std": (1, 0, 1, 1),
             "effective_rank": (1, 1, 1, 1), "knn_accuracy": (1, 2, 1, 1), "task_losses": (2, 0, 1, 1),
             "task_metrics": (2, 1, 1, 2)}
WHOLE_ROW = (2, 0, 1, 3)
"""Where a per-task plot goes when it is the only one shown: no empty cell beside it."""
EVALUATION_PLOTS = ("embedding_std", "effective_rank", "knn_accuracy")
"""Plots of values measured at evaluations only: few points, each marked."""


class MonitorPlots(QWidget):
    """The training plots for one or several runs (overlay). Call `set_runs` then `refresh` (or let the timer)."""

    def __init__(self, parent: QWidget | None = None, reserve_task_plots: bool = False):
        """`reserve_task_plots`: the per-task plots keep their room while hidden, so that their appearing
        mid-run does not re-lay out (and repaint) every other plot at once."""
        super().__init__(parent)
        self.setObjectName("trainingPlots")
        self.setAccessibleName("Training curves")
        palette = self.palette()
        self._foreground = palette.color(QPalette.ColorRole.Text)
        scroll = QScrollArea(self)
        scroll.setObjectName("trainingPlotsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(PLOT_HEIGHT)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        grid = QWidget(scroll)
        scroll.setWidget(grid)
        layout = self._grid = QGridLayout(grid)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.save_menus: dict[str, QMenu] = {}
        for spec in PLOTS:
            plot = pg.PlotWidget(grid, background=palette.color(QPalette.ColorRole.Base),
                                 axisItems={"left": _SparseAxis("left")})
            plot.setObjectName(f"plot.{spec.key}")
            plot.setAccessibleName(spec.title)
            plot.setTitle(spec.title, color=self._foreground.name(), size="10pt")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "step", color=self._foreground.name())
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(self._foreground)
                plot.getAxis(axis).setPen(QColor(self._foreground.red(), self._foreground.green(),
                                                 self._foreground.blue(), 120))
            plot.setMinimumHeight(PLOT_HEIGHT)
            plot.plotItem.vb.sigResized.connect(lambda _view, key=spec.key: self._fit_legend(key))
            if reserve_task_plots and not spec.series:
                policy = plot.sizePolicy()
                policy.setRetainSizeWhenHidden(True)
                plot.setSizePolicy(policy)
            plot.setMenuEnabled(False)
            plot.setLimits(xMin=0, minXRange=MIN_STEP_SPAN)  # a lone point at step 0 shows 0..10, not -0.5..0.5
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            layout.addWidget(plot, *POSITIONS[spec.key])
            self.plots[spec.key] = plot
            self.save_menus[spec.key] = add_save_menu(plot, spec.key)
        self.plots["lr"].getAxis("left").enableAutoSIPrefix(False)
        self._add_collapse_zone(self.plots["embedding_std"])
        self.plots["knn_accuracy"].setYRange(0, 1, padding=0.02)
        self._knn_reference = pg.InfiniteLine(angle=0, movable=False,
                                              pen=pg.mkPen(self._foreground, width=1, style=Qt.PenStyle.DashLine),
                                              label="at start",
                                              labelOpts={"position": 0.7, "color": self._foreground.name()})
        self._knn_reference.setVisible(False)
        self.plots["knn_accuracy"].addItem(self._knn_reference)
        self._runs: list[tuple[str, MetricHistory]] = []
        self._curves: dict[tuple[int, str, str], pg.PlotDataItem] = {}
        """(run index, plot key, series) -> its line."""
        self.legends: dict[str, pg.LegendItem] = {}
        """Per plot with more than one line: its legend, below the plot."""
        self._drawn: dict[str, tuple] = {}
        """Per plot: the series and point counts it showed when it was last drawn."""
        self._next_plot = 0
        self._places: dict[str, tuple | None] = {key: POSITIONS[key] for key in self.plots}
        """Per plot: its cell in the grid (None: out of the grid, hidden)."""
        self._show_task_plots()
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._refresh_next_plot)
        self.timer.start()

    @staticmethod
    def _add_collapse_zone(plot: pg.PlotWidget) -> None:
        zone = pg.LinearRegionItem(values=(0.0, COLLAPSE_STD), orientation="horizontal", movable=False,
                                   brush=pg.mkBrush(214, 69, 69, 45), pen=pg.mkPen(None))
        zone.setZValue(-10)
        plot.addItem(zone, ignoreBounds=True)
        label = pg.TextItem("collapse zone", color=(214, 69, 69), anchor=(0, 1))
        label.setPos(0, 0.0)
        plot.addItem(label, ignoreBounds=True)
        plot.setYRange(0, 0.5, padding=0.02)

    def set_runs(self, runs: list[tuple[str, MetricHistory]]) -> None:
        """Show these runs (name, history); one colour per run, a legend on each plot with several lines."""
        for (_run, key, _series), curve in self._curves.items():
            self.plots[key].removeItem(curve)
        for key in list(self.legends):
            _remove_legend(self.plots[key], self.legends.pop(key))
        self._runs = list(runs)
        self._curves = {}
        self._drawn = {}
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Redraw every plot whose series gained points since its last draw."""
        for spec in PLOTS:
            self._refresh_plot(spec)

    def _refresh_next_plot(self) -> None:
        """The timer's tick: redraw the next changed plot, if the plots are on screen (hidden ones catch up
        in showEvent)."""
        if not self.isVisible():
            return
        for offset in range(len(PLOTS)):
            position = (self._next_plot + offset) % len(PLOTS)
            if self._refresh_plot(PLOTS[position]):
                self._next_plot = (position + 1) % len(PLOTS)
                return

    def _refresh_plot(self, spec: _PlotSpec) -> bool:
        drawn = tuple((index, series, history.count(series)) for index, (_name, history) in enumerate(self._runs)
                      for series in spec.series_of(history))
        if self._drawn.get(spec.key) == drawn:
            return False
        self._drawn[spec.key] = drawn
        for index, series, _count in drawn:
            self._curve(index, spec, series).setData(*self._runs[index][1].series(series))
        if spec.key == "embedding_std":
            self._keep_collapse_zone_in_view()
        elif spec.key == "knn_accuracy":
            self._update_knn_reference()
        elif not spec.series:
            self._show_task_plots()
        return True

    def _curve(self, run: int, spec: _PlotSpec, series: str) -> pg.PlotDataItem:
        """The line of `series` of run `run` in plot `spec`, made (and named in the legend) on first use."""
        curve = self._curves.get((run, spec.key, series))
        if curve is None:
            curve = self.plots[spec.key].plot([], [], name=self._line_name(run, spec, series),
                                              **self._line_style(run, spec, series))
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            curve.setZValue(1 if series == "loss" else 0)  # the raw points over the smoothed line
            self._curves[(run, spec.key, series)] = curve
            self._name_lines(spec.key)
        return curve

    def _line_name(self, run: int, spec: _PlotSpec, series: str) -> str:
        label = SERIES_LABELS.get(series, series.removesuffix("/" + TASK_LOSS))
        if len(self._runs) == 1:
            return label if len(spec.series) != 1 else spec.title
        return self._runs[run][0] if len(spec.series) == 1 else f"{self._runs[run][0]} · {label}"

    def _line_style(self, run: int, spec: _PlotSpec, series: str) -> dict:
        """Raw loss: faint dots over a thin line, on top of the bold smoothed line; evaluation values: marked
        points (a plot's second value, LiDAR: dashed, with triangles, and of its own colour when one run is
        shown); per-task lines: one colour per task (and one dash per run)."""
        if not spec.series:
            colour = palette_colour(spec.series_of(self._runs[run][1]).index(series))
            return {"pen": pg.mkPen(colour, width=1.5, style=RUN_DASHES[run % len(RUN_DASHES)])}
        one_run = len(self._runs) == 1 and series not in ("loss", SMOOTHED)
        colour = palette_colour(spec.series.index(series) if one_run else run)
        if series == "loss":
            faint = QColor(colour)
            faint.setAlpha(110)
            return {"pen": pg.mkPen(faint, width=1), "symbol": "o", "symbolSize": 3, "symbolBrush": faint,
                    "symbolPen": None}
        if series == SMOOTHED:
            return {"pen": pg.mkPen(colour, width=2.5)}
        symbol = ("o", "t")[spec.series.index(series)] if spec.key in EVALUATION_PLOTS else None
        style = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine)[spec.series.index(series)]  # RankMe, LiDAR
        return {"pen": pg.mkPen(colour, width=2, style=style), "symbol": symbol, "symbolSize": 5,
                "symbolBrush": colour, "symbolPen": None}

    def _name_lines(self, key: str) -> None:
        """Give plot `key` a legend below it once it has more than one line, listing every line."""
        lines = [curve for (_run, plot_key, _series), curve in self._curves.items() if plot_key == key]
        if len(lines) < 2:
            return
        legend = self.legends.get(key)
        if legend is None:
            legend = self.legends[key] = legend_outside(self.plots[key], self._foreground)
        for curve in lines:
            if not any(sample.item is curve for sample, _label in legend.items):
                legend.addItem(curve, curve.name())
        self._fit_legend(key)

    def _fit_legend(self, key: str) -> None:
        """Plot `key`'s legend in as many columns as fit its width (called again when the plot is resized)."""
        legend = self.legends.get(key)
        if legend is not None:
            _fit_legend_columns(self.plots[key], legend)

    def _show_task_plots(self) -> None:
        """The per-task plots are shown only when a run has such values; one shown alone takes the whole row."""
        shown = {spec.key: any(spec.series_of(history) for _name, history in self._runs)
                 for spec in PLOTS if not spec.series}
        alone = [key for key, visible in shown.items() if visible] if sum(shown.values()) == 1 else []
        for key, visible in shown.items():
            plot = self.plots[key]
            place = WHOLE_ROW if key in alone else None if alone else POSITIONS[key]
            if place != self._places.get(key):  # moved only when the shown set changes: no re-layout per tick
                self._places[key] = place
                self._grid.removeWidget(plot)
                if place is not None:
                    self._grid.addWidget(plot, *place)
            plot.setVisible(visible)

    def _keep_collapse_zone_in_view(self) -> None:
        """The spread plot always starts at 0, so the distance to the collapse zone is visible."""
        highest = max((history.series("embedding_std")[1].max(initial=0.0) for _name, history in self._runs),
                      default=0.0)
        self.plots["embedding_std"].setYRange(0, max(0.5, highest * 1.1), padding=0.02)

    def _update_knn_reference(self) -> None:
        first = self._runs[0][1].first("knn_accuracy") if len(self._runs) == 1 else None
        if first is None or first[0] > 0:
            self._knn_reference.setVisible(False)
            return
        self._knn_reference.setVisible(True)  # first: a hidden label ignores the new text
        self._knn_reference.setValue(first[1])
        self._knn_reference.label.setFormat(f"at start: {first[1]:.0%}")
        self._knn_reference.label.valueChanged()  # re-render the text even when the value did not move

    def point_count(self, series: str, run: int = 0) -> int:
        """Points drawn for `series` of run `run` (what the user sees; used by tests)."""
        for (index, _key, name), curve in self._curves.items():
            if index == run and name == series:
                return 0 if curve.xData is None else len(curve.xData)
        return 0

    def legend_labels(self, key: str) -> list[str]:
        """The names in plot `key`'s legend, in order (none when it has one line or none)."""
        legend = self.legends.get(key)
        return [] if legend is None else [label.text for _sample, label in legend.items]


def legend_outside(plot: pg.PlotWidget, colour: QColor, columns: int = 1, below: bool = True) -> pg.LegendItem:
    """A legend in the plot's own layout, beside the data area (below it in `columns`, or to its right), so it
    never covers a line or a point; it is part of the plot in saved images. Items added later with a name join it."""
    legend = _LaidOutLegend(labelTextColor=colour, colCount=columns)
    legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # its entries' size, not the row's
    layout = plot.plotItem.layout
    layout.addItem(legend, *((4, 1) if below else (2, 3)))
    layout.setAlignment(legend, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    plot.plotItem.legend = legend
    return legend


class _SparseAxis(pg.AxisItem):
    """An axis whose major ticks are at least TICK_GAP pixels apart, so that their labels never touch."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802,N803 (pyqtgraph override)
        # pyqtgraph's major spacing is a round number between 1/2.5 and 1 times a 2.25th of the range
        stretch = max(1.0, 2.25 * 2.5 * TICK_GAP / size) if size > 0 else 1.0
        return super().tickSpacing(minVal, minVal + (maxVal - minVal) * stretch, size)


def _fit_legend_columns(plot: pg.PlotWidget, legend: pg.LegendItem) -> None:
    """As many columns in `legend` (below `plot`) as fit under its curves, so that no entry is cut off: a
    row of n columns is at most as wide as the n widest entries."""
    widths = sorted((sample.boundingRect().width() + label.boundingRect().width() for sample, label in legend.items),
                    reverse=True)
    left, _top, right, _bottom = legend.layout.getContentsMargins()
    gap = legend.layout.horizontalSpacing()
    room = plot.plotItem.vb.width() - left - right
    columns = next((n for n in range(len(widths), 1, -1) if sum(widths[:n]) + (2 * n - 1) * gap <= room), 1)
    if columns != legend.columnCount:
        legend.setColumnCount(columns)


class _LaidOutLegend(pg.LegendItem):
    """A legend that a layout places: it asks for the size of its entries instead of setting its geometry."""

    def updateSize(self) -> None:  # noqa: N802 (pyqtgraph override)
        self.layout.invalidate()
        self.updateGeometry()


def _remove_legend(plot: pg.PlotWidget, legend: pg.LegendItem) -> None:
    plot.plotItem.layout.removeItem(legend)
    plot.plotItem.legend = None
    if legend.scene() is not None:
        legend.scene().removeItem(legend)


def save_plot(plot: pg.PlotWidget, path: str | Path) -> Path:
    """Save `plot` by the file's suffix: .png or .svg the picture (legend included), .csv each line's data."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        _save_svg(plot, path)
    else:
        {".png": ImageExporter, ".csv": CSVExporter}[suffix](plot.plotItem).export(str(path))
    return path


def _save_svg(plot: pg.PlotWidget, path: Path) -> None:
    """The plot drawn into an SVG file (pyqtgraph's SVG exporter fails on Qt 6's closed paths)."""
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(plot.size())
    generator.setViewBox(plot.rect())
    generator.setTitle(plot.accessibleName())
    painter = QPainter(generator)
    plot.render(painter)
    painter.end()


def add_save_menu(plot: pg.PlotWidget, name: str) -> QMenu:
    """Right-click on `plot` (where no item takes the click) opens a menu to save it as PNG, SVG or CSV."""
    menu = QMenu(plot)
    for suffix, title in SAVE_FORMATS.items():
        menu.addAction(f"Save {title}…", lambda suffix=suffix, title=title: _ask_and_save(plot, name, suffix, title))
    plot.setToolTip("Right-click to save this plot as PNG or SVG, or its data as CSV.")

    def on_click(event) -> None:
        if event.button() == Qt.MouseButton.RightButton and not event.isAccepted():
            menu.popup(event.screenPos().toPoint())

    plot.scene().sigMouseClicked.connect(on_click)
    return menu


def _ask_and_save(plot: pg.PlotWidget, name: str, suffix: str, title: str) -> None:
    path, _ = QFileDialog.getSaveFileName(plot, f"Save the plot's {title}", f"{name}.{suffix}",
                                          f"{title} (*.{suffix})")
    if path:
        save_plot(plot, path if path.lower().endswith(f".{suffix}") else f"{path}.{suffix}")
