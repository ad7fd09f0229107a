"""Scene ``scalar``: one number multiplied by itself, the activations' caps, and why sharing one weight
across time is worse than a different weight per layer.

Four views, each drawn from one engine result (``gradsim.states.scalar.compute_scalar``):

* **wᵀ**: the curves ``wᵗ`` on a log axis (exact log10 values, so 3²⁰⁰ is drawn where it belongs)
  above the seeds' table ``w, wᵀ, reading``, whose rows carry each curve's line: the table is the
  legend. It is set in as many parts side by side as the width takes (two on a 1024-pixel
  projector, three or four on wider screens), so the chart keeps most of the screen.
* **Trace**: ``hₜ = tanh(w hₜ₋₁)`` row by row (t, hₜ, the local factor ``w (1 − hₜ²)``, the product
  ``dhₜ/dh₀``) under its chart; an animation walks through the rows (Space, arrows, R).
* **Activations**: the derivative curves of sigmoid, tanh, ReLU and identity, and the table of their
  largest slope, their slope at ``z = ±1`` and the best case after 10 and 50 steps.
* **Feedforward**: a product of different per-layer weights drawn around w beside the same w
  multiplied T times.

The state (``ScalarState``: w, steps, h0, spread, seed, speed, row, view, preset) lives in
``gradsim/states/scalar.py``; presets in ``resources/presets/scalar.json``.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...engine.activations import ACTIVATIONS
from ...engine.sweep import PowerRow
from ...engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD
from ...formatting import format_log10, format_number
from ...states.scalar import MAX_STEPS, VIEWS, ScalarResult, ScalarState, compute_scalar
from ..controls import AnimationControls, Badge, SeedBox, SliderSpin, form_box
from ..plots import curve_pen, make_plot, settle_view, style_plot
from ._thresholds import style_threshold_lines, threshold_lines
from .base import Scene

VIEW_TITLES = {"powers": "wᵀ", "trace": "Trace", "activations": "Activations", "feedforward": "Feedforward"}
TRACE_ROWS_SHOWN = 4  # rows of the trace table on show (it scrolls to the animated row)
MAX_TABLE_PARTS = 4  # the wᵀ table's rows are set in up to this many parts side by side
TABLE_SPACING = 6


class _ResizeAware(QWidget):
    """A page that calls back when its width changes (the wᵀ table re-divides its rows)."""

    def __init__(self, on_width) -> None:
        super().__init__()
        self._on_width = on_width

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._on_width()


def _item(text: str, value: float | None = None, align_right: bool = True) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if value is not None:
        item.setData(Qt.ItemDataRole.UserRole, float(value))
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(headers: list[str], tips: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    for i, tip in enumerate(tips):
        table.horizontalHeaderItem(i).setToolTip(tip)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setWordWrap(False)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _chart_over_table(chart, table: QTableWidget) -> QWidget:
    """A view's page: its chart taking the height, its table under it."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    layout.addWidget(chart, 1)
    layout.addWidget(table, 0)
    return page


def short_reading(reading: str) -> str:
    """The engine's reading of a wᵀ without its first word where the number says it already
    ("explodes: training will diverge" beside 3,325 reads "training will diverge"): the table then
    fits a 1024-pixel projector in two parts. The tooltip keeps the whole reading."""
    return reading.split(": ", 1)[-1]


ICON_ASPECT = 1.5  # a curve's line sample in the table: this many times as wide as the text is high


