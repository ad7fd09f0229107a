"""Scene ``flow``: the gradient flowing backward through time, animated, with its exact numbers.

The reference scene: controls -> a new :class:`FlowState` -> worker -> :func:`compute_flow` ->
``on_result`` -> chain view, log chart and readouts. The chart plots exact log10 values, so a gradient of
10⁻¹⁸⁰⁰ is drawn where it belongs and marked as beyond float64, never a silent gap.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGridLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...engine.activations import ACTIVATIONS, get_activation
from ...engine.flow import FlowResult
from ...engine.init import INIT_LABELS, INITIALISERS
from ...engine.scenario import Scenario
from ...engine.thresholds import threshold_text, verdict_badge
from ...formatting import subscript
from ...states.flow import (
    APP_MAX_HIDDEN,
    APP_MAX_STEPS,
    FlowState,
    compute_flow,
)
from ..chain import ChainView, ThresholdPair, fit_legend, log_bounds, set_marks, show_legend, stretch_ends
from ..controls import Badge, Choice, ReadoutLabel, SeedBox, SliderSpin, form_box
from ..plots import (
    clean_log10,
    curve_pen,
    format_power,
    make_plot,
    reserve_tick_width,
    settle_view,
    style_plot,
)
from .base import Scene

UNBOUNDED = 16777215  # QWIDGETSIZE_MAX: a widget without a maximum size
BOUND_LABEL = "bound (γ‖W_hh‖₂)ᵀ⁻ᵗ"  # γ as the spectrum scene writes it
BOUND_TIP = ("The dotted bound: one step back multiplies ‖dL/dhₜ‖ by at most γ‖W_hh‖₂, γ = max |f′| "
             "(0.25 for sigmoid, 1 for tanh, ReLU and identity)")


class FlowScene(Scene):
    scene_id = "flow"
    title = "Gradient flow through time"
    summary = "‖dL/dhₜ‖ at every step: the learning signal shrinks or grows by a factor per step."

    # -- controls ---------------------------------------------------------------------------------
    State = FlowState

    def build_controls(self, layout: QVBoxLayout) -> None:
        self._result: FlowResult | None = None
        self.make_preset_box(layout, "Ready-made configurations; each title holds on every seed")

        d = FlowState()
        self.activation = Choice([(a, get_activation(a).label) for a in ACTIVATIONS], d.activation,
                                 tooltip="f in hₜ = f(W_hh hₜ₋₁ + W_xh xₜ). Sigmoid's derivative is at most 0.25.")
        self.scale = SliderSpin(0.0, 2.5, 0.01, d.scale,
                                tooltip="Weight scale: the spectral radius of W_hh (gain for orthogonal and identity)")
        self.steps = SliderSpin(1, APP_MAX_STEPS, 1, d.steps, integer=True, tooltip="Sequence length T")
        self.hidden = SliderSpin(1, APP_MAX_HIDDEN, 1, d.hidden, integer=True, tooltip="Hidden size n (W_hh is n × n)")
        self.init = Choice([(i, INIT_LABELS[i]) for i in INITIALISERS], d.init,
                           tooltip="How W_hh is drawn before it is scaled")
        self.input_scale = SliderSpin(0.0, 3.0, 0.05, d.input_scale,
                                      tooltip="Standard deviation of the inputs xₜ; large inputs saturate tanh and sigmoid")
        self.seed = SeedBox(d.seed)
        layout.addWidget(form_box("Network", [
            ("Activation", self.activation), ("Weight scale", self.scale), ("Steps T", self.steps),
            ("Hidden n", self.hidden), ("Initialiser", self.init), ("Input scale", self.input_scale),
            ("Seed", self.seed)]))

        self.make_threshold_box(layout)
        self.make_pulse_controls(layout, "Send the gradient backward from L (Space)")

        self.source_label = QLabel()
        self.source_label.setObjectName("caption")
        self.source_label.setWordWrap(True)
        layout.addWidget(self.source_label)

        # every control sends its change to the state; show_state puts states back on the controls
        self.bind(self.activation, "activation")
        self.bind(self.init, "init")
        self.bind(self.scale, "scale")
        self.bind(self.steps, "steps", int)
        self.bind(self.hidden, "hidden", int)
        self.bind(self.input_scale, "input_scale")
        self.bind(self.seed, "seed", int)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.chain = ChainView(t)
        self.chart = make_plot(t, "", "time step t", "‖dL/dhₜ‖", log_y=True, legend_columns=3)
        self.chart.setToolTip(BOUND_TIP)
        item = self.chart.getPlotItem()
        self.curve = pg.PlotDataItem(name="‖dL/dhₜ‖ (exact)", connect="finite", skipFiniteCheck=True)
        self.bound_curve = pg.PlotDataItem(name=BOUND_LABEL, connect="finite", skipFiniteCheck=True)
        self.below_float = pg.ScatterPlotItem(name="leaves float64 (exact log shown)", symbol="t")
        self.zero_marks = pg.ScatterPlotItem(name="exactly 0 (dead units)", symbol="x")
        self.overflow_marks = pg.ScatterPlotItem(name="forward pass overflowed (±∞/NaN)", symbol="star")
        self.cursor = pg.InfiniteLine(angle=90, movable=False)
        self.cursor_proxy = pg.PlotDataItem()  # legend entry for the cursor line (never drawn)
        for it in (self.bound_curve, self.curve, self.below_float, self.zero_marks, self.overflow_marks):
            item.addItem(it)
        self.threshold_lines = ThresholdPair(self.chart, t, explode_below=True, cursor=self.cursor)
        self.vanish_line, self.explode_line = self.threshold_lines.lines
        item.addItem(self.cursor, ignoreBounds=True)
        # step t of the chain sits above step t of the chart, whatever the sizes and the theme
        self.chain.follow(item)
        item.getViewBox().sigResized.connect(self._on_chart_resized)

        readouts = QWidget()
        grid = QGridLayout(readouts)
        grid.setContentsMargins(4, 0, 4, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        self.badge = Badge(rich=True)
        self.badge.setToolTip("The verdict, against the two thresholds: healthy (within both at every step), "
                              "vanishing or exploding (past one, from the step named)")
        self.readout_labels: dict[str, ReadoutLabel] = {}
        names = [("factor", "per step", "Factor per step: the geometric mean of ‖dL/dhₜ₋₁‖ / ‖dL/dhₜ‖"),
                 ("radius", "ρ(W_hh)", "Spectral radius: the largest eigenvalue modulus of W_hh"),
                 ("total", "ratio left at t = 1", "What is left after T − 1 steps back: ‖dL/dh₁‖ divided by the gradient at the last step"),
                 ("norm", "‖W_hh‖₂", "Spectral norm: the largest singular value of W_hh, which bounds each "
                                     "step's growth")]
        self._readout_captions = {key: text for key, text, _tip in names}
        for i, (key, _text, tip) in enumerate(names):
            row, col = divmod(i, 2)
            value = ReadoutLabel("–")  # shrinks (or wraps) to fit, never cut, never widens the window
            value.setToolTip(tip)
            grid.addWidget(value, row, 2 * col)
            self.readout_labels[key] = value
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(2, 1)
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chain)
        splitter.addWidget(self.chart)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 4)
        splitter.setChildrenCollapsible(False)
        layout.addWidget(readouts)
        layout.addWidget(splitter, 1)
        self.apply_theme(t)

    def apply_theme(self, theme) -> None:
        t = theme
        self.chain.apply_theme(t)
        self._style_chart()
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
        self.threshold_lines.apply_theme(t)
        self.cursor.setPen(pg.mkPen(t.highlight, width=max(1.0, t.line_width * 0.6)))
        self.cursor_proxy.setPen(self.cursor.pen)
        self._legend_key = None
        self._badge_key = None
        if self._result is not None:
            self._draw(self._result)

    # -- state --------------------------------------------------------------------------------------
    def show_state(self, state: FlowState) -> None:
        self.activation.set_value(state.activation)
        self.init.set_value(state.init)
        self.scale.setValue(state.scale)
        self.steps.setValue(state.steps)
        self.hidden.setValue(state.hidden)
        self.input_scale.setValue(state.input_scale)
        self.seed.setValue(state.seed)
        explicit = state.explicit()
        if explicit is not None:
            name = explicit.name or "explicit scenario"
            self.source_label.setText(f"Showing: {name} (n = {explicit.hidden}, T = {explicit.steps}, every number "
                                      "given). Change a control to go back to generated weights.")
        else:
            self.source_label.setText("Weights and inputs are drawn from the seed; File ▸ Save scenario keeps them.")

    def generator_settings(self):
        return self.state.generator()

    def thresholds(self) -> tuple[float, float]:
        return self.state.vanish, self.state.explode

    # -- scenarios ------------------------------------------------------------------------------------
    def open_scenario(self, scenario: Scenario) -> bool:
        """Show a loaded scenario (one undo step). A scenario the app cannot show says why and returns False."""
        try:
            if scenario.generator is not None:
                g = scenario.generator
                new = FlowState.from_dict({k: getattr(g, k) for k in ("hidden", "steps", "activation", "init", "scale",
                                                                      "input_scale", "seed")}, base=self.state)
                new = new.replace(preset="custom", scenario=None)
            else:
                doc = scenario.to_json_dict()
                if scenario.name:
                    doc["name"] = scenario.name
                new = self.state.replace(scenario=doc, preset="custom", activation=scenario.activation,
                                         hidden=min(scenario.hidden, APP_MAX_HIDDEN),
                                         steps=min(scenario.steps, APP_MAX_STEPS))
        except ValueError as exc:
            self.context.show_error(str(exc).removeprefix("flow: "))
            return False
        self.set_state(new, f"open {scenario.name or 'scenario'}")
        return True

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.request(compute_flow, self.state.job(), reuse=True)

    def on_result(self, result: FlowResult, key: str) -> None:
        self._result = result
        self._draw(result)

    def _draw(self, r: FlowResult) -> None:
        t = self.theme
        x = r.t.astype(np.float64)
        logs = r.log10_grad_norm
        vanish, explode = r.verdict.vanish_threshold, r.verdict.explode_threshold
        lo_data, hi_data, floor = log_bounds([logs], vanish)
        y, zero = clean_log10(logs, floor)
        few = r.steps <= 60
        self.curve.setData(x, y, symbol="o" if few else None, symbolSize=t.marker_size * 0.8)
        bound = r.log10_bound
        show_bound = bool(np.isfinite(bound).all() and bound.min() > floor - 50)
        bound_y = np.clip(bound, floor - 5, None) if show_bound else np.zeros(0)
        self.bound_curve.setData(x if show_bound else np.zeros(0), bound_y)
        below = r.underflow | r.overflow
        leaves = stretch_ends(below)
        set_marks(self.below_float, x[leaves], y[leaves], t.marker_size)
        set_marks(self.zero_marks, x[zero], y[zero], t.marker_size)
        over = r.forward_overflow
        top = max(hi_data, math.log10(explode)) + 0.5
        set_marks(self.overflow_marks, x[over], np.full(int(over.sum()), top), t.marker_size)
        # what the threshold labels must keep clear of
        self._drawn = [(x, y), (x if show_bound else np.zeros(0), bound_y), (x[over], np.full(int(over.sum()), top))]
        self.threshold_lines.set_values(vanish, explode)
        lo, hi = self.threshold_lines.y_span(lo_data, hi_data, floor if zero.any() else None)
        if over.any():
            hi = top + 0.5
        self._y_span = (lo, hi)
        self._marks = (bool(below.any()), bool(zero.any()), bool(over.any()))
        self._frame(r.steps, decide_legend=True)

        self.chain.set_values(logs)
        self.pulse.steps = r.steps
        self.pulse.position = min(self.pulse.position, r.steps + 1.0)
        self._on_pulse(self.pulse.position)
        self.chain.align()
        settle_view(self.chain)  # its colour bar's range moved with the data

        factor = r.log10_mean_factor
        values = {
            "factor": "–" if math.isnan(factor) else f"× {format_power(factor)}",  # as the spectrum scene's
            "total": format_power(r.log10_total_factor),
            "radius": f"{r.spectral_radius:.4g}",
            "norm": f"{r.spectral_norm:.4g}",
        }
        for key, text in values.items():
            self.readout_labels[key].setText(
                f"<span style='color:{t.muted}'>{self._readout_captions[key]}</span>&nbsp; <b>{text}</b>")
        if getattr(self, "_readout_steps", None) != r.steps:
            self._readout_steps = r.steps
            self.readout_labels["total"].setToolTip(
                f"What is left after {r.steps - 1} steps back: ‖dL/dh₁‖ / ‖dL/dh{subscript(r.steps)}‖")
        self._show_verdict(r)

    def _frame(self, steps: int, decide_legend: bool) -> None:
        """The chart's ranges, with room beyond each threshold line for its label, the labels where
        no curve runs, and the legend (which carries a threshold whose label found no free place)."""
        # x from h0 (t = 0) to the loss L (t = T + 1): the chain above shows both, column for column
        self.threshold_lines.frame(steps + 1, self._y_span, lambda: self._drawn, decide_legend)
        self._update_legend(*self._marks)
        settle_view(self.chart)

    def _on_chart_resized(self, *_args) -> None:
        fit_legend(self.chart, 3)
        if self._result is not None and getattr(self, "_y_span", None) is not None:
            self._frame(self._result.steps, decide_legend=False)

    def _show_verdict(self, r: FlowResult) -> None:
        t = self.theme
        headline, detail = verdict_badge(r.verdict, r.steps)
        self.badge_lines = (headline, detail)
        key = (headline, detail, t.name, t.small_px)
        if key == self._badge_key:
            return
        if (r.verdict.vanish_threshold, r.verdict.explode_threshold, t.name, t.font_px) != getattr(self, "_badge_size_key", None):
            self._size_badge(r.verdict.vanish_threshold, r.verdict.explode_threshold)
        self._badge_key = key
        self.badge.setText(self._badge_html(headline, detail))
        self.badge.setToolTip(self._verdict_tip(r))
        colour = t.verdict_colour(r.verdict.kind)
        self.badge.set_colour(colour, t)

    @staticmethod
    def _verdict_tip(r: FlowResult) -> str:
        """What the badge measured, in words (the verdict's steps and thresholds, and the ratio)."""
        v, steps = r.verdict, r.steps
        band = f"{threshold_text(v.vanish_threshold)}…{threshold_text(v.explode_threshold)}"
        ratio = (f"‖dL/dh₁‖ / ‖dL/dh{subscript(steps)}‖ = {format_power(r.log10_total_factor)}" if steps > 1
                 else "one step: nothing travels back")
        if v.kind == "healthy":
            return f"‖dL/dhₜ‖ stays within {band} at all {steps} steps; {ratio}"
        if v.kind == "vanishing":
            return (f"‖dL/dhₜ‖ is below {threshold_text(v.vanish_threshold)} at t = {v.first_t} and within {band} "
                    f"at the {steps - v.first_t} steps after it (nearer the loss); {ratio}")
        return (f"‖dL/dhₜ‖ is above {threshold_text(v.explode_threshold)} at t = {v.first_t} and at most that at the "
                f"{steps - v.first_t} steps after it (nearer the loss); thresholds {band}; {ratio}")

    def _badge_html(self, headline: str, detail: str) -> str:
        return (f"<span style='font-size:{self.theme.font_px}px'>{headline}</span><br>"
                f"<span style='font-size:{self.theme.small_px}px; font-weight:normal'>{detail}</span>")

    def _update_legend(self, below: bool, zero: bool, over: bool) -> None:
        wanted = [(self.curve, "‖dL/dhₜ‖ (exact)", True),
                  (self.bound_curve, BOUND_LABEL, True),
                  (self.below_float, "leaves float64 (exact log shown)", below),
                  (self.zero_marks, "exactly 0 (dead units)", zero),
                  (self.overflow_marks, "forward pass overflowed (±∞/NaN)", over)]
        entries = [(item, label) for item, label, show in wanted if show]
        entries += [*self.threshold_lines.legend_entries(), (self.cursor_proxy, "pulse position")]
        self._legend_key = show_legend(self.chart, entries, self.theme, 3, getattr(self, "_legend_key", None),
                                       self._style_chart)

    def _size_badge(self, vanish: float, explode: float) -> None:
        """One fixed size for the two-line badge: the size of its widest possible verdict (with these
        thresholds).

        A label that follows its text asks the whole window to lay out again whenever the verdict
        changes (``from t = 9`` to ``from t = 10``), which cost two extra paint passes per control
        move; the widest verdict still leaves the title room at 1024 pixels in projector mode.
        """
        from ...engine.thresholds import Verdict

        self._badge_size_key = (vanish, explode, self.theme.name, self.theme.font_px)
        self.badge.ensurePolished()  # the style sheet makes it bold and pads it
        # a rich-text label's size hint follows its maximum width: measure free of the last fixed size
        # (else each new theme or threshold grew the badge by the margin below, as often as the
        # window happened to be restyled while it opened)
        self.badge.setMinimumSize(0, 0)
        self.badge.setMaximumSize(UNBOUNDED, UNBOUNDED)
        text = self.badge.text()
        width = height = 0
        for kind in ("healthy", "vanishing", "exploding"):
            widest = Verdict(kind, None if kind == "healthy" else APP_MAX_STEPS, vanish, explode)
            self.badge.setText(self._badge_html(*verdict_badge(widest, APP_MAX_STEPS)))
            hint = self.badge.sizeHint()
            width, height = max(width, hint.width()), max(height, hint.height())
        self.badge.setText(text)
        self.badge.setFixedSize(width + 4, height + 2)

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
        """The pulse ring on the chain and the chart's cursor at the same x (the same screen column)."""
        self.chain.set_pulse(position)
        self.cursor.setValue(min(max(position, 1.0), self.pulse.steps + 1.0))
        self.threshold_lines.labels.follow_cursor()

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
