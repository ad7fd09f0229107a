"""The training lab's views: accuracy and loss, the gradient heatmap, the eigenvalues of ``W_hh``,
the gradient norm before and after clipping, the delay sweep, and the status line of each model.

The Transformer (a model choice beside the recurrent cells) has no hidden state ``hₜ`` and no
``W_hh``: its heatmap strip shows what the engine records for it, ``‖dL/deₜ‖`` at its embedded
input, under that name, and the eigenvalue view says it has no matrix to show.

Each view draws a :class:`LabFrame` (the traces, their settings, the untrained models' preview) and
hands its charts only what changed since its last draw (see :mod:`.shown`): a chart given nothing
new is not repainted at all. Views hold no math: every number drawn is a value the engine put in
a snapshot, a loaded run's record, a preview or a sweep point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ...engine.thresholds import EXPLODE_THRESHOLD
from ...engine.training import CELL_LABELS, CELLS, TrainRun, TrainSettings
from ...states.training import FAILS_MARGIN, LEARNS_ACCURACY, SLOT_NAMES, judge
from ..plots import (
    Chart,
    Log10Axis,
    colormap,
    curve_pen,
    format_power,
    make_plot,
    power_label,
    reserve_tick_width,
    settle_view,
    style_plot,
    threshold_line,
)
from ..theme import Theme
from .shown import Shown, blend, live_curve, set_label
from .traces import ModelTrace

MAX_MODELS = len(SLOT_NAMES)
LINE_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine)
HEAT_DECADES = 12  # the heatmap's colour scale spans at most this many powers of ten below its top


@dataclass
class LabFrame:
    """What the views draw: the traces of the run (may be empty), the settings of the models on
    show (the run's, or the untrained preview's) and the preview (initial eigenvalues) or None."""

    traces: list[ModelTrace]
    settings: list[TrainSettings]
    preview: dict | None

    def trace(self, i: int) -> ModelTrace | None:
        return self.traces[i] if i < len(self.traces) else None

    @property
    def last_step(self) -> int:
        """The longest run's number of steps: every training-step axis spans the whole run, so the
        axes stay as they are while it trains."""
        return max(s.steps for s in self.settings)


def caption_label() -> QLabel:
    label = QLabel()
    label.setObjectName("caption")
    label.setWordWrap(True)
    return label


def _threshold_style(line: pg.InfiniteLine, colour: str, t: Theme) -> None:
    line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
    line.label.setColor(colour)
    line.label.fill = pg.mkBrush(t.background)
    line.label.setFont(t.qfont(t.small_px))


class LabView:
    """One page of the lab's view switcher: its charts in a column, a caption under them where it
    has one. A view builds its page in :meth:`build` with the ``add_*`` helpers; the base styles
    every chart and threshold line they made, on every theme change."""

    name = ""  # the switcher's short name
    tip = ""

    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self.shown = Shown()
        self.page = QWidget()
        self.page.setToolTip(self.tip)
        self.layout = QVBoxLayout(self.page)
        self.layout.setContentsMargins(0, 0, 0, 0)
        self._thresholds: list[tuple[pg.InfiniteLine, str]] = []  # each line and its colour's name in the theme
        self.build()
        self.apply_theme(theme)

    def build(self) -> None:
        raise NotImplementedError

    # -- building the page ------------------------------------------------------------------------------
    def add_chart(self, xlabel: str, ylabel: str, stretch: int = 1, **options) -> Chart:
        """A chart on the page (untitled: the switcher names the view). No axis of the lab shows an
        SI prefix, but pyqtgraph re-typesets each axis title to find that out whenever a range
        changes, so the lookup is switched off."""
        chart = make_plot(self.theme, "", xlabel, ylabel, **options)
        for side in ("left", "bottom"):
            chart.getPlotItem().getAxis(side).enableAutoSIPrefix(False)
        self.layout.addWidget(chart, stretch)
        return chart

    def add_curves(self, chart: Chart, make=live_curve, count: int = MAX_MODELS) -> list:
        """``count`` curves (one per model) on ``chart``."""
        curves = [make() for _ in range(count)]
        for curve in curves:
            chart.getPlotItem().addItem(curve)
        return curves

    def add_threshold(self, chart: Chart, colour: str, label: str) -> pg.InfiniteLine:
        """A threshold line on ``chart`` in the theme's ``colour`` (a :class:`Theme` field's name),
        left out of the chart's auto-range."""
        line = threshold_line(self.theme, getattr(self.theme, colour), label)
        line.setZValue(-5)  # under the curves: a run at chance (the RNN's loss) stays visible on its line
        chart.getPlotItem().addItem(line, ignoreBounds=True)
        self._thresholds.append((line, colour))
        return line

    def add_caption(self) -> QLabel:
        label = caption_label()
        self.layout.addWidget(label)
        return label

    # -- what the scene asks of a view ------------------------------------------------------------------
    def charts(self) -> Sequence:
        """The graphics views to settle after a draw (one paint per frame, not two); the first is
        the one exported."""
        return (self.chart,)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for chart in self.charts():
            style_plot(chart, theme)
        for line, colour in self._thresholds:
            _threshold_style(line, getattr(theme, colour), theme)

    def draw(self, frame: LabFrame) -> None:
        raise NotImplementedError

    def settle(self) -> None:
        for chart in self.charts():
            settle_view(chart)

    def export_plot(self):
        return self.charts()[0]


