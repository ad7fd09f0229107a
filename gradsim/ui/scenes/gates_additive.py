"""The gates scene's additive comparison: five models by ``‖dL/dxₜ‖``, and the path each one takes.

Issue 20. A student who has watched the RNN's gradient die asks how Transformers get away with it.
This page answers on the same inputs as the gates comparison: the gradient reaching the input at
step t, ``‖dL/dxₜ‖`` (the one measure that a model without a recurrent state shares with the
others), of the vanilla RNN, the LSTM, the GRU, the residual RNN and a causal self-attention layer,
on one log chart against the distance back from the loss, ``T − t``. Beside attention's curve runs
the bound the engine proves for it (``log10_input_bound``): for every step but the last the
gradient is proportional to ``aₜ``, the attention the last position pays to step t, so it does not
fall step by step with the distance as the chains do. Below the chart, diagrams of the three paths:
the RNN's chain of ``T − 1`` multiplications, the residual RNN's identity plus a correction, and
attention's single hop weighted by ``a₁``.

Views only: every number comes from :func:`gradsim.engine.additive.compare_models`, run by the
scene's worker job (:func:`gradsim.states.gates.compute_gates`).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF, QTextDocument
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...engine.additive import ModelComparison, attention_middle
from ...states.gates import (
    ADDITIVE,
    Model,
    beyond_float64,
    input_value_text,
    input_verdict,
    models_of,
    path_lines,
    reach_sentence,
    subscript,
)
from ..chain import fit_legend, log_bounds, show_legend
from ..plots import (
    clean_log10,
    curve_pen,
    format_power,
    make_plot,
    reserve_tick_width,
    settle_view,
    style_plot,
)
from ..theme import Theme
from .gates import CellDiagrams, SplitOrTabs, badge_row, chart_marks, marks_legend, show_marks

ADDITIVE_MODELS: tuple[Model, ...] = models_of(ADDITIVE)
PATH_MODELS: tuple[Model, ...] = tuple(m for m in ADDITIVE_MODELS if m.key in ("rnn", "residual", "attention"))
BOUND = "attention_bound"  # the curve of attention's bound on ‖dL/dxₜ‖
X_LABEL = "steps back from the loss, T − t"


class PathDiagrams(CellDiagrams):
    """The three paths the additive comparison is about, drawn as the cell diagrams are: the RNN's
    step (crossed ``T − 1`` times), the residual RNN's identity plus a correction, attention's hop.
    Titles say what it takes to reach x₁ in this run (``to x₁: 199 steps × 0.763 each``)."""

    def __init__(self, theme: Theme, parent=None) -> None:
        self.details: dict[str, list[str]] = {m.key: [] for m in PATH_MODELS}
        super().__init__(theme, parent, models=PATH_MODELS)
        self.setToolTip("The path the gradient takes back to the inputs in each model (arrows point from the "
                        "loss towards x₁). RNN: one step, crossed T − 1 times, each multiplying by tanh′ and W_hh. "
                        "Residual: hₜ = hₜ₋₁ + α f(…), so each step passes the gradient on unchanged (I) plus a "
                        "correction. Attention: no chain at all; one hop from the last position to every step, "
                        "weighted by the attention aₜ it pays there. Edge colour and number: the factor that edge "
                        "applied (mean per step; per hop for attention).")

    def _legend_text(self) -> None:
        t = self.theme
        self.legend_label.setText("edge number: factor per step (attention: per hop) · wide band: no W_hh on it",
                                  color=t.muted, size=f"{t.small_px}px")

    def title_detail(self, cell: str) -> str:
        lines = getattr(self, "details", {}).get(cell, [])
        return "<br>".join(lines) if self.stacked else " ".join(lines)

    def set_paths(self, r: ModelComparison) -> None:
        """Edges, titles and the attention's step labels from one comparison."""
        steps = r.results["attention"].steps
        middle = attention_middle(steps)
        self.set_node_labels("attention", {"middle": f"x{subscript(middle)}", "last": f"x{subscript(steps)}"})
        self.edge_names[("attention", "hop_middle")] = f"a{subscript(middle)}"
        self.edge_names[("residual", "act")] = "α·tanh′"
        self.details = {m.key: path_lines(m.key, r) for m in self.models}
        self.set_edges({m.key: r.edges[m.key] for m in self.models})


