"""pyqtgraph helpers shared by the scenes.

Log axes are done by hand: the scenes plot ``log10`` values (exact from the engine even below
1e-308) on a linear axis whose tick labels read as powers of ten. pyqtgraph's own log mode drops
zeros and non-finite points and is ignored by bar graphs and threshold lines (PITFALLS), so it is
never used. Non-finite values are cleaned once, here, and shown by explicit markers instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPen

from ..engine.errors import InputError
from ..engine.files import format_csv, write_text
from ..formatting import format_log10 as format_power  # noqa: F401 - the one home, for the views
from ..formatting import power_label
from .theme import Theme

pg.setConfigOptions(antialias=True, useNumba=False)

class Log10Axis(pg.AxisItem):
    """An axis for values that are already log10: ticks at whole powers, labelled ``10ⁿ``."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph's name
        span = maxVal - minVal
        if not np.isfinite(span) or span <= 0:
            return super().tickValues(minVal, maxVal, size)
        # whole-number steps only: 1, 2, 5, 10, 20, 50, ... decades per major tick
        target = max(2, int(size / 45))
        raw = span / target
        step = 1
        for candidate in (1, 2, 3, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
            step = candidate
            if candidate >= raw:
                break
        first = math.ceil(minVal / step) * step
        major = list(np.arange(first, maxVal + 1e-9, step, dtype=np.float64))
        return [(float(step), major)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        return [power_label(v) for v in values]


def style_plot(plot: pg.PlotWidget | pg.PlotItem, theme: Theme, title: str | None = None) -> None:
    """Colours, fonts and line widths of one plot for the theme (called again on theme change)."""
    item = plot.getPlotItem() if hasattr(plot, "getPlotItem") else plot
    if isinstance(plot, (pg.PlotWidget, pg.GraphicsLayoutWidget)):
        plot.setBackground(theme.background)
    font = theme.qfont(theme.small_px)
    pen = pg.mkPen(theme.foreground, width=max(1.0, theme.line_width / 2))
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        if axis is None:
            continue
        axis.setPen(pen)
        axis.setTextPen(theme.foreground)
        # major ticks only: each grid line is stroked across the whole plot on every repaint
        axis.setStyle(tickFont=font, tickTextOffset=6, maxTickLevel=0)
        label_style = {"color": theme.foreground, "font-size": f"{theme.font_px}px"}
        if axis.label is not None and axis.labelText:
            axis.setLabel(axis.labelText, units=axis.labelUnits or None, **label_style)
    item.showGrid(x=True, y=True, alpha=theme.grid_alpha)
    if title is not None:
        item.setTitle(title, color=theme.foreground, size=f"{theme.font_px}px")
    legend = item.legend
    if legend is not None:
        legend.setLabelTextColor(theme.foreground)
        legend.setLabelTextSize(f"{theme.small_px}px")
        # those two only store the colour and size in the labels already there: each is drawn in
        # them when its text is set, so set it again (after Ctrl+P a legend that had been made in
        # the dark theme kept its light text on the projector's light panel)
        for _sample, label in legend.items:
            label.setText(label.text)
        legend.setBrush(pg.mkBrush(QColor(theme.panel)))
        legend.setPen(pg.mkPen(theme.muted))


class Chart(pg.GraphicsLayoutWidget):
    """A plot with its legend in a row above it, so the legend never covers data or labels.

    Behaves like ``pg.PlotWidget`` where the scenes need it (``getPlotItem()``, ``plotItem``).
    """

    def __init__(self, theme: Theme, axis_items: dict, legend_columns: int = 3) -> None:
        super().__init__()
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.legend = pg.LegendItem(colCount=legend_columns, labelTextSize=f"{theme.small_px}px")
        self.addItem(self.legend, row=0, col=0)
        self.plotItem = self.addPlot(row=1, col=0, axisItems=axis_items)
        self.plotItem.legend = self.legend

    def getPlotItem(self) -> pg.PlotItem:  # noqa: N802 - pyqtgraph naming
        return self.plotItem

    def set_legend(self, entries: list) -> None:
        """Show exactly these ``(item, label)`` pairs, in order."""
        self.legend.clear()
        for item, label in entries:
            self.legend.addItem(item, label)
        # The layout keeps the geometry it was last given, raised to its minimum width of that
        # moment: a legend that was wider then (another theme's font, other labels) left it wider
        # than the view, and the plot's right side clipped, until something resized the widget.
        # Fit it to the view again now that the legend may need less.
        self.centralWidget.setGeometry(self.range)


def make_plot(theme: Theme, title: str, xlabel: str, ylabel: str, log_y: bool = False,
              legend: bool = True, legend_columns: int = 3) -> Chart:
    """A themed chart; with ``log_y`` the y values given to it must be log10 values."""
    axis_items = {"left": Log10Axis(orientation="left")} if log_y else {}
    widget = Chart(theme, axis_items, legend_columns)
    item = widget.getPlotItem()
    item.setLabel("bottom", xlabel)
    item.setLabel("left", ylabel)
    item.setMenuEnabled(False)
    item.hideButtons()
    if not legend:
        widget.legend.hide()
    style_plot(widget, theme, title or None)
    return widget


def curve_pen(colour: str, theme: Theme, style: Qt.PenStyle = Qt.PenStyle.SolidLine, scale: float = 1.0) -> QPen:
    pen = pg.mkPen(colour, width=theme.line_width * scale)
    pen.setStyle(style)
    return pen


def threshold_line(theme: Theme, colour: str, label: str, below: bool = False) -> pg.InfiniteLine:
    """A horizontal line for a threshold; place it with ``setValue(log10(threshold))``.

    ``below`` puts the label under the line (for an upper threshold near the top of the chart).
    """
    pen = curve_pen(colour, theme, Qt.PenStyle.DashLine, 0.75)
    # at the right end, where a decaying curve is far from both thresholds; see-through, so the
    # label never hides data
    anchor = (1, 0) if below else (1, 1)
    line = pg.InfiniteLine(angle=0, movable=False, pen=pen, label=label,
                           labelOpts={"position": 0.98, "color": colour, "anchors": [anchor, anchor],
                                      "fill": pg.mkBrush(0, 0, 0, 0)})
    line.label.setFont(theme.qfont(theme.small_px))
    return line


def clean_log10(values: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``-inf`` (exact zeros) by ``floor`` for drawing; return ``(y, zero_mask)``.

    NaN stays NaN and is skipped by ``connect='finite'``; callers mark those steps explicitly.
    """
    y = np.array(values, dtype=np.float64, copy=True)
    zero = np.isneginf(y)
    y[zero] = floor
    return y, zero


def colormap(theme: Theme) -> pg.ColorMap:
    return pg.colormap.get(theme.colormap)


def export_png(widget, path: str | Path) -> None:
    """Save what the widget shows (a chart, a scene) as PNG."""
    pixmap = widget.grab()
    if not pixmap.save(str(path), "PNG"):
        raise OSError(f"could not write {path}")


def export_svg(widget, path: str | Path, title: str = "gradsim chart") -> None:
    """Vector SVG of a chart widget, drawn by Qt's own SVG generator.

    pyqtgraph's SVGExporter cannot parse the path syntax Qt 6.11 writes, so the widget is rendered
    straight into a ``QSvgGenerator`` instead (same picture, every line and label as vectors).
    """
    from PySide6.QtCore import QRect, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    size = widget.size()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(size.width(), size.height()))
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(title)
    generator.setDescription("exported by gradsim")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"could not write {path}")
    try:
        widget.render(painter)
    finally:
        painter.end()
    if not Path(path).exists():
        raise OSError(f"could not write {path}")


def write_csv(path: str | Path, columns: dict[str, Sequence]) -> None:
    """Write engine arrays (never values read back from a plot) as CSV, full precision, atomically.

    The one CSV convention of gradsim (:func:`gradsim.engine.files.format_csv`, shared with the
    command line): a non-finite or missing number is an empty cell. Failures are ``OSError``."""
    try:
        write_text(path, format_csv(columns), "CSV table")
    except InputError as exc:
        raise OSError(str(exc).split(": ", 1)[-1]) from None


def settle_view(chart: pg.GraphicsView | pg.PlotItem) -> None:
    """Apply a chart's new view ranges now rather than at paint time.

    pyqtgraph applies a range change lazily, in ``prepareForPaint`` during the next paint; the items
    it then moves (curves, markers, infinite lines and their labels, a colour bar's axis) mark the
    scene dirty again from inside that paint, so Qt paints the chart a second time. Settling every
    view box of the chart right after its data and ranges are set makes the first paint the only
    one (measured: a control change in the flow scene went from two chart paints to one).
    """
    items = chart.items if isinstance(chart, pg.PlotItem) else chart.scene().items()
    boxes = [chart.getViewBox()] if isinstance(chart, pg.PlotItem) else [i for i in items if isinstance(i, pg.ViewBox)]
    for box in boxes:
        box.prepareForPaint()
    for item in items:
        if isinstance(item, pg.InfiniteLine):
            item.boundingRect()  # recomputed (and its geometry change announced) outside the paint


def reserve_tick_width(chart: Chart | pg.PlotItem, widest: str, side: str = "left") -> None:
    """Give an axis room for its widest possible tick label once, instead of following the labels.

    An axis that sizes itself to its current labels changes width whenever the range crosses into
    wider or narrower labels (``10⁰`` to ``10⁻²⁰``); that relayouts the plot and repaints the whole
    chart a second time for one control change. Call after :func:`style_plot` (it sets the font).
    """
    plot = chart if isinstance(chart, pg.PlotItem) else chart.getPlotItem()
    axis = plot.getAxis(side)
    font = axis.style.get("tickFont") or axis.font()
    width = QFontMetricsF(font).horizontalAdvance(widest) + 4
    axis.setStyle(autoExpandTextSpace=False, tickTextWidth=int(math.ceil(width)))
