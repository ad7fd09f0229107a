"""Scene ``spectrum``: where the eigenvalues and singular values of ``W_hh`` sit, what that lets one
predict about the gradient, and what the engine then measures.

Above the four views: the prediction of Pascanu, Mikolov & Bengio (2013) for the matrix on show as
the subtitle (``σ_max·γ < 1``: shrinking guaranteed, so it vanishes as T grows; otherwise no
guarantee), the measured verdict
as the badge, and that matrix's own figures (ρ, ‖W_hh‖₂, the measured factor per step, the memory
horizon) as readouts. Prediction and measurement come from ``gradsim.states.spectrum``.

* **Eigenvalues**: the eigenvalues of the generated ``W_hh`` in the complex plane with the unit circle
  and circles at the spectral radius and the spectral norm (and, for sigmoid, at ``1/γ``, where
  ``σ_max·γ = 1``).
* **Jacobians**: the singular values of each step's Jacobian ``diag(f′(zₜ)) W_hh`` over time, under
  the theorem's bound per step ``σ_max·γ``: saturation pulls them lower still.
* **Your matrix**: a matrix you type (up to 4 × 4; the seeds' ``[[0.5, 0.3], [0.2, 0.4]]`` at first),
  its eigenvalues against the unit circle, and the measured gradient flow with no input under the
  bound ``(σ_max·γ)ᵀ⁻ᵗ`` and, where the run is the linear map itself, its long-run rate ``ρᵀ⁻ᵗ``.
* **Sweep**: the seeds' eigenvalue experiment: ``W_hh`` rescaled to spectral norms 0.5 … 1.5,
  ``‖dL/dh₁‖`` after T steps, several seeds as a band with the median, the norms 0.8, 1.0, 1.2 marked.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...engine.activations import ACTIVATIONS, get_activation
from ...engine.init import INIT_LABELS, INITIALISERS
from ...engine.sweep import MARKED_NORMS, MAX_ENTRY, MAX_MATRIX
from ...engine.thresholds import VANISH_THRESHOLD, Verdict, verdict_badge
from ...formatting import format_log10, format_number
from ...states.spectrum import (
    MAX_HIDDEN,
    MAX_STEPS,
    SEED_MATRIX,
    VIEWS,
    MatrixResult,
    NetworkResult,
    SpectrumState,
    SweepResult,
    compute_matrix,
    compute_network,
    compute_sweep,
)
from ..controls import Badge, Choice, ReadoutLabel, SeedBox, SliderSpin, form_box
from ..plots import clean_log10, curve_pen, make_plot, settle_view, style_plot
from ._thresholds import style_threshold_lines, threshold_lines
from .base import Scene

VIEW_TITLES = {"eigenvalues": "Eigenvalues", "jacobians": "Jacobians", "matrix": "Your matrix", "sweep": "Sweep"}
READOUTS = ("radius", "norm", "rate", "horizon")


def _figure(value: float) -> str:
    return format_number(value, 3)


def _complex(z: complex) -> str:
    if abs(z.imag) < 1e-12:
        return _figure(z.real)
    sign = "+" if z.imag >= 0 else "−"
    return f"{_figure(z.real)} {sign} {_figure(abs(z.imag))}i"


def _circle(radius: float, points: int = 361) -> tuple[np.ndarray, np.ndarray]:
    angle = np.linspace(0.0, 2.0 * np.pi, points)
    return radius * np.cos(angle), radius * np.sin(angle)


def prediction_text(prediction) -> str:
    """The subtitle: the theorem's figures and what they guarantee (and only that)."""
    figures = f"σ_max·γ = {_figure(prediction.bound_per_step)}"
    if prediction.gamma != 1:  # sigmoid: show the product, the point of the example
        figures = f"σ_max·γ = {_figure(prediction.sigma_max)} × {prediction.gamma:g} = {_figure(prediction.bound_per_step)}"
    if prediction.vanishing_guaranteed:
        # "shrinking", not "vanishing": over a short T the badge may still (rightly) say HEALTHY
        return f"{figures} < 1: shrinking guaranteed"
    return f"{figures} ≥ 1: no guarantee either way"


def prediction_tip(prediction) -> str:
    rate = prediction.long_run_rate_per_step
    linear = (f" As a linear map, W_hh changes the gradient by ρ = {_figure(rate)} per step in the long run."
              if rate is not None else "")
    return ("Pascanu, Mikolov & Bengio (2013): one step back multiplies ‖dL/dhₜ‖ by at most σ_max(W_hh)·γ, "
            "γ = max |f′|. Below 1 the gradient shrinks at least that fast at every step, so it vanishes as "
            "the distance grows (the badge says whether it has passed 10⁻⁶ within these T steps); above 1 "
            "it may grow or still shrink "
            f"(a product above 1 is necessary for exploding, not sufficient).{linear} "
            "The badge says what the engine measured.")