# ---------------------------------------------------------------------------------------------------


class CurvesView(LabView):
    """Held-out accuracy against chance, and the training loss on a log axis below it."""

    name = "Accuracy && loss"
    tip = "Held-out accuracy (every 25 steps, on sequences never trained on) and the training loss"

    def build(self) -> None:
        self.layout.setSpacing(2)
        # The status lines above the charts name each model in its colour and dash (━━, ╍╍, ┅┅): the
        # charts carry no legend row of their own and get that height.
        self.acc_chart = self.add_chart("training step", "held-out accuracy (%)", 3, legend=False)
        self.loss_chart = self.add_chart("training step", "training loss", 2, log_y=True, legend=False)
        self.acc_curves = self.add_curves(self.acc_chart)
        self.loss_curves = self.add_curves(self.loss_chart)
        self.chance_line = self.add_threshold(self.acc_chart, "bound", "chance")
        self.chance_loss_line = self.add_threshold(self.loss_chart, "bound", "chance loss")

    def charts(self) -> Sequence:
        return (self.acc_chart, self.loss_chart)

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        t = theme
        # one tick-label width for both charts: their training-step axes line up, and an axis never
        # widens (relaying out the chart) when the loss reaches a lower decade
        for chart in (self.acc_chart, self.loss_chart):
            reserve_tick_width(chart, "10⁻¹⁰")
        for i in range(MAX_MODELS):
            colour = t.series[i]
            self.acc_curves[i].setPen(curve_pen(colour, t, LINE_STYLES[i]))
            self.acc_curves[i].setSymbolBrush(colour)
            self.acc_curves[i].setSymbolPen(colour)
            # A curve with a point per training step is drawn solid: Qt strokes a dashed path of a
            # thousand noisy segments about ten times slower, which made the lab drop to 3 fps.
            self.loss_curves[i].setPen(curve_pen(colour, t, Qt.PenStyle.SolidLine, 0.7))

    def draw(self, frame: LabFrame) -> None:
        settings = frame.settings
        first = settings[0]
        self.shown.line(self.chance_line, 100.0 * first.chance, f"chance {100 * first.chance:.1f} %")
        self.shown.line(self.chance_loss_line, math.log10(first.chance_loss), f"chance loss {first.chance_loss:.3g}")
        top = frame.last_step
        for i in range(MAX_MODELS):
            tr = frame.trace(i)
            if tr is None:
                self.shown.clear(self.acc_curves[i], self.loss_curves[i])
                continue
            self.shown.curve(self.acc_curves[i], tr.eval_step.array(), tr.accuracy_pct.array(),
                             (tr.serial, tr.eval_step.count))
            self.shown.curve(self.loss_curves[i], tr.step.array(), tr.log_loss.array(), (tr.serial, tr.step.count))
        # a little room beyond the end ticks (0 and 100 %, the outer decades), or their labels are dropped
        self.shown.view_range(self.acc_chart.getPlotItem(), x=(0, top), y=(0, 100), x_padding=0.02, y_padding=0.06)
        self.shown.view_range(self.loss_chart.getPlotItem(), x=(0, top), y=loss_range(first, frame.traces),
                              x_padding=0.02, y_padding=0.08)


