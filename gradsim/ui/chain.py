"""The unrolled chain ``h0 -> h1 -> ... -> hT -> L`` with a backward pulse, and the pieces every
scene that draws one beside a time chart shares (flow and gates).

- :class:`BackwardPulse`: the pulse's time control (position from the loss ``T + 1`` down to 1).
- :class:`TimeStrip`: a graphics view whose x axis is a chart's time axis, pixel for pixel: step t
  of the strip sits exactly above step t of the chart, on every resize, theme and range change
  (:meth:`TimeStrip.follow`). A horizontal colour bar on top labels the colours as powers of ten,
  every one or two decades where the width allows.
- :class:`ChainView` (flow): nodes coloured by ``log10 ‖dL/dhₜ‖``; the pulse leaves ``L`` and travels
  to ``h₁``; nodes it has not reached are greyed by a second scatter drawn on top, so an animation
  frame changes two small items, never the brushes of a thousand nodes.
- :class:`LanesView` (gates): one lane per model, each step coloured on one shared scale.
- :class:`ThresholdLabels`: places the threshold lines' labels where no curve runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

from ..engine.thresholds import threshold_text
from ..formatting import subscript
from .plots import colormap, curve_pen, format_power, power_label, style_plot, threshold_line
from .theme import Theme


class BackwardPulse(QObject):
    """Time control of the pulse: position runs from ``T + 1`` (the loss) down to 1.

    ``speed`` is in steps per second; the timer ticks at 60 Hz. ``position_changed`` carries the
    float position, ``node_reached`` the integer step whose node just lit up.
    """

    position_changed = Signal(float)
    node_reached = Signal(int)
    playing_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.steps = 1
        self.position = 1.0  # finished: every node lit, until Play sends a new pulse from L
        self.speed = 10.0
        self._timer = QTimer(self)
        self._timer.setInterval(16)
        self._timer.timeout.connect(self._tick)
        self._last: float | None = None
        self._clock = time.perf_counter

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def rewind(self) -> None:
        self.pause()
        self._set(self.steps + 1.0)

    def seek(self, seconds: float) -> None:
        """Show the pulse as it is ``seconds`` after leaving L at the current speed (paused): the
        frame-by-frame renderer of the recorder uses this instead of the clock."""
        self.pause()
        self._set(max(1.0, self.steps + 1.0 - self.speed * max(0.0, seconds)))

    def duration(self) -> float:
        """Seconds from L to h₁ at the current speed."""
        return self.steps / max(self.speed, 1e-9)

    def play(self) -> None:
        if self.position <= 1.0:
            self._set(self.steps + 1.0)
        self._last = self._clock()
        self._timer.start()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def step(self, direction: int) -> None:
        """Jump to the next node backward (``direction = +1``) or forward in time (``-1``)."""
        self.pause()
        if direction > 0:
            target = math.ceil(self.position) - 1 if self.position > 1 else 1
        else:
            target = math.floor(self.position) + 1
        self._set(float(min(max(target, 1), self.steps + 1)))

    def _tick(self) -> None:
        now = self._clock()
        dt = now - (self._last or now)
        self._last = now
        new = self.position - self.speed * dt
        if new <= 1.0:
            self._set(1.0)
            self.pause()
        else:
            self._set(new)

    def _set(self, position: float) -> None:
        before = math.floor(self.position + 1e-9)
        self.position = position
        self.position_changed.emit(position)
        after = math.floor(position + 1e-9)
        if after != before and position <= self.steps:
            self.node_reached.emit(int(math.ceil(position - 1e-9)))

    def step_at(self, position: float | None = None) -> int:
        """The step whose value the pulse shows: the node it reached last (1..T)."""
        p = self.position if position is None else position
        return int(min(max(math.ceil(p - 1e-9), 1), self.steps))


# ---------------------------------------------------------------------------------------------------
# a time axis shared with a chart


def decade_ticks(lo: float, hi: float, size_px: float, label_px: float) -> list[float]:
    """Whole powers of ten between ``lo`` and ``hi`` (log10 values), as dense as labels
    ``label_px`` wide allow on ``size_px``: every decade, every two, then 5, 10, 20, 50, ..."""
    span = hi - lo
    if not (np.isfinite(span) and span > 0):
        return []
    fits = max(2, int(size_px / max(label_px + 8.0, 1.0)))
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        step = candidate
        if span / candidate <= fits:
            break
    first = math.ceil(lo / step - 1e-9) * step
    return [float(v) for v in np.arange(first, hi + 1e-9, step)]


class TimeStrip(pg.GraphicsLayoutWidget):
    """A caption and a horizontal colour bar (``log10`` values, ticks ``10ⁿ``) above a plot whose x
    axis is a chart's time axis: after :meth:`follow`, every x sits at the same screen column as in
    the chart. Subclasses draw into ``self.plot``."""

    def __init__(self, theme: Theme, caption: str, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.ci.setSpacing(0)
        self.caption = pg.LabelItem(caption, justify="right")
        self.addItem(self.caption, row=0, col=0)
        self.colorbar = pg.ColorBarItem(values=(-6, 0), colorMap=colormap(theme), interactive=False, width=12,
                                        orientation="horizontal")
        axis = self.colorbar.axis
        axis.tickStrings = lambda values, scale, spacing: [power_label(v) for v in values]
        axis.tickValues = self._colorbar_ticks  # whole decades, as dense as the labels allow
        axis.enableAutoSIPrefix(False)
        self.addItem(self.colorbar, row=0, col=1)
        self.plot = self.addPlot(row=1, col=0, colspan=2)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideAxis("bottom")  # the chart below carries the time axis; height goes to the picture
        self.ci.layout.setRowStretchFactor(1, 1)
        self.ci.layout.setColumnStretchFactor(1, 1)
        self._leader: pg.ViewBox | None = None
        self._own_range: tuple[float, float] = (0.0, 1.0)
        self._bar_row = 40
        self._bar_shown = True
        self._picture_height = 100  # what the picture itself needs, below the colour bar
        self.plot.getViewBox().sigResized.connect(self.align)

    # -- colour bar -----------------------------------------------------------------------------------
    def _colorbar_ticks(self, lo: float, hi: float, size: float):
        font = self.colorbar.axis.style.get("tickFont") or self.font()
        metrics = QFontMetricsF(font)
        widest = max(metrics.horizontalAdvance(power_label(v)) for v in (math.floor(lo), math.ceil(hi)))
        return [(1.0, decade_ticks(lo, hi, size, widest))]

    def style_strip(self, theme: Theme) -> None:
        """Colours and sizes of the caption, the colour bar and the plot frame."""
        self.theme = theme
        self.setBackground(theme.background)
        style_plot(self.plot, theme)
        self.plot.showGrid(x=False, y=False)
        self.colorbar.setColorMap(colormap(theme))
        bar = self.colorbar
        bar.layout.setRowFixedHeight(2, max(10, int(theme.small_px * 0.7)))
        for side in ("top", "left", "right", "bottom"):
            bar.getAxis(side).setPen(theme.foreground)
        axis = bar.axis
        axis.setTextPen(theme.foreground)
        axis.setStyle(tickFont=theme.qfont(theme.small_px), tickTextOffset=3)
        axis.setHeight(int(theme.small_px * 1.5) + 6)
        axis.setLabel("")
        # the caption's label would make the row taller than the bar: the row is the bar's height
        self._bar_row = max(10, int(theme.small_px * 0.7)) + int(theme.small_px * 1.5) + 8
        self._show_bar(self._bar_shown)
        self.caption.setText(self.caption.text, color=theme.muted, size=f"{theme.small_px}px")
        caption_width = QFontMetricsF(theme.qfont(theme.small_px)).horizontalAdvance(self.caption.text) + 16
        self.ci.layout.setColumnMinimumWidth(0, caption_width)
        self.ci.layout.setColumnMaximumWidth(0, caption_width)

    def set_levels(self, lo: float, hi: float) -> None:
        self.colorbar.setLevels((lo, hi))

    def set_picture_height(self, pixels: float) -> None:
        """The least height the picture needs; the colour bar above it comes on top when there is room."""
        self._picture_height = int(pixels)
        self.setMinimumHeight(self._picture_height)
        self._show_bar(self.height() >= self._picture_height + self._bar_row)

    def _show_bar(self, shown: bool) -> None:
        """The colour bar's row, or none: on a short screen (a lesson bar below, 800x600) the picture
        keeps its room and the chart below carries the same numbers."""
        self._bar_shown = shown
        placed = self.colorbar.scene() is not None
        if shown and not placed:
            self.addItem(self.caption, row=0, col=0)
            self.addItem(self.colorbar, row=0, col=1)
        elif not shown and placed:  # a hidden item would keep its row: take them out of the layout
            self.removeItem(self.caption)
            self.removeItem(self.colorbar)
        self.ci.layout.setRowFixedHeight(0, self._bar_row if shown else 0)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if not hasattr(self, "_picture_height"):
            return  # pyqtgraph's own constructor resizes before ours has run
        shown = self.height() >= self._picture_height + self._bar_row
        if shown != self._bar_shown:
            self._show_bar(shown)

    # -- the shared time axis ---------------------------------------------------------------------------
    def follow(self, chart_plot: pg.PlotItem) -> None:
        """Keep this strip's x axis on ``chart_plot``'s, pixel for pixel (on its range changes and
        resizes, and this strip's own resizes)."""
        self._leader = chart_plot.getViewBox()
        self._leader.sigXRangeChanged.connect(self.align)
        self._leader.sigResized.connect(self.align)

    def set_own_range(self, x0: float, x1: float) -> None:
        """The x range to show when no chart is followed (or it is not laid out yet)."""
        self._own_range = (x0, x1)
        self.align()

    def align(self, *_args) -> None:
        """Give the strip the x range that puts every x at the chart's screen column for that x."""
        vb = self.plot.getViewBox()
        leader = self._leader
        span = _screen_span(leader) if leader is not None else None
        mine = _screen_span(vb)
        if span is None or mine is None:
            vb.setXRange(*self._own_range, padding=0)
            return
        (x0, x1), (left, right) = leader.viewRange()[0], span
        units_per_px = (x1 - x0) / (right - left)
        start = x0 + (mine[0] - left) * units_per_px
        vb.setXRange(start, start + (mine[1] - mine[0]) * units_per_px, padding=0)

    def screen_x(self, x: float) -> float | None:
        """The global screen column of ``x`` in this strip (tests compare it with the chart's)."""
        return _screen_x(self.plot.getViewBox(), x)


def _screen_span(vb: pg.ViewBox) -> tuple[float, float] | None:
    """The global screen x of a view box's left and right edges, or None before it is laid out."""
    view = vb.getViewWidget()
    if view is None or vb.width() <= 1:
        return None
    rect = vb.sceneBoundingRect()
    port = view.viewport()
    left = port.mapToGlobal(view.mapFromScene(rect.topLeft())).x()
    right = port.mapToGlobal(view.mapFromScene(rect.topRight())).x()
    return (float(left), float(right)) if right - left > 1 else None


def _screen_x(vb: pg.ViewBox, x: float) -> float | None:
    view = vb.getViewWidget()
    if view is None:
        return None
    scene_point = vb.mapViewToScene(QPointF(x, 0.0))
    port = view.viewport()
    view_point = view.mapFromScene(scene_point)
    # mapFromScene rounds to whole pixels: keep the fraction
    frac = scene_point.x() - view.mapToScene(view_point).x()
    return float(port.mapToGlobal(view_point).x()) + frac


def chart_screen_x(chart_plot: pg.PlotItem, x: float) -> float | None:
    """The global screen column of ``x`` in a chart (the counterpart of ``TimeStrip.screen_x``)."""
    return _screen_x(chart_plot.getViewBox(), x)


STRIP_FROM = 150  # more nodes than this are drawn as one image strip (the dots would touch)


class ChainView(TimeStrip):
    """Nodes h0..hT and L, coloured by log10 gradient norm, with the pulse and a colour bar."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(theme, "‖dL/dhₜ‖", parent)
        self.plot.hideAxis("left")
        self.setToolTip("The unrolled network. Each node hₜ is coloured by ‖dL/dhₜ‖ (colour bar above); "
                        "the pulse carries the gradient backward from the loss L to h₁. Step t sits above "
                        "step t of the chart.")
        self.line = pg.PlotCurveItem()
        self.nodes = pg.ScatterPlotItem(pxMode=True)
        self.unlit = pg.ScatterPlotItem(pxMode=True)
        # Above STRIP_FROM nodes the dots touch anyway: one image, stretched, with a grey cover for
        # the steps the pulse has not reached, costs a fraction of a scatter of per-node brushes.
        self.strip = pg.ImageItem(axisOrder="col-major")
        self.strip_cover = QGraphicsRectItem()
        self.strip_cover.setPen(QPen(Qt.PenStyle.NoPen))
        self.strip_cover.setZValue(5)
        self.plot.addItem(self.strip)
        self.plot.addItem(self.strip_cover)
        self.ends = pg.ScatterPlotItem(pxMode=True)
        self.pulse = pg.ScatterPlotItem(pxMode=True)
        self.value_text = pg.TextItem(anchor=(0.5, 0.0))  # under the nodes
        self._value_y = -20.0  # pixels under the line (the view's y axis counts pixels)
        self._strip_height = 12.0
        self.end_labels = [pg.TextItem(anchor=(0.5, 1.0)), pg.TextItem(anchor=(0.5, 1.0))]  # above h0 and L
        for item in (self.line, self.nodes, self.unlit, self.ends, self.pulse, self.value_text, *self.end_labels):
            self.plot.addItem(item)
        # The line and the h0 / L markers change only with T, and the pulse ring only as it moves,
        # yet they lie under every recoloured strip: blitted from a cached pixmap they cost almost
        # nothing (the three markers took 0.5-0.7 ms of each redraw). Qt drops an item's cache
        # whenever the item changes.
        for item in (self.line, self.ends, self.pulse):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._logs = np.zeros(1)
        self._steps = 1
        self._position = 2.0
        self._lut: list = []
        self._layout_steps: int | None = None
        self._node_size = 10.0
        self._pulse_drawn: tuple[float, float] | None = None
        self.plot.getViewBox().sigResized.connect(self._place_texts)
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.style_strip(theme)
        cmap = colormap(theme)
        # 64 shared brushes: the scatter's symbol atlas then renders each colour once, not per node
        lut = cmap.getLookupTable(0.0, 1.0, 64, alpha=True)
        self._lut = [pg.mkBrush(QColor(*map(int, c))) for c in lut]
        self._lut_rgba = np.asarray(lut, dtype=np.ubyte)
        self.strip_cover.setBrush(QBrush(QColor(theme.unlit)))
        self._node_pen = pg.mkPen(theme.foreground, width=1)
        self._unlit_brush = pg.mkBrush(theme.unlit)
        self._pulse_pen = pg.mkPen(theme.highlight, width=theme.line_width)
        self._clear_brush = pg.mkBrush(0, 0, 0, 0)
        self._layout_steps = None  # force the static parts to be redrawn in the new colours
        self._pulse_drawn = None
        self.line.setPen(pg.mkPen(theme.muted, width=max(1, theme.line_width / 2)))
        font = theme.qfont(theme.font_px)
        for label in (*self.end_labels, self.value_text):
            label.setColor(theme.foreground)
            label.setFont(font)
            label.textItem.document().setDocumentMargin(1)
        # room for the colour bar, the h0 / L labels above the nodes and the pulse's value below them
        text = self.value_text.textItem.boundingRect().height() or 1.3 * theme.font_px
        self.set_picture_height(2 * text + 2.2 * theme.marker_size + 16)
        if self._logs.size:
            self.set_values(self._logs)

    def set_values(self, log10_norm: np.ndarray) -> None:
        """Colour nodes h_1..h_T by their log10 norm (exact zeros shown at the bottom of the scale)."""
        logs = np.asarray(log10_norm, dtype=np.float64)
        self._logs = logs
        steps = logs.size
        self._steps = steps
        finite = logs[np.isfinite(logs)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        self.set_levels(lo, hi)
        clean = np.where(np.isfinite(logs), logs, lo)
        index = np.clip(((clean - lo) / (hi - lo) * 63).astype(int), 0, 63)
        if self.strip_mode:
            self.strip.setImage(self._lut_rgba[index][:, None, :], autoLevels=False)
            self.strip.setRect(QRectF(0.5, -self._strip_height / 2, float(steps), self._strip_height))
            if self._layout_steps != steps:
                self.nodes.setData(x=np.zeros(0), y=np.zeros(0))
        elif self._layout_steps == steps:
            # same nodes, new colours: keeps the scatter's symbol atlas (a full setData rebuilds it)
            self.nodes.setBrush([self._lut[i] for i in index])
        else:
            self._node_size = self._size_for(steps)
            x = np.arange(1, steps + 1, dtype=np.float64)
            self.nodes.setData(x=x, y=np.zeros(steps), brush=[self._lut[i] for i in index], size=self._node_size,
                               pen=self._node_pen)
        self.strip.setVisible(self.strip_mode)
        self.strip_cover.setVisible(self.strip_mode)
        # an empty scatter still costs 0.1-0.3 ms per paint: hidden while the strip stands in
        self.nodes.setVisible(not self.strip_mode)
        self.unlit.setVisible(not self.strip_mode)
        if self._layout_steps != steps:  # the static parts change only with the length
            self._layout_steps = steps
            self._node_size = self._size_for(steps)
            self.ends.setData(x=[0.0, steps + 1.0], y=[0.0, 0.0], size=self._node_size * 1.2,
                              brush=[self._unlit_brush, pg.mkBrush(self.theme.highlight)],
                              symbol=["o", "s"], pen=self._node_pen)
            self.line.setData(x=np.array([0.0, steps + 1.0]), y=np.zeros(2))
            self.end_labels[0].setText("h₀")
            self.end_labels[0].setPos(0, 0)
            self.end_labels[1].setText("L")
            self.end_labels[1].setPos(steps + 1, 0)
            pad = max(0.6, (steps + 1) * 0.03)
            self.set_own_range(-pad, steps + 1 + pad)
            self._place_texts()

    def _size_for(self, steps: int) -> float:
        """Node diameter: most of the room one step gets on screen, within the theme's marker sizes
        and small enough that the labels above and the value below keep their room. In half pixels:
        the nodes are redrawn only when that changes, and their size depends on the final geometry
        alone, not on the sizes the window passed through (a screenshot is the same on every run)."""
        vb = self.plot.getViewBox()
        (x0, x1) = vb.viewRange()[0]
        width = vb.width() if vb.width() > 50 else 900.0
        per_step = width / max(x1 - x0, steps + 2, 1)
        height_cap = vb.height() * 0.2 if vb.height() > 50 else 30.0
        return round(2 * float(np.clip(min(0.8 * per_step, height_cap), 4, 2.4 * self.theme.marker_size))) / 2

    def _place_texts(self, *_args) -> None:
        """h₀ and L above their markers, the pulse's value below its ring. The y axis counts pixels
        (0 is the chain's line), so the texts keep their distances whatever the view's height."""
        vb = self.plot.getViewBox()
        height = vb.height()
        if height <= 1:
            return
        size = self._size_for(self._steps)
        if size != self._node_size and self._layout_steps is not None:
            self._layout_steps = None  # the room per step changed: redraw the nodes at the new size
            self.set_values(self._logs)
            self.set_pulse(self._position)
            return
        text_height = self.value_text.textItem.boundingRect().height()
        # a long chain is one image strip: as thick as a row of large nodes would be
        self._strip_height = min(0.3 * height, 2.0 * self.theme.marker_size) if self.strip_mode else 0.6 * size
        ring = self._ring_size()
        mark = max(0.6 * size, self._strip_height / 2)
        top = text_height + mark + 2  # room above the line (h₀ and L)
        bottom = ring / 2 + 2 + text_height  # room below it (the ring and the value)
        line = top + max(0.0, height - top - bottom) / 2
        self.plot.setYRange(line - height, line, padding=0)
        for label in self.end_labels:
            label.setPos(label.pos().x(), mark + 2)
        self._value_y = -(ring / 2 + 2)
        self.value_text.setPos(self.value_text.pos().x(), self._value_y)
        self.strip.setRect(QRectF(0.5, -self._strip_height / 2, float(self._steps), self._strip_height))
        self.strip_cover.setRect(QRectF(0.5, -self._strip_height / 2, float(self.unlit_steps), self._strip_height))
        ends = max(1.2 * size, self._strip_height) if self.strip_mode else 1.2 * size
        if self.ends.data.size and abs(float(self.ends.data["size"][0]) - ends) > 0.5:
            self.ends.setSize(ends)
        self._place_value_text()

    def _ring_size(self) -> float:
        """The pulse ring's diameter: around a node, or across the strip."""
        return max(1.9 * self._node_size, 1.4 * self._strip_height) if self.strip_mode else 1.9 * self._node_size

    @property
    def strip_mode(self) -> bool:
        """Whether the nodes are drawn as one image strip (more than STRIP_FROM of them)."""
        return self._steps > STRIP_FROM

    @property
    def unlit_steps(self) -> int:
        """How many nodes the pulse has not reached: h_1 .. h_unlit_steps are grey."""
        return int(min(max(math.ceil(self._position - 1e-9) - 1, 0), self._steps))

    def set_pulse(self, position: float) -> None:
        """Grey the nodes the pulse has not reached (t < position) and move the pulse marker."""
        steps = self._steps
        self._position = position
        reached_from = math.ceil(position - 1e-9)  # nodes t >= this are lit
        if self.strip_mode:
            self.strip_cover.setRect(QRectF(0.5, -self._strip_height / 2, float(self.unlit_steps), self._strip_height))
            if self.unlit.data.size:
                self.unlit.setData(x=np.zeros(0), y=np.zeros(0))
        else:
            grey = np.arange(1, min(reached_from, steps + 1), dtype=np.float64)
            self.unlit.setData(x=grey, y=np.zeros(grey.size), size=self._node_size,
                               brush=self._unlit_brush, pen=self._node_pen)
        pulse = (position, self._ring_size())
        if pulse != self._pulse_drawn:  # a new result leaves the pulse where it was
            self._pulse_drawn = pulse
            self.pulse.setData(x=[position], y=[0.0], size=pulse[1], symbol="o", brush=self._clear_brush,
                               pen=self._pulse_pen)
        t = int(min(max(reached_from, 1), steps))
        if position <= steps and self._logs.size >= t:
            text = f"‖dL/dh{subscript(t)}‖ = {format_power(float(self._logs[t - 1]))}"
            x = float(t)
        else:
            text = f"the gradient starts at L = Σ h{subscript(steps)}"
            x = float(steps + 1)
        if text != self.value_text.toPlainText():
            self.value_text.setText(text)
        self.value_text.setPos(x, self._value_y)
        self._place_value_text()

    def _place_value_text(self, *_args) -> None:
        """Centre the value under its node when it fits, else let it run toward the middle: it is
        never cut at either end of the chain."""
        vb = self.plot.getViewBox()
        if vb.width() <= 1:
            return
        width = self.value_text.textItem.boundingRect().width()
        x = self.value_text.pos().x()
        left_px, right_px = vb.mapViewToScene(QPointF(x, 0)).x(), vb.sceneBoundingRect()
        lo, hi = right_px.left() + 2, right_px.right() - 2
        if left_px - width / 2 >= lo and left_px + width / 2 <= hi:
            anchor = (0.5, 0.0)
        elif left_px + width / 2 > hi:
            anchor = (1.0, 0.0)
        else:
            anchor = (0.0, 0.0)
        if tuple(self.value_text.anchor) != anchor:
            self.value_text.setAnchor(anchor)


class LanesView(TimeStrip):
    """The unrolled chains of several models as lanes of steps ``t = 1..T``, each step coloured by
    its log10 gradient norm on one shared scale (so colours compare across lanes), with the backward
    pulse as a ring on every lane and a grey cover over the steps it has not reached yet.

    The lanes are one image (one pixel per step and lane, stretched), so a thousand steps cost no
    more to redraw than ten; the pulse moves two small items, never the image.
    """

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(theme, "gradient", parent)
        self.setToolTip("Each lane is one model unrolled in time; step t is coloured by the gradient norm there "
                        "(colour bar, shared by all lanes) and sits above step t of the chart. The rings carry "
                        "the gradient backward from the loss; grey steps have not been reached yet.")
        self.image = pg.ImageItem(axisOrder="col-major")
        self.separators = pg.PlotCurveItem(connect="pairs")
        self.unlit = QGraphicsRectItem()
        self.unlit.setPen(QPen(Qt.PenStyle.NoPen))
        self.unlit.setZValue(5)
        self.pulse = pg.ScatterPlotItem(pxMode=True)
        self.pulse.setZValue(10)
        # the values at the pulse's step, in a line above the lanes (one item: a new text each
        # animation frame repaints it alone)
        self.readout = pg.TextItem(anchor=(0, 0))
        self.readout.setZValue(20)
        for item in (self.image, self.separators, self.unlit, self.pulse):
            self.plot.addItem(item)
        self.plot.addItem(self.readout, ignoreBounds=True)
        self.plot.getViewBox().sigResized.connect(self._place_readout)
        self.plot.getViewBox().sigXRangeChanged.connect(self._place_readout)
        self.labels: list[str] = []
        self.logs: list[np.ndarray] = []
        self.plot.getAxis("left").setTicks([[], []])  # no lanes, no labels (before the first result)
        self.levels = (-1.0, 0.0)
        self.steps = 1
        self.position = 1.0
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.style_strip(theme)
        self.image.setColorMap(colormap(theme))
        self.readout.setFont(theme.qfont(theme.font_px))
        self.readout.setColor(theme.foreground)
        self.readout.textItem.document().setDocumentMargin(1)
        lanes = max(len(self.logs), 4)
        # every lane as tall as its label, the readout's line and the colour bar's row
        self.set_picture_height(lanes * 1.2 * theme.small_px + 1.4 * theme.font_px + 12)
        self.separators.setPen(pg.mkPen(theme.background, width=max(2.0, theme.line_width)))
        self.unlit.setBrush(QBrush(QColor(theme.unlit)))
        if self.logs:
            self.set_lanes(self.labels, self.logs)

    def set_lanes(self, labels: Sequence[str], logs: Sequence[np.ndarray]) -> None:
        """One lane per label, top to bottom; ``logs[k]`` is lane k's log10 norm for t = 1..T
        (exact zeros, ``-inf``, take the bottom colour of the scale)."""
        self.labels, self.logs = list(labels), [np.asarray(v, dtype=np.float64) for v in logs]
        steps, lanes = self.logs[0].size, len(self.logs)
        self.steps = steps
        finite = np.concatenate([v[np.isfinite(v)] for v in self.logs])
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        self.levels = (lo, hi)
        self.set_levels(lo, hi)
        grid = np.empty((steps, lanes))
        for k, values in enumerate(self.logs):
            grid[:, lanes - 1 - k] = np.where(np.isfinite(values), values, lo)  # lane 0 on top
        self.image.setImage(grid, levels=(lo, hi), autoLevels=False)
        self.image.setRect(QRectF(0.5, -0.5, float(steps), float(lanes)))
        gaps = np.arange(0.5, lanes - 1, 1.0)
        self.separators.setData(np.tile([0.5, steps + 0.5], gaps.size), np.repeat(gaps, 2))
        left = self.plot.getAxis("left")
        left.setTicks([[(float(lanes - 1 - k), label) for k, label in enumerate(self.labels)], []])
        self._place_readout()
        pad = max(0.6, steps * 0.02)
        self.set_own_range(-pad, steps + 1 + pad)
        self.set_pulse(self.position)

    def set_readout(self, html: str) -> None:
        """The line above the lanes (the values at the pulse's step)."""
        if html != getattr(self, "_readout_html", None):
            self._readout_html = html
            self.readout.setHtml(html)

    def readout_text(self) -> str:
        return self.readout.toPlainText()

    def _place_readout(self, *_args) -> None:
        """The lanes take the view's height less one line of text at the top, where the readout sits."""
        vb = self.plot.getViewBox()
        lanes = max(len(self.logs), 1)
        height = vb.height()
        line = self.readout.textItem.boundingRect().height() + 4
        span = lanes + 0.2
        extra = line * span / max(height - line, 1.0) if height > line + 10 else 1.0
        top = lanes - 0.4 + extra
        if vb.viewRange()[1] != [-0.6, top]:
            vb.setYRange(-0.6, top, padding=0)
        self.readout.setPos(vb.viewRange()[0][0], top)
        if vb.width() > 1:  # 4 px in from the left edge
            x0, x1 = vb.viewRange()[0]
            self.readout.setPos(x0 + 4 * (x1 - x0) / vb.width(), top)

    @property
    def unlit_steps(self) -> int:
        """How many steps (per lane) the pulse has not reached: t = 1 .. unlit_steps are grey."""
        return int(min(max(math.ceil(self.position - 1e-9) - 1, 0), self.steps))

    def set_pulse(self, position: float) -> None:
        """Cover the steps not reached yet (t < position) on every lane and draw a ring per lane."""
        self.position = position
        lanes = max(len(self.logs), 1)
        self.unlit.setRect(QRectF(0.5, -0.5, float(self.unlit_steps), float(lanes)))
        x = min(position, self.steps + 0.5)
        size = max(10.0, 1.6 * self.theme.marker_size)
        self.pulse.setData(x=np.full(lanes, x), y=np.arange(lanes, dtype=np.float64), size=size,
                           brush=pg.mkBrush(0, 0, 0, 0), pen=pg.mkPen(self.theme.highlight, width=self.theme.line_width))


# ---------------------------------------------------------------------------------------------------
# threshold labels that never sit on a curve


class ThresholdLabels:
    """Places the labels of a chart's two threshold lines where no curve runs.

    The exploding threshold's label goes just above its line and the vanishing one's just below
    its line, so the two never overlap and never cross the other line; the chart keeps room for them
    (:meth:`headroom`). Along the line, each goes to the end (right or left) where no curve passes
    through the label's box. When neither end is free the label is hidden and :attr:`in_legend`
    names it, for the legend to carry it instead.

    With a ``cursor`` (the pulse's vertical line) a label also keeps clear of it: of the free ends
    it takes one the cursor does not cross; where the cursor crosses every free end (at rest on
    t = 1, with the curves taking the other end) it stands just beside the cursor, if that place is
    free; :meth:`follow_cursor` moves it to another free place when the cursor comes onto it (a label
    never hides in the legend because of the cursor).
    """

    CURSOR_CLEARANCE_PX = 6

    def __init__(self, chart_plot: pg.PlotItem, vanish_line: pg.InfiniteLine, explode_line: pg.InfiniteLine,
                 cursor: pg.InfiniteLine | None = None) -> None:
        self.plot = chart_plot
        self.lines = {"vanish": vanish_line, "explode": explode_line}
        self.cursor = cursor
        self.in_legend: set[str] = set()
        self._spans: dict[str, dict[str, tuple[float, float]]] = {}  # label -> curve-free end -> x span
        self._ends: dict[str, str] = {}  # label -> the end it sits at
        self._margin = 0.0  # the cursor clearance in x units

    def label_height_px(self) -> float:
        return max(line.label.textItem.boundingRect().height() for line in self.lines.values())

    def headroom(self, span: float, height_px: float) -> float:
        """Room (in y units) to leave beyond a threshold line for its label, for a y range of
        ``span`` units (data and thresholds) on a plot ``height_px`` high."""
        k = (self.label_height_px() + 6) / max(height_px, 1.0)
        k = min(k, 0.3)
        return max(0.8, k * span / (1 - 2 * k))

    def place(self, curves: Callable[[], list[tuple[np.ndarray, np.ndarray]]], decide_legend: bool) -> None:
        """Put each label at a free end; ``curves()`` gives the drawn (x, y) arrays.

        ``decide_legend`` (on a new result or new thresholds) may move a label into the legend or
        back; a re-placement after a resize only moves labels, so a legend that changes the chart's
        height cannot make the labels flip back and forth.
        """
        vb = self.plot.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        if vb.width() <= 1 or vb.height() <= 1:
            return
        px, py = (x1 - x0) / vb.width(), (y1 - y0) / vb.height()  # units per pixel
        self._margin = self.CURSOR_CLEARANCE_PX * px
        drawn = [(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)) for x, y in curves()]
        self._spans, self._ends = {}, {}
        for name, line in self.lines.items():
            label = line.label
            box = label.textItem.boundingRect()
            width, height = (box.width() + 8) * px, (box.height() + 2) * py
            value = line.value()
            above = name == "explode"
            lo, hi = (value, value + height) if above else (value - height, value)
            free = {}
            for end in ("right", "left"):
                a, b = (x1 - width, x1) if end == "right" else (x0, x0 + width)
                if lo >= y0 and hi <= y1 and not _any_curve_in(drawn, a, b, lo, hi):
                    free[end] = (a, b)
            if free and all(self._cursor_on(span) for span in free.values()):
                c, gap = self.cursor.value(), 1.5 * self._margin  # beyond the clearance, rounding included
                for end, (a, b) in (("after cursor", (c + gap, c + gap + width)),
                                    ("before cursor", (c - gap - width, c - gap))):
                    if x0 <= a and b <= x1 and not _any_curve_in(drawn, a, b, lo, hi):
                        free[end] = (a, b)
            self._spans[name] = free
            spot = next((end for end in free if not self._cursor_on(free[end])), next(iter(free), None))
            if decide_legend:
                self.in_legend.discard(name)
                if spot is None:
                    self.in_legend.add(name)
            if spot is None and name not in self.in_legend:
                spot = "right"  # a resize took its room: keep it in the plot until the next result
            label.setVisible(name not in self.in_legend)
            if spot is not None:
                self._put(name, spot)

    def follow_cursor(self) -> None:
        """The cursor moved: a label it now crosses goes to its other free end, if the cursor is clear
        of that one (nothing is computed from the curves: cheap enough for every animation frame)."""
        for name, end in list(self._ends.items()):
            spans = self._spans.get(name, {})
            if end not in spans or not self._cursor_on(spans[end]):
                continue
            other = next((e for e in spans if e != end and not self._cursor_on(spans[e])), None)
            if other is not None:
                self._put(name, other)

    def _cursor_on(self, span: tuple[float, float]) -> bool:
        if self.cursor is None or not self.cursor.isVisible():
            return False
        x = self.cursor.value()
        return span[0] - self._margin <= x <= span[1] + self._margin

    def _put(self, name: str, end: str) -> None:
        self._ends[name] = end
        label = self.lines[name].label
        right_aligned = end in ("right", "before cursor")
        anchor = (1.0 if right_aligned else 0.0, 1.0 if name == "explode" else 0.0)
        if end in ("right", "left"):
            label.setPosition(0.985 if end == "right" else 0.015)
        else:  # beside the cursor: the label's edge on its span's edge, on the cursor's side
            (x0, x1), _ = self.plot.getViewBox().viewRange()
            a, b = self._spans[name][end]
            label.setPosition(((b if right_aligned else a) - x0) / (x1 - x0))
        label.anchors = [anchor, anchor]
        label.updatePosition()


class ThresholdPair:
    """The vanishing and exploding lines of a log10 chart of gradient norms (flow, gates and the
    additive comparison share it): drawn over the curves without widening the range, named where no
    curve (nor the ``cursor``) runs, carried by the legend where no place is free, restyled with the
    theme and relabelled only when the thresholds change (a label's new text costs a second paint)."""

    def __init__(self, chart, theme: Theme, explode_below: bool = False,
                 cursor: pg.InfiniteLine | None = None) -> None:
        self.chart = chart
        item = chart.getPlotItem()
        self.vanish_line = threshold_line(theme, theme.vanish, "vanishing threshold")
        self.explode_line = threshold_line(theme, theme.explode, "exploding threshold", below=explode_below)
        self.labels = ThresholdLabels(item, self.vanish_line, self.explode_line, cursor)
        self.proxies = {"vanish": pg.PlotDataItem(), "explode": pg.PlotDataItem()}  # legend entries, never drawn
        self.values: tuple[float, float] | None = None  # the thresholds drawn
        for line in self.lines:
            item.addItem(line, ignoreBounds=True)

    @property
    def lines(self) -> tuple[pg.InfiniteLine, pg.InfiniteLine]:
        return self.vanish_line, self.explode_line

    def apply_theme(self, theme: Theme) -> None:
        for name, line, colour in (("vanish", self.vanish_line, theme.vanish),
                                   ("explode", self.explode_line, theme.explode)):
            pen = curve_pen(colour, theme, Qt.PenStyle.DashLine, 0.75)
            line.setPen(pen)
            self.proxies[name].setPen(pen)
            line.label.setColor(colour)
            line.label.setFont(theme.qfont(theme.small_px))

    def set_values(self, vanish: float, explode: float) -> None:
        """Show these thresholds (the lines become visible with the first result)."""
        for line in self.lines:
            line.setVisible(True)
        if (vanish, explode) == self.values:
            return
        self.values = (vanish, explode)
        self.vanish_line.setValue(math.log10(vanish))
        self.explode_line.setValue(math.log10(explode))
        self.vanish_line.label.setFormat(f"vanishing threshold {threshold_text(vanish)}")
        self.explode_line.label.setFormat(f"exploding threshold {threshold_text(explode)}")

    def y_span(self, lo_data: float, hi_data: float, zero_floor: float | None = None) -> tuple[float, float]:
        """The y range the data and both lines need; ``zero_floor`` where exact zeros are drawn."""
        vanish, explode = self.values
        lo = min(lo_data, math.log10(vanish)) if zero_floor is None else zero_floor - 0.5
        return lo, max(hi_data, math.log10(explode))

    def frame(self, x_last: float, y_span: tuple[float, float],
              curves: Callable[[], list[tuple[np.ndarray, np.ndarray]]], decide_legend: bool) -> None:
        """x from 0 to ``x_last`` (padded), y with room beyond each line for its label; the labels placed."""
        item = self.chart.getPlotItem()
        lo, hi = y_span
        height = item.getViewBox().height()
        head = self.labels.headroom(hi - lo, height if height > 50 else 300.0)
        pad = max(0.5, 0.015 * x_last)
        item.setRange(xRange=(-pad, x_last + pad), yRange=(lo - head, hi + head), padding=0)
        self.labels.place(curves, decide_legend)

    def legend_entries(self) -> list:
        """The legend's entries for the lines whose labels found no free place."""
        vanish, explode = self.values
        return [(self.proxies[name], f"{word} threshold {threshold_text(value)}")
                for name, word, value in (("vanish", "vanishing", vanish), ("explode", "exploding", explode))
                if name in self.labels.in_legend]


def set_marks(marks: pg.ScatterPlotItem, x: np.ndarray, y: np.ndarray, size: float) -> None:
    """Show these markers, or none. Most results have none, and a scatter that stays empty is
    left alone (an empty ``setData`` still costs a tenth of a millisecond per marker kind)."""
    if x.size or marks.data.size:
        marks.setData(x=x, y=y, size=size)
    marks.setVisible(bool(x.size))


def stretch_ends(outside: np.ndarray) -> np.ndarray:
    """The last step of every stretch of marked steps (t ascending): where a curve, followed from the
    loss backwards, leaves the float64 range. One marker per stretch: at T = 1000 a marker on every
    step beyond the range merged into a thick band over the curve it marks."""
    outside = np.asarray(outside, dtype=bool)
    return outside & ~np.concatenate((outside[1:], [False]))


def log_bounds(logs: Sequence[np.ndarray], vanish: float) -> tuple[float, float, float]:
    """The lowest and highest finite log10 value of the curves (-1 and 1 when none is finite), and
    the floor where exact zeros are drawn: a decade below the lower of the lowest and the vanishing
    threshold."""
    finite = np.concatenate([v[np.isfinite(v)] for v in logs])
    lo = float(finite.min()) if finite.size else -1.0
    hi = float(finite.max()) if finite.size else 1.0
    return lo, hi, min(lo, math.log10(vanish)) - 1.0


def show_legend(chart, entries: list, theme: Theme, columns: int, shown_key, restyle: Callable[[], None]):
    """Show these ``(item, label)`` entries unless the legend shows them already in this theme's type
    (rebuilding a legend relayouts the chart and costs more than its curves); returns the key to
    pass as ``shown_key`` next time. ``restyle`` styles the chart again after a rebuild."""
    key = (tuple(label for _item, label in entries), theme.name, theme.small_px)
    if key != shown_key:
        chart.set_legend(entries)
        restyle()
        fit_legend(chart, columns)
    return key


def _any_curve_in(curves: list[tuple[np.ndarray, np.ndarray]], a: float, b: float, lo: float, hi: float) -> bool:
    """Whether any curve (or marker) passes through the box [a, b] x [lo, hi] (a segment that crosses
    the box between two samples counts)."""
    for x, y in curves:
        if x.size == 0:
            continue
        inside = np.nonzero((x >= a) & (x <= b))[0]
        first = max(int(inside[0]) - 1, 0) if inside.size else int(np.searchsorted(x, a)) - 1
        last = min(int(inside[-1]) + 1, x.size - 1) if inside.size else first + 1
        first, last = max(first, 0), min(last, x.size - 1)
        seg = y[first:last + 1]
        seg = seg[np.isfinite(seg)]
        if seg.size and seg.min() <= hi and seg.max() >= lo:
            return True
    return False


__all__ = ["BackwardPulse", "ChainView", "LanesView", "ThresholdLabels", "ThresholdPair", "TimeStrip", "decade_ticks",
           "log_bounds", "power_label", "set_marks", "show_legend", "stretch_ends"]


def fit_legend(chart, most: int) -> None:
    """Give a chart's legend (``plots.Chart``) as many columns as fit its width, at most ``most``:
    a legend wider than its view widens the chart's layout and pushes the plot off the right edge."""
    legend = chart.legend
    items = list(legend.items)
    if not items:
        return
    available = chart.viewport().width() - 16
    widths = [sample.boundingRect().width() + label.item.boundingRect().width() + 12 for sample, label in items]
    columns = 1
    for n in range(min(most, len(items)), 0, -1):
        need = sum(max(widths[c::n]) for c in range(n)) + 10 * (n - 1)
        if need <= available:
            columns = n
            break
    if columns != legend.columnCount:
        legend.setColumnCount(columns)
        chart.centralWidget.setGeometry(chart.range)  # fit the layout to the view again (plots.Chart)
