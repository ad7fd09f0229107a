"""Scene ``spectrum``: where the eigenvalues of ``W_hh`` sit against the unit circle, and what that does
to the gradient.

Four views, each fed by the engine through the worker:

* **Eigenvalues**: the eigenvalues of ``W_hh`` in the complex plane with the unit circle and circles at
  the spectral radius and the spectral norm; they move as the scale, initialiser, seed or size change.
* **Jacobians**: the singular values of each step's Jacobian ``diag(f'(z_t)) W_hh`` over time (largest,
  median, smallest and the band between): tanh saturation pulls them below ``||W_hh||_2``.
* **Your matrix**: type a matrix (up to 4 x 4, the seeds' ``[[0.5, 0.3], [0.2, 0.4]]`` by default): its
  Jacobian at ``h = 0``, its eigenvalues, the prediction (vanish / explode) and the measured gradient
  flow of that matrix with no input beside the line the prediction draws.
* **Sweep**: the seeds' eigenvalue experiment: ``W_hh`` rescaled to spectral norms 0.5 .. 1.5 (20
  values), ``||dL/dh_1||`` after T steps on a log axis, several seeds as a band (min .. max) with the
  median, the norms 0.8, 1.0 and 1.2 marked.

Above the views: spectral radius, spectral norm, the average log growth rate per step of the measured
flow and the memory horizon (steps until the signal has fallen by the vanishing threshold at that rate).

Settings (``settings()`` / ``apply_settings()``; any subset; unknown keys or bad values raise
``ValueError``):

===============  =================================================================  ==============
key              meaning                                                            default
===============  =================================================================  ==============
``activation``   tanh, sigmoid, relu or identity                                    "tanh"
``init``         gaussian, orthogonal, identity or pytorch_default                  "orthogonal"
``scale``        the initialiser's weight scale (spectral radius / gain), 0 .. 2.5  0.9
``hidden``       hidden size n, 1 .. 128                                            64
``seed``         seed of weights and inputs, 0 .. 999999 (the sweep uses seed ..)  0
``input_scale``  standard deviation of the inputs, 0 .. 3                           0.1
``steps``        T of the network's flow and of the matrix's flow, 2 .. 1000        100
``matrix``       the typed matrix, a square list of lists, 1x1 .. 4x4, |v| <= 100  [[0.5, 0.3], [0.2, 0.4]]
``sweep_steps``  T of the sweep, 1 .. 500                                           50
``sweep_seeds``  how many seeds the sweep's band spans, 1 .. 10                     5
``view``         "eigenvalues", "jacobians", "matrix" or "sweep"                    "eigenvalues"
===============  =================================================================  ==============
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
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
from ...engine.scenario import GeneratorSettings
from ...engine.sweep import (
    MARKED_NORMS,
    SWEEP_NORMS,
    MatrixStudy,
    NetworkSpectrum,
    NormSweep,
    check_matrix,
    matrix_study,
    network_spectrum,
    spectral_norm_sweep,
)
from ...engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD
from ..controls import Choice, SliderSpin
from ..plots import clean_log10, curve_pen, format_power, make_plot, style_plot, threshold_line
from .base import Scene

SEED_MATRIX = [[0.5, 0.3], [0.2, 0.4]]
DEFAULTS = {"activation": "tanh", "init": "orthogonal", "scale": 0.9, "hidden": 64, "seed": 0, "input_scale": 0.1,
            "steps": 100, "matrix": SEED_MATRIX, "sweep_steps": 50, "sweep_seeds": 5, "view": "eigenvalues"}
VIEWS = ("eigenvalues", "jacobians", "matrix", "sweep")
VIEW_TITLES = {"eigenvalues": "Eigenvalues", "jacobians": "Jacobians", "matrix": "Your matrix", "sweep": "Sweep"}
LIMITS = {"scale": (0.0, 2.5), "hidden": (1, 128), "seed": (0, 999_999), "input_scale": (0.0, 3.0),
          "steps": (2, 1000), "sweep_steps": (1, 500), "sweep_seeds": (1, 10)}
_INTEGER_KEYS = ("hidden", "seed", "steps", "sweep_steps", "sweep_seeds")
_INPUTS = 4  # input size of the generated networks, as in the flow scene


@dataclass(frozen=True)
class SweepJob:
    settings: GeneratorSettings
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class MatrixJob:
    matrix: tuple[tuple[float, ...], ...]
    activation: str
    steps: int


def compute_network(settings: GeneratorSettings) -> NetworkSpectrum:
    """Worker: the generated network's spectrum, flow, step Jacobians and horizon."""
    return network_spectrum(settings, VANISH_THRESHOLD, EXPLODE_THRESHOLD)


