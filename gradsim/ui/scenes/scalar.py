"""Scene ``scalar``: one number multiplied by itself, the activations' caps, and why sharing one weight
across time is worse than a different weight per layer.

Four views, each fed by the engine through the worker:

* **w^T table**: ``w^T`` for w = 0.5 ... 2.0 and the user's own w, read out in plain words, with the
  curves ``w^t`` on a log axis (exact log10 values, so 3^200 is drawn where it belongs).
* **Trace**: ``h_t = tanh(w h_{t-1})`` line by line (t, h, local factor ``w (1 - h_t^2)``,
  cumulative product ``dh_t/dh_0``); an animation walks through the rows (Space, arrows, R).
* **Activations**: the derivative curves of sigmoid, tanh, ReLU and identity, with the maximum
  derivative, the typical derivative at ``|z| = 1`` and what is left after 10 and 50 steps.
* **Feedforward vs recurrent**: a product of different per-layer weights drawn around w beside
  the same w multiplied T times.

Settings (``settings()`` / ``apply_settings()``; any subset; unknown keys or bad values raise
``ValueError``):

==========  ======================================================  =========
key         meaning                                                 default
==========  ======================================================  =========
``w``       the recurrent weight, 0.01 .. 3.0                       0.5
``steps``   T, 1 .. 200                                             20
``h0``      the trace's initial state, -2 .. 2                      0.1
``spread``  per-layer weights drawn uniformly in w ± spread, 0 .. 1  0.3
``seed``    seed of the per-layer weights, 0 .. 999999              0
``speed``   animation speed in rows per second, 1 .. 20             3
``row``     the trace row highlighted (1-based t), 1 .. T           1
``view``    "powers", "trace", "activations" or "feedforward"       "powers"
==========  ======================================================  =========
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...engine.activations import ACTIVATIONS
from ...engine.scalar import ActivationRow, ScalarTrace, activation_table, scalar_trace
from ...engine.sweep import (
    FeedforwardComparison,
    PowerRow,
    activation_curves,
    feedforward_vs_recurrent,
    power_curves,
    power_rows,
)
from ...engine.thresholds import verdict_from_log10
from ..controls import SliderSpin
from ..plots import curve_pen, format_power, make_plot, style_plot, threshold_line
from .base import Scene

DEFAULTS = {"w": 0.5, "steps": 20, "h0": 0.1, "spread": 0.3, "seed": 0, "speed": 3, "row": 1, "view": "powers"}
VIEWS = ("powers", "trace", "activations", "feedforward")
VIEW_TITLES = {"powers": "wᵀ table", "trace": "Trace", "activations": "Activations",
               "feedforward": "Feedforward"}
LIMITS = {"w": (0.01, 3.0), "steps": (1, 200), "h0": (-2.0, 2.0), "spread": (0.0, 1.0), "seed": (0, 999_999),
          "speed": (1, 20)}
Z_GRID = np.linspace(-5.0, 5.0, 401)


@dataclass(frozen=True)
class ScalarJob:
    w: float
    steps: int
    h0: float
    spread: float
    seed: int


@dataclass
class ScalarResult:
    job: ScalarJob
    rows: list[PowerRow]
    curve_weights: tuple[float, ...]
    curve_t: np.ndarray
    curve_log10: np.ndarray  # len(curve_weights) x (T + 1)
    trace: ScalarTrace
    log10_trace_cumprod: np.ndarray  # log10 |dh_t/dh_0|
    activations: list[ActivationRow]
    z: np.ndarray
    derivatives: dict[str, np.ndarray]
    feedforward: FeedforwardComparison
    verdict: str  # healthy / vanishing / exploding for the user's w^T


def compute_scalar(job: ScalarJob) -> ScalarResult:
    """Runs on the worker thread: every figure of the scene from the engine."""
    rows = power_rows(job.w, job.steps)
    weights = tuple(r.w for r in rows)
    t, logs = power_curves(weights, job.steps)
    trace = scalar_trace(job.w, job.steps, job.h0)
    with np.errstate(divide="ignore"):
        log_cum = np.log10(np.abs(trace.cumprod))
    user_log = next(r.log10_value for r in rows if r.user)
    return ScalarResult(
        job=job, rows=rows, curve_weights=weights, curve_t=t, curve_log10=logs, trace=trace,
        log10_trace_cumprod=log_cum, activations=activation_table(), z=Z_GRID.copy(),
        derivatives=activation_curves(Z_GRID),
        feedforward=feedforward_vs_recurrent(job.w, job.spread, job.steps, job.seed),
        verdict=verdict_from_log10(np.array([user_log])).kind,
    )


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
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _line_icon(pen: QPen, height: int) -> QIcon:
    """A short sample of a curve's line, for a table row that names the curve."""
    width = int(height * 2.2)
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