def loss_range(settings: TrainSettings, traces: Sequence[ModelTrace]) -> tuple[float, float]:
    """The loss chart's range in whole decades: from a decade above the chance loss down to below
    the lowest loss so far, at least two decades, so the axis carries a label every decade or two
    (and the range moves only when the loss crosses a power of ten, not every frame)."""
    high = math.ceil(math.log10(settings.chance_loss) + 0.05)
    lows = [tr.log_loss_min for tr in traces if math.isfinite(tr.log_loss_min)]
    low = min(high - 2, math.floor(min(lows)) if lows else high - 2)
    return float(low), float(high)


def grad_range(traces: Sequence[ModelTrace]) -> tuple[float, float]:
    """The gradient-norm chart's range in whole decades around every norm so far (before and after
    clipping), at least two decades: a label every decade or two, and a range that moves only when
    a norm crosses a power of ten."""
    shown = [tr for tr in traces if math.isfinite(tr.log_grad_min)]
    if not shown:
        return -2.0, 1.0
    low = math.floor(min(tr.log_grad_min for tr in shown))
    high = math.ceil(max(tr.log_grad_max for tr in shown))
    if high - low < 2:
        low = high - 2
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------------


class HeatmapView(LabView):
    """``log10 ‖dL/dhₜ‖`` of every training step (columns) and time step (rows), one strip per model."""

    name = "Heatmap"
    tip = ("‖dL/dhₜ‖ (the Transformer: ‖dL/deₜ‖) at every time step t (rows) of every training step (columns): "
           "where the learning signal reaches")

    def build(self) -> None:
        self.widget = pg.GraphicsLayoutWidget()
        self.widget.ci.setContentsMargins(2, 2, 2, 2)
        # Images and axis-aligned lines only: antialiasing would send each frame's scaled heatmaps
        # through Qt's slow antialiased image path (measured: 1.3-1.6 ms of a 9 ms frame).
        self.widget.setAntialiasing(False)
        self.plots: list[pg.PlotItem] = []
        self.images: list[pg.ImageItem] = []
        for _ in range(MAX_MODELS):
            plot = pg.PlotItem()
            plot.setLabel("left", "time step t")
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            image = pg.ImageItem(axisOrder="col-major")
            plot.addItem(image)
            for side in ("left", "bottom"):
                # pyqtgraph re-typesets an axis title for its SI prefix on every range change
                plot.getAxis(side).enableAutoSIPrefix(False)
            self.plots.append(plot)
            self.images.append(image)
        self.bar = ColourBar()
        self.levels = (-8.0, 0.0)
        self.rows = 0
        self._lay_out(2)
        self.layout.addWidget(self.widget, 1)
        self.caption = self.add_caption()

    def charts(self) -> Sequence:
        return (self.widget,)

    def apply_theme(self, theme: Theme) -> None:
        # its own styling: one layout of strips and a colour bar, not one chart
        self.theme = t = theme
        self.widget.setBackground(t.background)
        cmap = colormap(t)
        for plot, image in zip(self.plots, self.images, strict=True):
            style_plot(plot, t)
            plot.showGrid(x=False, y=False)  # grid lines would read as data on an image
            image.setColorMap(cmap)
        self.bar.apply_theme(t, cmap)
        for plot in self.plots:
            self.shown.forget(plot.titleLabel)
        self.rows = 0  # the bottom axis moves to the last strip again

    def _lay_out(self, rows: int) -> None:
        """One strip per model and the shared colour bar beside them; only the last strip carries
        the training-step axis, so the strips get the height."""
        if rows == self.rows:
            return
        self.rows = rows
        ci = self.widget.ci
        for item in [*self.plots, self.bar]:
            if item.scene() is not None:
                ci.removeItem(item)
        for i in range(rows):
            last = i == rows - 1
            self.plots[i].showAxis("bottom", True)
            self.plots[i].getAxis("bottom").setStyle(showValues=last)
            self.plots[i].setLabel("bottom", "training step" if last else None)
            if not last:
                self.plots[i].getAxis("bottom").setHeight(4)
            ci.addItem(self.plots[i], row=i, col=0)
        for i in range(rows - 1):
            self.plots[i].setXLink(self.plots[rows - 1])
        ci.addItem(self.bar, row=0, col=1, rowspan=rows)
        ci.layout.setColumnStretchFactor(0, 1)
        ci.layout.setColumnStretchFactor(1, 0)

    def draw(self, frame: LabFrame) -> None:
        settings = frame.settings
        lo, hi = heat_levels(frame.traces)
        if (lo, hi) != self.levels:
            self.levels = (lo, hi)
        self.bar.set_levels(lo, hi)
        if self.rows != len(settings):
            for plot in self.plots[len(settings):]:
                self.shown.forget(plot.titleLabel)
        self._lay_out(len(settings))
        top = frame.last_step
        below_any = False
        t = self.theme
        mixed = any(s.cell == "transformer" for s in settings)  # then every strip names its quantity
        self.bar.set_quantity(bar_quantity(settings))
        for i, s in enumerate(settings):
            plot, image = self.plots[i], self.images[i]
            title = f"{SLOT_NAMES[i]} {s.label()}" + (f" · {gradient_symbol(s.cell)}" if mixed else "")
            self.shown.title(plot, title, t.series[i], t.small_px)
            tr = frame.trace(i)
            if tr is None or tr.heat.count == 0:
                if self.shown.fresh(image, None):
                    image.clear()
                self.shown.view_range(plot, x=(0.5, top + 0.5), y=(0.5, s.length + 0.5))
                continue
            # drawn in the darkest colour: values below the scale's floor, exact zeros (-inf), NaN
            below_any = below_any or tr.heat_min < lo or tr.heat_nonfinite
            if self.shown.fresh(image, (tr.serial, tr.heat.count, lo, hi)):
                data = tr.heat.array()
                image.setImage(np.where(np.isfinite(data), data, lo), autoLevels=False, levels=(lo, hi))
                image.setRect(QRectF(0.5, 0.5, float(len(data)), float(s.length)))
            # the whole run's width, as the other charts: the axes stay as they are while it trains
            self.shown.view_range(plot, x=(0.5, top + 0.5), y=(0.5, s.length + 0.5))
        note = "Dark: the learning signal does not reach time step t (the loss enters at the top)."
        if mixed:
            note += " The Transformer has no hidden state hₜ: its strip is ‖dL/deₜ‖, the gradient at its input."
        if below_any:
            note += f" Below {power_label(lo)} and exact zeros: darkest."
        set_label(self.caption, note)