def compute_sweep(job: SweepJob) -> NormSweep:
    """Worker: the spectral-norm sweep (20 norms + the 3 marked ones, times the seeds)."""
    return spectral_norm_sweep(job.settings, SWEEP_NORMS, job.seeds, MARKED_NORMS)


def compute_matrix(job: MatrixJob) -> MatrixStudy:
    """Worker: the typed matrix's Jacobian at 0, eigenvalues, prediction and measured flow."""
    return matrix_study([list(r) for r in job.matrix], job.activation, job.steps)


def _number(value: float) -> str:
    return f"{value:.4g}"


def _complex(z: complex) -> str:
    if abs(z.imag) < 1e-12:
        return _number(z.real)
    sign = "+" if z.imag >= 0 else "−"
    return f"{z.real:.3g} {sign} {abs(z.imag):.3g}i"


class _ReflowWidget(QWidget):
    """The matrix tab's page: tells the scene when its width changes, so the readout can move."""

    def __init__(self, scene: SpectrumScene) -> None:
        super().__init__()
        self._scene = scene

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._scene._reflow_matrix()


def _circle(radius: float, points: int = 361) -> tuple[np.ndarray, np.ndarray]:
    angle = np.linspace(0.0, 2.0 * np.pi, points)
    return radius * np.cos(angle), radius * np.sin(angle)


