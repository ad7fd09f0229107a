"""The unrolled chain ``h0 -> h1 -> ... -> hT -> L`` with a backward pulse, reusable by any scene.

Nodes are coloured by ``log10 ||dL/dh_t||`` (colour bar beside them). The pulse leaves ``L`` and
travels to ``h1``; nodes it has not reached yet are greyed by a second scatter drawn on top, so each
animation frame changes two small items, never the brushes of a thousand nodes.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

from .plots import colormap, format_power, power_label  # noqa: F401
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
        self._elapsed = QTimer()
        self._last_ms: float | None = None
        import time

        self._clock = time.perf_counter

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_steps(self, steps: int) -> None:
        self.steps = max(1, int(steps))
        self.rewind()

    def rewind(self) -> None:
        self.pause()
        self._set(self.steps + 1.0)

    def finish(self) -> None:
        self.pause()
        self._set(1.0)

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
        self._last_ms = self._clock()
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
        dt = now - (self._last_ms or now)
        self._last_ms = now
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


STRIP_FROM = 150  # more nodes than this are drawn as one image strip (the dots would touch)
STRIP_HEIGHT = 0.3  # the strip's height in the view's units (its y range is -1.6 .. 1.4)


class ChainView(pg.GraphicsLayoutWidget):
    """Nodes h0..hT and L, coloured by log10 gradient norm, with the pulse and a colour bar."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.plot = self.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")  # the chart below carries the time axis; height goes to the nodes
        self.setToolTip("The unrolled network. Each node h_t is coloured by ‖dL/dh_t‖; "
                        "the pulse carries the gradient backward from the loss L to h₁.")
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
        self.value_text = pg.TextItem(anchor=(0.5, -0.3))  # under the nodes
        self.end_labels = [pg.TextItem(anchor=(0.5, 1.3)), pg.TextItem(anchor=(0.5, 1.3))]  # above h0 and L
        for item in (self.line, self.nodes, self.unlit, self.ends, self.pulse, self.value_text, *self.end_labels):
            self.plot.addItem(item)
        # The line and the h0 / L markers change only with T, and the pulse ring only as it moves,
        # yet they lie under every recoloured strip: blitted from a cached pixmap they cost almost
        # nothing (the three markers took 0.5-0.7 ms of each redraw). Qt drops an item's cache
        # whenever the item changes.
        for item in (self.line, self.ends, self.pulse):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.colorbar = pg.ColorBarItem(values=(-6, 0), colorMap=colormap(theme), interactive=False, width=18)
        # the bar's values are log10 norms: label its ticks as powers of ten
        axis = self.colorbar.axis
        axis.tickStrings = lambda values, scale, spacing: [power_label(v) for v in values]
        axis.enableAutoSIPrefix(False)  # no units: only saves re-typesetting an empty title
        # The bar's range moves with every result, so its ticks are generated on every redraw. Labels
        # never fit at the finest of pyqtgraph's three tick levels on a bar this short (the fill
        # limits stop before it): not measuring them spares a third of that work, same picture.
        axis.setStyle(maxTextLevel=1)
        self.addItem(self.colorbar, row=0, col=1)
        self._logs = np.zeros(1)
        self._steps = 1
        self._position = 2.0
        self._lut: list = []
        self._layout_steps: int | None = None
        self.setMinimumHeight(150)
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        from .plots import style_plot

        style_plot(self.plot, theme)
        self.plot.showGrid(x=False, y=False)
        cmap = colormap(theme)
        self.colorbar.setColorMap(cmap)
        axis = self.colorbar.axis
        axis.setTextPen(theme.foreground)
        axis.setPen(theme.foreground)
        axis.setStyle(tickFont=theme.qfont(theme.small_px))
        axis.setLabel("")  # the chain's title names the colour; a rotated label would collide with ticks
        self.plot.setTitle("node colour: ‖dL/dh_t‖ →", color=theme.muted, size=f"{theme.small_px}px",
                           justify="right")
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
        self._pulse_drawn: tuple[float, float] | None = None
        self.line.setPen(pg.mkPen(theme.muted, width=max(1, theme.line_width / 2)))
        font = theme.qfont(theme.font_px)
        for label in (*self.end_labels, self.value_text):
            label.setColor(theme.foreground)
            label.setFont(font)
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
        self.colorbar.setLevels((lo, hi))
        clean = np.where(np.isfinite(logs), logs, lo)
        index = np.clip(((clean - lo) / (hi - lo) * 63).astype(int), 0, 63)
        size = float(np.clip(900 / max(steps, 1), 4, 2.4 * self.theme.marker_size))
        self._node_size = size
        if self.strip_mode:
            self.strip.setImage(self._lut_rgba[index][:, None, :], autoLevels=False)
            self.strip.setRect(QRectF(0.5, -STRIP_HEIGHT / 2, float(steps), STRIP_HEIGHT))
            if self._layout_steps != steps:
                self.nodes.setData(x=np.zeros(0), y=np.zeros(0))
        elif self._layout_steps == steps:
            # same nodes, new colours: keeps the scatter's symbol atlas (a full setData rebuilds it)
            self.nodes.setBrush([self._lut[i] for i in index])
        else:
            x = np.arange(1, steps + 1, dtype=np.float64)
            self.nodes.setData(x=x, y=np.zeros(steps), brush=[self._lut[i] for i in index], size=size,
                               pen=self._node_pen)
        self.strip.setVisible(self.strip_mode)
        self.strip_cover.setVisible(self.strip_mode)
        # an empty scatter still costs 0.1-0.3 ms per paint: hidden while the strip stands in
        self.nodes.setVisible(not self.strip_mode)
        self.unlit.setVisible(not self.strip_mode)
        if self._layout_steps != steps:  # the static parts change only with the length
            self._layout_steps = steps
            self.ends.setData(x=[0.0, steps + 1.0], y=[0.0, 0.0], size=size * 1.2,
                              brush=[self._unlit_brush, pg.mkBrush(self.theme.highlight)],
                              symbol=["o", "s"], pen=self._node_pen)
            self.line.setData(x=np.array([0.0, steps + 1.0]), y=np.zeros(2))
            self.end_labels[0].setText("h₀")
            self.end_labels[0].setPos(0, 0)
            self.end_labels[1].setText("L")
            self.end_labels[1].setPos(steps + 1, 0)
            pad = max(0.6, (steps + 1) * 0.03)
            self.plot.setXRange(-pad, steps + 1 + pad, padding=0)
            self.plot.setYRange(-1.6, 1.4, padding=0)

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
            self.strip_cover.setRect(QRectF(0.5, -STRIP_HEIGHT / 2, float(self.unlit_steps), STRIP_HEIGHT))
            if self.unlit.data.size:
                self.unlit.setData(x=np.zeros(0), y=np.zeros(0))
        else:
            grey = np.arange(1, min(reached_from, steps + 1), dtype=np.float64)
            self.unlit.setData(x=grey, y=np.zeros(grey.size), size=getattr(self, "_node_size", 10),
                               brush=self._unlit_brush, pen=self._node_pen)
        pulse = (position, getattr(self, "_node_size", 10) * 1.9)
        if pulse != self._pulse_drawn:  # a new result leaves the pulse where it was
            self._pulse_drawn = pulse
            self.pulse.setData(x=[position], y=[0.0], size=pulse[1], symbol="o", brush=self._clear_brush,
                               pen=self._pulse_pen)
        t = int(min(max(reached_from, 1), steps))
        if position <= steps and self._logs.size >= t:
            self.value_text.setText(f"t = {t}: ‖dL/dh_t‖ = {format_power(float(self._logs[t - 1]))}")
            self.value_text.setPos(float(t), -0.25)
        else:
            self.value_text.setText("L = Σ h_T: the gradient starts here")
            self.value_text.setPos(float(steps + 1), -0.25)
            if steps > 10:
                self.value_text.setAnchor((1.0, -0.3))
                return
        if 0.15 * steps < t < 0.85 * steps:
            self.value_text.setAnchor((0.5, -0.3))
        else:
            self.value_text.setAnchor((0.0, -0.3) if t <= 0.15 * steps else (1.0, -0.3))


__all__ = ["BackwardPulse", "ChainView", "power_label"]