def _power_text(log10_value: float) -> str:
    """Like the seeds' table: plain digits up to a million (3,325 and 1,048,576), powers of ten beyond."""
    if np.isfinite(log10_value) and 3.0 <= log10_value < 7.0:
        return f"{10.0 ** log10_value:,.0f}"
    return format_power(log10_value, 3)


class ScalarScene(Scene):
    scene_id = "scalar"
    title = "Scalar intuition"
    summary = "One weight multiplied T times: below 1 it vanishes, above 1 it explodes."
    has_animation = True

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._result: ScalarResult | None = None
        self._updating = False
        self._row = 0  # 0-based highlighted trace row
        self._lit_row: int | None = None

        box = QGroupBox("Weight and length")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.w = SliderSpin(*LIMITS["w"], 0.01, DEFAULTS["w"],
                            tooltip="The recurrent weight w: the gradient after T steps is about w^T")
        self.steps = SliderSpin(*LIMITS["steps"], 1, DEFAULTS["steps"], integer=True,
                                tooltip="Sequence length T: how many times w is multiplied in")
        self.h0 = SliderSpin(*LIMITS["h0"], 0.01, DEFAULTS["h0"],
                             tooltip="Initial state h_0 of the trace h_t = tanh(w h_{t-1})")
        form.addRow("w", self.w)
        form.addRow("Steps T", self.steps)
        form.addRow("h₀", self.h0)
        layout.addWidget(box)

        ff = QGroupBox("Per-layer weights")
        ffl = QFormLayout(ff)
        ffl.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.spread = SliderSpin(*LIMITS["spread"], 0.01, DEFAULTS["spread"],
                                 tooltip="A feedforward net's layer k gets its own weight, drawn uniformly "
                                         "between w − spread and w + spread")
        self.seed = QSpinBox()
        self.seed.setRange(*LIMITS["seed"])
        self.seed.setValue(DEFAULTS["seed"])
        self.seed.setToolTip("Seed of the per-layer weights: the same seed draws the same layers")
        ffl.addRow("Spread ±", self.spread)
        ffl.addRow("Seed", self.seed)
        layout.addWidget(ff)

        anim = QGroupBox("Trace animation")
        al = QVBoxLayout(anim)
        row = QHBoxLayout()
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Walk through the trace row by row (Space)")
        self.back_button = QPushButton("◀")
        self.back_button.setToolTip("Previous row (←)")
        self.fwd_button = QPushButton("▶|")
        self.fwd_button.setToolTip("Next row (→)")
        self.rewind_button = QPushButton("⟲")
        self.rewind_button.setToolTip("Back to t = 1 (R)")
        for b in (self.play_button, self.back_button, self.fwd_button, self.rewind_button):
            row.addWidget(b)
        al.addLayout(row)
        sf = QFormLayout()
        self.speed = SliderSpin(*LIMITS["speed"], 1, DEFAULTS["speed"], integer=True, suffix="/s",
                                tooltip="Rows per second while playing")
        sf.addRow("Speed", self.speed)
        al.addLayout(sf)
        layout.addWidget(anim)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._on_speed(self.speed.value())

        for w in (self.w, self.steps, self.h0, self.spread):
            w.valueChanged.connect(self._on_control)
        self.seed.valueChanged.connect(self._on_control)
        self.speed.valueChanged.connect(self._on_speed)
        self.play_button.clicked.connect(self.play_pause)
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.fwd_button.clicked.connect(lambda: self.step(1))
        self.rewind_button.clicked.connect(self.rewind)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.badge = QLabel("…")
        self.badge.setObjectName("badge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setToolTip("Your wᵀ against the thresholds 10⁻⁶ and 10³")
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs, 1)

        # w^T table and curves
        self.power_table = _table(["w", "wᵀ", "reading"],
                                  ["the weight", "w multiplied by itself T times", "what that means for learning"])
        self.power_chart = make_plot(t, "", "step t", "wᵗ (log scale)", log_y=True, legend=False)
        self.power_items: list[pg.PlotDataItem] = []
        self.power_vanish = threshold_line(t, t.vanish, "10⁻⁶: vanished")
        self.power_explode = threshold_line(t, t.explode, "10³: exploding")
        self.power_vanish.setValue(-6.0)
        self.power_explode.setValue(3.0)
        # Here every curve starts at 10^0 and fans out to the right, so the labels sit at the left.
        for line in (self.power_vanish, self.power_explode):
            line.label.anchors = [(0, 1), (0, 1)]
            line.label.setPosition(0.02)
        pi = self.power_chart.getPlotItem()
        pi.addItem(self.power_vanish, ignoreBounds=True)
        pi.addItem(self.power_explode, ignoreBounds=True)
        powers = QWidget()
        pl = QVBoxLayout(powers)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.power_table, 0)
        pl.addWidget(self.power_chart, 1)
        self.power_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.power_table.setWordWrap(False)
        self.tabs.addTab(powers, VIEW_TITLES["powers"])

        # trace
        self.trace_table = _table(["t", "h_t", "local", "cumprod"],
                                  ["time step", "h_t = tanh(w h_{t−1})", "local factor w (1 − h_t²) = dh_t/dh_{t−1}",
                                   "cumulative product dh_t/dh_0"])
        self.trace_chart = make_plot(t, "", "step t", "dh_t/dh_0 (log scale)", log_y=True, legend_columns=2)
        self.trace_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.trace_power = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.trace_cursor = pg.InfiniteLine(angle=90, movable=False)
        self.trace_dot = pg.ScatterPlotItem()
        tpi = self.trace_chart.getPlotItem()
        for item in (self.trace_power, self.trace_curve, self.trace_dot):
            tpi.addItem(item)
        tpi.addItem(self.trace_cursor, ignoreBounds=True)
        self.trace_chart.set_legend([(self.trace_curve, "dh_t/dh₀ (the trace)"), (self.trace_power, "wᵗ")])
        self.trace_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.tabs.addTab(self._split(self.trace_table, self.trace_chart, 1, 1), VIEW_TITLES["trace"])

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
        self.act_table = _table(["", "max f′", "f′(±1)", "10 steps", "50 steps"],
                                ["the activation", "largest derivative anywhere",
                                 "typical derivative: mean of f′(−1) and f′(1)",
                                 "(max f′)^10: the best case after 10 steps",
                                 "(max f′)^50: the best case after 50 steps"])
        acts = QWidget()
        al = QVBoxLayout(acts)
        al.setContentsMargins(0, 0, 0, 0)
        al.addWidget(self.act_chart, 1)
        al.addWidget(self.act_table, 0)
        self.act_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tabs.addTab(acts, VIEW_TITLES["activations"])

        # feedforward vs recurrent
        self.ff_chart = make_plot(t, "", "layer / step t", "|product| (log scale)", log_y=True, legend_columns=2)
        self.ff_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.rec_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        for item in (self.rec_curve, self.ff_curve):
            self.ff_chart.getPlotItem().addItem(item)
        self.ff_chart.set_legend([(self.ff_curve, "feedforward: w₁·w₂·…·w_t"), (self.rec_curve, "recurrent: wᵗ")])
        self.layer_chart = make_plot(t, "", "layer k", "weight w_k", legend_columns=3)
        self.layer_points = pg.ScatterPlotItem()
        self.layer_mean = pg.InfiniteLine(angle=0, movable=False)
        self.layer_one = pg.InfiniteLine(angle=0, movable=False)
        lpi = self.layer_chart.getPlotItem()
        lpi.addItem(self.layer_points)
        lpi.addItem(self.layer_mean, ignoreBounds=True)
        lpi.addItem(self.layer_one, ignoreBounds=True)
        self.layer_legend_line = pg.PlotDataItem()  # a legend swatch for the mean line
        self.layer_legend_one = pg.PlotDataItem()
        self.layer_chart.set_legend([(self.layer_points, "per-layer weight w_k"),
                                     (self.layer_legend_line, "recurrent w (every step)"),
                                     (self.layer_legend_one, "1")])
        self.ff_label = QLabel()
        self.ff_label.setWordWrap(True)
        self.ff_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        ff_top = QWidget()
        fl = QVBoxLayout(ff_top)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.ff_label)
        fl.addWidget(self.ff_chart, 1)
        self.tabs.addTab(self._split(ff_top, self.layer_chart, 3, 2), VIEW_TITLES["feedforward"])
        self.apply_theme(t)

    @staticmethod
    def _split(top: QWidget, bottom: QWidget, a: int, b: int) -> QSplitter:
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, a)
        splitter.setStretchFactor(1, b)
        splitter.setChildrenCollapsible(False)
        return splitter

    def apply_theme(self, theme) -> None:
        t = theme
        for chart in (self.power_chart, self.trace_chart, self.act_chart, self.ff_chart, self.layer_chart):
            style_plot(chart, t)
        for line, colour in ((self.power_vanish, t.vanish), (self.power_explode, t.explode)):
            line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
            line.label.setColor(colour)
            line.label.fill = pg.mkBrush(t.background)
            font = line.label.textItem.font()
            font.setPointSize(max(8, t.font_pt - 1))
            line.label.setFont(font)
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
        if self._result is not None:
            self._draw(self._result)

    # -- settings -------------------------------------------------------------------------------------
    def job(self) -> ScalarJob:
        return ScalarJob(float(self.w.value()), int(self.steps.value()), float(self.h0.value()),
                         float(self.spread.value()), int(self.seed.value()))

    def settings(self) -> dict:
        j = self.job()
        return {"w": j.w, "steps": j.steps, "h0": j.h0, "spread": j.spread, "seed": j.seed,
                "speed": int(self.speed.value()), "row": self._row + 1, "view": VIEWS[self.tabs.currentIndex()]}

    def apply_settings(self, settings: dict) -> None:
        if not isinstance(settings, dict):
            raise ValueError("scalar: settings must be a dictionary")
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"scalar: unknown setting '{sorted(unknown)[0]}' (takes: {', '.join(DEFAULTS)})")
        values = {}
        for key, value in settings.items():
            if key == "view":
                if value not in VIEWS:
                    raise ValueError(f"scalar: unknown view {value!r} (one of: {', '.join(VIEWS)})")
                values[key] = value
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"scalar: '{key}' must be a finite number, got {value!r}")
            if key in ("steps", "seed", "speed", "row"):
                if float(value) != int(value):
                    raise ValueError(f"scalar: '{key}' must be a whole number, got {value!r}")
                value = int(value)
            if key in LIMITS:
                lo, hi = LIMITS[key]
                if not lo <= value <= hi:
                    raise ValueError(f"scalar: '{key}' = {value} is outside {lo:g}..{hi:g}")
            values[key] = value
        steps = values.get("steps", int(self.steps.value()))
        if "row" in values and not 1 <= values["row"] <= steps:
            raise ValueError(f"scalar: 'row' = {values['row']} is outside 1..{steps}")
        self._updating = True
        try:
            for key in ("w", "steps", "h0", "spread", "speed"):
                if key in values:
                    getattr(self, key).setValue(values[key])
            if "seed" in values:
                self.seed.setValue(values["seed"])
            if "view" in values:
                self.tabs.setCurrentIndex(VIEWS.index(values["view"]))
        finally:
            self._updating = False
        self.pause()
        if "row" in values:
            self._row = values["row"] - 1
        else:
            self._row = min(self._row, steps - 1)
        self.refresh()

    def reset(self) -> None:
        self.apply_settings(dict(DEFAULTS))

    def _on_control(self, *_args) -> None:
        if self._updating:
            return
        self._row = min(self._row, int(self.steps.value()) - 1)
        self.refresh()

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.request(compute_scalar, self.job())

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
        user = next(row for row in r.rows if row.user)
        self.badge.setText(f"wᵀ = {_power_text(user.log10_value)}\n{user.reading.split(':')[0]}")
        self.badge.setToolTip(f"w = {user.w:g}, T = {r.job.steps}: {user.reading}")
        colour = t.verdict_colour(r.verdict)
        self.badge.setStyleSheet(f"background: {colour}; color: {'#000000' if not t.projector else '#ffffff'};")

    def _draw_powers(self, r: ScalarResult, t) -> None:
        table = self.power_table
        table.setRowCount(len(r.rows))
        bold_font = table.font()
        bold_font.setBold(True)
        for i, row in enumerate(r.rows):
            label = f"{row.w:g}" + ("  (yours)" if row.user else "")
            cells = [_item(label, row.w), _item(_power_text(row.log10_value), row.log10_value),
                     _item(row.reading, None, align_right=False)]
            cells[2].setToolTip(row.reading)
            for j, cell in enumerate(cells):
                if row.user:
                    cell.setFont(bold_font)
                    cell.setBackground(QBrush(QColor(t.highlight)))
                    cell.setForeground(QBrush(QColor("#000000")))
                table.setItem(i, j, cell)
        # curves: one per weight, coloured along the colour map, the user's dashed and thick; the table's
        # w column carries each curve's line as its icon, so the table is the legend
        while len(self.power_items) < len(r.curve_weights):
            item = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
            self.power_chart.getPlotItem().addItem(item)
            self.power_items.append(item)
        cmap = pg.colormap.get(t.colormap)
        standard = [i for i, row in enumerate(r.rows) if not row.user]
        icon_height = table.fontMetrics().height()
        table.setIconSize(QSize(int(icon_height * 2.2), icon_height))
        for k, item in enumerate(self.power_items):
            if k >= len(r.curve_weights):
                item.setData(x=np.array([], dtype=np.float64), y=np.array([], dtype=np.float64))
                item.setVisible(False)
                continue
            item.setVisible(True)
            row = r.rows[k]
            if row.user:
                pen = curve_pen(t.foreground, t, Qt.PenStyle.DashLine, 1.3)
                item.setZValue(10)
            else:
                frac = standard.index(k) / max(1, len(standard) - 1)
                colour = cmap.map(0.05 + 0.85 * frac, mode="qcolor")
                pen = curve_pen(colour.name(), t)
                item.setZValue(0)
            item.setPen(pen)
            item.setData(r.curve_t, r.curve_log10[k])
            table.item(k, 0).setIcon(_line_icon(pen, icon_height))
        self._fit_table_height(table)
        style_plot(self.power_chart, t)
        finite = r.curve_log10[np.isfinite(r.curve_log10)]
        lo = min(float(finite.min()), -6.0) - 0.5
        hi = max(float(finite.max()), 3.0) + 0.5
        self.power_chart.getPlotItem().setRange(xRange=(0, r.job.steps), yRange=(lo, hi), padding=0.02)

    @staticmethod
    def _fit_table_height(table: QTableWidget) -> None:
        """Show every row of a short table without a scroll bar (fonts differ per profile)."""
        table.resizeRowsToContents()
        height = table.horizontalHeader().height() + 2 * table.frameWidth() + 2
        height += sum(table.rowHeight(i) for i in range(table.rowCount()))
        table.setFixedHeight(height)

    def _draw_trace(self, r: ScalarResult, t) -> None:
        tr = r.trace
        table = self.trace_table
        table.setRowCount(tr.t.size)
        for i in range(tr.t.size):
            table.setItem(i, 0, _item(str(int(tr.t[i])), float(tr.t[i])))
            table.setItem(i, 1, _item(f"{tr.h[i]:.4g}", tr.h[i]))
            table.setItem(i, 2, _item(f"{tr.local[i]:.4g}", tr.local[i]))
            table.setItem(i, 3, _item(_power_text(r.log10_trace_cumprod[i]), tr.cumprod[i]))
        self._lit_row = None
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
            table.setItem(i, 1, _item(f"{row.max_derivative:.3g}", row.max_derivative))
            table.setItem(i, 2, _item(f"{row.typical_derivative:.2g}", row.typical_derivative))
            for j, value in ((3, row.after_10), (4, row.after_50)):
                table.setItem(i, j, _item(format_power(math.log10(value), 2) if value > 0 else "0", value))
        self._fit_table_height(table)

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
            f"After T = {ff.t.size}: different weights per layer leave "
            f"<b>{_power_text(last_ff) if np.isfinite(last_ff) else '0'}</b>; "
            f"the same w every step leaves <b>{_power_text(ff.log10_recurrent[-1])}</b>.")

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
                item.setForeground(QBrush(QColor("#000000")))
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

    def _on_speed(self, value: float) -> None:
        self.timer.setInterval(int(1000 / max(1.0, float(value))))

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
        if self.tabs.currentIndex() != VIEWS.index("trace"):
            self.tabs.setCurrentIndex(VIEWS.index("trace"))
        self.timer.start()
        self.play_button.setText("❚❚ Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("▶ Play")

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