class SpectrumScene(Scene):
    scene_id = "spectrum"
    title = "Eigenvalues"
    summary = "Inside the unit circle the gradient dies; outside it explodes."

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._network: NetworkSpectrum | None = None
        self._sweep: NormSweep | None = None
        self._study: MatrixStudy | None = None
        self._sweep_job: SweepJob | None = None
        self._updating = False

        net = QGroupBox("Network W_hh")
        form = QFormLayout(net)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.activation = Choice([(a, get_activation(a).label) for a in ACTIVATIONS], DEFAULTS["activation"],
                                 tooltip="f in h_t = f(W_hh h_{t−1} + W_xh x_t); its derivative scales each step's Jacobian")
        self.init = Choice([(i, INIT_LABELS[i]) for i in INITIALISERS], DEFAULTS["init"],
                           tooltip="How W_hh is drawn before it is scaled")
        self.scale = SliderSpin(*LIMITS["scale"], 0.01, DEFAULTS["scale"],
                                tooltip="Weight scale: the spectral radius of W_hh (gain for orthogonal and identity)")
        self.hidden = SliderSpin(*LIMITS["hidden"], 1, DEFAULTS["hidden"], integer=True,
                                 tooltip="Hidden size n: W_hh is n × n and has n eigenvalues")
        self.seed = QSpinBox()
        self.seed.setRange(*LIMITS["seed"])
        self.seed.setValue(DEFAULTS["seed"])
        self.seed.setToolTip("Random seed of weights and inputs; the sweep uses this seed and the next ones")
        self.input_scale = SliderSpin(*LIMITS["input_scale"], 0.05, DEFAULTS["input_scale"],
                                      tooltip="Standard deviation of the inputs x_t: large inputs saturate tanh")
        self.steps = SliderSpin(*LIMITS["steps"], 1, DEFAULTS["steps"], integer=True,
                                tooltip="Sequence length T of the network's flow and of your matrix's flow")
        form.addRow("Activation", self.activation)
        form.addRow("Initialiser", self.init)
        form.addRow("Scale", self.scale)
        form.addRow("Hidden n", self.hidden)
        form.addRow("Seed", self.seed)
        form.addRow("Input scale", self.input_scale)
        form.addRow("Steps T", self.steps)
        layout.addWidget(net)

        sweep = QGroupBox("Sweep")
        sf = QFormLayout(sweep)
        sf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.sweep_steps = SliderSpin(*LIMITS["sweep_steps"], 1, DEFAULTS["sweep_steps"], integer=True,
                                      tooltip="The sweep measures ‖dL/dh_1‖ after this many steps")
        self.sweep_seeds = QSpinBox()
        self.sweep_seeds.setRange(*LIMITS["sweep_seeds"])
        self.sweep_seeds.setValue(DEFAULTS["sweep_seeds"])
        self.sweep_seeds.setToolTip("How many seeds the band spans (min .. max over seeds)")
        sf.addRow("Steps", self.sweep_steps)
        sf.addRow("Seeds", self.sweep_seeds)
        layout.addWidget(sweep)

        for w in (self.activation, self.init):
            w.choiceChanged.connect(self._on_control)
        for w in (self.scale, self.hidden, self.input_scale, self.steps, self.sweep_steps):
            w.valueChanged.connect(self._on_control)
        self.seed.valueChanged.connect(self._on_control)
        self.sweep_seeds.valueChanged.connect(self._on_control)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.badge = QLabel("…")
        self.badge.setObjectName("badge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setToolTip("Verdict of the generated network's gradient flow over T steps")
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)

        readouts = QWidget()
        grid = QGridLayout(readouts)
        grid.setContentsMargins(4, 0, 4, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        names = [("radius", "ρ(W_hh)", "Spectral radius: the largest eigenvalue modulus"),
                 ("norm", "‖W_hh‖₂", "Spectral norm: the largest singular value, a bound on one step's stretch"),
                 ("rate", "per step", "Average factor per backward step of the measured flow "
                                      "(least-squares slope of log10 ‖dL/dh_t‖: the largest Lyapunov exponent)"),
                 ("horizon", "memory", "Memory horizon: steps until the signal has fallen by the vanishing "
                                       "threshold (10⁻⁶) at the average rate")]
        self._captions = {key: text for key, text, _tip in names}
        self.readouts: dict[str, QLabel] = {}
        for i, (key, _text, tip) in enumerate(names):
            row, col = divmod(i, 2)
            value = QLabel("–")
            value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            value.setToolTip(tip)
            grid.addWidget(value, row, col)
            self.readouts[key] = value
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
        self.eig_points = pg.ScatterPlotItem()
        for item in (self.unit_circle, self.norm_circle, self.radius_circle, self.eig_points):
            pp.addItem(item)
        self.unit_circle.setData(*_circle(1.0))
        self.plane.set_legend([(self.eig_points, "eigenvalues of W_hh"), (self.unit_circle, "unit circle |λ| = 1"),
                               (self.radius_circle, "spectral radius ρ"), (self.norm_circle, "spectral norm ‖W‖₂")])
        self.tabs.addTab(self.plane, VIEW_TITLES["eigenvalues"])

        # singular values of each step's Jacobian
        self.jac_chart = make_plot(t, "", "time step t", "singular values of J_t", legend_columns=2)
        jp = self.jac_chart.getPlotItem()
        self.sv_max = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sv_median = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sv_min = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sv_band = pg.FillBetweenItem(self.sv_max, self.sv_min)
        self.sv_norm_line = pg.InfiniteLine(angle=0, movable=False)
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
                                   (self.sv_band_swatch, "all n of them"), (self.sv_norm_swatch, "‖W_hh‖₂ (unsaturated)"),
                                   (self.sv_one_swatch, "1")])
        self.tabs.addTab(self.jac_chart, VIEW_TITLES["jacobians"])

        # the matrix editor
        editor = _ReflowWidget(self)
        el = QVBoxLayout(editor)
        el.setContentsMargins(0, 0, 0, 0)
        top = QGridLayout()
        top.setContentsMargins(0, 0, 0, 0)
        self.matrix_top = top
        left = QVBoxLayout()
        size_row = QHBoxLayout()
        size_label = QLabel("Size n")
        self.matrix_size = QSpinBox()
        self.matrix_size.setRange(1, 4)
        self.matrix_size.setValue(2)
        self.matrix_size.setToolTip("Size of your matrix (1 to 4)")
        size_row.addWidget(size_label)
        size_row.addWidget(self.matrix_size)
        size_row.addStretch(1)
        left.addLayout(size_row)
        self.matrix_table = QTableWidget(2, 2)
        self.matrix_table.setToolTip("Type the entries of W_hh (row i, column j); h_t = f(W_hh h_{t−1})")
        self.matrix_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix_table.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
        self.matrix_table.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        left.addWidget(self.matrix_table)
        self.example_button = QPushButton("Seeds' example")
        self.example_button.setToolTip("Back to [[0.5, 0.3], [0.2, 0.4]], the seeds' exercise")
        left.addWidget(self.example_button)
        left.addStretch(1)
        top.addLayout(left, 0, 0)
        self.matrix_label = QLabel()
        self.matrix_label.setWordWrap(True)
        self.matrix_label.setTextFormat(Qt.TextFormat.RichText)
        self.matrix_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.matrix_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        el.addLayout(top, 0)
        self.matrix_chart = make_plot(t, "", "time step t", "‖dL/dh_t‖ (log scale)", log_y=True, legend_columns=2)
        mp = self.matrix_chart.getPlotItem()
        self.matrix_measured = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.matrix_predicted = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.matrix_vanish = threshold_line(t, t.vanish, "vanishing threshold 10⁻⁶")
        self.matrix_explode = threshold_line(t, t.explode, "exploding threshold 10³")
        self.matrix_vanish.setValue(math.log10(VANISH_THRESHOLD))
        self.matrix_explode.setValue(math.log10(EXPLODE_THRESHOLD))
        mp.addItem(self.matrix_predicted)
        mp.addItem(self.matrix_measured)
        mp.addItem(self.matrix_vanish, ignoreBounds=True)
        mp.addItem(self.matrix_explode, ignoreBounds=True)
        self.matrix_chart.set_legend([(self.matrix_measured, "measured"),
                                      (self.matrix_predicted, "predicted ρ(J₀)^(T−t)")])
        # the typed matrix's eigenvalues against the unit circle, beside its flow
        # no legend row (the height is precious): the readout's coloured ● and ✕ name the two point sets
        self.matrix_plane = make_plot(t, "", "real", "imaginary", legend=False)
        self.matrix_plane.setToolTip("Your matrix's eigenvalues (●) and, when f′(0) ≠ 1, those of J₀ (✕), "
                                     "against the unit circle |λ| = 1")
        mpp = self.matrix_plane.getPlotItem()
        mpp.setAspectLocked(True)
        self.matrix_unit = pg.PlotDataItem()
        self.matrix_unit.setData(*_circle(1.0))
        self.matrix_eig = pg.ScatterPlotItem()
        self.matrix_jeig = pg.ScatterPlotItem(symbol="x")
        for item in (self.matrix_unit, self.matrix_eig, self.matrix_jeig):
            mpp.addItem(item)
        top.addWidget(self.matrix_plane, 0, 1)
        top.addWidget(self.matrix_label, 0, 2)
        top.setColumnStretch(2, 1)
        self._label_beside = True
        el.addWidget(self.matrix_chart, 1)
        # a short window scrolls this tab rather than squash its chart to nothing
        self.matrix_scroll = QScrollArea()
        self.matrix_scroll.setWidgetResizable(True)
        self.matrix_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.matrix_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.matrix_scroll.setWidget(editor)
        self.tabs.addTab(self.matrix_scroll, VIEW_TITLES["matrix"])
        self._fill_matrix_table(SEED_MATRIX)

        # the sweep
        sweep = QWidget()
        sl = QVBoxLayout(sweep)
        sl.setContentsMargins(0, 0, 0, 0)
        self.sweep_label = QLabel()
        self.sweep_label.setWordWrap(True)
        self.sweep_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        sl.addWidget(self.sweep_label)
        self.sweep_chart = make_plot(t, "", "spectral norm ‖W_hh‖₂", "‖dL/dh_1‖ (log scale)", log_y=True,
                                     legend_columns=2)
        sp = self.sweep_chart.getPlotItem()
        self.sweep_low = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sweep_high = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sweep_band = pg.FillBetweenItem(self.sweep_low, self.sweep_high)
        self.sweep_median = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.sweep_band_swatch = pg.PlotDataItem(fillLevel=0.0)
        self.sweep_marks = pg.ScatterPlotItem()
        self.sweep_errors = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0))
        self.sweep_one = pg.InfiniteLine(pos=1.0, angle=90, movable=False)
        self.sweep_vanish = threshold_line(t, t.vanish, "vanishing threshold 10⁻⁶")
        self.sweep_explode = threshold_line(t, t.explode, "exploding threshold 10³")
        self.sweep_vanish.setValue(math.log10(VANISH_THRESHOLD))
        # the curve rises to the right: its label goes right, where the curve is far above the line
        self.sweep_vanish.label.anchors = [(1, 1), (1, 1)]
        self.sweep_vanish.label.setPosition(0.98)
        self.sweep_explode.setValue(math.log10(EXPLODE_THRESHOLD))
        # left of and above each marked point: the curve rises to the right, so that corner is free
        # (the vanishing label sits bottom right, the exploding one top left above the curve)
        self.sweep_mark_labels = [pg.TextItem(anchor=(1.08, 0.95)) for _ in MARKED_NORMS]
        sp.addItem(self.sweep_band)
        for item in (self.sweep_low, self.sweep_high, self.sweep_median, self.sweep_errors, self.sweep_marks):
            sp.addItem(item)
        for item in (self.sweep_one, self.sweep_vanish, self.sweep_explode):
            sp.addItem(item, ignoreBounds=True)
        for label in self.sweep_mark_labels:
            sp.addItem(label, ignoreBounds=True)
        self.sweep_chart.set_legend([(self.sweep_median, "median over seeds"), (self.sweep_band_swatch, "min … max"),
                                     (self.sweep_marks, "‖W‖₂ = 0.8, 1.0, 1.2")])
        sl.addWidget(self.sweep_chart, 1)
        self.tabs.addTab(sweep, VIEW_TITLES["sweep"])

        self.matrix_size.valueChanged.connect(self._on_matrix_size)
        self.matrix_table.itemChanged.connect(self._on_matrix_edit)
        self.example_button.clicked.connect(lambda: self.apply_settings({"matrix": SEED_MATRIX}))
        self.apply_theme(t)

    def apply_theme(self, theme) -> None:
        t = theme
        for chart in (self.plane, self.jac_chart, self.matrix_chart, self.matrix_plane, self.sweep_chart):
            style_plot(chart, t)
        self.matrix_unit.setPen(curve_pen(t.foreground, t, scale=0.6))
        self.matrix_chart.setMinimumHeight(280 if t.projector else 200)
        side = 250 if t.projector else 200
        self.matrix_plane.setFixedSize(side, side)
        self._reflow_matrix()
        self.matrix_eig.setBrush(pg.mkBrush(t.series[0]))
        self.matrix_eig.setPen(pg.mkPen(t.foreground, width=1))
        self.matrix_eig.setSize(t.marker_size * 1.2)
        self.matrix_jeig.setBrush(pg.mkBrush(t.series[3]))
        self.matrix_jeig.setPen(pg.mkPen(t.series[3], width=2))
        self.matrix_jeig.setSize(t.marker_size * 1.2)
        self.unit_circle.setPen(curve_pen(t.foreground, t, scale=0.6))
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
        # thick solid measured under a thin dashed prediction: both stay visible where they agree
        self.matrix_measured.setPen(curve_pen(t.series[0], t, scale=1.8))
        self.matrix_predicted.setPen(curve_pen(t.series[3], t, Qt.PenStyle.DashLine, 0.7))
        self.matrix_predicted.setZValue(5)
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
        self.sweep_one.setPen(curve_pen(t.muted, t, Qt.PenStyle.DotLine, 0.5))
        for label in self.sweep_mark_labels:
            label.setColor(t.foreground)
            font = label.textItem.font()
            font.setPointSize(max(8, t.font_pt - 1))
            label.setFont(font)
        for line, colour in ((self.matrix_vanish, t.vanish), (self.matrix_explode, t.explode),
                             (self.sweep_vanish, t.vanish), (self.sweep_explode, t.explode)):
            line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
            line.label.setColor(colour)
            line.label.fill = pg.mkBrush(t.background)
            font = line.label.textItem.font()
            font.setPointSize(max(8, t.font_pt - 1))
            line.label.setFont(font)
        for chart in (self.plane, self.jac_chart, self.matrix_chart, self.matrix_plane, self.sweep_chart):
            style_plot(chart, t)
        if self._network is not None:
            self._draw_network(self._network)
        if self._study is not None:
            self._draw_matrix(self._study)
        if self._sweep is not None:
            self._draw_sweep(self._sweep)

    # -- settings -------------------------------------------------------------------------------------
    def generator_settings(self) -> GeneratorSettings:
        return GeneratorSettings(hidden=int(self.hidden.value()), input=_INPUTS, steps=int(self.steps.value()),
                                 activation=self.activation.value(), init=self.init.value(),
                                 scale=float(self.scale.value()), input_scale=float(self.input_scale.value()),
                                 seed=int(self.seed.value()))

    def sweep_job(self) -> SweepJob:
        g = self.generator_settings()
        settings = GeneratorSettings(hidden=g.hidden, input=_INPUTS, steps=int(self.sweep_steps.value()),
                                     activation=g.activation, init=g.init, scale=1.0, input_scale=g.input_scale,
                                     seed=g.seed)
        return SweepJob(settings, tuple(range(g.seed, g.seed + int(self.sweep_seeds.value()))))

    def matrix(self) -> list[list[float]]:
        """The matrix in the editor (the last accepted value of every cell)."""
        n = self.matrix_table.rowCount()
        return [[float(self.matrix_table.item(i, j).data(Qt.ItemDataRole.UserRole)) for j in range(n)]
                for i in range(n)]

    def matrix_job(self) -> MatrixJob:
        return MatrixJob(tuple(tuple(r) for r in self.matrix()), self.activation.value(), int(self.steps.value()))

    def settings(self) -> dict:
        g = self.generator_settings()
        return {"activation": g.activation, "init": g.init, "scale": g.scale, "hidden": g.hidden, "seed": g.seed,
                "input_scale": g.input_scale, "steps": g.steps, "matrix": self.matrix(),
                "sweep_steps": int(self.sweep_steps.value()), "sweep_seeds": int(self.sweep_seeds.value()),
                "view": VIEWS[self.tabs.currentIndex()]}

    def apply_settings(self, settings: dict) -> None:
        if not isinstance(settings, dict):
            raise ValueError("spectrum: settings must be a dictionary")
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"spectrum: unknown setting '{sorted(unknown)[0]}' (takes: {', '.join(DEFAULTS)})")
        values: dict = {}
        for key, value in settings.items():
            if key == "view":
                if value not in VIEWS:
                    raise ValueError(f"spectrum: unknown view {value!r} (one of: {', '.join(VIEWS)})")
            elif key == "activation":
                if value not in ACTIVATIONS:
                    raise ValueError(f"spectrum: unknown activation {value!r} (one of: {', '.join(ACTIVATIONS)})")
            elif key == "init":
                if value not in INITIALISERS:
                    raise ValueError(f"spectrum: unknown init {value!r} (one of: {', '.join(INITIALISERS)})")
            elif key == "matrix":
                value = check_matrix(value, "spectrum: matrix").tolist()
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"spectrum: '{key}' must be a finite number, got {value!r}")
                if key in _INTEGER_KEYS:
                    if float(value) != int(value):
                        raise ValueError(f"spectrum: '{key}' must be a whole number, got {value!r}")
                    value = int(value)
                lo, hi = LIMITS[key]
                if not lo <= value <= hi:
                    raise ValueError(f"spectrum: '{key}' = {value} is outside {lo:g}..{hi:g}")
            values[key] = value
        self._updating = True
        try:
            if "activation" in values:
                self.activation.set_value(values["activation"])
            if "init" in values:
                self.init.set_value(values["init"])
            for key in ("scale", "hidden", "input_scale", "steps", "sweep_steps"):
                if key in values:
                    getattr(self, key).setValue(values[key])
            if "seed" in values:
                self.seed.setValue(values["seed"])
            if "sweep_seeds" in values:
                self.sweep_seeds.setValue(values["sweep_seeds"])
            if "matrix" in values:
                self._fill_matrix_table(values["matrix"])
            if "view" in values:
                self.tabs.setCurrentIndex(VIEWS.index(values["view"]))
        finally:
            self._updating = False
        self.refresh()

    def reset(self) -> None:
        self.apply_settings({k: (v if k != "matrix" else [list(r) for r in v]) for k, v in DEFAULTS.items()})

    def _on_control(self, *_args) -> None:
        if self._updating:
            return
        self.refresh()

    # -- the matrix editor ----------------------------------------------------------------------------
    def _fill_matrix_table(self, matrix: list[list[float]]) -> None:
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

    def _reflow_matrix(self) -> None:
        """The readout goes right of the little plane when there is room, else below the editor row."""
        width = self.matrix_scroll.viewport().width() if hasattr(self, "matrix_scroll") else 10_000
        room = width - self.matrix_plane.width() - self.matrix_table.sizeHint().width() - 40
        beside = room >= (420 if self.theme.projector else 300)
        if beside == self._label_beside:
            return
        self.matrix_top.removeWidget(self.matrix_label)
        if beside:
            self.matrix_top.addWidget(self.matrix_label, 0, 2)
        else:
            self.matrix_top.addWidget(self.matrix_label, 1, 0, 1, 3)
        self._label_beside = beside

    def _on_matrix_size(self, n: int) -> None:
        old = self.matrix()
        size = len(old)
        grown = [[old[i][j] if i < size and j < size else (0.0 if i != j else 0.5) for j in range(n)]
                 for i in range(n)]
        self._fill_matrix_table(grown)
        if not self._updating:
            self.request(compute_matrix, self.matrix_job(), key="matrix")

    def _on_matrix_edit(self, item: QTableWidgetItem) -> None:
        previous = item.data(Qt.ItemDataRole.UserRole)
        text = item.text().strip().replace("−", "-").replace(",", ".")
        try:
            value = float(text)
            if not math.isfinite(value) or abs(value) > 100:
                raise ValueError
        except ValueError:
            blocked = self.matrix_table.blockSignals(True)
            item.setText(f"{float(previous):g}")
            self.matrix_table.blockSignals(blocked)
            self.context.show_error(f"Matrix entry {item.text()!r} kept: type a number between −100 and 100")
            return
        blocked = self.matrix_table.blockSignals(True)
        item.setData(Qt.ItemDataRole.UserRole, value)
        self.matrix_table.blockSignals(blocked)
        if not self._updating:
            self.request(compute_matrix, self.matrix_job(), key="matrix")

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.request(compute_network, self.generator_settings(), key="network")
        self.request(compute_matrix, self.matrix_job(), key="matrix")
        job = self.sweep_job()
        if job != self._sweep_job or self._sweep is None:
            self._sweep_job = job
            self.request(compute_sweep, job, key="sweep")

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

    def _set_readout(self, key: str, text: str) -> None:
        self.readouts[key].setText(
            f"<span style='color:{self.theme.muted}'>{self._captions[key]}</span>&nbsp; <b>{text}</b>")

    def _draw_network(self, r: NetworkSpectrum) -> None:
        t = self.theme
        eig = r.spectrum.eigenvalues
        self.eig_points.setData(x=eig.real.astype(np.float64), y=eig.imag.astype(np.float64))
        self.radius_circle.setData(*_circle(r.spectrum.spectral_radius))
        self.norm_circle.setData(*_circle(r.spectrum.spectral_norm))
        extent = max(1.0, r.spectrum.spectral_norm) * 1.08
        self.plane.getPlotItem().setRange(xRange=(-extent, extent), yRange=(-extent, extent), padding=0.02)

        sv = r.step_singular_values  # NaN rows where the forward pass overflowed (connect='finite' skips them)
        x = r.step_t.astype(np.float64)
        self.sv_max.setData(x, sv[:, 0])
        self.sv_min.setData(x, sv[:, -1])
        self.sv_median.setData(x, r.step_singular_median)
        self.sv_norm_line.setValue(r.spectrum.spectral_norm)
        self.sv_one_line.setValue(1.0)
        finite = sv[np.isfinite(sv)]
        hi = float(finite.max()) if finite.size else 1.0
        ymax = max(hi, r.spectrum.spectral_norm, 1.0) * 1.08
        self.jac_chart.getPlotItem().setRange(xRange=(x[0] - 0.5, x[-1] + 0.5), yRange=(0.0, ymax), padding=0.02)

        self._set_readout("radius", _number(r.spectrum.spectral_radius))
        self._set_readout("norm", _number(r.spectrum.spectral_norm))
        rate = r.log10_rate
        self._set_readout("rate", "–" if not math.isfinite(rate) else f"× {format_power(rate)}")
        horizon = r.memory_horizon
        self._set_readout("horizon", "no decay: unbounded" if not math.isfinite(horizon)
                          else f"≈ {horizon:.0f} steps")
        kind = r.flow.verdict.kind
        text = {"healthy": f"HEALTHY\nover T = {r.flow.steps}", "vanishing": f"VANISHING\nfrom t = {r.flow.verdict.first_t}",
                "exploding": f"EXPLODING\nfrom t = {r.flow.verdict.first_t}"}[kind]
        self.badge.setText(text)
        self.badge.setToolTip(r.flow.verdict.describe())
        colour = t.verdict_colour(kind)
        self.badge.setStyleSheet(f"background: {colour}; color: {'#000000' if not t.projector else '#ffffff'};")

    def _draw_matrix(self, s: MatrixStudy) -> None:
        t = self.theme
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
        pred = np.where(np.isfinite(s.log10_predicted), s.log10_predicted, floor)
        self.matrix_predicted.setData(x, np.clip(pred, floor, None))
        ymin = min(lo, math.log10(VANISH_THRESHOLD)) - 0.8
        near_explode = hi > 0.5 * math.log10(EXPLODE_THRESHOLD)
        self.matrix_explode.setVisible(near_explode)  # only when the curve heads that way: room for the rest
        ymax = (max(hi, math.log10(EXPLODE_THRESHOLD)) if near_explode else max(hi, 0.0)) + 1.0
        self.matrix_chart.getPlotItem().setRange(xRange=(0.5, flow.steps + 0.5), yRange=(ymin, ymax), padding=0.02)

        eig = s.spectrum.eigenvalues
        self.matrix_eig.setData(x=eig.real.astype(np.float64), y=eig.imag.astype(np.float64))
        same = s.slope_at_zero == 1.0  # J0 = W_hh: one set of eigenvalues
        jeig = s.jacobian_spectrum.eigenvalues
        self.matrix_jeig.setData(x=jeig.real.astype(np.float64), y=jeig.imag.astype(np.float64))
        self.matrix_jeig.setVisible(not same)
        extent = max(1.0, float(np.max(np.abs(eig)))) * 1.1
        self.matrix_plane.getPlotItem().setRange(xRange=(-extent, extent), yRange=(-extent, extent), padding=0.02)
        rows = "<br>".join("[" + ", ".join(f"{v:.3g}" for v in row) + "]" for row in s.jacobian)
        eig_w = ", ".join(_complex(z) for z in s.spectrum.eigenvalues)
        eig_j = ", ".join(_complex(z) for z in s.jacobian_spectrum.eigenvalues)
        rho = s.jacobian_spectrum.spectral_radius
        word = {"vanish": "vanish", "explode": "explode", "marginal": "neither (on the edge)"}[s.prediction]
        sign = {"vanish": "&lt;", "explode": "&gt;", "marginal": "="}[s.prediction]
        kind = s.measured
        colour = t.verdict_colour(kind)
        measured = (f"<b style='color:{colour}'>{kind}</b>"
                    + (f" from t = {flow.verdict.first_t}" if flow.verdict.first_t else ""))
        factor = flow.log10_mean_factor
        per_step = "–" if not math.isfinite(factor) else format_power(factor)
        muted = f"style='color:{t.muted}'"
        if same:
            jacobian = f"<span {muted}>Jacobian at h = 0:</span> J₀ = W_hh, since f′(0) = 1"
        else:
            jacobian = (f"<span {muted}>Jacobian at h = 0:</span> J₀ = f′(0)·W_hh, f′(0) = {s.slope_at_zero:g}"
                        f"<br><span style='font-family:monospace'>{rows}</span>")
        dot = f"<span style='color:{t.series[0]}'>●</span>"
        cross = f"<span style='color:{t.series[3]}'>✕</span>"
        eig_j_line = "" if same else f"<br>{cross} <span {muted}>λ(J₀):</span> {eig_j}"
        self.matrix_label.setText(
            f"{jacobian}"
            f"<br>{dot} <span {muted}>λ(W_hh):</span> {eig_w}{eig_j_line}"
            f"<br><span {muted}>predicts</span> <b>{word}</b> (ρ(J₀) = {rho:.3g} {sign} 1)"
            f"<br><span {muted}>measured:</span> {measured}, × {per_step}/step")

    def _draw_sweep(self, s: NormSweep) -> None:
        t = self.theme
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
        for label, norm, value, raw in zip(self.sweep_mark_labels, mx, m_med, s.marked_median, strict=True):
            label.setText(format_power(raw, 2))
            label.setPos(float(norm), float(value))
        ymin = min(lo, math.log10(VANISH_THRESHOLD)) - 0.8
        ymax = max(hi, math.log10(EXPLODE_THRESHOLD)) + 1.5
        self.sweep_chart.getPlotItem().setRange(xRange=(x[0] - 0.03, x[-1] + 0.03), yRange=(ymin, ymax),
                                                padding=0.02)
        job = self._sweep_job
        settings = job.settings if job is not None else None
        ratio = float(np.median(s.radius_over_norm))
        where = (f"{settings.activation}, {settings.init}, n = {settings.hidden}" if settings is not None else "")
        marks = ", ".join(f"{n:.1f} → {format_power(v, 2)}" for n, v in zip(mx, s.marked_median, strict=True))
        self.sweep_label.setText(
            f"‖dL/dh_1‖ after T = {s.steps} steps, {len(s.seeds)} seeds, {where}, ρ/‖W‖₂ ≈ {ratio:.2f}."
            f"<br><span style='color:{t.muted}'>median at ‖W‖₂ =</span> {marks}")
        self.sweep_label.setToolTip("ρ/‖W‖₂ is the spectral radius over the spectral norm of the drawn matrices: "
                                    "the norm bounds each step, the radius decides the long run. "
                                    "For orthogonal matrices both are equal; for Gaussian ones the radius is "
                                    "about half the norm, so even ‖W‖₂ = 1.5 can vanish.")

    # -- export ---------------------------------------------------------------------------------------
    def export_plot(self):
        return (self.plane, self.jac_chart, self.matrix_chart, self.sweep_chart)[self.tabs.currentIndex()]


    def export_columns(self) -> dict | None:
        view = VIEWS[self.tabs.currentIndex()]
        if view == "sweep" and self._sweep is not None:
            s = self._sweep
            cols = {"spectral_norm": s.norms, "log10_grad_h1_median": s.median, "log10_grad_h1_min": s.low,
                    "log10_grad_h1_max": s.high}
            for j, seed in enumerate(s.seeds):
                cols[f"log10_grad_h1_seed{seed}"] = s.log10_grad_h1[:, j]
            return cols
        if view == "matrix" and self._study is not None:
            f = self._study.flow
            return {"t": [int(v) for v in f.t], "log10_grad_norm": f.log10_grad_norm,
                    "log10_predicted": self._study.log10_predicted}
        r = self._network
        if r is None:
            return None
        if view == "jacobians":
            cols = {"t": [int(v) for v in r.step_t]}
            for k in range(r.step_singular_values.shape[1]):
                cols[f"sv{k + 1}"] = r.step_singular_values[:, k]
            return cols
        return {"eigenvalue_real": r.spectrum.eigenvalues.real, "eigenvalue_imag": r.spectrum.eigenvalues.imag}

    @property
    def network(self) -> NetworkSpectrum | None:
        return self._network

    @property
    def sweep(self) -> NormSweep | None:
        return self._sweep

    @property
    def study(self) -> MatrixStudy | None:
        return self._study