def _line_icon(pen: QPen, height: int) -> QIcon:
    """A short sample of a curve's line, for a table row that names the curve."""
    width = int(height * ICON_ASPECT)
    pixmap = QPixmap(width, height)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    sample = QPen(pen)
    sample.setWidthF(max(2.0, min(pen.widthF(), height / 3)))
    painter.setPen(sample)
    painter.drawLine(1, height // 2, width - 1, height // 2)
    painter.end()
    return QIcon(pixmap)


def _fit_rows(table: QTableWidget, rows: int | None = None) -> None:
    """Compact rows (the text's height and a little air), and the table exactly as tall as its header
    and ``rows`` of them (all by default)."""
    row_height = table.fontMetrics().height() + 6
    table.verticalHeader().setMinimumSectionSize(row_height)
    table.verticalHeader().setDefaultSectionSize(row_height)
    for i in range(table.rowCount()):
        table.setRowHeight(i, row_height)
    shown = table.rowCount() if rows is None else rows
    height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth() + shown * row_height
    table.setFixedHeight(height)


def _fit_columns(table: QTableWidget) -> None:
    """Make the table exactly as wide as its columns (the last one included), so nothing is cut."""
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    table.resizeColumnsToContents()
    width = sum(header.sectionSize(i) for i in range(table.columnCount())) + 2 * table.frameWidth()
    if table.verticalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff:
        width += table.verticalScrollBar().sizeHint().width()
    table.setMinimumWidth(width)
    header.setStretchLastSection(True)


class ScalarScene(Scene):
    scene_id = "scalar"
    title = "Scalar intuition"
    summary = "w × w × … × w = wᵀ"
    State = ScalarState

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._result: ScalarResult | None = None
        self._row = 0  # 0-based trace row the animation shows
        self._row_setting: int | None = None  # the state's row last put on the animation
        self._restart = False  # the next state shown starts the animation at its row
        self._asked_job = None  # the job last requested: the result on its way, or drawn
        self._lit_row: int | None = None
        self.make_preset_box(layout, "Ready-made weights and views")
        d = ScalarState()

        self.w = SliderSpin(0.01, 3.0, 0.01, d.w,
                            tooltip="The recurrent weight w: after T steps the gradient is about wᵀ")
        self.steps = SliderSpin(1, MAX_STEPS, 1, d.steps, integer=True,
                                tooltip="Sequence length T: how many times w is multiplied in")
        self.h0 = SliderSpin(-2.0, 2.0, 0.01, d.h0, tooltip="Initial state h₀ of the trace hₜ = tanh(w hₜ₋₁)")
        layout.addWidget(form_box("Weight and length", [("w", self.w), ("Steps T", self.steps), ("h₀", self.h0)]))
        self.spread = SliderSpin(0.0, 1.0, 0.01, d.spread,
                                 tooltip="A feedforward net's layer k gets its own weight, drawn uniformly "
                                         "between w − spread and w + spread")
        self.seed = SeedBox(d.seed, "Seed of the per-layer weights: the same seed draws the same layers")
        layout.addWidget(form_box("Per-layer weights", [("Spread ±", self.spread), ("Seed", self.seed)]))

        self.speed = SliderSpin(1, 20, 1, d.speed, integer=True, suffix="/s", tooltip="Rows per second while playing")
        self.animation_controls = AnimationControls(
            "Trace animation", ("Walk through the trace row by row (Space)", "Previous row (←)", "Next row (→)",
                                "Back to t = 1 (R)"), self.speed, self.play_pause, self.step, self.rewind)
        controls = self.animation_controls
        self.play_button, self.back_button, self.fwd_button, self.rewind_button = (
            controls.play_button, controls.back_button, controls.fwd_button, controls.rewind_button)
        layout.addWidget(controls)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)

        self.bind(self.w, "w")
        self.bind(self.steps, "steps", int)
        self.bind(self.h0, "h0", label="change h₀")
        self.bind(self.spread, "spread")
        self.bind(self.seed, "seed", int)
        self.bind(self.speed, "speed", int, "change animation speed")

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.badge = Badge()
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs, 1)

        # wᵀ: the curves, and below them the table that names them
        self.power_chart = make_plot(t, "", "step t", "wᵗ (log scale)", log_y=True, legend=False)
        self.power_items: list[pg.PlotDataItem] = []
        self.power_vanish, self.power_explode = threshold_lines(self.power_chart)
        tips = ["the weight (the line is its curve's)", "w multiplied by itself T times",
                "what that means for learning"]
        self.power_tables = tuple(_table(["w", "wᵀ", "reading"], tips) for _ in range(MAX_TABLE_PARTS))
        self._table_parts = 0  # how many of them show rows
        self._part_width = 0  # the width one part needs for the current rows and type
        self.power_page = _ResizeAware(self._redivide_power_table)
        pl = QVBoxLayout(self.power_page)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.setSpacing(4)
        pl.addWidget(self.power_chart, 1)
        parts = QHBoxLayout()
        parts.setContentsMargins(0, 0, 0, 0)
        parts.setSpacing(TABLE_SPACING)
        for table in self.power_tables:
            table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            parts.addWidget(table, 1, Qt.AlignmentFlag.AlignTop)
        pl.addLayout(parts, 0)
        self.tabs.addTab(self.power_page, VIEW_TITLES["powers"])

        # trace
        self.trace_table = _table(["t", "hₜ", "w (1 − hₜ²)", "dhₜ/dh₀"],
                                  ["time step", "hₜ = tanh(w hₜ₋₁)", "local factor w (1 − hₜ²) = dhₜ/dhₜ₋₁",
                                   "the product of the local factors: dhₜ/dh₀"])
        self.trace_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.trace_chart = make_plot(t, "", "step t", "|dhₜ/dh₀| (log scale)", log_y=True, legend_columns=2)
        self.trace_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.trace_power = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.trace_cursor = pg.InfiniteLine(angle=90, movable=False)
        self.trace_dot = pg.ScatterPlotItem()
        tpi = self.trace_chart.getPlotItem()
        for item in (self.trace_power, self.trace_curve, self.trace_dot):
            tpi.addItem(item)
        tpi.addItem(self.trace_cursor, ignoreBounds=True)
        self.trace_chart.set_legend([(self.trace_curve, "dhₜ/dh₀ (the trace)"), (self.trace_power, "wᵗ")])
        self.tabs.addTab(_chart_over_table(self.trace_chart, self.trace_table), VIEW_TITLES["trace"])

        # activations
        self.act_chart = make_plot(t, "", "pre-activation z", "f′(z)", legend_columns=5)
        self.act_items = {name: pg.PlotDataItem() for name in ACTIVATIONS}
        for item in self.act_items.values():
            self.act_chart.getPlotItem().addItem(item)
        self.act_unit = [pg.InfiniteLine(pos=v, angle=90, movable=False) for v in (-1.0, 1.0)]
        for line in self.act_unit:
            self.act_chart.getPlotItem().addItem(line, ignoreBounds=True)
        self.act_unit_swatch = pg.PlotDataItem()
        self.act_chart.set_legend([(self.act_items[n], n) for n in ACTIVATIONS]
                                  + [(self.act_unit_swatch, "|z| = 1")])
        self.act_table = _table(["f", "max f′", "f′(−1)", "f′(+1)", "(max f′)¹⁰", "(max f′)⁵⁰"],
                                ["the activation", "largest derivative anywhere", "the slope at z = −1",
                                 "the slope at z = +1", "the best case after 10 steps",
                                 "the best case after 50 steps"])
        self.act_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.act_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.tabs.addTab(_chart_over_table(self.act_chart, self.act_table), VIEW_TITLES["activations"])

        # feedforward vs recurrent
        self.ff_chart = make_plot(t, "", "layer / step t", "|product| (log scale)", log_y=True, legend_columns=2)
        self.ff_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.rec_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        for item in (self.rec_curve, self.ff_curve):
            self.ff_chart.getPlotItem().addItem(item)
        self.ff_chart.set_legend([(self.ff_curve, "feedforward: w₁·w₂·…·wₜ"), (self.rec_curve, "recurrent: wᵗ")])
        self.layer_chart = make_plot(t, "", "layer k", "wₖ", legend_columns=3)  # short: this chart is low on a projector
        self.layer_points = pg.ScatterPlotItem()
        self.layer_mean = pg.InfiniteLine(angle=0, movable=False)
        self.layer_one = pg.InfiniteLine(angle=0, movable=False)
        lpi = self.layer_chart.getPlotItem()
        lpi.addItem(self.layer_points)
        lpi.addItem(self.layer_mean, ignoreBounds=True)
        lpi.addItem(self.layer_one, ignoreBounds=True)
        self.layer_legend_line = pg.PlotDataItem()  # a legend swatch for the mean line
        self.layer_legend_one = pg.PlotDataItem()
        self.layer_chart.set_legend([(self.layer_points, "each layer's weight wₖ"),
                                     (self.layer_legend_line, "recurrent w"), (self.layer_legend_one, "1")])
        self.ff_label = QLabel()
        self.ff_label.setWordWrap(True)
        self.ff_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        ff = QWidget()
        fl = QVBoxLayout(ff)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.setSpacing(4)
        fl.addWidget(self.ff_label)
        fl.addWidget(self.ff_chart, 3)
        fl.addWidget(self.layer_chart, 2)
        self.tabs.addTab(ff, VIEW_TITLES["feedforward"])
        self.bind(self.tabs, "view", lambda index: VIEWS[index], "show another view")
        self.apply_theme(t)

    def apply_theme(self, theme) -> None:
        t = theme
        self.trace_curve.setPen(curve_pen(t.series[0], t))
        self.trace_power.setPen(curve_pen(t.bound, t, Qt.PenStyle.DashLine, 0.8))
        self.trace_cursor.setPen(pg.mkPen(t.highlight, width=max(1.0, t.line_width * 0.6)))
        self.trace_dot.setBrush(pg.mkBrush(t.highlight))
        self.trace_dot.setPen(pg.mkPen(t.foreground))
        self.trace_dot.setSize(t.marker_size * 1.4)
        for i, name in enumerate(ACTIVATIONS):
            style = Qt.PenStyle.DashLine if name == "identity" else Qt.PenStyle.SolidLine
            self.act_items[name].setPen(curve_pen(t.series[i], t, style))
        self.ff_curve.setPen(curve_pen(t.series[1], t))
        self.rec_curve.setPen(curve_pen(t.series[0], t, Qt.PenStyle.DashLine))
        self.layer_points.setBrush(pg.mkBrush(t.series[1]))
        self.layer_points.setPen(pg.mkPen(t.foreground))
        self.layer_points.setSize(t.marker_size)
        self.layer_mean.setPen(curve_pen(t.series[0], t, Qt.PenStyle.DashLine))
        self.layer_legend_line.setPen(curve_pen(t.series[0], t, Qt.PenStyle.DashLine))
        self.layer_one.setPen(curve_pen(t.bound, t, Qt.PenStyle.DotLine, 0.6))
        for line in self.act_unit:
            line.setPen(curve_pen(t.muted, t, Qt.PenStyle.DotLine, 0.5))
        self.act_unit_swatch.setPen(curve_pen(t.muted, t, Qt.PenStyle.DotLine, 0.5))
        self.layer_legend_one.setPen(curve_pen(t.bound, t, Qt.PenStyle.DotLine, 0.6))
        for chart in (self.power_chart, self.trace_chart, self.act_chart, self.ff_chart, self.layer_chart):
            style_plot(chart, t)
        # after style_plot: its grid (on again at a new grid alpha) is off on the threshold names' axis,
        # whose grid lines would run grey under the dashed threshold lines
        style_threshold_lines(self.power_chart, (self.power_vanish, self.power_explode), t)
        # the tables are the charts' legends: set in the legends' size, the smallest of the type scale
        table_style = (f"QTableWidget {{ font-size: {t.small_px}px; padding: 0; }} "
                       f"QHeaderView::section {{ font-size: {t.small_px}px; }}")
        for table in (*self.power_tables, self.trace_table, self.act_table):
            table.setStyleSheet(table_style)
            table.setFont(t.qfont(t.small_px))
        self._size_badge()
        if self._result is not None:
            self._draw(self._result)

    # -- state ----------------------------------------------------------------------------------------
    def show_state(self, state: ScalarState) -> None:
        self.w.setValue(state.w)
        self.steps.setValue(state.steps)
        self.h0.setValue(state.h0)
        self.spread.setValue(state.spread)
        self.seed.setValue(state.seed)
        self.speed.setValue(state.speed)
        self.tabs.setCurrentIndex(VIEWS.index(state.view))
        self.timer.setInterval(int(1000 / max(1, state.speed)))
        if state.row != self._row_setting or self._restart:  # a lesson, preset, reset or undo: start at its row
            self._row_setting, self._restart = state.row, False
            self.pause()
            self._row = state.row - 1
        self._row = min(self._row, state.steps - 1)
        self._show_row()

    def apply_settings(self, settings: dict, label: str = "apply settings") -> None:
        self._restart = True  # a lesson step or "show me": the animation starts at the row it names
        try:
            super().apply_settings(settings, label)
        finally:
            self._restart = False

    def apply_preset(self, preset_id: str) -> None:
        self._restart = True
        try:
            super().apply_preset(preset_id)
        finally:
            self._restart = False

    def reset(self) -> None:
        self._restart = True
        try:
            super().reset()
        finally:
            self._restart = False

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        job = self.state.job()
        if job == self._asked_job:
            return  # another tab, row or speed: nothing new to compute (the last request stands)
        self._asked_job = job
        self.request(compute_scalar, job, reuse=True)

    def on_result(self, result: ScalarResult, key: str) -> None:
        self._result = result
        self._row = min(self._row, result.job.steps - 1)
        self._draw(result)

    def _draw(self, r: ScalarResult) -> None:
        t = self.theme
        self._draw_powers(r, t)
        self._draw_trace(r, t)
        self._draw_activations(r, t)
        self._draw_feedforward(r, t)
        self._draw_badge(r, t)

    def _badge_texts(self, r: ScalarResult) -> tuple[str, str]:
        """The badge's two parts: the verdict, and the number it judged against which threshold."""
        user = r.user_row
        value = format_log10(user.log10_value)
        kind = r.verdict.kind
        if kind == "vanishing":
            return "VANISHING", f"wᵀ = {value} < 10⁻⁶"
        if kind == "exploding":
            return "EXPLODING", f"wᵀ = {value} > 10³"
        # healthy: within both thresholds; name the one it is heading for
        return "HEALTHY", f"wᵀ = {value} ≥ 10⁻⁶" if user.log10_value < 0 else f"wᵀ = {value} ≤ 10³"

    def _draw_badge(self, r: ScalarResult, t) -> None:
        head, detail = self._badge_texts(r)
        self.badge.setText(f"{head} · {detail}")
        self.badge.setToolTip(f"Your w = {r.user_row.w:g} multiplied T = {r.job.steps} times: {r.user_row.reading}. "
                              "The badge compares wᵀ with the vanishing threshold 10⁻⁶ and the exploding "
                              "threshold 10³: healthy means in between.")
        self.badge.set_colour(t.verdict_colour(r.verdict.kind), t)

    def _size_badge(self) -> None:
        """One line, one fixed size (the widest badge's), so a new verdict never relayouts the window
        and the title's row stays one line high wherever the title and summary fit beside it."""
        # the extremes: 0.01²⁰⁰ = 10⁻⁴⁰⁰ and 3²⁰⁰ ≈ 2.66 × 10⁹⁵
        self.badge.fix_width(("HEALTHY · wᵀ = 8.88 × 10⁻⁶ ≥ 10⁻⁶", "VANISHING · wᵀ = 8.88 × 10⁻⁴⁰⁰ < 10⁻⁶",
                              "EXPLODING · wᵀ = 8.88 × 10⁹⁵ > 10³"), lines=1)

    def _update_header(self) -> None:
        """Title and summary on one line where they fit, else the summary whole on a second line: the
        height goes to the chart."""
        t = self.theme
        summary = self.summary.replace(" ", "&nbsp;")  # it wraps as a whole, never inside
        self.header.setText(f"<span style='font-size:{t.title_px}px; font-weight:bold'>{self.title}</span>"
                            f"&nbsp;&nbsp; <span style='color:{t.muted}'>{summary}</span>")

    def _draw_powers(self, r: ScalarResult, t) -> None:
        # the width one part needs: every row in one table, measured by Qt itself
        self._fill_power_table(r, t, 1)
        self._part_width = self.power_tables[0].minimumWidth()
        parts = self._parts_that_fit()
        if parts != 1:
            self._fill_power_table(r, t, parts)
        # curves: one per weight, coloured along the colour map, the user's dashed and thick
        pens = self._power_pens(r, t)
        while len(self.power_items) < len(r.curve_weights):
            item = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
            self.power_chart.getPlotItem().addItem(item)
            self.power_items.append(item)
        for k, item in enumerate(self.power_items):
            if k >= len(r.curve_weights):
                item.setData(x=np.array([], dtype=np.float64), y=np.array([], dtype=np.float64))
                item.setVisible(False)
                continue
            item.setVisible(True)
            item.setPen(pens[k])
            item.setZValue(10 if r.rows[k].user else 0)
            item.setData(r.curve_t, r.curve_log10[k])
        finite = r.curve_log10[np.isfinite(r.curve_log10)]
        lo = min(float(finite.min()), math.log10(VANISH_THRESHOLD)) - 0.5
        hi = max(float(finite.max()), math.log10(EXPLODE_THRESHOLD)) + 0.5
        self.power_chart.getPlotItem().setRange(xRange=(0, r.job.steps), yRange=(lo, hi), padding=0.02)
        settle_view(self.power_chart)

    def _parts_that_fit(self) -> int:
        """As many parts side by side as the page's width takes (at least one, at most four)."""
        room = self.power_page.width() + TABLE_SPACING
        return max(1, min(MAX_TABLE_PARTS, room // (self._part_width + TABLE_SPACING)))

    def _redivide_power_table(self) -> None:
        if self._result is not None and self._part_width and self._parts_that_fit() != self._table_parts:
            self._fill_power_table(self._result, self.theme, self._parts_that_fit())

    def _fill_power_table(self, r: ScalarResult, t, parts: int) -> None:
        """The rows of the wᵀ table, in order, down the first part, then the next (``parts`` of them)."""
        self._table_parts = parts
        per_part = -(-len(r.rows) // parts)
        icon_height = QFontMetrics(t.qfont(t.small_px)).height()
        pens = self._power_pens(r, t)
        for p, table in enumerate(self.power_tables):
            part = list(enumerate(r.rows))[p * per_part:(p + 1) * per_part] if p < parts else []
            table.setVisible(p < parts)
            table.setRowCount(len(part))
            table.setIconSize(QSize(int(icon_height * ICON_ASPECT), icon_height))
            for i, (k, row) in enumerate(part):
                cells = [_item(f"{row.w:g}", row.w), _item(format_log10(row.log10_value), row.log10_value),
                         _item(short_reading(row.reading), None, align_right=False)]
                cells[0].setIcon(_line_icon(pens[k], icon_height))
                for cell in cells:
                    cell.setToolTip(f"w = {row.w:g}: wᵀ = {format_log10(row.log10_value)}, {row.reading}"
                                    + (" (your w)" if row.user else ""))
                    if row.user:
                        cell.setFont(t.qfont(t.small_px, bold=True))
                        cell.setBackground(QBrush(QColor(t.highlight)))
                        cell.setForeground(QBrush(QColor(t.on_colour(t.highlight))))
                for j, cell in enumerate(cells):
                    table.setItem(i, j, cell)
            if p < parts:
                _fit_columns(table)
                _fit_rows(table, per_part)

    @staticmethod
    def _power_pens(r: ScalarResult, t) -> list[QPen]:
        cmap = pg.colormap.get(t.colormap)
        standard = [i for i, row in enumerate(r.rows) if not row.user]
        pens = []
        for k, row in enumerate(r.rows):
            if row.user:
                pens.append(curve_pen(t.foreground, t, Qt.PenStyle.DashLine, 1.3))
            else:
                frac = standard.index(k) / max(1, len(standard) - 1)
                pens.append(curve_pen(cmap.map(0.05 + 0.85 * frac, mode="qcolor").name(), t))
        return pens

    def power_rows(self) -> list[tuple[PowerRow, str, str]]:
        """(engine row, the wᵀ text shown, the reading shown) in table order: down each part, left to right."""
        if self._result is None:
            return []
        cells = [(table.item(i, 1).text(), table.item(i, 2).text())
                 for table in self.power_tables[:self._table_parts] for i in range(table.rowCount())]
        return [(row, text, reading) for row, (text, reading) in zip(self._result.rows, cells, strict=True)]

    def _draw_trace(self, r: ScalarResult, t) -> None:
        tr = r.trace
        table = self.trace_table
        table.setRowCount(tr.t.size)
        for i in range(tr.t.size):
            table.setItem(i, 0, _item(str(int(tr.t[i])), float(tr.t[i])))
            table.setItem(i, 1, _item(f"{tr.h[i]:.4g}", tr.h[i]))
            table.setItem(i, 2, _item(f"{tr.local[i]:.4g}", tr.local[i]))
            table.setItem(i, 3, _item(format_number(float(tr.cumprod[i])), tr.cumprod[i]))
        self._lit_row = None
        _fit_rows(table, TRACE_ROWS_SHOWN)
        x = tr.t.astype(np.float64)
        self.trace_curve.setData(x, r.log10_trace_cumprod, symbol="o" if tr.t.size <= 60 else None,
                                 symbolSize=t.marker_size * 0.7, symbolBrush=t.series[0], symbolPen=t.series[0])
        user_index = next(i for i, row in enumerate(r.rows) if row.user)
        self.trace_power.setData(r.curve_t[1:], r.curve_log10[user_index][1:])
        both = np.concatenate([r.log10_trace_cumprod, r.curve_log10[user_index][1:]])
        finite = both[np.isfinite(both)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        if hi - lo < 1.0:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.08 * (hi - lo)
        self.trace_chart.getPlotItem().setRange(xRange=(0.5, tr.t.size + 0.5), yRange=(lo - pad, hi + pad),
                                                padding=0.02)
        self._show_row()

    def _draw_activations(self, r: ScalarResult, t) -> None:
        for name, item in self.act_items.items():
            item.setData(r.z, r.derivatives[name])
        self.act_chart.getPlotItem().setRange(xRange=(r.z[0], r.z[-1]), yRange=(-0.05, 1.1), padding=0.02)
        table = self.act_table
        table.setRowCount(len(r.activations))
        for i, row in enumerate(r.activations):
            table.setItem(i, 0, _item(row.name, None, align_right=False))
            table.setItem(i, 1, _item(format_number(row.max_derivative), row.max_derivative))
            for j, value in enumerate(r.slopes_at_one[row.name], start=2):
                table.setItem(i, j, _item(format_number(value), value))
            for j, value in ((4, row.after_10), (5, row.after_50)):
                table.setItem(i, j, _item(format_number(value), value))
        _fit_rows(table)

    def _draw_feedforward(self, r: ScalarResult, t) -> None:
        ff = r.feedforward
        x = ff.t.astype(np.float64)
        few = ff.t.size <= 60
        self.ff_curve.setData(x, ff.log10_feedforward, symbol="o" if few else None, symbolSize=t.marker_size * 0.7,
                              symbolBrush=t.series[1], symbolPen=t.series[1])
        self.rec_curve.setData(x, ff.log10_recurrent)
        both = np.concatenate([ff.log10_feedforward, ff.log10_recurrent])
        finite = both[np.isfinite(both)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo < 1.0:
            lo, hi = lo - 0.5, hi + 0.5
        self.ff_chart.getPlotItem().setRange(xRange=(0.5, ff.t.size + 0.5), yRange=(lo, hi), padding=0.05)
        self.layer_points.setData(x=x, y=ff.layer_weights)
        self.layer_mean.setValue(r.job.w)
        self.layer_one.setValue(1.0)
        wmin = min(float(ff.layer_weights.min()), r.job.w, 1.0)
        wmax = max(float(ff.layer_weights.max()), r.job.w, 1.0)
        pad = 0.1 * max(wmax - wmin, 0.1)
        self.layer_chart.getPlotItem().setRange(xRange=(0.5, ff.t.size + 0.5), yRange=(wmin - pad, wmax + pad),
                                                padding=0)
        last_ff = ff.log10_feedforward[-1]
        self.ff_label.setText(
            f"After T = {ff.t.size}: a weight per layer leaves <b>{format_log10(last_ff)}</b>, "
            f"the same w every step <b>{format_log10(ff.log10_recurrent[-1])}</b>.")

    # -- trace animation -------------------------------------------------------------------------------
    @property
    def current_row(self) -> int:
        """The highlighted trace row, 0-based."""
        return self._row

    def _show_row(self) -> None:
        r = self._result
        if r is None:
            return
        tr = r.trace
        i = min(max(self._row, 0), tr.t.size - 1)
        self._row = i
        table = self.trace_table
        theme = self.theme
        if self._lit_row is not None and self._lit_row < table.rowCount():
            for j in range(table.columnCount()):
                item = table.item(self._lit_row, j)
                if item is not None:
                    item.setData(Qt.ItemDataRole.BackgroundRole, None)
                    item.setData(Qt.ItemDataRole.ForegroundRole, None)
        for j in range(table.columnCount()):
            item = table.item(i, j)
            if item is not None:
                item.setBackground(QBrush(QColor(theme.highlight)))
                item.setForeground(QBrush(QColor(theme.on_colour(theme.highlight))))
        self._lit_row = i
        anchor = table.item(i, 0)
        if anchor is not None:
            table.scrollToItem(anchor, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.trace_cursor.setValue(float(tr.t[i]))
        y = r.log10_trace_cumprod[i]
        if np.isfinite(y):
            self.trace_dot.setData(x=[float(tr.t[i])], y=[float(y)])

    def _tick(self) -> None:
        r = self._result
        if r is None:
            return
        if self._row >= r.trace.t.size - 1:
            self.pause()
            return
        self._row += 1
        self._show_row()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def play_pause(self) -> None:
        if self.timer.isActive():
            self.pause()
            return
        if self._result is not None and self._row >= self._result.trace.t.size - 1:
            self._row = 0
            self._show_row()
        if self.state.view != "trace":
            self.change(label="show the trace", view="trace")
        self.timer.start()
        self.animation_controls.set_playing(True)

    def pause(self) -> None:
        self.timer.stop()
        self.animation_controls.set_playing(False)

    def step(self, direction: int) -> None:
        self.pause()
        if self._result is None:
            return
        self._row = min(max(self._row + (1 if direction > 0 else -1), 0), self._result.trace.t.size - 1)
        self._show_row()

    def rewind(self) -> None:
        self.pause()
        self._row = 0
        self._show_row()

    def animation_length(self) -> float | None:
        """The trace animation: one row per 1/speed seconds from t = 1 to T (a still in other views)."""
        if self.state.view != "trace":
            return None
        return (self.state.steps - 1) / self.state.speed

    def seek_animation(self, seconds: float) -> None:
        """The row the animation shows ``seconds`` after it starts at t = 1, paused."""
        self.pause()
        self._row = min(max(int(math.floor(seconds * self.state.speed + 1e-9)), 0), self.state.steps - 1)
        self._show_row()

    def deactivate(self) -> None:
        self.pause()

    def shutdown(self) -> None:
        self.pause()

    # -- export ---------------------------------------------------------------------------------------
    def export_plot(self):
        return {0: self.power_chart, 1: self.trace_chart, 2: self.act_chart, 3: self.ff_chart}[self.tabs.currentIndex()]

    def export_columns(self) -> dict | None:
        r = self._result
        if r is None:
            return None
        view = VIEWS[self.tabs.currentIndex()]
        if view == "powers":
            return {"w": [row.w for row in r.rows], "log10_w_pow_T": [row.log10_value for row in r.rows],
                    "reading": [row.reading for row in r.rows]}
        if view == "activations":
            return {"z": r.z, **{f"d_{name}": r.derivatives[name] for name in ACTIVATIONS}}
        if view == "feedforward":
            ff = r.feedforward
            return {"t": [int(v) for v in ff.t], "layer_weight": ff.layer_weights,
                    "log10_feedforward_product": ff.log10_feedforward, "log10_w_pow_t": ff.log10_recurrent}
        tr = r.trace
        return {"t": [int(v) for v in tr.t], "h": tr.h, "local": tr.local, "cumprod": tr.cumprod}

    @property
    def result(self) -> ScalarResult | None:
        return self._result