def gradient_symbol(cell: str) -> str:
    """What the engine records per time step for a model: ``‖dL/dhₜ‖`` at the hidden state of a
    recurrent cell, ``‖dL/deₜ‖`` at the Transformer's embedded input (it has no hidden state)."""
    return "‖dL/deₜ‖" if cell == "transformer" else "‖dL/dhₜ‖"


def bar_quantity(settings: Sequence[TrainSettings]) -> str:
    """The colour bar's title: the quantities of the strips beside it, each named once."""
    return ", ".join(dict.fromkeys(gradient_symbol(s.cell) for s in settings))


def heat_levels(traces: Sequence[ModelTrace]) -> tuple[float, float]:
    """Colour levels: whole powers of ten from the largest value down at most ``HEAT_DECADES``,
    from the finite extremes the traces keep as rows arrive."""
    shown = [tr for tr in traces if tr.heat.count and math.isfinite(tr.heat_min)]
    if not shown:
        return -8.0, 0.0
    hi = math.ceil(max(tr.heat_max for tr in shown))
    lo = max(math.floor(min(tr.heat_min for tr in shown)), hi - HEAT_DECADES)
    return float(lo), float(max(hi, lo + 1))


class ColourBar(pg.PlotItem):
    """The heatmap's colour scale: the colours from ``lo`` to ``hi`` with a power-of-ten axis that
    labels every decade or two (as many as fit), like the charts' log axes."""

    def __init__(self) -> None:
        super().__init__(axisItems={"right": Log10Axis(orientation="right")})
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.showAxis("right")
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setImage(np.linspace(0.0, 1.0, 256)[None, :], autoLevels=False, levels=(0.0, 1.0))
        self.addItem(self.image)
        self.getAxis("right").enableAutoSIPrefix(False)
        self.levels = (math.nan, math.nan)
        self.quantity = "‖dL/dhₜ‖"
        self.theme: Theme | None = None
        self.set_levels(-8.0, 0.0)

    def set_quantity(self, quantity: str) -> None:
        """Name what the colours stand for (``‖dL/dhₜ‖``, ``‖dL/deₜ‖`` or both)."""
        if quantity != self.quantity:
            self.quantity = quantity
            self._label()

    def _label(self) -> None:
        if self.theme is not None:
            t = self.theme
            self.setLabel("right", self.quantity, color=t.foreground, **{"font-size": f"{t.font_px}px"})

    def apply_theme(self, t: Theme, cmap: pg.ColorMap) -> None:
        style_plot(self, t)
        self.showGrid(x=False, y=False)
        self.image.setColorMap(cmap)
        self.theme = t
        self._label()
        self.getViewBox().setFixedWidth(2 * t.small_px)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def set_levels(self, lo: float, hi: float) -> None:
        if (lo, hi) == self.levels:
            return
        self.levels = (lo, hi)
        self.image.setRect(QRectF(0.0, lo, 1.0, hi - lo))
        # a little room beyond the end labels, or pyqtgraph drops them
        self.setXRange(0.0, 1.0, padding=0.0)
        self.setYRange(lo, hi, padding=0.04)