class SpectrumScene(Scene):
    scene_id = "spectrum"
    title = "Eigenvalues"
    summary = "What W_hh's spectrum promises, and what is measured."
    State = SpectrumState

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._network: NetworkResult | None = None
        self._sweep: SweepResult | None = None
        self._study: MatrixResult | None = None
        self._asked: dict[str, object] = {}  # the job last requested, per key
        self.make_preset_box(layout, "Ready-made matrices and networks; each claim holds on every seed")
        d = SpectrumState()

        self.activation = Choice([(a, get_activation(a).label) for a in ACTIVATIONS], d.activation,
                                 tooltip="f in hₜ = f(W_hh hₜ₋₁ + W_xh xₜ); γ = max |f′| enters the theorem "
                                         "(tanh, ReLU, identity 1; sigmoid 0.25)")
        self.init = Choice([(i, INIT_LABELS[i]) for i in INITIALISERS], d.init,
                           tooltip="How W_hh is drawn before it is scaled")
        self.scale = SliderSpin(0.0, 2.5, 0.01, d.scale,
                                tooltip="Weight scale: the spectral radius of W_hh (gain for orthogonal and identity)")
        self.hidden = SliderSpin(1, MAX_HIDDEN, 1, d.hidden, integer=True,
                                 tooltip="Hidden size n: W_hh is n × n and has n eigenvalues")
        self.seed = SeedBox(d.seed, "Random seed of weights and inputs; the sweep uses this seed and the next ones")
        self.input_scale = SliderSpin(0.0, 3.0, 0.05, d.input_scale,
                                      tooltip="Standard deviation of the inputs xₜ: large inputs saturate tanh")
        self.steps = SliderSpin(2, MAX_STEPS, 1, d.steps, integer=True,
                                tooltip="Sequence length T of the network's flow and of your matrix's flow")
        layout.addWidget(form_box("Network W_hh", [
            ("Activation", self.activation), ("Initialiser", self.init), ("Scale", self.scale),
            ("Hidden n", self.hidden), ("Seed", self.seed), ("Input scale", self.input_scale),
            ("Steps T", self.steps)]))
        self.sweep_steps = SliderSpin(1, 500, 1, d.sweep_steps, integer=True,
                                      tooltip="The sweep measures ‖dL/dh₁‖ after this many steps")
        self.sweep_seeds = QSpinBox()
        self.sweep_seeds.setRange(1, 10)
        self.sweep_seeds.setValue(d.sweep_seeds)
        self.sweep_seeds.setToolTip("How many seeds the band spans (min … max over seeds)")
        layout.addWidget(form_box("Sweep", [("Steps", self.sweep_steps), ("Seeds", self.sweep_seeds)]))

        self.bind(self.activation, "activation")
        self.bind(self.init, "init")
        self.bind(self.scale, "scale")
        self.bind(self.hidden, "hidden", int)
        self.bind(self.seed, "seed", int)
        self.bind(self.input_scale, "input_scale")
        self.bind(self.steps, "steps", int)
        self.bind(self.sweep_steps, "sweep_steps", int, "change sweep steps")
        self.bind(self.sweep_seeds, "sweep_seeds", int, "change sweep seeds")

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.badge = Badge()
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)

        readouts = QWidget()
        row = QHBoxLayout(readouts)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(16)
        self.readouts: dict[str, ReadoutLabel] = {}
        for key in READOUTS:
            value = ReadoutLabel("–")
            row.addWidget(value, 5 if key == "horizon" else 4)
            self.readouts[key] = value
        self.readout_row = readouts
        layout.addWidget(readouts)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs, 1)

        # eigenvalues in the complex plane
        self.plane = make_plot(t, "", "real part", "imaginary part", legend_columns=2)
        pp = self.plane.getPlotItem()
        pp.setAspectLocked(True)
        self.unit_circle = pg.PlotDataItem()
        self.radius_circle = pg.PlotDataItem()
        self.norm_circle = pg.PlotDataItem()
        self.gamma_circle = pg.PlotDataItem()
        self.eig_points = pg.ScatterPlotItem()
        for item in (self.unit_circle, self.gamma_circle, self.norm_circle, self.radius_circle, self.eig_points):
            pp.addItem(item)
        self.unit_circle.setData(*_circle(1.0))
        self._plane_legend_key: tuple | None = None
        self.tabs.addTab(self.plane, VIEW_TITLES["eigenvalues"])

        # singular values of each step's Jacobian
        self.jac_chart = make_plot(t, "", "time step t", "singular values of Jₜ", legend_columns=3)
        jp = self.jac_chart.getPlotItem()
        self.sv_max = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sv_median = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sv_min = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sv_band = pg.FillBetweenItem(self.sv_max, self.sv_min)
        self.sv_norm_line = pg.InfiniteLine(angle=0, movable=False)  # the bound per step, σ_max·γ
        self.sv_one_line = pg.InfiniteLine(angle=0, movable=False)
        self.sv_norm_swatch = pg.PlotDataItem()
        self.sv_band_swatch = pg.PlotDataItem(fillLevel=0.0)  # legend stand-in: a legend cannot draw a fill item
        self.sv_one_swatch = pg.PlotDataItem()
        jp.addItem(self.sv_band)
        for item in (self.sv_max, self.sv_median, self.sv_min):
            jp.addItem(item)
        jp.addItem(self.sv_norm_line, ignoreBounds=True)
        jp.addItem(self.sv_one_line, ignoreBounds=True)
        self.jac_chart.set_legend([(self.sv_max, "largest"), (self.sv_median, "median"), (self.sv_min, "smallest"),
                                   (self.sv_band_swatch, "all n of them"), (self.sv_norm_swatch, "σ_max·γ (bound)"),
                                   (self.sv_one_swatch, "1")])
        self.tabs.addTab(self.jac_chart, VIEW_TITLES["jacobians"])

        # your matrix: the editor and its eigenvalues at the left, its gradient flow at the right
        editor = QWidget()
        el = QHBoxLayout(editor)
        el.setContentsMargins(0, 0, 0, 0)
        el.setSpacing(8)
        left = QVBoxLayout()
        left.setSpacing(4)
        size_row = QHBoxLayout()
        size_label = QLabel("Size n")
        self.matrix_size = QSpinBox()
        self.matrix_size.setRange(1, MAX_MATRIX)
        self.matrix_size.setValue(len(SEED_MATRIX))
        self.matrix_size.setToolTip(f"Size of your matrix (1 to {MAX_MATRIX})")
        size_row.addWidget(size_label)
        size_row.addWidget(self.matrix_size)
        size_row.addStretch(1)
        left.addLayout(size_row)
        self.matrix_table = QTableWidget(2, 2)
        self.matrix_table.setToolTip("Type the entries of W_hh (row i, column j); hₜ = f(W_hh hₜ₋₁)")
        for header in (self.matrix_table.horizontalHeader(), self.matrix_table.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix_table.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
        self.matrix_table.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        self.matrix_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.matrix_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.matrix_table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        left.addWidget(self.matrix_table)
        self.example_button = QPushButton("Example matrix")
        self.example_button.setToolTip("Back to the example [[0.5, 0.3], [0.2, 0.4]]")
        left.addWidget(self.example_button, 0, Qt.AlignmentFlag.AlignLeft)
        # its eigenvalues against the unit circle (no legend: the caption under it names the points)
        self.matrix_plane = make_plot(t, "", "real", "imaginary", legend=False)
        self.matrix_plane.setToolTip("Your matrix's eigenvalues against the unit circle |λ| = 1")
        mpp = self.matrix_plane.getPlotItem()
        mpp.setAspectLocked(True)
        self.matrix_unit = pg.PlotDataItem()
        self.matrix_unit.setData(*_circle(1.0))
        self.matrix_eig = pg.ScatterPlotItem()
        for item in (self.matrix_unit, self.matrix_eig):
            mpp.addItem(item)
        self.matrix_plane.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        left.addWidget(self.matrix_plane, 10)
        self.matrix_label = QLabel()
        self.matrix_label.setWordWrap(True)
        self.matrix_label.setTextFormat(Qt.TextFormat.RichText)
        self.matrix_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        left.addWidget(self.matrix_label, 0)
        left.addStretch(1)
        self.matrix_left = QWidget()
        self.matrix_left.setLayout(left)
        el.addWidget(self.matrix_left, 0)
        self.matrix_chart = make_plot(t, "", "time step t", "‖dL/dhₜ‖ (log scale)", log_y=True, legend_columns=3)
        mp = self.matrix_chart.getPlotItem()
        self.matrix_measured = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.matrix_bound = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.matrix_long_run = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        mp.addItem(self.matrix_bound)
        mp.addItem(self.matrix_long_run)
        mp.addItem(self.matrix_measured)
        self.matrix_vanish, self.matrix_explode = threshold_lines(self.matrix_chart)
        self._matrix_legend_key: tuple | None = None
        el.addWidget(self.matrix_chart, 1)
        self.tabs.addTab(editor, VIEW_TITLES["matrix"])
        self._fill_matrix_table(SEED_MATRIX)

        # the sweep
        self.sweep_chart = make_plot(t, "", "spectral norm ‖W_hh‖₂", "‖dL/dh₁‖ (log scale)", log_y=True,
                                     legend_columns=2)
        sp = self.sweep_chart.getPlotItem()
        self.sweep_low = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sweep_high = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sweep_band = pg.FillBetweenItem(self.sweep_low, self.sweep_high)
        self.sweep_median = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sweep_band_swatch = pg.PlotDataItem(fillLevel=0.0)
        self.sweep_marks = pg.ScatterPlotItem()
        self.sweep_errors = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0))
        self.sweep_one = pg.InfiniteLine(pos=1.0, angle=90, movable=False)  # σ_max·γ = 1, at ‖W_hh‖₂ = 1/γ
        self.sweep_one_swatch = pg.PlotDataItem()
        sp.addItem(self.sweep_band)
        for item in (self.sweep_low, self.sweep_high, self.sweep_median, self.sweep_errors, self.sweep_marks):
            sp.addItem(item)
        sp.addItem(self.sweep_one, ignoreBounds=True)
        self.sweep_vanish, self.sweep_explode = threshold_lines(self.sweep_chart)
        self._sweep_legend_key: tuple | None = None
        self.tabs.addTab(self.sweep_chart, VIEW_TITLES["sweep"])

        self.matrix_size.valueChanged.connect(self._on_matrix_size)
        self.matrix_table.itemChanged.connect(self._on_matrix_edit)
        self.example_button.clicked.connect(lambda: self._change_matrix(SEED_MATRIX, "the example matrix"))
        self.bind(self.tabs, "view", lambda index: VIEWS[index], "show another view")
        self.apply_theme(t)

    def apply_theme(self, theme) -> None:
        t = theme
        for chart in (self.plane, self.jac_chart, self.matrix_chart, self.matrix_plane, self.sweep_chart):
            style_plot(chart, t)
        style_threshold_lines(self.matrix_chart, (self.matrix_vanish, self.matrix_explode), t)
        style_threshold_lines(self.sweep_chart, (self.sweep_vanish, self.sweep_explode), t)
        self.matrix_unit.setPen(curve_pen(t.foreground, t, scale=0.6))
        side = max(160, int(11 * t.font_px))
        # square where there is room; on a short window it gives up height (its aspect stays locked)
        # rather than hold the whole window taller than the screen
        self.matrix_plane.setFixedWidth(side)
        self.matrix_plane.setMinimumHeight(max(100, side // 2))
        self.matrix_plane.setMaximumHeight(side)
        self.matrix_table.setStyleSheet("QTableWidget { padding: 0; }")
        self._fit_matrix_column()
        self.matrix_eig.setBrush(pg.mkBrush(t.series[0]))
        self.matrix_eig.setPen(pg.mkPen(t.foreground, width=1))
        self.matrix_eig.setSize(t.marker_size * 1.2)
        self.unit_circle.setPen(curve_pen(t.foreground, t, scale=0.6))
        self.gamma_circle.setPen(curve_pen(t.vanish, t, Qt.PenStyle.DashDotLine, 0.7))
        self.radius_circle.setPen(curve_pen(t.series[1], t, Qt.PenStyle.DashLine, 0.7))
        self.norm_circle.setPen(curve_pen(t.bound, t, Qt.PenStyle.DotLine, 0.7))
        self.eig_points.setBrush(pg.mkBrush(t.series[0]))
        self.eig_points.setPen(pg.mkPen(t.foreground, width=1))
        self.eig_points.setSize(t.marker_size)
        self.sv_max.setPen(curve_pen(t.series[1], t))
        self.sv_median.setPen(curve_pen(t.series[0], t, Qt.PenStyle.DashLine, 0.8))
        self.sv_min.setPen(curve_pen(t.series[2], t))
        band = pg.mkColor(t.series[0])
        band.setAlpha(60)
        self.sv_band.setBrush(pg.mkBrush(band))
        self.sv_band_swatch.setPen(pg.mkPen(None))
        self.sv_band_swatch.setFillBrush(pg.mkBrush(band))
        self.sv_band.setPen(pg.mkPen(None))
        for line, swatch, colour, style in ((self.sv_norm_line, self.sv_norm_swatch, t.bound, Qt.PenStyle.DotLine),
                                            (self.sv_one_line, self.sv_one_swatch, t.foreground, Qt.PenStyle.DashLine)):
            line.setPen(curve_pen(colour, t, style, 0.6))
            swatch.setPen(curve_pen(colour, t, style, 0.6))
        # thick solid measured under the thinner lines of what the spectrum says about it
        self.matrix_measured.setPen(curve_pen(t.series[0], t, scale=1.8))
        self.matrix_bound.setPen(curve_pen(t.bound, t, Qt.PenStyle.DashLine, 0.8))
        self.matrix_long_run.setPen(curve_pen(t.series[3], t, Qt.PenStyle.DotLine, 0.9))
        self.matrix_bound.setZValue(5)
        self.matrix_long_run.setZValue(6)
        self.sweep_median.setPen(curve_pen(t.series[0], t))
        self.sweep_low.setPen(pg.mkPen(None))
        self.sweep_high.setPen(pg.mkPen(None))
        band = pg.mkColor(t.series[0])
        band.setAlpha(70)
        self.sweep_band.setBrush(pg.mkBrush(band))
        self.sweep_band_swatch.setPen(pg.mkPen(None))
        self.sweep_band_swatch.setFillBrush(pg.mkBrush(band))
        self.sweep_band.setPen(pg.mkPen(None))
        self.sweep_marks.setBrush(pg.mkBrush(t.series[1]))
        self.sweep_marks.setPen(pg.mkPen(t.foreground, width=1.5))
        self.sweep_marks.setSize(t.marker_size * 1.3)
        self.sweep_marks.setSymbol("d")
        self.sweep_errors.setOpts(pen=pg.mkPen(t.series[1], width=max(1.5, t.line_width * 0.6)), beam=0.02)
        self.sweep_one.setPen(curve_pen(t.vanish, t, Qt.PenStyle.DashDotLine, 0.7))
        self.sweep_one_swatch.setPen(curve_pen(t.vanish, t, Qt.PenStyle.DashDotLine, 0.7))
        self._plane_legend_key = self._matrix_legend_key = self._sweep_legend_key = None
        for label in self.readouts.values():
            # the readout's own size, set explicitly: a readout that had shrunk to fit a long text
            # would otherwise keep its smaller size as its base across a theme change
            label.setFont(t.qfont(t.font_px))
        self._size_badge()
        if self._network is not None:
            self._draw_network(self._network)
        if self._study is not None:
            self._draw_matrix(self._study)
        if self._sweep is not None:
            self._draw_sweep(self._sweep)
        self._show_subject()

    # -- state ----------------------------------------------------------------------------------------
    def show_state(self, state: SpectrumState) -> None:
        self.activation.set_value(state.activation)
        self.init.set_value(state.init)
        self.scale.setValue(state.scale)
        self.hidden.setValue(state.hidden)
        self.seed.setValue(state.seed)
        self.input_scale.setValue(state.input_scale)
        self.steps.setValue(state.steps)
        self.sweep_steps.setValue(state.sweep_steps)
        self.sweep_seeds.setValue(state.sweep_seeds)
        if self.matrix() != [list(r) for r in state.matrix]:
            self._fill_matrix_table(state.matrix)
        self.tabs.setCurrentIndex(VIEWS.index(state.view))
        self._show_subject()

    def generator_settings(self):
        return self.state.generator()

    def sweep_job(self):
        return self.state.sweep_job()

    def matrix_job(self):
        return self.state.matrix_job()

    def matrix(self) -> list[list[float]]:
        """The matrix the editor shows (each cell's last accepted value)."""
        n = self.matrix_table.rowCount()
        return [[float(self.matrix_table.item(i, j).data(Qt.ItemDataRole.UserRole)) for j in range(n)]
                for i in range(n)]

    # -- the matrix editor ----------------------------------------------------------------------------
    def _fill_matrix_table(self, matrix) -> None:
        n = len(matrix)
        table = self.matrix_table
        blocked = table.blockSignals(True)
        try:
            table.setRowCount(n)
            table.setColumnCount(n)
            for i in range(n):
                for j in range(n):
                    item = QTableWidgetItem(f"{float(matrix[i][j]):g}")
                    item.setData(Qt.ItemDataRole.UserRole, float(matrix[i][j]))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    table.setItem(i, j, item)
            labels = [str(k + 1) for k in range(n)]
            table.setHorizontalHeaderLabels(labels)
            table.setVerticalHeaderLabels(labels)
        finally:
            table.blockSignals(blocked)
        size_blocked = self.matrix_size.blockSignals(True)
        self.matrix_size.setValue(n)
        self.matrix_size.blockSignals(size_blocked)
        table.resizeColumnsToContents()
        table.updateGeometry()
        self._fit_matrix_column()

    def _fit_matrix_column(self) -> None:
        """The editor's column: as wide as the plane, or as the whole table where it is wider (4 × 4)."""
        table = self.matrix_table
        table.ensurePolished()
        table.resizeColumnsToContents()
        table.resizeRowsToContents()
        frame = 2 * table.frameWidth() + 2  # and a pixel of air each side, so no cell is clipped
        width = table.verticalHeader().sizeHint().width() + frame + sum(
            table.columnWidth(j) for j in range(table.columnCount()))
        height = table.horizontalHeader().sizeHint().height() + frame + sum(
            table.rowHeight(i) for i in range(table.rowCount()))
        table.setFixedSize(width, height)
        self.matrix_left.setFixedWidth(max(self.matrix_plane.width(), width))

    def _on_matrix_size(self, n: int) -> None:
        if self._showing:
            return
        old = self.matrix()
        size = len(old)
        grown = [[old[i][j] if i < size and j < size else (0.0 if i != j else 0.5) for j in range(n)]
                 for i in range(n)]
        self._change_matrix(grown, f"matrix size {n}")

    def _on_matrix_edit(self, item: QTableWidgetItem) -> None:
        if self._showing:
            return
        previous = float(item.data(Qt.ItemDataRole.UserRole))
        text = item.text().strip().replace("−", "-").replace(",", ".")
        try:
            value = float(text)
            if not math.isfinite(value) or abs(value) > MAX_ENTRY:
                raise ValueError
        except ValueError:
            typed = item.text()
            blocked = self.matrix_table.blockSignals(True)
            item.setText(f"{previous:g}")
            self.matrix_table.blockSignals(blocked)
            self.context.show_error(f"Matrix entry {typed!r} not taken: type a number between "
                                    f"−{MAX_ENTRY:g} and {MAX_ENTRY:g}")
            return
        matrix = self.matrix()
        matrix[item.row()][item.column()] = value
        self._change_matrix(matrix, f"matrix entry ({item.row() + 1}, {item.column() + 1})")

    def _change_matrix(self, matrix, label: str) -> None:
        """A new matrix as its own undo step: unlike a slider's, consecutive edits never merge."""
        if self._showing:
            return
        try:
            new = self.state.replace(matrix=matrix)
        except ValueError as exc:
            self.context.show_error(str(exc))
            self.set_state(self.state)  # puts the current matrix back on the editor
            return
        self.set_state(new, label)

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask for what the new state changed: each picture's job only when its inputs moved."""
        state = self.state
        for key, fn, job in (("network", compute_network, state.generator()),
                             ("matrix", compute_matrix, state.matrix_job()),
                             ("sweep", compute_sweep, state.sweep_job())):
            if self._asked.get(key) != job:
                self._asked[key] = job
                self.request(fn, job, key=key, reuse=True)

    def on_result(self, result, key: str) -> None:
        if key == "network":
            self._network = result
            self._draw_network(result)
        elif key == "matrix":
            self._study = result
            self._draw_matrix(result)
        elif key == "sweep":
            self._sweep = result
            self._draw_sweep(result)
        self._show_subject()

    def _set_readout(self, key: str, caption: str, text: str, tip: str) -> None:
        self.readouts[key].setText(f"<span style='color:{self.theme.muted}'>{caption}</span>&nbsp; <b>{text}</b>")
        self.readouts[key].setToolTip(tip)

    def _show_subject(self) -> None:
        """The subtitle, badge and readouts speak of the matrix the visible view shows."""
        if self.state is None or not hasattr(self, "readouts"):
            return
        view = self.state.view
        if view == "sweep":
            self._show_sweep_header()
            return
        result = self._study if view == "matrix" else self._network
        if result is None:
            return
        if view == "matrix":
            spectrum, flow = result.study.spectrum, result.study.flow
            rate, horizon = result.log10_rate, result.memory_horizon
            whose = "your matrix"
        else:
            spectrum, flow = result.network.spectrum, result.network.flow
            rate, horizon = result.network.log10_rate, result.network.memory_horizon
            whose = "the generated W_hh"
        self.readout_row.setVisible(True)
        self._set_readout("radius", "ρ(W_hh)", _figure(spectrum.spectral_radius),
                          f"Spectral radius of {whose}: its largest eigenvalue modulus, the long-run rate per "
                          "step of the linear map")
        self._set_readout("norm", "σ_max", _figure(spectrum.spectral_norm),
                          f"Spectral norm σ_max = ‖W_hh‖₂ of {whose}: its largest singular value, the most one "
                          "step can stretch a vector")
        self._set_readout("rate", "per step", "–" if not math.isfinite(rate) else f"× {format_log10(rate)}",
                          "Measured: the average factor per backward step of ‖dL/dhₜ‖ (least-squares slope of "
                          "its log10 over the steps)")
        if not math.isfinite(rate):
            memory = "–"
        elif not math.isfinite(horizon):
            memory = "no decay"
        elif horizon >= 1e4:
            memory = "> 10⁴ steps"
        else:
            memory = f"≈ {horizon:.0f} steps"
        self._set_readout("horizon", "memory", memory,
                          "Memory horizon: steps until the signal has fallen by the vanishing threshold (10⁻⁶) "
                          "at the measured average rate")
        self._set_subtitle(prediction_text(result.prediction), prediction_tip(result.prediction))
        self._set_badge(result.verdict, flow.steps)

    def _show_sweep_header(self) -> None:
        s = self._sweep
        self.readout_row.setVisible(True)
        if s is None:
            return
        self._set_subtitle(f"Shrinking guaranteed for ‖W_hh‖₂ < 1/γ = {_figure(1 / s.gamma)}",
                           "Pascanu, Mikolov & Bengio (2013): with γ = max |f′|, a spectral norm below 1/γ "
                           "guarantees that the gradient vanishes; above it nothing is guaranteed.")
        sweep = s.sweep
        for key, norm, value in zip(READOUTS, sweep.marked_norms, sweep.marked_median, strict=False):
            self._set_readout(key, f"{norm:.1f} →", format_log10(value),
                              f"Median ‖dL/dh₁‖ over the seeds after T = {sweep.steps} steps, at spectral norm "
                              f"{norm:.1f}")
        ratio = float(np.median(sweep.radius_over_norm))
        self._set_readout("horizon", "ρ/‖W_hh‖₂", f"≈ {_figure(ratio)}",
                          "The spectral radius over the spectral norm of the drawn matrices: the norm bounds each "
                          "step, the radius decides the long run. Orthogonal matrices have 1; Gaussian ones "
                          "about 0.5, so even ‖W_hh‖₂ = 1.5 can vanish.")
        self.badge.setText(f"T = {sweep.steps}\n{len(sweep.seeds)} seeds")
        self.badge.setToolTip(f"The sweep: ‖dL/dh₁‖ after {sweep.steps} steps, seeds {sweep.seeds[0]} to "
                              f"{sweep.seeds[-1]}")
        self.badge.set_colour(self.theme.panel, self.theme)

    def _set_subtitle(self, text: str, tip: str) -> None:
        text = html.escape(text, quote=False)  # the header is rich text: "< 1" would open a tag
        if text != self.summary:
            self.summary = text
            self._update_header()
        self.header.setToolTip(tip)

    def _set_badge(self, verdict: Verdict, steps: int) -> None:
        head, detail = verdict_badge(verdict, steps)  # the flow scene's words, one home
        self.badge.setText(f"{head}\n{detail}")
        if verdict.kind == "healthy":
            what = f"‖dL/dhₜ‖ stays within 10⁻⁶…10³ at every step t = 1 … {steps}"
        else:
            limit = "below 10⁻⁶" if verdict.kind == "vanishing" else "above 10³"
            what = (f"counting back from t = {steps}, ‖dL/dhₜ‖ is {limit} from t = {verdict.first_t} on "
                    "(healthy would mean within 10⁻⁶…10³ at every step)")
        self.badge.setToolTip(f"Measured: {what}.")
        self.badge.set_colour(self.theme.verdict_colour(verdict.kind), self.theme)

    def _size_badge(self) -> None:
        """One fixed size, that of the widest badge, so a new verdict never relayouts the window."""
        self.badge.fix_width(("HEALTHY\nwithin 10⁻⁶…10³ over T = 1000", "VANISHING\nbelow 10⁻⁶ from t = 1000",
                              "EXPLODING\nabove 10³ from t = 1000"), lines=2)

    def _draw_network(self, result: NetworkResult) -> None:
        r = result.network
        t = self.theme
        eig = r.spectrum.eigenvalues
        self.eig_points.setData(x=eig.real.astype(np.float64), y=eig.imag.astype(np.float64))
        self.radius_circle.setData(*_circle(r.spectrum.spectral_radius))
        self.norm_circle.setData(*_circle(r.spectrum.spectral_norm))
        gamma = result.prediction.gamma
        show_gamma = 0 < gamma < 1  # for γ = 1 the circle σ_max·γ = 1 is the unit circle itself
        self.gamma_circle.setData(*_circle(1.0 / gamma if show_gamma else 1.0))
        self.gamma_circle.setVisible(show_gamma)
        extent = max(1.0, r.spectrum.spectral_norm, 1.0 / gamma if show_gamma else 1.0) * 1.08
        self.plane.getPlotItem().setRange(xRange=(-extent, extent), yRange=(-extent, extent), padding=0.02)
        # an orthogonal W_hh has ‖W_hh‖₂ = ρ: the norm's circle lies under the radius's, so say so
        same = abs(r.spectrum.spectral_norm - r.spectrum.spectral_radius) <= 0.005 * extent
        key = (show_gamma, same, t.name)
        if key != self._plane_legend_key:
            self._plane_legend_key = key
            entries = [(self.eig_points, "eigenvalues of W_hh"), (self.unit_circle, "unit circle |λ| = 1"),
                       (self.radius_circle, "spectral radius ρ"),
                       (self.norm_circle, "spectral norm σ_max = ‖W_hh‖₂" + (" (= ρ here)" if same else ""))]
            if show_gamma:
                entries.append((self.gamma_circle, "‖W_hh‖₂ = 1/γ: σ_max·γ = 1"))
            self.plane.set_legend(entries)
            style_plot(self.plane, t)
        settle_view(self.plane)

        sv = r.step_singular_values  # NaN rows where the forward pass overflowed (connect='finite' skips them)
        x = r.step_t.astype(np.float64)
        self.sv_max.setData(x, sv[:, 0])
        self.sv_min.setData(x, sv[:, -1])
        self.sv_median.setData(x, r.step_singular_median)
        bound = result.prediction.bound_per_step
        self.sv_norm_line.setValue(bound)
        self.sv_one_line.setValue(1.0)
        finite = sv[np.isfinite(sv)]
        hi = float(finite.max()) if finite.size else 1.0
        ymax = max(hi, bound, 1.0) * 1.08
        self.jac_chart.getPlotItem().setRange(xRange=(x[0] - 0.5, x[-1] + 0.5), yRange=(0.0, ymax), padding=0.02)
        settle_view(self.jac_chart)

    def _draw_matrix(self, result: MatrixResult) -> None:
        t = self.theme
        s = result.study
        flow = s.flow
        x = flow.t.astype(np.float64)
        logs = flow.log10_grad_norm
        finite = logs[np.isfinite(logs)]
        lo = float(finite.min()) if finite.size else -1.0
        hi = float(finite.max()) if finite.size else 1.0
        floor = min(lo, math.log10(VANISH_THRESHOLD)) - 1.0
        y, _zero = clean_log10(logs, floor)
        self.matrix_measured.setData(x, y, symbol="o" if flow.steps <= 60 else None, symbolSize=t.marker_size * 0.7,
                                     symbolBrush=t.series[0], symbolPen=t.series[0])
        ymin = min(lo, math.log10(VANISH_THRESHOLD)) - 0.8
        ymax = max(hi, 3.0) + 0.8
        # the bound and the long-run line may leave the chart: it is scaled to what was measured
        self.matrix_bound.setData(x, np.clip(np.where(np.isfinite(result.log10_bound), result.log10_bound, floor),
                                             floor - 5, ymax + 5))
        long_run = result.log10_long_run
        if long_run is not None:
            self.matrix_long_run.setData(x, np.clip(np.where(np.isfinite(long_run), long_run, floor),
                                                    floor - 5, ymax + 5))
        else:
            self.matrix_long_run.setData(x=np.array([], dtype=np.float64), y=np.array([], dtype=np.float64))
        self.matrix_long_run.setVisible(long_run is not None)
        self.matrix_chart.getPlotItem().setRange(xRange=(0.5, flow.steps + 0.5), yRange=(ymin, ymax), padding=0.02)
        key = (long_run is not None, t.name)
        if key != self._matrix_legend_key:
            self._matrix_legend_key = key
            entries = [(self.matrix_measured, "measured"), (self.matrix_bound, "bound (σ_max·γ)ᵀ⁻ᵗ")]
            if long_run is not None:
                entries.append((self.matrix_long_run, "long run ρᵀ⁻ᵗ"))
            self.matrix_chart.set_legend(entries)
            style_plot(self.matrix_chart, t)
            style_threshold_lines(self.matrix_chart, (self.matrix_vanish, self.matrix_explode), t)
        settle_view(self.matrix_chart)

        eig = s.spectrum.eigenvalues
        self.matrix_eig.setData(x=eig.real.astype(np.float64), y=eig.imag.astype(np.float64))
        extent = max(1.0, float(np.max(np.abs(eig)))) * 1.1
        self.matrix_plane.getPlotItem().setRange(xRange=(-extent, extent), yRange=(-extent, extent), padding=0.02)
        settle_view(self.matrix_plane)
        dot = f"<span style='color:{t.series[0]}'>●</span>"
        self.matrix_label.setText(f"{dot} λ: " + ", ".join(_complex(z) for z in eig))
        self.matrix_label.setToolTip("The eigenvalues of your matrix, largest modulus first")

    def _draw_sweep(self, result: SweepResult) -> None:
        t = self.theme
        s = result.sweep
        x = s.norms.astype(np.float64)
        everything = np.concatenate([s.log10_grad_h1.ravel(), s.marked_log10.ravel()])
        finite = everything[np.isfinite(everything)]
        lo = float(finite.min()) if finite.size else -1.0
        hi = float(finite.max()) if finite.size else 1.0
        floor = min(lo, math.log10(VANISH_THRESHOLD)) - 1.0
        low, _ = clean_log10(s.low, floor)
        high, _ = clean_log10(s.high, floor)
        median, _ = clean_log10(s.median, floor)
        self.sweep_low.setData(x, low)
        self.sweep_high.setData(x, high)
        self.sweep_median.setData(x, median, symbol="o", symbolSize=t.marker_size * 0.6,
                                  symbolBrush=t.series[0], symbolPen=t.series[0])
        mx = s.marked_norms.astype(np.float64)
        m_med, _ = clean_log10(s.marked_median, floor)
        m_lo, _ = clean_log10(np.min(s.marked_log10, axis=1), floor)
        m_hi, _ = clean_log10(np.max(s.marked_log10, axis=1), floor)
        self.sweep_marks.setData(x=mx, y=m_med)
        self.sweep_errors.setData(x=mx, y=m_med, top=m_hi - m_med, bottom=m_med - m_lo)
        edge = 1.0 / result.gamma if result.gamma > 0 else math.inf
        inside = bool(x[0] <= edge <= x[-1])
        self.sweep_one.setValue(edge if inside else 1.0)
        self.sweep_one.setVisible(inside)
        ymin = min(lo, math.log10(VANISH_THRESHOLD)) - 0.8
        ymax = max(hi, 3.0) + 0.8
        self.sweep_chart.getPlotItem().setRange(xRange=(x[0] - 0.03, x[-1] + 0.03), yRange=(ymin, ymax),
                                                padding=0.02)
        key = (inside, t.name)
        if key != self._sweep_legend_key:
            self._sweep_legend_key = key
            entries = [(self.sweep_median, "median over seeds"), (self.sweep_band_swatch, "min … max"),
                       (self.sweep_marks, "‖W_hh‖₂ = " + ", ".join(f"{n:.1f}" for n in MARKED_NORMS))]
            if inside:
                entries.append((self.sweep_one_swatch, "σ_max·γ = 1"))
            self.sweep_chart.set_legend(entries)
            style_plot(self.sweep_chart, t)
            style_threshold_lines(self.sweep_chart, (self.sweep_vanish, self.sweep_explode), t)
        settle_view(self.sweep_chart)

    # -- export ---------------------------------------------------------------------------------------
    def export_plot(self):
        return (self.plane, self.jac_chart, self.matrix_chart, self.sweep_chart)[self.tabs.currentIndex()]

    def export_columns(self) -> dict | None:
        view = VIEWS[self.tabs.currentIndex()]
        if view == "sweep" and self._sweep is not None:
            s = self._sweep.sweep
            cols = {"spectral_norm": s.norms, "log10_grad_h1_median": s.median, "log10_grad_h1_min": s.low,
                    "log10_grad_h1_max": s.high}
            for j, seed in enumerate(s.seeds):
                cols[f"log10_grad_h1_seed{seed}"] = s.log10_grad_h1[:, j]
            return cols
        if view == "matrix" and self._study is not None:
            f = self._study.study.flow
            cols = {"t": [int(v) for v in f.t], "log10_grad_norm": f.log10_grad_norm,
                    "log10_bound": self._study.log10_bound}
            if self._study.log10_long_run is not None:
                cols["log10_long_run"] = self._study.log10_long_run
            return cols
        r = self._network
        if r is None:
            return None
        n = r.network
        if view == "jacobians":
            cols = {"t": [int(v) for v in n.step_t]}
            for k in range(n.step_singular_values.shape[1]):
                cols[f"sv{k + 1}"] = n.step_singular_values[:, k]
            return cols
        return {"eigenvalue_real": n.spectrum.eigenvalues.real, "eigenvalue_imag": n.spectrum.eigenvalues.imag}

    @property
    def network(self) -> NetworkResult | None:
        return self._network

    @property
    def sweep(self) -> SweepResult | None:
        return self._sweep

    @property
    def study(self) -> MatrixResult | None:
        return self._study
