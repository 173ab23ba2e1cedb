"""Live training curves (pyqtgraph). Redrawn from a timer, never per event, one changed plot per tick (so
each repaint is a short pause of the event loop), with downsampling and clipping to the view so long runs
stay smooth."""
from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGridLayout, QWidget

from workbench.engine.health import COLLAPSE_STD
from workbench.gui.history import MetricHistory

"""Embedding spread below this means the encoder maps every image to nearly the same point."""
REFRESH_MS = 100
"""One changed plot is redrawn per tick: with all five changing, each is redrawn twice a second."""
MIN_STEP_SPAN = 10
RUN_COLOURS = ["#3478f6", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4", "#bf399e", "#6c8893"]


@dataclass(frozen=True)
class _PlotSpec:
    key: str
    title: str
    series: tuple[str, ...]
    log_y: bool = False


PLOTS = (
    _PlotSpec("loss", "Loss (raw and smoothed)", ("loss", "loss_smoothed")),
    _PlotSpec("lr", "Learning rate", ("lr",)),
    _PlotSpec("embedding_std", "Embedding spread (std)", ("embedding_std",)),
    _PlotSpec("effective_rank", "Effective rank", ("effective_rank",)),
    _PlotSpec("knn_accuracy", "kNN probe accuracy", ("knn_accuracy",)),
)


class MonitorPlots(QWidget):
    """The training plots for one or several runs (overlay). Call `set_runs` then `refresh` (or let the timer)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainingPlots")
        self.setAccessibleName("Training curves")
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        foreground = palette.color(QPalette.ColorRole.Text)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.plots: dict[str, pg.PlotWidget] = {}
        positions = {"loss": (0, 0, 1, 2), "lr": (0, 2, 1, 1), "embedding_std": (1, 0, 1, 1),
                     "effective_rank": (1, 1, 1, 1), "knn_accuracy": (1, 2, 1, 1)}
        for spec in PLOTS:
            plot = pg.PlotWidget(background=background)
            plot.setObjectName(f"plot.{spec.key}")
            plot.setAccessibleName(spec.title)
            plot.setTitle(spec.title, color=foreground.name(), size="10pt")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "step", color=foreground.name())
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(foreground)
                plot.getAxis(axis).setPen(QColor(foreground.red(), foreground.green(), foreground.blue(), 120))
            plot.setMinimumHeight(170)
            plot.setMenuEnabled(False)
            plot.setLimits(xMin=0, minXRange=MIN_STEP_SPAN)  # a lone point at step 0 shows 0..10, not -0.5..0.5
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            layout.addWidget(plot, *positions[spec.key])
            self.plots[spec.key] = plot
        self.plots["lr"].getAxis("left").enableAutoSIPrefix(False)
        self._add_collapse_zone(self.plots["embedding_std"])
        self.plots["knn_accuracy"].setYRange(0, 1, padding=0.02)
        self._knn_reference = pg.InfiniteLine(angle=0, movable=False,
                                              pen=pg.mkPen(foreground, width=1, style=Qt.PenStyle.DashLine),
                                              label="at start",
                                              labelOpts={"position": 0.7, "color": foreground.name()})
        self._knn_reference.setVisible(False)
        self.plots["knn_accuracy"].addItem(self._knn_reference)
        self._runs: list[tuple[str, MetricHistory]] = []
        self._curves: list[dict[str, pg.PlotDataItem]] = []
        self._drawn: dict[str, tuple[int, ...]] = {}
        """Per plot: the point counts of its series when it was last drawn."""
        self._next_plot = 0
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
        """Show these runs (name, history); one colour per run, a legend when there are several."""
        for curves in self._curves:
            for key, curve in curves.items():
                self.plots[key.split(":")[0]].removeItem(curve)
        for plot in self.plots.values():
            _remove_legend(plot)
        self._runs = list(runs)
        self._curves = []
        self._drawn = {}
        several = len(self._runs) > 1
        if several:
            self.plots["loss"].addLegend(offset=(-10, 10))
        for index, (name, _history) in enumerate(self._runs):
            colour = QColor(RUN_COLOURS[index % len(RUN_COLOURS)])
            curves: dict[str, pg.PlotDataItem] = {}
            for spec in PLOTS:
                for series in spec.series:
                    faded = series == "loss"
                    pen_colour = QColor(colour)
                    if faded:
                        pen_colour.setAlpha(90)
                    symbol = "o" if spec.key in ("embedding_std", "effective_rank", "knn_accuracy") else None
                    curve = self.plots[spec.key].plot(
                        [], [], pen=pg.mkPen(pen_colour, width=1 if faded else 2), symbol=symbol, symbolSize=5,
                        symbolBrush=colour, symbolPen=None,
                        name=name if several and series == "loss_smoothed" else None)
                    curve.setDownsampling(auto=True, method="peak")
                    curve.setClipToView(True)
                    curves[f"{spec.key}:{series}"] = curve
            self._curves.append(curves)
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
        counts = tuple(history.count(series) for _name, history in self._runs for series in spec.series)
        if self._drawn.get(spec.key) == counts:
            return False
        self._drawn[spec.key] = counts
        for index, (_name, history) in enumerate(self._runs):
            for series in spec.series:
                self._curves[index][f"{spec.key}:{series}"].setData(*history.series(series))
        if spec.key == "embedding_std":
            self._keep_collapse_zone_in_view()
        elif spec.key == "knn_accuracy":
            self._update_knn_reference()
        return True

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
        self._knn_reference.setValue(first[1])
        self._knn_reference.label.setFormat(f"at start: {first[1]:.0%}")
        self._knn_reference.label.valueChanged()  # re-render the text even when the value did not move
        self._knn_reference.setVisible(True)

    def point_count(self, series: str, run: int = 0) -> int:
        """Points drawn for `series` of run `run` (what the user sees; used by tests)."""
        for key, curve in self._curves[run].items():
            if key.split(":")[1] == series:
                return 0 if curve.xData is None else len(curve.xData)
        return 0


def _remove_legend(plot: pg.PlotWidget) -> None:
    legend = plot.plotItem.legend
    if legend is not None:
        if legend.scene() is not None:
            legend.scene().removeItem(legend)
        plot.plotItem.legend = None
