"""What each chart item of the lab shows, so a live redraw hands a chart only what changed.

A curve given the same data, a range or a threshold line set to what it already shows, a title or
a legend rebuilt unchanged: each still makes pyqtgraph regenerate ticks, relayout or repaint, and
measured, those were most of a live frame. :class:`Shown` remembers, per item, a key for what it
was last given (a trace's serial and length, a range and the view's size, a label's text) in one
dictionary of its own, instead of private attributes hung on pyqtgraph's objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel

from ..plots import style_plot

_EMPTY = np.array([], dtype=np.float64)


class Shown:
    """Per chart item, the key of what it shows now (items live as long as the view holding this)."""

    def __init__(self) -> None:
        self._keys: dict[int, tuple[Any, Any]] = {}  # id(item) -> (item, key): the item is kept alive

    def fresh(self, item: Any, key: Any) -> bool:
        """True, and remember ``key``, when ``item`` does not show ``key`` yet."""
        held = self._keys.get(id(item))
        if held is not None and held[0] is item and held[1] == key:
            return False
        self._keys[id(item)] = (item, key)
        return True

    def forget(self, item: Any) -> None:
        self._keys.pop(id(item), None)

    # -- the setters the views use ------------------------------------------------------------------
    def curve(self, curve: pg.PlotDataItem, x: np.ndarray | None, y: np.ndarray | None, key: Any) -> None:
        """``setData`` unless the curve shows what ``key`` names (a trace's serial and its length;
        None for empty): unchanged data would still be reprocessed and repainted."""
        if self.fresh(curve, key):
            curve.setData(_EMPTY if x is None else x, _EMPTY if y is None else y)

    def clear(self, *curves: pg.PlotDataItem) -> None:
        """Empty these curves (a model not on show), unless they are empty already."""
        for curve in curves:
            self.curve(curve, None, None, None)

    def scatter(self, scatter: pg.ScatterPlotItem, points: np.ndarray | None, size: float) -> None:
        """Eigenvalues as points, set again only when the array or the marker size changed (the key
        holds the array itself, so its identity cannot be reused by another)."""
        held = self._keys.get(id(scatter))
        if held is not None and held[1][0] is points and held[1][1] == size:
            return
        self._keys[id(scatter)] = (scatter, (points, size))
        if points is None:
            scatter.setData(x=_EMPTY, y=_EMPTY)
        else:
            scatter.setData(x=points.real.astype(np.float64), y=points.imag.astype(np.float64), size=size)

    def view_range(self, plot: pg.PlotItem, x: tuple | None = None, y: tuple | None = None,
                   x_padding: float = 0.0, y_padding: float = 0.0) -> None:
        """Set a view range unless it is what was set here last and the view was neither moved
        (a drag or zoom with the mouse) nor resized since: an unchanged range still regenerated
        ticks and relaid out. The view's size is part of the key because an aspect-locked view (the
        eigenvalues) fits its range to its shape."""
        box = plot.getViewBox()
        key = (x, y, x_padding, y_padding, box.width(), box.height())
        current = [list(r) for r in box.state["targetRange"]]
        held = self._keys.get(id(box))
        if held is not None and held[1] == (key, current):
            return
        if x is not None and y is not None and x_padding == y_padding:
            plot.setRange(xRange=x, yRange=y, padding=x_padding)
        else:
            if x is not None:
                plot.setXRange(*x, padding=x_padding)
            if y is not None:
                plot.setYRange(*y, padding=y_padding)
        self._keys[id(box)] = (box, (key, [list(r) for r in box.state["targetRange"]]))

    def line(self, line: pg.InfiniteLine, value: float, text: str) -> None:
        """Move a threshold line and relabel it only when its value or text changed."""
        if self.fresh(line, (value, text)):
            line.setValue(value)
            line.label.setFormat(text)

    def legend(self, chart, entries: list, theme) -> None:
        """A legend row with exactly these entries, rebuilt (and restyled) only when they change;
        hidden when there are none, so no empty box is drawn."""
        if self.fresh(chart.legend, (theme, tuple((id(item), label) for item, label in entries))):
            chart.set_legend(entries)
            chart.legend.setVisible(bool(entries))
            style_plot(chart, theme)

    def title(self, plot: pg.PlotItem, text: str, colour: str, px: int) -> None:
        if self.fresh(plot.titleLabel, (text, colour, px)):
            plot.setTitle(text, color=colour, size=f"{px}px")


def set_label(label: QLabel, text: str, tip: str | None = None) -> None:
    """Rich text is parsed and laid out again on every ``setText``: only when it changed."""
    if label.text() != text:
        label.setText(text)
    if tip is not None and label.toolTip() != tip:
        label.setToolTip(tip)


def blend(colour: str, background: str, alpha: float) -> QColor:
    """``colour`` at ``alpha`` over ``background``, as one opaque colour. A wide pen with alpha is
    blended pixel by pixel in Qt's raster engine: the faint gradient-norm curves with it took
    60 ms per paint in projector mode at 1920x1080; opaque, the same look costs a few ms."""
    a, b = QColor(colour), QColor(background)
    return QColor.fromRgbF(alpha * a.redF() + (1 - alpha) * b.redF(), alpha * a.greenF() + (1 - alpha) * b.greenF(),
                           alpha * a.blueF() + (1 - alpha) * b.blueF())


def live_curve() -> pg.PlotDataItem:
    """A curve redrawn many times a second: no antialiasing (thick antialiased pens are the slow path
    of Qt's raster engine), clipped to the view and peak-downsampled to the pixels it covers."""
    curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True, antialias=False)
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    return curve