# ---------------------------------------------------------------------------------------------------


class EigenView(LabView):
    """Eigenvalues of each vanilla RNN's ``W_hh`` before training and now, against the unit circle."""

    name = "Eigenvalues"
    tip = "Eigenvalues of the vanilla RNN's W_hh, before training and now, against the unit circle"

    def build(self) -> None:
        self.chart = self.add_chart("real part", "imaginary part", legend_columns=2)
        item = self.chart.getPlotItem()
        item.setAspectLocked(True)
        angle = np.linspace(0.0, 2.0 * np.pi, 361)
        self.unit_circle = pg.PlotDataItem(np.cos(angle), np.sin(angle))
        item.addItem(self.unit_circle)
        self.initial = self.add_curves(self.chart, _eigen_points)
        self.current = self.add_curves(self.chart, _eigen_points)
        self.caption = self.add_caption()

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        t = theme
        for i in range(MAX_MODELS):
            self.initial[i].setPen(pg.mkPen(t.series[i], width=max(1.0, t.line_width * 0.5)))
            self.initial[i].setBrush(pg.mkBrush(None))
            self.current[i].setPen(pg.mkPen(t.foreground, width=1))
            self.current[i].setBrush(pg.mkBrush(t.series[i]))
        self.unit_circle.setPen(curve_pen(t.bound, t, Qt.PenStyle.DashLine, 0.6))

    def draw(self, frame: LabFrame) -> None:
        entries = [(self.unit_circle, "unit circle |λ| = 1")]
        radius = 1.2
        size = self.theme.marker_size * 0.8
        for i in range(MAX_MODELS):
            initial = now = None
            if i < len(frame.settings) and frame.settings[i].cell == "rnn":
                tr = frame.trace(i)
                if tr is not None and tr.eigenvalues is not None:
                    initial, now = tr.initial_eigenvalues, tr.eigenvalues
                elif frame.preview is not None and i < len(frame.preview["eigenvalues"]):
                    initial = frame.preview["eigenvalues"][i]
            for scatter, eigs in ((self.initial[i], initial), (self.current[i], now)):
                if eigs is None or not np.isfinite(eigs).all():
                    self.shown.scatter(scatter, None, size)
                else:
                    self.shown.scatter(scatter, eigs, size)
                    # in steps of 0.1: eigenvalues moving a little each step do not rescale the axes each frame
                    radius = max(radius, math.ceil(11.0 * float(np.abs(eigs).max())) / 10.0)
            if initial is not None:
                entries.append((self.initial[i], f"{SLOT_NAMES[i]} before training"))
            if now is not None:
                entries.append((self.current[i], f"{SLOT_NAMES[i]} now"))
        self.shown.legend(self.chart, entries, self.theme)
        self.shown.view_range(self.chart.getPlotItem(), x=(-radius, radius), y=(-radius, radius),
                              x_padding=0.02, y_padding=0.02)
        set_label(self.caption, eigen_caption([s.cell for s in frame.settings]))