class AdditivePage(QWidget):
    """Badges (a verdict per model on ``‖dL/dxₜ‖``), the chart of all five against the distance,
    and the path diagrams; on a short screen the chart and the diagrams share tabs."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.result: ModelComparison | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)

        badges, self.badges = badge_row(ADDITIVE_MODELS, lambda m: f"{m.name}<br>computing…")
        self.badge_lines: dict[str, tuple[str, str, str]] = {}
        self._badge_keys: dict[str, tuple] = {}
        self.badge_row = badges

        self.chart = make_plot(theme, "", X_LABEL, "‖dL/dxₜ‖", log_y=True, legend_columns=3)
        item = self.chart.getPlotItem()
        self.curves: dict[str, pg.PlotDataItem] = {}
        for m in ADDITIVE_MODELS:
            self.curves[m.key] = pg.PlotDataItem(connect="finite", skipFiniteCheck=True, antialias=False)
        self.curves[BOUND] = pg.PlotDataItem(connect="finite", skipFiniteCheck=True, antialias=False)
        item.addItem(self.curves[BOUND])  # under the curves, attention's on top of all
        for m in sorted(ADDITIVE_MODELS, key=lambda m: m.key == "attention"):
            item.addItem(self.curves[m.key])
        # the threshold labels keep clear of the cursor: at rest it stands at the far end (step 1),
        # where the labels sat first
        self.below_float, self.zero_marks, self.cursor, self.threshold_lines = chart_marks(self.chart, theme)
        self.vanish_line, self.explode_line = self.threshold_lines.lines
        item.getViewBox().sigResized.connect(self._on_chart_resized)
        self.chart.setToolTip("‖dL/dxₜ‖, the gradient of the loss reaching the input at step t, against how many "
                              "steps back from the loss that input is. The dashed curve beside attention's is the "
                              "bound the engine proves for it: aₜ times what the hop can carry, aₜ being the "
                              "attention the last position pays to step t.")
        self.diagrams = PathDiagrams(theme)

        self.views = SplitOrTabs(("Gradients", "Paths"), "The screen is short: the gradients and the paths share "
                                                         "it as tabs")
        self.splitter, self.tabs = self.views.splitter, self.views.tabs
        layout.addWidget(badges)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.tabs, 1)
        self._compact: bool | None = None
        self._legend_key = None
        self._drawn: list[tuple[np.ndarray, np.ndarray]] = []
        self._y_span: tuple[float, float] | None = None
        self._marks = (False, False)
        self._cursor_step = 1
        self.apply_theme(theme)

    # -- layout ---------------------------------------------------------------------------------------
    def arrange(self, compact: bool) -> None:
        """Chart above the diagrams (room enough), or the two on tabs (a short or narrow screen)."""
        if compact == self._compact:
            return
        self._compact = compact
        self.views.arrange(compact, self.chart, self.diagrams)

    @property
    def compact(self) -> bool:
        return bool(self._compact)

    def apply_theme(self, theme: Theme) -> None:
        t = self.theme = theme
        self._legend_key = None
        self._badge_keys = {}
        self.diagrams.apply_theme(t)
        style_plot(self.chart, t)
        reserve_tick_width(self.chart, "10⁻¹⁸⁰⁰")
        for m in ADDITIVE_MODELS:  # attention, the model this page is about, drawn widest
            self.curves[m.key].setPen(curve_pen(t.series[m.series], t, scale=1.5 if m.key == "attention" else 0.8))
        attention = next(m for m in ADDITIVE_MODELS if m.key == "attention")
        self.curves[BOUND].setPen(curve_pen(t.series[attention.series], t, Qt.PenStyle.DashLine, 0.6))
        self.below_float.setBrush(pg.mkBrush(t.foreground))
        self.below_float.setPen(pg.mkPen(t.foreground))
        self.zero_marks.setPen(pg.mkPen(t.foreground, width=2))
        self.zero_marks.setBrush(pg.mkBrush(t.foreground))
        self.threshold_lines.apply_theme(t)
        # the cursor in the foreground colour, dotted: the highlight colour is too near attention's
        self.cursor.setPen(pg.mkPen(t.foreground, width=max(1.0, t.line_width * 0.5), style=Qt.PenStyle.DotLine))
        height = int(t.font_px * 1.35 + 2 * t.small_px * 1.35 + 0.25 * t.font_px + 6)
        for badge in self.badges.values():
            badge.setFixedHeight(height)  # three lines; fixed, so a new verdict never relays out the window
        if self.result is not None:
            self.draw(self.result)

    # -- drawing --------------------------------------------------------------------------------------
    def draw(self, r: ModelComparison) -> None:
        """Every view from one comparison; x is the distance ``T − t`` (ascending), y exact log10."""
        self.result = r
        t = self.theme
        attention = r.results["attention"]
        steps = attention.steps
        x = np.arange(steps, dtype=np.float64)  # distance 0 (t = T) ... T − 1 (t = 1)
        logs = {m.key: r.results[m.key].log10_input_grad_norm[::-1] for m in ADDITIVE_MODELS}
        bound = attention.log10_input_bound[::-1]
        first = attention.verdict
        vanish, explode = first.vanish_threshold, first.explode_threshold
        lo_data, hi_data, floor = log_bounds([*logs.values(), bound], vanish)
        few = steps <= 60
        drawn, below_x, below_y, zero_x, zero_y = [], [], [], [], []
        for m in ADDITIVE_MODELS:
            y, zero = clean_log10(logs[m.key], floor)
            colour = t.series[m.series]
            self.curves[m.key].setData(x, y, symbol="o" if few else None, symbolSize=t.marker_size * 0.6,
                                       symbolBrush=colour, symbolPen=colour)
            drawn.append((x, y))
            # outside float64 the exact log is drawn on; a marker where the curve leaves the range (one
            # per stretch: at T = 1000 a marker per step merged into a black band)
            outside = beyond_float64(logs[m.key])
            beyond = outside & ~np.concatenate(([False], outside[:-1]))
            below_x.append(x[beyond])
            below_y.append(y[beyond])
            zero_x.append(x[zero])
            zero_y.append(y[zero])
        self.curves[BOUND].setData(x, bound)
        drawn.append((x, bound))
        self._drawn = drawn
        self._marks = show_marks(self, (below_x, below_y), (zero_x, zero_y))
        self.threshold_lines.set_values(vanish, explode)
        self._y_span = self.threshold_lines.y_span(lo_data, hi_data, floor if self._marks[1] else None)
        self._frame(steps, decide_legend=True)
        self.diagrams.set_paths(r)
        self.show_step(self._cursor_step)

    def _frame(self, steps: int, decide_legend: bool) -> None:
        self.threshold_lines.frame(steps - 1, self._y_span, lambda: self._drawn, decide_legend)
        self._update_legend(*self._marks)
        settle_view(self.chart)

    def _on_chart_resized(self, *_args) -> None:
        fit_legend(self.chart, 3)
        if self.result is not None and self._y_span is not None:
            self._frame(self.result.results["attention"].steps, decide_legend=False)

    def _update_legend(self, below: bool, zero: bool) -> None:
        entries = [(self.curves[m.key], m.name) for m in ADDITIVE_MODELS]
        entries.append((self.curves[BOUND], "attention's bound (∝ aₜ)"))
        entries += marks_legend(self, below, "leaves float64 (exact log shown)", zero)
        self._legend_key = show_legend(self.chart, entries, self.theme, 3, self._legend_key,
                                       lambda: style_plot(self.chart, self.theme))

    # -- the cursor and the badges ----------------------------------------------------------------------
    def show_pulse(self, position: float, step: int) -> None:
        """The pulse of the scene: the cursor at its distance from the loss (hidden before it leaves
        L), and the badges' values at its step (step 1, the farthest input, when at rest)."""
        r = self.result
        if r is None:
            return
        steps = r.results["attention"].steps
        self.cursor.setVisible(position <= steps)
        self.cursor.setValue(min(max(steps - position, 0.0), steps - 1.0))
        self.threshold_lines.labels.follow_cursor()
        self.show_step(step if position <= steps else 1)

    def show_step(self, step: int) -> None:
        """Each badge: the model, its verdict on ``‖dL/dxₜ‖`` and ``‖dL/dxₜ‖`` at ``step``."""
        r = self.result
        if r is None:
            return
        self._cursor_step = step = int(min(max(step, 1), r.results["attention"].steps))
        t = self.theme
        for m in ADDITIVE_MODELS:
            res = r.results[m.key]
            v = input_verdict(res)
            badge = self.badges[m.key]
            value = float(res.log10_input_grad_norm[step - 1])
            # the value line as written in full if the badge is wide enough, else shorter (800 px wide)
            candidates = [input_value_text(value, step), input_value_text(value, step, digits=1),
                          input_value_text(value, None, digits=1)]
            key = (m.name, v.kind, tuple(candidates), t.name, t.font_px, badge.contentsRect().width())
            if self._badge_keys.get(m.key) == key:
                continue
            self._badge_keys[m.key] = key
            for value_line in candidates:
                html = self._badge_html(m.name, v.kind.upper(), value_line)
                if self._fits(badge, html):
                    break
            self.badge_lines[m.key] = (m.name, v.kind.upper(), value_line)
            badge.setText(html)
            badge.setToolTip(self.badge_tip(m, r))
            badge.set_colour(t.verdict_colour(v.kind), t, " padding: 2px 3px;")

    def _badge_html(self, name: str, verdict: str, value_line: str) -> str:
        t = self.theme
        return (f"<span style='font-size:{t.font_px}px'>{name}</span><br>"
                f"<span style='font-size:{t.small_px}px'>{verdict}</span><br>"
                f"<span style='font-size:{t.small_px}px; font-weight:normal'>{value_line}</span>")

    @staticmethod
    def _fits(badge: QLabel, html: str) -> bool:
        """Whether the badge shows this text whole (measured as the layout audit measures it)."""
        width = badge.contentsRect().width()
        if width <= 1:
            return True  # not laid out yet: the first resize chooses again
        doc = QTextDocument()
        doc.setDefaultFont(badge.font())
        doc.setDocumentMargin(0)
        doc.setHtml(html)
        return doc.idealWidth() <= width

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if self.result is not None:
            self.show_step(self._cursor_step)  # the badges' width changed: the value lines may change

    @staticmethod
    def badge_tip(m: Model, r: ModelComparison) -> str:
        res = r.results[m.key]
        steps = res.steps
        lines = [reach_sentence(m.name, input_verdict(res), steps, "‖dL/dxₜ‖"),
                 f"‖dL/dx₁‖ = {format_power(float(res.log10_input_grad_norm[0]))}, "
                 f"‖dL/dx{subscript(steps)}‖ = {format_power(float(res.log10_input_grad_norm[-1]))}"]
        if m.key == "attention" and steps > 1:
            a1 = float(res.hop_weight[0])
            lines.append(f"a₁ = {format_power(math.log10(a1)) if a1 > 0 else '0'} (1/T = {format_power(-math.log10(steps))}): "
                         f"‖dL/dx₁‖ ≤ {format_power(float(res.log10_input_bound[0]))}, a bound proportional to a₁")
        return "\n".join(lines)

    def widest_badge_text(self) -> float:
        """Pixels the widest badge line needs (the value line, for a tooltip-free check)."""
        metrics = QFontMetricsF(self.theme.qfont(self.theme.small_px))
        return max(metrics.horizontalAdvance(lines[2]) for lines in self.badge_lines.values())

    # -- export ---------------------------------------------------------------------------------------
    def export_columns(self) -> dict | None:
        r = self.result
        if r is None:
            return None
        attention = r.results["attention"]
        out: dict = {"t": [int(v) for v in attention.t], "steps_back": [int(attention.steps - v) for v in attention.t]}
        for m in ADDITIVE_MODELS:
            out[f"{m.key}_log10_input_grad_norm"] = r.results[m.key].log10_input_grad_norm
        out["attention_log10_input_bound"] = attention.log10_input_bound
        out["attention_last"] = attention.hop_weight
        for m in ADDITIVE_MODELS:
            out[f"{m.key}_input_grad_norm"] = r.results[m.key].input_grad_norm
        return out
