"""Scene ``flow``: the gradient flowing backward through time, animated, with its exact numbers.

The reference scene: controls -> ``settings()`` -> worker -> :func:`gradient_flow` -> ``on_result``
-> chain view, log chart and readouts. The chart plots exact log10 values, so a gradient of
10^-1800 is drawn where it belongs and marked as beyond float64, never a silent gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGraphicsItem,
    QGridLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...engine.activations import ACTIVATIONS, get_activation
from ...engine.flow import FlowResult, gradient_flow
from ...engine.init import INIT_LABELS, INITIALISERS
from ...engine.scenario import GeneratorSettings, Scenario, load_scenario, scenario_from_dict
from ...engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD
from ...paths import resource
from ..chain import BackwardPulse, ChainView
from ..controls import Choice, PulseControls, ReadoutLabel, SliderSpin, ThresholdBox
from ..plots import (
    clean_log10,
    curve_pen,
    format_power,
    make_plot,
    power_label,
    reserve_tick_width,
    settle_view,
    style_plot,
    threshold_line,
)
from .base import Scene

DEFAULTS = GeneratorSettings(hidden=32, input=4, steps=100, activation="tanh", init="gaussian", scale=0.9,
                             input_scale=0.5, seed=0)

# The seeds' "things to try", and more. Each is a partial settings dict, or a file.
PRESETS: dict[str, tuple[str, dict]] = {
    "custom": ("Custom", {}),
    "sigmoid20": ("Sigmoid, scale 1.0, 20 steps: blind beyond step 10",
                  {"activation": "sigmoid", "scale": 1.0, "steps": 20, "init": "gaussian"}),
    "tanh12": ("tanh at 1.2: mild explosion", {"activation": "tanh", "scale": 1.2, "steps": 50, "init": "gaussian",
                                               "input_scale": 0.1}),
    "tanh10": ("tanh at 1.0: the fragile edge", {"activation": "tanh", "scale": 1.0, "steps": 50, "init": "gaussian"}),
    "pytorch": ("The seeds' PyTorch example (n = 4, T = 20)", {"file": "pytorch_example.gradsim.json"}),
    "norm095": ("Orthogonal, gain 0.95, 100 steps, linear", {"activation": "identity", "init": "orthogonal",
                                                           "scale": 0.95, "steps": 100}),
    "norm105": ("Orthogonal, gain 1.05, 100 steps, linear", {"activation": "identity", "init": "orthogonal",
                                                           "scale": 1.05, "steps": 100}),
    "irnn": ("IRNN: ReLU with identity weights", {"activation": "relu", "init": "identity", "scale": 1.0,
                                                  "steps": 200}),
    "sigmoid1000": ("Sigmoid over 1000 steps: far below float64", {"activation": "sigmoid", "scale": 1.0,
                                                                   "steps": 1000}),
    "explode": ("Linear, scale 2.0, 1000 steps: beyond float64", {"activation": "identity", "init": "orthogonal",
                                                                  "scale": 2.0, "steps": 1000}),
}

_GENERATOR_KEYS = ("hidden", "input", "steps", "activation", "init", "scale", "input_scale", "seed")


@dataclass
class FlowJob:
    """What the worker computes: the scenario (built in the worker) and the thresholds."""

    settings: GeneratorSettings | None
    scenario: Scenario | None
    vanish: float
    explode: float


def compute_flow(job: FlowJob) -> FlowResult:
    """Runs on the worker thread: build the scenario, compute the flow and its derived figures."""
    scenario = job.scenario if job.scenario is not None else job.settings.build()
    result = gradient_flow(scenario, job.vanish, job.explode)
    if job.settings is not None:  # generated weights: the spectrum scales with the weight scale
        result.extra["spectral_radius"], result.extra["spectral_norm"] = job.settings.spectrum()
    _ = result.spectral_radius, result.spectral_norm, result.log10_bound  # computed here, not in the GUI
    result.extra["scenario"] = scenario
    return result


def _set_marks(marks: pg.ScatterPlotItem, x: np.ndarray, y: np.ndarray, size: float) -> None:
    """Show these markers, or none. Most results have none, and a scatter that stays empty is
    left alone (an empty ``setData`` still costs a tenth of a millisecond per marker kind)."""
    if x.size or marks.data.size:
        marks.setData(x=x, y=y, size=size)
    marks.setVisible(bool(x.size))


class FlowScene(Scene):
    scene_id = "flow"
    title = "Gradient flow through time"
    summary = "‖dL/dh_t‖ at every step: the learning signal shrinks or grows by a factor per step."
    has_animation = True

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._explicit: Scenario | None = None
        self._result: FlowResult | None = None
        self._updating = False

        preset_box = QGroupBox("Presets")
        pl = QVBoxLayout(preset_box)
        self.preset = Choice([(k, v[0]) for k, v in PRESETS.items()], "custom",
                             tooltip="Ready-made configurations: the seeds' things to try and more")
        pl.addWidget(self.preset)
        layout.addWidget(preset_box)

        net = QGroupBox("Network")
        form = QFormLayout(net)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.activation = Choice([(a, get_activation(a).label) for a in ACTIVATIONS], DEFAULTS.activation,
                                 tooltip="f in h_t = f(W_hh h_{t-1} + W_xh x_t). Sigmoid's derivative is at most 0.25.")
        self.scale = SliderSpin(0.0, 2.5, 0.01, DEFAULTS.scale,
                                tooltip="Weight scale: the spectral radius of W_hh (gain for orthogonal and identity)")
        self.steps = SliderSpin(1, 1000, 1, DEFAULTS.steps, integer=True, tooltip="Sequence length T")
        self.hidden = SliderSpin(1, 256, 1, DEFAULTS.hidden, integer=True, tooltip="Hidden size n (W_hh is n × n)")
        self.init = Choice([(i, INIT_LABELS[i]) for i in INITIALISERS], DEFAULTS.init,
                           tooltip="How W_hh is drawn before it is scaled")
        self.input_scale = SliderSpin(0.0, 3.0, 0.05, DEFAULTS.input_scale,
                                      tooltip="Standard deviation of the inputs x_t; large inputs saturate tanh and sigmoid")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999_999)
        self.seed.setValue(DEFAULTS.seed)
        self.seed.setToolTip("Random seed of weights and inputs: the same seed gives the same picture")
        form.addRow("Activation", self.activation)
        form.addRow("Weight scale", self.scale)
        form.addRow("Steps T", self.steps)
        form.addRow("Hidden n", self.hidden)
        form.addRow("Initialiser", self.init)
        form.addRow("Input scale", self.input_scale)
        form.addRow("Seed", self.seed)
        layout.addWidget(net)

        self.threshold_box = ThresholdBox()
        self.vanish_exp, self.explode_exp = self.threshold_box.vanish_exp, self.threshold_box.explode_exp
        layout.addWidget(self.threshold_box)

        self.pulse = BackwardPulse(self)
        self.pulse_controls = PulseControls(self.pulse, "Send the gradient backward from L (Space)", speed=10)
        pc = self.pulse_controls
        self.play_button, self.back_button, self.fwd_button, self.rewind_button, self.speed = (
            pc.play_button, pc.back_button, pc.fwd_button, pc.rewind_button, pc.speed)
        layout.addWidget(pc)

        self.source_label = QLabel()
        self.source_label.setObjectName("caption")
        self.source_label.setWordWrap(True)
        layout.addWidget(self.source_label)


        # wiring
        self.preset.choiceChanged.connect(self._on_preset)
        for w in (self.activation, self.init):
            w.choiceChanged.connect(self._on_control)
        for w in (self.scale, self.steps, self.hidden, self.input_scale):
            w.valueChanged.connect(self._on_control)
        self.seed.valueChanged.connect(self._on_control)
        self.vanish_exp.valueChanged.connect(self._on_control)
        self.explode_exp.valueChanged.connect(self._on_control)
        self.pulse.position_changed.connect(self._on_pulse)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.chain = ChainView(t)
        self.chart = make_plot(t, "", "time step t", "‖dL/dh_t‖ (log scale)", log_y=True, legend_columns=2)
        item = self.chart.getPlotItem()
        self.curve = pg.PlotDataItem(name="‖dL/dh_t‖ (exact)", connect="finite", skipFiniteCheck=True)
        self.bound_curve = pg.PlotDataItem(name="bound ‖g_T‖ (c‖W_hh‖₂)^(T−t)", connect="finite", skipFiniteCheck=True)
        self.below_float = pg.ScatterPlotItem(name="below float64 range (exact log shown)", symbol="t")
        self.zero_marks = pg.ScatterPlotItem(name="exactly 0 (dead units)", symbol="x")
        self.overflow_marks = pg.ScatterPlotItem(name="forward pass overflowed (h_t = ±∞/NaN)", symbol="star")
        self.vanish_line = threshold_line(t, t.vanish, "vanishing threshold")
        self.explode_line = threshold_line(t, t.explode, "exploding threshold", below=True)
        self.cursor = pg.InfiniteLine(angle=90, movable=False)
        self.cursor_proxy = pg.PlotDataItem()  # legend entry for the cursor line (never drawn)
        for it in (self.bound_curve, self.curve, self.below_float, self.zero_marks, self.overflow_marks):
            item.addItem(it)
        for it in (self.vanish_line, self.explode_line, self.cursor):
            item.addItem(it, ignoreBounds=True)

        readouts = QWidget()
        grid = QGridLayout(readouts)
        grid.setContentsMargins(4, 0, 4, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        self.badge = QLabel("…")
        self.badge.setObjectName("badge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setToolTip("Verdict from the thresholds: healthy, vanishing or exploding, and from which step")
        self.readout_labels: dict[str, ReadoutLabel] = {}
        names = [("factor", "per step", "Factor per step: geometric mean of ‖dL/dh_{t−1}‖ / ‖dL/dh_t‖"),
                 ("radius", "ρ(W_hh)", "Spectral radius: the largest eigenvalue modulus of W_hh"),
                 ("total", "left at t=1", "What is left after T−1 steps back: ‖dL/dh_1‖ / ‖dL/dh_T‖"),
                 ("norm", "‖W_hh‖₂", "Spectral norm: the largest singular value of W_hh, which bounds each step's growth")]
        self._readout_captions = {key: text for key, text, _tip in names}
        for i, (key, _text, tip) in enumerate(names):
            row, col = divmod(i, 2)
            value = ReadoutLabel("–")  # may be clipped on a narrow projector window, never widens it
            value.setToolTip(tip)
            grid.addWidget(value, row, 2 * col)
            self.readout_labels[key] = value
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(2, 1)
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chain)
        splitter.addWidget(self.chart)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        layout.addWidget(readouts)
        layout.addWidget(splitter, 1)
        self.apply_theme(t)

    def apply_theme(self, theme) -> None:
        t = theme
        self.chain.apply_theme(t)
        self._style_chart()
        self._size_badge()
        self.curve.setPen(curve_pen(t.series[0], t))
        self.curve.setSymbolBrush(t.series[0])
        self.curve.setSymbolPen(t.series[0])
        self.bound_curve.setPen(curve_pen(t.bound, t, Qt.PenStyle.DotLine, 0.8))
        self.below_float.setBrush(pg.mkBrush(t.series[3]))
        self.below_float.setPen(pg.mkPen(t.foreground))
        self.zero_marks.setPen(pg.mkPen(t.foreground, width=2))
        self.zero_marks.setBrush(pg.mkBrush(t.foreground))
        self.overflow_marks.setBrush(pg.mkBrush(t.explode))
        self.overflow_marks.setPen(pg.mkPen(t.foreground))
        for line, colour in ((self.vanish_line, t.vanish), (self.explode_line, t.explode)):
            line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
            line.label.setColor(colour)
            font = line.label.textItem.font()
            font.setPointSize(max(8, t.font_pt - 1))
            line.label.setFont(font)
        self.cursor.setPen(pg.mkPen(t.highlight, width=max(1.0, t.line_width * 0.6)))
        self.cursor_proxy.setPen(self.cursor.pen)
        self._legend_key = None
        if self._result is not None:
            self._draw(self._result)

    # -- settings -------------------------------------------------------------------------------------
    def generator_settings(self) -> GeneratorSettings:
        return GeneratorSettings(
            hidden=int(self.hidden.value()), input=DEFAULTS.input, steps=int(self.steps.value()),
            activation=self.activation.value(), init=self.init.value(), scale=float(self.scale.value()),
            input_scale=float(self.input_scale.value()), seed=int(self.seed.value()),
        )

    def thresholds(self) -> tuple[float, float]:
        return 10.0 ** self.vanish_exp.value(), 10.0 ** self.explode_exp.value()

    def settings(self) -> dict:
        vanish, explode = self.thresholds()
        out = {**{k: getattr(self.generator_settings(), k) for k in _GENERATOR_KEYS},
               "vanish": vanish, "explode": explode, "preset": self.preset.value(), "speed": self.speed.value()}
        if self._explicit is not None:
            doc = self._explicit.to_json_dict()
            if self._explicit.name:
                doc["name"] = self._explicit.name
            out["scenario"] = doc
        return out

    def apply_settings(self, settings: dict) -> None:
        unknown = set(settings) - set(_GENERATOR_KEYS) - {"vanish", "explode", "preset", "speed", "scenario"}
        if unknown:
            raise ValueError(f"flow: unknown setting '{sorted(unknown)[0]}'")
        if "preset" in settings and settings["preset"] not in PRESETS:
            raise ValueError(f"flow: unknown preset {settings['preset']!r}")
        merged = {k: settings.get(k, v) for k, v in self.settings().items() if k in _GENERATOR_KEYS}
        try:
            candidate = replace(DEFAULTS, **merged).validated("flow")
        except TypeError as exc:
            raise ValueError(f"flow: {exc}") from None
        if candidate.hidden > 256 or candidate.steps > 1000:
            raise ValueError("flow: the app shows up to 256 hidden units and 1000 steps")
        vanish = float(settings.get("vanish", self.thresholds()[0]))
        explode = float(settings.get("explode", self.thresholds()[1]))
        if not (0 < vanish < 1 < explode):
            raise ValueError("flow: thresholds must satisfy 0 < vanish < 1 < explode")
        explicit = None
        if settings.get("scenario") is not None:
            explicit = scenario_from_dict(settings["scenario"], "flow scenario")
        elif settings.get("preset") in PRESETS and "file" in PRESETS[settings["preset"]][1]:
            explicit = load_scenario(resource("presets", PRESETS[settings["preset"]][1]["file"]))
        self._updating = True
        try:
            self._set_controls(candidate)
            self.vanish_exp.setValue(int(round(math.log10(vanish))))
            self.explode_exp.setValue(int(round(math.log10(explode))))
            if "speed" in settings:
                self.speed.setValue(int(settings["speed"]))
            self.preset.set_value(settings.get("preset", "custom"))
        finally:
            self._updating = False
        self._explicit = explicit if explicit is not None and explicit.generator is None else None
        self.refresh()

    def _set_controls(self, s: GeneratorSettings) -> None:
        self.activation.set_value(s.activation)
        self.init.set_value(s.init)
        self.scale.setValue(s.scale)
        self.steps.setValue(s.steps)
        self.hidden.setValue(s.hidden)
        self.input_scale.setValue(s.input_scale)
        self.seed.setValue(s.seed)

    def reset(self) -> None:
        self.apply_settings({**{k: getattr(DEFAULTS, k) for k in _GENERATOR_KEYS}, "vanish": VANISH_THRESHOLD,
                             "explode": EXPLODE_THRESHOLD, "preset": "custom", "speed": 10})

    def _on_preset(self, key: str) -> None:
        if self._updating or key == "custom":
            return
        values = dict(PRESETS[key][1])
        values.pop("file", None)
        base = {k: getattr(DEFAULTS, k) for k in _GENERATOR_KEYS}
        base.update(values)
        base["seed"] = int(self.seed.value())
        base["preset"] = key
        main = self.window()
        if hasattr(main, "_push_undo"):
            main._push_undo(f"preset “{PRESETS[key][0]}”", ["flow"])
        try:
            self.apply_settings(base)
        except ValueError as exc:
            self.context.show_error(str(exc))

    def _on_control(self, *_args) -> None:
        if self._updating:
            return
        if self._explicit is not None:
            self._explicit = None
            self.context.show_status("Back to generated weights: the controls describe the network again")
        if self.preset.value() != "custom":
            self._updating = True
            self.preset.set_value("custom")
            self._updating = False
        self.refresh()
        self.settings_changed.emit()

    # -- scenarios ------------------------------------------------------------------------------------
    def open_scenario(self, scenario: Scenario) -> bool:
        if scenario.cell != "rnn":
            return False
        if scenario.generator is not None:
            g = scenario.generator
            if g.hidden > 256 or g.steps > 1000:
                self.context.show_error("This scenario is larger than the app shows (256 units, 1000 steps); "
                                        "use `gradsim flow --scenario` for it")
                return False
            self.apply_settings({k: getattr(g, k) for k in _GENERATOR_KEYS} | {"preset": "custom"})
            return True
        self._updating = True
        try:
            self.activation.set_value(scenario.activation)
            self.hidden.setValue(min(scenario.hidden, 256))
            self.steps.setValue(min(scenario.steps, 1000))
            self.preset.set_value("custom")
        finally:
            self._updating = False
        self._explicit = scenario
        self.refresh()
        return True

    def scenario_document(self) -> dict:
        if self._explicit is not None:
            doc = self._explicit.to_json_dict()
            if self._explicit.name:
                doc["name"] = self._explicit.name
            return doc
        return {"format": "gradsim.scenario/1", **self.generator_settings().to_dict()}

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        vanish, explode = self.thresholds()
        if self._explicit is not None:
            job = FlowJob(None, self._explicit, vanish, explode)
        else:
            job = FlowJob(self.generator_settings(), None, vanish, explode)
        self._update_source_label()
        self.request(compute_flow, job)

    def _update_source_label(self) -> None:
        if self._explicit is not None:
            sc = self._explicit
            name = sc.name or "explicit scenario"
            self.source_label.setText(f"Showing: {name} (n = {sc.hidden}, T = {sc.steps}, every number given). "
                                      "Change a control to go back to generated weights.")
        else:
            self.source_label.setText("Weights and inputs are drawn from the seed; "
                                      "File ▸ Save scenario keeps them.")

    def on_result(self, result: FlowResult, key: str) -> None:
        self._result = result
        self._draw(result)

    def _draw(self, r: FlowResult) -> None:
        t = self.theme
        x = r.t.astype(np.float64)
        logs = r.log10_grad_norm
        finite = logs[np.isfinite(logs)]
        vanish, explode = r.verdict.vanish_threshold, r.verdict.explode_threshold
        lo_data = float(finite.min()) if finite.size else -1.0
        hi_data = float(finite.max()) if finite.size else 1.0
        floor = min(lo_data, math.log10(vanish)) - 1.0
        y, zero = clean_log10(logs, floor)
        few = r.steps <= 60
        self.curve.setData(x, y, symbol="o" if few else None, symbolSize=t.marker_size * 0.8)
        bound = r.log10_bound
        show_bound = np.isfinite(bound).all() and bound.min() > floor - 50
        self.bound_curve.setData(x, np.clip(bound, floor - 5, None) if show_bound else np.array([]) * 1.0,
                                 **({} if show_bound else {"x": np.array([], dtype=np.float64)}))
        below = r.underflow | r.overflow
        _set_marks(self.below_float, x[below], y[below], t.marker_size)
        _set_marks(self.zero_marks, x[zero], y[zero], t.marker_size)
        over = r.forward_overflow
        top = max(hi_data, math.log10(explode)) + 0.5
        _set_marks(self.overflow_marks, x[over], np.full(int(over.sum()), top), t.marker_size)
        thresholds = (vanish, explode)
        if thresholds != getattr(self, "_drawn_thresholds", None):
            # A label's setFormat relayouts its text document and costs a second paint of the chart:
            # only when the thresholds change.
            self._drawn_thresholds = thresholds
            self.vanish_line.setValue(math.log10(vanish))
            self.explode_line.setValue(math.log10(explode))
            self.vanish_line.label.setFormat(f"vanishing threshold {power_label(math.log10(vanish))}")
            self.explode_line.label.setFormat(f"exploding threshold {power_label(math.log10(explode))}")
        ymin = min(lo_data, math.log10(vanish)) - 0.8
        ymax = max(hi_data, math.log10(explode)) + 0.8
        if zero.any():
            ymin = floor - 0.5
        if over.any():
            ymax = top + 0.5
        self.chart.getPlotItem().setRange(xRange=(0.5, r.steps + 0.5), yRange=(ymin, ymax), padding=0.02)
        self._update_legend(below.any(), zero.any(), over.any())
        settle_view(self.chart)

        self.chain.set_values(logs)
        self.pulse.steps = r.steps
        self.pulse.position = min(self.pulse.position, r.steps + 1.0)
        self._on_pulse(self.pulse.position)
        settle_view(self.chain)  # its colour bar's range moved with the data

        factor = r.log10_mean_factor
        values = {
            "factor": "–" if math.isnan(factor) else format_power(factor),
            "total": format_power(r.log10_total_factor),
            "radius": f"{r.spectral_radius:.4g}",
            "norm": f"{r.spectral_norm:.4g}",
        }
        for key, text in values.items():
            self.readout_labels[key].setText(
                f"<span style='color:{t.muted}'>{self._readout_captions[key]}</span>&nbsp; <b>{text}</b>")
        kind = r.verdict.kind
        # Always two lines in a box sized for the widest verdict: a badge that changes size moves the
        # chart below it by a pixel, and Qt then repaints the whole chart a second time.
        text = {"healthy": f"HEALTHY\nover T = {r.steps}", "vanishing": f"VANISHING\nfrom t = {r.verdict.first_t}",
                "exploding": f"EXPLODING\nfrom t = {r.verdict.first_t}"}[kind]
        self.badge.setText(text)
        self.badge.setToolTip(r.verdict.describe())
        colour = t.verdict_colour(kind)
        style = f"background: {colour}; color: {'#000000' if not t.projector else '#ffffff'};"
        if style != self.badge.styleSheet():  # re-polishing a widget costs more than the whole chart update
            self.badge.setStyleSheet(style)

    def _update_legend(self, below: bool, zero: bool, over: bool) -> None:
        wanted = [(self.curve, "‖dL/dh_t‖ (exact)", True),
                  (self.bound_curve, "bound (c‖W_hh‖₂)^(T−t)", True),
                  (self.below_float, "beyond float64 (exact log shown)", below),
                  (self.zero_marks, "exactly 0 (dead units)", zero),
                  (self.overflow_marks, "forward pass overflowed (±∞/NaN)", over),
                  (self.cursor_proxy, "pulse position", True)]
        entries = [(item, label) for item, label, show in wanted if show]
        key = (tuple(label for _item, label in entries), self.theme.name)
        if key == getattr(self, "_legend_key", None):
            return  # rebuilding the legend relayouts the chart: only when its entries change
        self._legend_key = key
        self.chart.set_legend(entries)
        self._style_chart()

    def _size_badge(self) -> None:
        """One fixed size for the two-line badge: the size of its widest possible verdict.

        A label that follows its text asks the whole window to lay out again whenever the verdict
        changes (``from t = 9`` to ``from t = 10``), which cost two extra paint passes per control
        move; the widest verdict still leaves the title room at 1024 pixels in projector mode.
        """
        self.badge.ensurePolished()  # the style sheet makes it bold and pads it
        text = self.badge.text()
        width = 0
        for widest in ("HEALTHY\nover T = 1000", "VANISHING\nfrom t = 1000", "EXPLODING\nfrom t = 1000"):
            self.badge.setText(widest)
            width = max(width, self.badge.sizeHint().width())
        self.badge.setText(text)
        metrics = self.badge.fontMetrics()
        # the style sheet's padding, 0.25em above and below, and a little air
        self.badge.setFixedSize(width, int(2 * metrics.lineSpacing() + 0.5 * metrics.height() + 6))

    def _style_chart(self) -> None:
        style_plot(self.chart, self.theme)
        # log10 norms reach -1800 (sigmoid over 1000 steps) and +308: room for the widest label
        reserve_tick_width(self.chart, "10⁻¹⁸⁰⁰")
        item = self.chart.getPlotItem()
        for side in ("left", "bottom", "right", "top"):
            # No SI prefix is ever shown here (x is at most 1000 steps, y spans the thresholds'
            # decades), but pyqtgraph re-typesets each axis title (hidden ones too) on every range
            # change to find that out.
            item.getAxis(side).enableAutoSIPrefix(False)
        # The time axis (with its vertical grid lines) changes only with T, but sits under every
        # curve change: repainted from a cached pixmap, it costs a fraction of replaying its
        # drawing (about 0.5 ms of each redraw). pyqtgraph drops the cache when the axis changes.
        item.getAxis("bottom").setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    # -- animation ------------------------------------------------------------------------------------
    def _on_pulse(self, position: float) -> None:
        self.chain.set_pulse(position)
        t = min(max(math.ceil(position - 1e-9), 1), self.pulse.steps)
        self.cursor.setValue(float(t) if position <= self.pulse.steps else self.pulse.steps + 0.5)

    def play_pause(self) -> None:
        self.pulse.toggle()

    def step(self, direction: int) -> None:
        self.pulse.step(direction)

    def rewind(self) -> None:
        self.pulse.rewind()

    def deactivate(self) -> None:
        self.pulse.pause()

    def shutdown(self) -> None:
        self.pulse.pause()

    # -- export ---------------------------------------------------------------------------------------
    def export_plot(self):
        return self.chart

    def export_columns(self) -> dict | None:
        r = self._result
        if r is None:
            return None
        return {
            "t": [int(v) for v in r.t],
            "grad_norm": r.grad_norm,
            "log10_grad_norm": r.log10_grad_norm,
            "log10_local_factor": r.log10_local_factor,
            "log10_bound": r.log10_bound,
            "forward_overflow": [int(v) for v in r.forward_overflow],
        }

    @property
    def result(self) -> FlowResult | None:
        return self._result