def _eigen_points() -> pg.ScatterPlotItem:
    return pg.ScatterPlotItem(symbol="o")


# ---------------------------------------------------------------------------------------------------


def eigen_caption(cells: Sequence[str]) -> str:
    """What the eigenvalue view says under its chart: the unit circle's meaning when a vanilla RNN
    is among the models (decided by the models, not by whether its eigenvalues have arrived yet), and
    why the other models are not drawn (no single W_hh, or none at all)."""
    gated = [c for c in ("lstm", "gru") if c in cells]
    transformer = "transformer" in cells
    if "rnn" in cells:
        text = "Inside the unit circle the gradient shrinks at every step back in time (tanh shrinks it further)."
        return text + (" The Transformer has no W_hh: nothing multiplies its gradient step by step." if transformer
                       else "")
    parts = []
    if gated:
        names = " and ".join(CELL_LABELS[c] for c in gated)
        parts.append(f"{names} {'have' if len(gated) > 1 else 'has'} one W_hh block per gate, and "
                     f"{'their' if len(gated) > 1 else 'its'} gradient travels through the gates instead.")
    if transformer:
        parts.append("The Transformer has no W_hh at all: attention reaches every earlier step in one hop.")
    return "No vanilla RNN here: " + " ".join(parts)


class GradNormView(LabView):
    """The whole gradient's norm at every training step, before clipping (faint) and after."""

    name = "Gradient norm"
    tip = "‖gradient‖ of all weights at every training step, before and after clipping"

    def build(self) -> None:
        self.chart = self.add_chart("training step", "‖gradient‖", log_y=True, legend_columns=2)
        self.before = self.add_curves(self.chart)
        self.after = self.add_curves(self.chart)
        self.clip_line = self.add_threshold(self.chart, "explode", "clipping threshold")

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        t = theme
        reserve_tick_width(self.chart, "10⁻¹⁰")
        for i in range(MAX_MODELS):
            colour = t.series[i]
            # opaque mixed colour, not a see-through pen (see shown.blend)
            self.before[i].setPen(pg.mkPen(blend(colour, t.background, 0.45), width=max(1.0, t.line_width * 0.5)))
            self.after[i].setPen(curve_pen(colour, t, Qt.PenStyle.SolidLine, 0.9))

    def draw(self, frame: LabFrame) -> None:
        entries = []
        first = frame.settings[0]
        top = frame.last_step
        for i in range(MAX_MODELS):
            tr = frame.trace(i)
            if tr is None:
                self.shown.clear(self.before[i], self.after[i])
                continue
            key = (tr.serial, tr.step.count)
            self.shown.curve(self.before[i], tr.step.array(), tr.log_grad_before.array(), key)
            self.shown.curve(self.after[i], tr.step.array(), tr.log_grad_after.array(), key)
            entries.append((self.before[i], f"{SLOT_NAMES[i]} before clipping"))
            if tr.settings.clip:
                entries.append((self.after[i], f"{SLOT_NAMES[i]} after"))
        self.clip_line.setVisible(first.clip)
        if first.clip:
            self.shown.line(self.clip_line, math.log10(first.clip_threshold),
                            f"clipping threshold {first.clip_threshold:g}")
        for curve in self.after:
            curve.setVisible(first.clip)
        self.shown.legend(self.chart, entries, self.theme)
        self.shown.view_range(self.chart.getPlotItem(), x=(0, top), y=grad_range(frame.traces),
                              x_padding=0.02, y_padding=0.08)


# ---------------------------------------------------------------------------------------------------


class SweepView(LabView):
    """Final held-out accuracy against the delay, one curve per cell (the sweep's settings are in the
    controls; the button and the progress are here)."""

    name = "Delay sweep"
    tip = "Train each ticked cell at each delay and plot the final held-out accuracy"

    def build(self) -> None:
        self.chart = self.add_chart("delay (blank steps)", "final accuracy (%)", legend_columns=3)
        self.curves = dict(zip(CELLS, self.add_curves(self.chart, _sweep_curve, len(CELLS)), strict=True))
        self.chance_line = self.add_threshold(self.chart, "bound", "chance")
        row = QHBoxLayout()
        self.status = caption_label()
        self.status.setText("Not run yet. The delays, steps and cells are in the controls (C).")
        self.button = QPushButton("Run sweep")
        self.button.setToolTip("Train each ticked cell at each delay; other settings come from the controls "
                               "(the LSTM's forget bias from its model)")
        row.addWidget(self.status, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        self.layout.addLayout(row)

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        t = theme
        for i, c in enumerate(CELLS):
            self.curves[c].setPen(curve_pen(t.series[i], t, LINE_STYLES[i]))
            self.curves[c].setSymbolBrush(t.series[i])
            self.curves[c].setSymbolPen(t.foreground)
            self.curves[c].setSymbolSize(t.marker_size)

    def draw_points(self, points: Sequence, chance: float, delays: Sequence[int]) -> None:
        entries = []
        for c, curve in self.curves.items():
            pts = [p for p in points if p.cell == c]
            curve.setData(np.array([p.delay for p in pts], dtype=np.float64),
                          np.array([100.0 * p.accuracy for p in pts], dtype=np.float64))
            if pts:
                entries.append((curve, CELL_LABELS[c]))
        self.shown.legend(self.chart, entries, self.theme)
        self.shown.line(self.chance_line, 100.0 * chance, f"chance {100 * chance:.1f} %")
        shown = [p.delay for p in points] or list(delays) or [0, 40]
        self.chart.getPlotItem().setRange(xRange=(min(shown) - 1, max(shown) + 1), yRange=(0, 100), padding=0.04)

    def draw(self, frame: LabFrame) -> None:
        """The sweep draws itself when a point arrives (see the scene)."""


def _sweep_curve() -> pg.PlotDataItem:
    return pg.PlotDataItem(symbol="o")


# ---------------------------------------------------------------------------------------------------


class StatusLines(QWidget):
    """One line per model: its name, its step, its held-out accuracy against chance, and what the
    engine flagged (the full alerts in the tooltip)."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 0, 4, 0)
        grid.setVerticalSpacing(0)
        self.labels: list[QLabel] = []
        for i in range(MAX_MODELS):
            label = QLabel()
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setToolTip("Step, held-out accuracy against chance, and the engine's alerts for this model")
            grid.addWidget(label, i, 0)
            self.labels.append(label)

    def draw(self, frame: LabFrame) -> None:
        t = self.theme
        for i, label in enumerate(self.labels):
            if i >= len(frame.settings):
                label.hide()
                continue
            label.show()
            s = frame.settings[i]
            head = f"<b style='color:{t.series[i]}'>{SLOT_NAMES[i]} {_line_glyph(i)} {s.label()}</b>"
            tr = frame.trace(i)
            if tr is None or tr.steps_done == 0:
                set_label(label, f"{head} &nbsp;<span style='color:{t.muted}'>not trained yet · chance "
                                 f"{100 * s.chance:.1f} %</span>")
                continue
            acc = "–" if tr.accuracy is None else f"{100 * tr.accuracy:.1f} %"
            done = int(tr.step.last())
            text = f"{head} &nbsp;step {done}/{s.steps} · held-out <b>{acc}</b>"
            tips = [f"chance {100 * s.chance:.1f} %"]
            pace = step_time(tr.run)
            if pace is not None:
                text += f" · {pace[0]}"
                tips.append(pace[1])
            if tr.run is not None and tr.run.finished:
                # the outcome, by the rule the presets' claims are checked with
                verdict = judge(tr.run)
                word = {True: ("learned", t.healthy), False: ("at chance", t.explode)}.get(verdict)
                if word is not None:
                    text += f" · <b style='color:{word[1]}'>{word[0]}</b>"
                tips.append(f"learned: held-out accuracy ≥ {100 * LEARNS_ACCURACY:.0f} %; at chance: within "
                            f"{100 * FAILS_MARGIN:.0f} points of chance")
            snap = tr.last
            reason = tr.run.stop_reason if tr.run is not None else None
            if reason:
                failed = reason.startswith("training stopped")
                colour = t.explode if failed else t.healthy
                short = reason.split(";")[0] if failed else reason
                text += f"<br><span style='color:{colour}'>{_html(short)}</span>"
                tips.append(reason)
            elif snap is not None:
                kind, v = snap.verdict.kind, snap.verdict
                if kind != "healthy":
                    colour = t.vanish if kind == "vanishing" else t.explode
                    text += f" · <span style='color:{colour}'><b>{kind}</b> for t ≤ {v.first_t}</span>"
                    if kind == "vanishing":
                        tips.append(f"vanishing: less than {power_label(math.log10(v.vanish_threshold))} of the "
                                    f"loss's gradient reaches the steps t ≤ {v.first_t}")
                    else:
                        tips.append(f"exploding: more than {power_label(math.log10(v.explode_threshold))} times "
                                    f"the loss's gradient at the steps t ≤ {v.first_t}")
                    tips.append("(‖dL/deₜ‖ against ‖dL/de_T‖, the gradient at the Transformer's input, on the "
                                "last training batch)" if s.cell == "transformer" else
                                "(‖dL/dhₜ‖ against ‖dL/dh_T‖, on the last training batch)")
                before = snap.grad_norm_before
                if math.isfinite(before) and before > EXPLODE_THRESHOLD:
                    word = "update clipped" if s.clip else "exploding update"
                    text += f" · <span style='color:{t.explode}'><b>{word}</b></span>"
                    tips.append(f"‖gradient‖ {format_power(math.log10(before))} above "
                                f"{power_label(math.log10(EXPLODE_THRESHOLD))}"
                                + (f", clipped to {s.clip_threshold:g}" if s.clip else " (clipping is off)"))
            set_label(label, text, "\n".join(tips))


def step_time(run: TrainRun | None) -> tuple[str, str] | None:
    """A model's time per training step, from its own run: the engine's ``run.seconds`` (the time
    inside its steps, evaluations included, measured on this machine's one torch thread, or on the
    machine that trained a loaded run) over the steps trained. Returns the status line's words
    (``"3.4 ms/step"``, ``"38 ms/step"``, ``"1.2 s/step"``) and the tooltip's sentence; None before the first step."""
    if run is None or run.step_count == 0 or not math.isfinite(run.seconds):
        return None
    each = run.seconds / run.step_count
    ms = 1000.0 * each
    if ms < 9.95:
        short = f"{ms:.1f} ms/step"
    elif ms < 999.5:
        short = f"{ms:.0f} ms/step"
    else:
        short = f"{each:.2g} s/step"
    return short, (f"{run.seconds:.1f} s of training over {run.step_count} steps (held-out evaluations "
                   "included), measured while this model trained on one torch thread (a loaded run: on the "
                   "machine that trained it)")


def _line_glyph(index: int) -> str:
    return ("━━", "╍╍", "┅┅")[index]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
