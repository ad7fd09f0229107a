"""Scene ``gates``: a vanilla RNN, an LSTM and a GRU on the same inputs, side by side.

The lesson is the LSTM's cell state: on that path the backward signal is multiplied by the forget
gate (close to 1 once its bias is raised) instead of by ``W_hh`` and ``tanh'``. The scene shows the
three ``||dL/dh_t||`` curves and the LSTM's ``||dL/dc_t||`` on one log chart, the backward pulse on
all of them at once, and a diagram of each cell whose edges are coloured by the mean factor they
applied per step in this run.

Data flow as in ``flow``: controls -> :class:`GeneratorSettings` -> worker -> :func:`compare_cells`
-> :class:`CellComparison` -> views. The views only draw the engine's arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import (
    QFormLayout,
    QGraphicsRectItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...engine.cells import CellComparison, Edge, compare_cells
from ...engine.init import INIT_LABELS, INITIALISERS
from ...engine.scenario import GeneratorSettings, Scenario
from ...engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD
from ..chain import BackwardPulse
from ..controls import Choice, PulseControls, SliderSpin, ThresholdBox
from ..plots import (
    clean_log10,
    colormap,
    curve_pen,
    format_power,
    make_plot,
    power_label,
    style_plot,
    threshold_line,
)
from ..theme import Theme
from .base import Scene

DEFAULTS = GeneratorSettings(hidden=32, input=4, steps=200, activation="tanh", init="gaussian", scale=1.0,
                             input_scale=1.0, seed=0, cell="lstm", forget_bias=1.0)
MAX_HIDDEN = 256
MAX_STEPS = 1000
FORGET_BIAS_RANGE = (0.0, 5.0)

_GENERATOR_KEYS = ("hidden", "steps", "init", "scale", "input_scale", "seed", "forget_bias")
_OTHER_KEYS = ("vanish", "explode", "preset", "speed")

CELLS = ("rnn", "lstm", "gru")
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
SERIES_INDEX = {"rnn": 0, "lstm": 1, "gru": 2}  # theme.series colour of each cell

# Colour scale of the diagram edges: log10 of the mean factor per step, fixed so that colours mean
# the same thing whatever the settings (0.03 ... 3; 1 means "passes the gradient on unchanged").
FACTOR_LOG_RANGE = (-1.5, 0.5)

PRESETS: dict[str, tuple[str, dict]] = {
    "custom": ("Custom", {}),
    "fb0": ("Forget bias 0: the LSTM forgets too", {"forget_bias": 0.0, "steps": 200}),
    "fb1": ("Forget bias 1: the usual default", {"forget_bias": 1.0, "steps": 200}),
    "fb3": ("Forget bias 3: the gradient highway", {"forget_bias": 3.0, "steps": 200}),
    "long": ("1000 steps, forget bias 5", {"forget_bias": 5.0, "steps": 1000}),
    "pytorch": ("PyTorch's default uniform weights", {"init": "pytorch_default", "scale": 1.0, "forget_bias": 1.0}),
}


@dataclass
class GatesJob:
    settings: GeneratorSettings
    vanish: float
    explode: float


def compute_gates(job: GatesJob) -> CellComparison:
    """Runs on the worker thread (torch is imported there, by the engine): all three cells."""
    return compare_cells(job.settings, job.vanish, job.explode)


# ---------------------------------------------------------------------------------------------------
# views


class LanesView(pg.GraphicsLayoutWidget):
    """The unrolled chains of all cells as lanes of steps ``t = 1..T``, each step coloured by its log10
    gradient norm on one shared scale (so colours compare across lanes), with the backward pulse as a
    ring on every lane and a grey cover over the steps it has not reached yet.

    The lanes are one image (one pixel per step and lane, stretched), so a thousand steps cost no
    more to redraw than ten; the pulse moves two small items, never the image.
    """

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.plot = self.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.getAxis("bottom").setLabel("time step t")
        self.setToolTip("Each lane is one cell unrolled in time; step t is coloured by the gradient norm there "
                        "(colour bar, shared by all lanes). The rings carry the gradient backward from the "
                        "loss; grey steps have not been reached yet.")
        self.image = pg.ImageItem(axisOrder="col-major")
        self.separators = pg.PlotCurveItem(connect="pairs")
        self.unlit = QGraphicsRectItem()
        self.unlit.setPen(QPen(Qt.PenStyle.NoPen))
        self.unlit.setZValue(5)
        self.pulse = pg.ScatterPlotItem(pxMode=True)
        self.pulse.setZValue(10)
        for item in (self.image, self.separators, self.unlit, self.pulse):
            self.plot.addItem(item)
        self.colorbar = pg.ColorBarItem(values=(-6, 0), colorMap=colormap(theme), interactive=False, width=14)
        self.colorbar.axis.tickStrings = lambda values, scale, spacing: [power_label(v) for v in values]
        self.addItem(self.colorbar, row=0, col=1)
        self.labels: list[str] = []
        self.logs: list[np.ndarray] = []
        self.levels = (-1.0, 0.0)
        self.steps = 1
        self.position = 1.0
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setMinimumHeight(int(4 * 1.7 * theme.font_pt + 50))  # four readable lane labels and the axis
        self.setBackground(theme.background)
        style_plot(self.plot, theme)
        self.plot.showGrid(x=False, y=False)
        cmap = colormap(theme)
        self.colorbar.setColorMap(cmap)
        self.image.setColorMap(cmap)
        axis = self.colorbar.axis
        axis.setTextPen(theme.foreground)
        axis.setPen(theme.foreground)
        font = QFont()
        font.setPointSize(max(8, theme.font_pt - 3))
        axis.setStyle(tickFont=font)
        self.separators.setPen(pg.mkPen(theme.background, width=max(2.0, theme.line_width)))
        self.unlit.setBrush(QBrush(QColor(theme.unlit)))
        if self.logs:
            self.set_lanes(self.labels, self.logs)

    def set_lanes(self, labels: list[str], logs: list[np.ndarray]) -> None:
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
        self.colorbar.setLevels((lo, hi))
        grid = np.empty((steps, lanes))
        for k, values in enumerate(self.logs):
            grid[:, lanes - 1 - k] = np.where(np.isfinite(values), values, lo)  # lane 0 on top
        self.image.setImage(grid, levels=(lo, hi), autoLevels=False)
        self.image.setRect(QRectF(0.5, -0.5, float(steps), float(lanes)))
        gaps = np.arange(0.5, lanes - 1, 1.0)
        self.separators.setData(np.tile([0.5, steps + 0.5], gaps.size), np.repeat(gaps, 2))
        left = self.plot.getAxis("left")
        left.setTicks([[(float(lanes - 1 - k), label) for k, label in enumerate(self.labels)], []])
        pad = max(0.6, steps * 0.02)
        self.plot.setXRange(0.5 - pad, steps + 0.5 + pad, padding=0)
        self.plot.setYRange(-0.6, lanes - 0.4, padding=0)
        self.set_pulse(self.position)

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


# node positions, edges and labels of the three cell diagrams (x 0..10, y 0..5; y grows upward).
# A node is (x, y, label, label side); an edge is (key, from, to, label side): the gradient goes from -> to.
_DIAGRAMS: dict[str, dict] = {
    "rnn": {
        "nodes": {"h_prev": (0.5, 2.6, "hₜ₋₁", "below"), "pre": (5.0, 2.6, "W h + U x", "below"),
                  "h": (9.5, 2.6, "hₜ", "below")},
        "edges": [("act", "h", "pre", "above"), ("w_hh", "pre", "h_prev", "above")],
        "note": (5.0, 4.9, "(no additive path)"),
    },
    "lstm": {
        "nodes": {"c_prev": (0.5, 4.6, "cₜ₋₁", "above"), "c": (6.5, 4.6, "cₜ", "above"),
                  "h_prev": (0.5, 0.6, "hₜ₋₁", "below"), "gates": (3.5, 0.6, "i f g o", "below"),
                  "h": (9.5, 0.6, "hₜ", "below")},
        "edges": [("forget", "c", "c_prev", "above"), ("out", "h", "c", "left"), ("write", "c", "gates", "left"),
                  ("w_hh", "gates", "h_prev", "above")],
        "note": None,
    },
    "gru": {
        "nodes": {"h_prev": (0.5, 4.6, "hₜ₋₁", "above"), "h": (9.5, 4.6, "hₜ", "above"),
                  "wh": (2.5, 0.6, "W h", "below"), "n": (7.5, 0.6, "nₜ", "below")},
        "edges": [("keep", "h", "h_prev", "above"), ("cand", "h", "n", "left"), ("reset", "n", "wh", "above"),
                  ("w_hh", "wh", "h_prev", "right")],
        "note": None,
    },
}

# where a label sits relative to its point, as a TextItem anchor
_ANCHORS = {"above": (0.5, 1.15), "below": (0.5, -0.15), "left": (1.1, 0.5), "right": (-0.1, 0.5)}

_EDGE_TEXT = {
    "act": "tanh′", "w_hh": "‖W‖", "forget": "f", "out": "o·tanh′", "write": "i·tanh′",
    "keep": "z", "cand": "(1−z)·tanh′", "reset": "r",
}


def factor_text(edge: Edge, two_lines: bool = False) -> str:
    """The edge label: which factor and its mean value in this run (stacked beside steep edges)."""
    value = f"{edge.factor:.2f}" if np.isfinite(edge.factor) else "n/a"
    return f"{_EDGE_TEXT.get(edge.key, edge.label)}{chr(10) if two_lines else ' '}{value}"


class CellDiagrams(pg.GraphicsLayoutWidget):
    """A small diagram of each cell: states as nodes, the backward gradient path as arrows coloured
    by the mean factor each edge applied per step (colour bar), the additive path drawn wide."""

    def __init__(self, theme: Theme, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.boxes: dict[str, pg.ViewBox] = {}
        self.titles: dict[str, pg.LabelItem] = {}
        self.step_lines: dict[str, list[str]] = {cell: [] for cell in CELLS}
        self.edge_items: dict[tuple[str, str], dict] = {}
        self.node_items: dict[str, tuple[pg.ScatterPlotItem, list[pg.TextItem]]] = {}
        self.notes: list[pg.TextItem] = []
        self.edges: dict[str, tuple[Edge, ...]] = {}
        for cell in CELLS:
            title = pg.LabelItem(CELL_NAMES[cell])
            box = pg.ViewBox(enableMouse=False, enableMenu=False)
            box.setRange(xRange=(-0.3, 10.3), yRange=(-0.9, 6.3), padding=0)
            self.boxes[cell] = box
            self.titles[cell] = title
            spec = _DIAGRAMS[cell]
            for key, start, end, side in spec["edges"]:
                halo = pg.PlotCurveItem()
                line = pg.PlotCurveItem()
                arrow = pg.ArrowItem(tailLen=0, tipAngle=40)
                text = pg.TextItem(anchor=_ANCHORS[side])
                for z, item in enumerate((halo, line, arrow, text)):
                    item.setZValue(z)
                    box.addItem(item)
                x0, y0 = spec["nodes"][start][:2]
                x1, y1 = spec["nodes"][end][:2]
                text.setPos((x0 + x1) / 2, (y0 + y1) / 2)
                self.edge_items[(cell, key)] = {"halo": halo, "line": line, "arrow": arrow, "text": text,
                                                "from": (x0, y0), "to": (x1, y1), "factor": math.nan,
                                                "two_lines": side in ("left", "right")}
            nodes = pg.ScatterPlotItem(pxMode=True)
            nodes.setZValue(10)
            box.addItem(nodes)
            labels = []
            for x, y, label, side in spec["nodes"].values():
                text = pg.TextItem(label, anchor=_ANCHORS[side])
                text.setPos(x, y)
                text.setZValue(11)
                box.addItem(text)
                labels.append(text)
            self.node_items[cell] = (nodes, labels)
            if spec["note"] is not None:
                x, y, label = spec["note"]
                note = pg.TextItem(label, anchor=(0.5, 0.5))
                note.setPos(x, y)
                box.addItem(note)
                self.notes.append(note)
            box.sigResized.connect(self._orient_arrows)
        self.colorbar = pg.ColorBarItem(values=FACTOR_LOG_RANGE, colorMap=colormap(theme), interactive=False, width=12)
        self.colorbar.axis.setTicks([[(math.log10(v), f"{v:g}") for v in (0.03, 0.1, 0.3, 1, 3)], []])
        self.legend_label = pg.LabelItem("")
        self.vertical: bool | None = None
        self.set_vertical(False)
        self.setToolTip("The path the gradient takes back through one step of each cell (arrows point "
                        "from t to t−1). Edge colour and number: the mean factor that edge applied per "
                        "step in this run (colour bar; 1 passes the gradient on unchanged). ‖W‖ is the "
                        "spectral norm of the recurrent weights, the most they can stretch it. The wide "
                        "band is the additive path: LSTM c_t = f·c_{t−1} + …, GRU h_t = z·h_{t−1} + ….")
        self.setMinimumHeight(170)
        self.apply_theme(theme)

    def set_vertical(self, vertical: bool) -> None:
        """Side by side (a wide screen), or one above the other with the titles turned (a narrow one)."""
        if vertical == self.vertical:
            return
        self.vertical = vertical
        for item in (*self.titles.values(), *self.boxes.values(), self.colorbar, self.legend_label):
            if item.scene() is not None:
                self.removeItem(item)
        for k, cell in enumerate(CELLS):
            title = self.titles[cell]
            title.setAngle(-90 if vertical else 0)
            if vertical:
                self.addItem(title, row=k, col=0)
                self.addItem(self.boxes[cell], row=k, col=1)
            else:
                self.addItem(title, row=0, col=k)
                self.addItem(self.boxes[cell], row=1, col=k)
        if vertical:
            self.addItem(self.colorbar, row=0, col=2, rowspan=len(CELLS))
            self.addItem(self.legend_label, row=len(CELLS), col=0, colspan=3)
        else:
            self.addItem(self.colorbar, row=1, col=len(CELLS))
            self.addItem(self.legend_label, row=2, col=0, colspan=len(CELLS) + 1)
        self._legend_text()
        self._update_titles()
        self._orient_arrows()

    def _legend_text(self) -> None:
        t = self.theme
        text = ("band = additive path · arrows = the gradient, t → t−1" if self.vertical
                else "wide band: additive path · arrows: the gradient's way back, t → t−1")
        self.legend_label.setText(text,
                                  color=t.muted, size=f"{max(7, t.font_pt - 3)}pt")

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        cmap = colormap(theme)
        self.colorbar.setColorMap(cmap)
        small_pt = max(7, theme.font_pt - 3)
        axis = self.colorbar.axis
        axis.setTextPen(theme.foreground)
        axis.setPen(theme.foreground)
        small = QFont()
        small.setPointSize(small_pt)
        axis.setStyle(tickFont=small)
        axis.setLabel("factor per step", color=theme.foreground, **{"font-size": f"{small_pt}pt"})
        for cell, (nodes, labels) in self.node_items.items():
            spec = list(_DIAGRAMS[cell]["nodes"].values())
            nodes.setData(x=[s[0] for s in spec], y=[s[1] for s in spec], size=theme.font_pt + 6, symbol="o",
                          brush=pg.mkBrush(theme.panel), pen=pg.mkPen(theme.foreground, width=max(1.0, theme.line_width / 2)))
            for text in labels:
                text.setColor(theme.foreground)
                text.setFont(small)
        for note in self.notes:
            note.setColor(theme.muted)
            note.setFont(small)
        self._update_titles()
        for parts in self.edge_items.values():
            parts["text"].setFont(small)
            parts["text"].setColor(theme.foreground)
        self._legend_text()
        if self.edges:
            self.set_edges(self.edges)

    def colour_of(self, factor: float) -> QColor:
        """The colour bar's colour for a factor (its log10 clipped to the bar's range)."""
        lo, hi = FACTOR_LOG_RANGE
        if not np.isfinite(factor) or factor <= 0:
            return QColor(self.theme.muted)
        pos = (min(max(math.log10(factor), lo), hi) - lo) / (hi - lo)
        return colormap(self.theme).map(pos, mode="qcolor")

    def set_edges(self, edges: dict[str, tuple[Edge, ...]]) -> None:
        """Colour and label every edge from the engine's per-edge factors."""
        self.edges = edges
        t = self.theme
        for cell in CELLS:
            by_key = {e.key: e for e in edges.get(cell, ())}
            for key, *_rest in _DIAGRAMS[cell]["edges"]:
                parts = self.edge_items[(cell, key)]
                edge = by_key.get(key)
                factor = edge.factor if edge is not None else math.nan
                parts["factor"] = factor
                colour = self.colour_of(factor)
                parts["colour"] = colour
                (x0, y0), (x1, y1) = parts["from"], parts["to"]
                xs, ys = np.array([x0, x1], dtype=np.float64), np.array([y0, y1], dtype=np.float64)
                parts["line"].setData(xs, ys, pen=pg.mkPen(colour, width=t.line_width * 1.5))
                if edge is not None and edge.kind == "additive":
                    parts["halo"].setData(xs, ys, pen=pg.mkPen(t.highlight, width=t.line_width * 5))
                else:
                    parts["halo"].setData(np.zeros(0), np.zeros(0))
                parts["arrow"].setStyle(brush=pg.mkBrush(colour), pen=pg.mkPen(t.foreground, width=1),
                                        headLen=8 + t.font_pt)
                # the arrow sits just past the middle of its edge, pointing the way the gradient goes
                parts["arrow"].setPos(x0 + 0.55 * (x1 - x0), y0 + 0.55 * (y1 - y0))
                parts["text"].setText(factor_text(edge, parts["two_lines"]) if edge is not None else "")
            self.step_lines[cell] = [
                f"{'c' if e.key == 'step_c' else 'h'} ×{e.factor:.3f}" if np.isfinite(e.factor)
                else f"{'c' if e.key == 'step_c' else 'h'} n/a"
                for e in edges.get(cell, ()) if e.kind == "step"]
        self._update_titles()
        self._orient_arrows()

    def _update_titles(self) -> None:
        """Each title names the cell and gives its measured factor per step (h, and c for the LSTM)."""
        t = self.theme
        small = max(7, t.font_pt - 3)
        for cell, title in self.titles.items():
            lines = self.step_lines[cell]
            joint = "<br>" if self.vertical else ", "
            detail = f"per step: {joint.join(lines)}" if lines else ""
            if self.vertical and lines:
                detail = "<br>".join(f"{line} / step" for line in lines)
            text = (f"<span style='color:{t.series[SERIES_INDEX[cell]]}; font-size:{t.font_pt}pt; "
                    f"font-weight:bold'>{CELL_NAMES[cell]}</span><br>"
                    f"<span style='color:{t.foreground}; font-size:{small}pt'>{detail}</span>")
            if text != title.text:  # re-laying out a label is slow; most redraws change no title
                title.setText(text)

    def _orient_arrows(self, *_args) -> None:
        """Point each arrow along its edge as drawn on screen (the boxes stretch with the widget)."""
        for (cell, _key), parts in self.edge_items.items():
            box = self.boxes[cell]
            if box.scene() is None or box.width() <= 0 or box.height() <= 0:
                continue  # not laid out yet: the first resize orients the arrows
            px, py = box.viewPixelSize()
            if px <= 0 or py <= 0:
                continue
            (x0, y0), (x1, y1) = parts["from"], parts["to"]
            parts["arrow"].setStyle(angle=math.degrees(math.atan2((y1 - y0) / py, -(x1 - x0) / px)))


# ---------------------------------------------------------------------------------------------------
# the scene


class GatesScene(Scene):
    scene_id = "gates"
    title = "RNN vs LSTM vs GRU"
    summary = "The same inputs through three cells: the LSTM's cell state is a highway where the gradient " \
              "is multiplied by the forget gate, not by W_hh."
    has_animation = True

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._result: CellComparison | None = None
        self._updating = False

        preset_box = QGroupBox("Presets")
        pl = QVBoxLayout(preset_box)
        self.preset = Choice([(k, v[0]) for k, v in PRESETS.items()], "custom",
                             tooltip="Ready-made settings for the forget-gate lesson")
        pl.addWidget(self.preset)
        layout.addWidget(preset_box)

        lstm = QGroupBox("LSTM")
        lf = QFormLayout(lstm)
        lf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.forget_bias = SliderSpin(*FORGET_BIAS_RANGE, 0.1, DEFAULTS.forget_bias, decimals=1,
                                      tooltip="Bias of the LSTM's forget gate: f = σ(bias + …). At 0 the gate is "
                                              "about ½ and the cell state forgets; at 3 it is about 0.95 and the "
                                              "gradient travels far along the cell state")
        lf.addRow("Forget bias", self.forget_bias)
        layout.addWidget(lstm)

        net = QGroupBox("All three cells")
        form = QFormLayout(net)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.steps = SliderSpin(1, MAX_STEPS, 1, DEFAULTS.steps, integer=True, tooltip="Sequence length T")
        self.hidden = SliderSpin(1, MAX_HIDDEN, 1, DEFAULTS.hidden, integer=True,
                                 tooltip="Hidden size n, the same for the three cells")
        self.input_scale = SliderSpin(0.0, 3.0, 0.05, DEFAULTS.input_scale,
                                      tooltip="Standard deviation of the inputs x_t (the same sequence for all "
                                              "three); large inputs saturate the gates")
        self.init = Choice([(i, INIT_LABELS[i]) for i in INITIALISERS], DEFAULTS.init,
                           tooltip="How W_hh is drawn: the RNN's W_hh and the candidate block of the LSTM (g) "
                                   "and GRU (n); the gate blocks keep PyTorch's default uniform")
        self.scale = SliderSpin(0.0, 2.5, 0.01, DEFAULTS.scale,
                                tooltip="Weight scale of W_hh: spectral radius for Gaussian, gain for orthogonal "
                                        "and identity, multiplier for PyTorch default")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999_999)
        self.seed.setValue(DEFAULTS.seed)
        self.seed.setToolTip("Random seed of weights and inputs: the same seed gives the same picture")
        form.addRow("Steps T", self.steps)
        form.addRow("Hidden n", self.hidden)
        form.addRow("Input scale", self.input_scale)
        form.addRow("Initialiser", self.init)
        form.addRow("Weight scale", self.scale)
        form.addRow("Seed", self.seed)
        layout.addWidget(net)

        self.threshold_box = ThresholdBox()
        self.vanish_exp, self.explode_exp = self.threshold_box.vanish_exp, self.threshold_box.explode_exp
        layout.addWidget(self.threshold_box)

        self.pulse = BackwardPulse(self)
        self.pulse_controls = PulseControls(self.pulse, "Send the gradient backward from L through all three cells (Space)", speed=20)
        pc = self.pulse_controls
        self.play_button, self.back_button, self.fwd_button, self.rewind_button, self.speed = (
            pc.play_button, pc.back_button, pc.fwd_button, pc.rewind_button, pc.speed)
        layout.addWidget(pc)

        note = QLabel("Weights and inputs come from the seed. The LSTM's candidate block g and the GRU's n "
                      "use the RNN's own W_hh and W_xh; biases are 0 except the forget gate's.")
        note.setObjectName("caption")
        note.setWordWrap(True)
        layout.addWidget(note)


        self.preset.choiceChanged.connect(self._on_preset)
        self.init.choiceChanged.connect(self._on_control)
        for w in (self.forget_bias, self.steps, self.hidden, self.input_scale, self.scale):
            w.valueChanged.connect(self._on_control)
        for w in (self.seed, self.vanish_exp, self.explode_exp):
            w.valueChanged.connect(self._on_control)
        self.pulse.position_changed.connect(self._on_pulse)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        badges = QWidget()
        bl = QHBoxLayout(badges)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(6)
        self.badges: dict[str, QLabel] = {}
        for cell in CELLS:
            badge = QLabel(f"{CELL_NAMES[cell]}: computing…")
            badge.setObjectName("badge")
            badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
            badge.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            bl.addWidget(badge, 1)
            self.badges[cell] = badge
        self.pulse_label = QLabel("Loading PyTorch and running the three cells…")
        self.pulse_label.setWordWrap(True)
        self.pulse_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.pulse_label.setToolTip("The gradient norms at the pulse's step, from the engine")

        self.lanes = LanesView(t)
        self.chart = make_plot(t, "", "time step t", "gradient norm (log)", log_y=True, legend_columns=4)
        item = self.chart.getPlotItem()
        self.curves: dict[str, pg.PlotDataItem] = {}
        for key in ("rnn", "lstm", "gru", "lstm_c"):
            curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
            self.curves[key] = curve
        item.addItem(self.curves["lstm_c"])
        for key in ("rnn", "gru", "lstm"):
            item.addItem(self.curves[key])
        self.below_float = pg.ScatterPlotItem(symbol="t")
        self.zero_marks = pg.ScatterPlotItem(symbol="x")
        item.addItem(self.below_float)
        item.addItem(self.zero_marks)
        self.vanish_line = threshold_line(t, t.vanish, "vanishing threshold")
        self.explode_line = threshold_line(t, t.explode, "exploding threshold")
        # Labels go under their lines where curves seldom are: the vanishing one at the right end
        # (near the loss the gradients are large), the exploding one at the left end (far from the
        # loss they are small unless they explode), never over the early steps the lesson is about.
        for line, position, anchor in ((self.vanish_line, 0.98, (1, 0)), (self.explode_line, 0.02, (0, 0))):
            line.label.setPosition(position)
            line.label.anchors = [anchor, anchor]
        self.cursor = pg.InfiniteLine(angle=90, movable=False)
        for it in (self.vanish_line, self.explode_line, self.cursor):
            item.addItem(it, ignoreBounds=True)
        self.diagrams = CellDiagrams(t)

        # Two arrangements of the same three views: stacked in one splitter when there is room, or
        # on two tabs (curves with the pulse lanes | the cell diagrams) on a short screen such as a
        # projector at 1024x768. _arrange() moves the widgets; nothing is built twice.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.tabs = QTabWidget()
        self.tab_layouts: list[QVBoxLayout] = []
        for name in ("Curves", "Pulse", "Cells"):
            page = QWidget()
            page_layout = QVBoxLayout(page)
            page_layout.setContentsMargins(0, 0, 0, 0)
            self.tabs.addTab(page, name)
            self.tab_layouts.append(page_layout)
        self.tabs.setToolTip("The screen is short: the curves and the cell diagrams share it as tabs")
        self._compact: bool | None = None
        layout.addWidget(badges)
        layout.addWidget(self.pulse_label)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.tabs, 1)
        self.apply_theme(t)
        self._arrange()

    def _wants_compact(self) -> bool:
        """Tabs when the views get less than about 36 lines of text in height."""
        return self.height() < 36 * self.theme.font_pt * 1.6

    def _arrange(self) -> None:
        compact = self._wants_compact()
        if compact == self._compact:
            return
        self._compact = compact
        if compact:
            for page_layout, widget in zip(self.tab_layouts, (self.chart, self.lanes, self.diagrams), strict=True):
                page_layout.addWidget(widget)
            self.diagrams.set_vertical(True)
            self.splitter.hide()
            self.tabs.show()
        else:
            for index, widget in enumerate((self.lanes, self.chart, self.diagrams)):
                self.splitter.insertWidget(index, widget)
            for index, share in enumerate((2, 5, 4)):
                self.splitter.setStretchFactor(index, share)
            self.splitter.setSizes([200, 500, 400])
            self.diagrams.set_vertical(False)
            self.tabs.hide()
            self.splitter.show()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._arrange()

    @property
    def compact(self) -> bool:
        return bool(self._compact)

    def apply_theme(self, theme: Theme) -> None:
        t = theme
        self._legend_key = None
        if self._compact is not None:
            self._arrange()
        self.lanes.apply_theme(t)
        self.diagrams.apply_theme(t)
        style_plot(self.chart, t)
        self.chart.legend.setColumnCount(2 if t.projector else 4)
        for key, curve in self.curves.items():
            colour = t.series[SERIES_INDEX["lstm" if key == "lstm_c" else key]]
            style = Qt.PenStyle.DashLine if key == "lstm_c" else Qt.PenStyle.SolidLine
            curve.setPen(curve_pen(colour, t, style, 0.8 if key == "lstm_c" else 1.0))
        self.below_float.setBrush(pg.mkBrush(t.series[3]))
        self.below_float.setPen(pg.mkPen(t.foreground))
        self.zero_marks.setPen(pg.mkPen(t.foreground, width=2))
        self.zero_marks.setBrush(pg.mkBrush(t.foreground))
        for line, colour in ((self.vanish_line, t.vanish), (self.explode_line, t.explode)):
            line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
            line.label.setColor(colour)
            line.label.fill = pg.mkBrush(0, 0, 0, 0)  # see-through: a curve under the label stays visible
            font = line.label.textItem.font()
            font.setPointSize(max(8, t.font_pt - 1))
            line.label.setFont(font)
        self.cursor.setPen(pg.mkPen(t.highlight, width=max(1.0, t.line_width * 0.6)))
        if self._result is not None:
            self._draw(self._result)

    # -- settings -------------------------------------------------------------------------------------
    def generator_settings(self) -> GeneratorSettings:
        return replace(DEFAULTS, hidden=int(self.hidden.value()), steps=int(self.steps.value()),
                       init=self.init.value(), scale=float(self.scale.value()),
                       input_scale=float(self.input_scale.value()), seed=int(self.seed.value()),
                       forget_bias=float(self.forget_bias.value()))

    def thresholds(self) -> tuple[float, float]:
        return 10.0 ** self.vanish_exp.value(), 10.0 ** self.explode_exp.value()

    def settings(self) -> dict:
        vanish, explode = self.thresholds()
        s = self.generator_settings()
        return {**{k: getattr(s, k) for k in _GENERATOR_KEYS}, "vanish": vanish, "explode": explode,
                "preset": self.preset.value(), "speed": self.speed.value()}

    def apply_settings(self, settings: dict) -> None:
        unknown = set(settings) - set(_GENERATOR_KEYS) - set(_OTHER_KEYS)
        if unknown:
            raise ValueError(f"gates: unknown setting '{sorted(unknown)[0]}'")
        if "preset" in settings and settings["preset"] not in PRESETS:
            raise ValueError(f"gates: unknown preset {settings['preset']!r}")
        current = self.settings()
        merged = {k: settings.get(k, current[k]) for k in _GENERATOR_KEYS}
        for key in ("scale", "input_scale", "forget_bias"):
            if isinstance(merged[key], int) and not isinstance(merged[key], bool):
                merged[key] = float(merged[key])
        try:
            candidate = replace(DEFAULTS, **merged).validated("gates")
        except TypeError as exc:
            raise ValueError(f"gates: {exc}") from None
        if candidate.hidden > MAX_HIDDEN or candidate.steps > MAX_STEPS:
            raise ValueError(f"gates: the scene shows up to {MAX_HIDDEN} hidden units and {MAX_STEPS} steps")
        if not FORGET_BIAS_RANGE[0] <= candidate.forget_bias <= FORGET_BIAS_RANGE[1]:
            raise ValueError("gates: the forget bias must be between 0 and 5")
        if candidate.scale > 2.5 or candidate.input_scale > 3.0:
            raise ValueError("gates: weight scale goes to 2.5 and input scale to 3 in this scene")
        try:
            vanish = float(settings.get("vanish", current["vanish"]))
            explode = float(settings.get("explode", current["explode"]))
            speed = int(settings.get("speed", current["speed"]))
        except (TypeError, ValueError):
            raise ValueError("gates: thresholds and speed must be numbers") from None
        if not (0 < vanish < 1 < explode) or not (math.isfinite(vanish) and math.isfinite(explode)):
            raise ValueError("gates: thresholds must satisfy 0 < vanish < 1 < explode")
        if not 1 <= speed <= 200:
            raise ValueError("gates: speed must be 1..200 steps per second")
        self._updating = True
        try:
            self.forget_bias.setValue(candidate.forget_bias)
            self.steps.setValue(candidate.steps)
            self.hidden.setValue(candidate.hidden)
            self.input_scale.setValue(candidate.input_scale)
            self.init.set_value(candidate.init)
            self.scale.setValue(candidate.scale)
            self.seed.setValue(candidate.seed)
            self.vanish_exp.setValue(int(round(math.log10(vanish))))
            self.explode_exp.setValue(int(round(math.log10(explode))))
            self.speed.setValue(speed)
            self.preset.set_value(settings.get("preset", "custom"))
        finally:
            self._updating = False
        self.refresh()

    def reset(self) -> None:
        self.apply_settings({**{k: getattr(DEFAULTS, k) for k in _GENERATOR_KEYS}, "vanish": VANISH_THRESHOLD,
                             "explode": EXPLODE_THRESHOLD, "preset": "custom", "speed": 20})

    def _on_preset(self, key: str) -> None:
        if self._updating or key == "custom":
            return
        base = {k: getattr(DEFAULTS, k) for k in _GENERATOR_KEYS}
        base.update(PRESETS[key][1])
        base["seed"] = int(self.seed.value())
        base["preset"] = key
        main = self.window()
        if hasattr(main, "_push_undo"):
            main._push_undo(f"preset “{PRESETS[key][0]}”", ["gates"])
        try:
            self.apply_settings(base)
        except ValueError as exc:
            self.context.show_error(str(exc))

    def _on_control(self, *_args) -> None:
        if self._updating:
            return
        if self.preset.value() != "custom":
            self._updating = True
            self.preset.set_value("custom")
            self._updating = False
        self.refresh()

    # -- scenarios ------------------------------------------------------------------------------------
    def open_scenario(self, scenario: Scenario) -> bool:
        """Generated scenarios of any cell open here (their settings fill the controls)."""
        g = scenario.generator
        if g is None:
            return False
        values = {k: getattr(g, k) for k in _GENERATOR_KEYS}
        try:
            self.apply_settings({**values, "preset": "custom"})
        except ValueError as exc:
            self.context.show_error(f"{exc}; use `gradsim flow --scenario` for it")
            return False
        return True

    def scenario_document(self) -> dict:
        return {"format": "gradsim.scenario/1", **self.generator_settings().to_dict()}

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        vanish, explode = self.thresholds()
        self.request(compute_gates, GatesJob(self.generator_settings(), vanish, explode))

    def on_result(self, result: CellComparison, key: str) -> None:
        self._result = result
        self._draw(result)

    def _curve_logs(self, r: CellComparison) -> dict[str, np.ndarray]:
        return {"rnn": r.rnn.log10_grad_norm, "lstm": r.lstm.log10_grad_norm, "gru": r.gru.log10_grad_norm,
                "lstm_c": r.lstm.log10_cell_grad_norm}

    def _draw(self, r: CellComparison) -> None:
        t = self.theme
        x = r.rnn.t.astype(np.float64)
        steps = r.rnn.steps
        logs = self._curve_logs(r)
        vanish, explode = r.rnn.verdict.vanish_threshold, r.rnn.verdict.explode_threshold
        finite = np.concatenate([v[np.isfinite(v)] for v in logs.values()])
        lo_data = float(finite.min()) if finite.size else -1.0
        hi_data = float(finite.max()) if finite.size else 1.0
        floor = min(lo_data, math.log10(vanish)) - 1.0
        few = steps <= 60
        below_x, below_y, zero_x, zero_y = [], [], [], []
        beyond = {"rnn": r.rnn.underflow | r.rnn.overflow, "lstm": r.lstm.underflow | r.lstm.overflow,
                  "gru": r.gru.underflow | r.gru.overflow, "lstm_c": r.lstm.cell_beyond_float}
        for key, values in logs.items():
            y, zero = clean_log10(values, floor)
            colour = t.series[SERIES_INDEX["lstm" if key == "lstm_c" else key]]
            self.curves[key].setData(x, y, symbol="o" if few and key != "lstm_c" else None,
                                     symbolSize=t.marker_size * 0.6, symbolBrush=colour, symbolPen=colour)
            below = beyond[key]
            below_x.append(x[below])
            below_y.append(y[below])
            zero_x.append(x[zero])
            zero_y.append(y[zero])
        bx, by = np.concatenate(below_x), np.concatenate(below_y)
        zx, zy = np.concatenate(zero_x), np.concatenate(zero_y)
        self.below_float.setData(x=bx, y=by, size=t.marker_size)
        self.below_float.setVisible(bool(bx.size))
        self.zero_marks.setData(x=zx, y=zy, size=t.marker_size)
        self.zero_marks.setVisible(bool(zx.size))
        self.vanish_line.setValue(math.log10(vanish))
        self.explode_line.setValue(math.log10(explode))
        self.vanish_line.label.setFormat(f"vanishing threshold {power_label(math.log10(vanish))}")
        self.explode_line.label.setFormat(f"exploding threshold {power_label(math.log10(explode))}")
        ymin = min(lo_data, math.log10(vanish)) - 0.8
        ymax = max(hi_data, math.log10(explode)) + 0.8
        if zx.size:
            ymin = floor - 0.5
        self.chart.getPlotItem().setRange(xRange=(0.5, steps + 0.5), yRange=(ymin, ymax), padding=0.02)
        entries = [(self.curves["rnn"], "RNN"), (self.curves["gru"], "GRU"), (self.curves["lstm"], "LSTM"),
                   (self.curves["lstm_c"], "LSTM cell ‖dL/dc_t‖")]
        if bx.size:
            entries.append((self.below_float, "beyond float64 (exact log shown)"))
        if zx.size:
            entries.append((self.zero_marks, "exactly 0"))
        legend_key = (tuple(label for _item, label in entries), t.name)
        if legend_key != self._legend_key:  # rebuilding the legend costs more than the curves
            self.chart.set_legend(entries)
            style_plot(self.chart, t)
            self._legend_key = legend_key

        self.lanes.set_lanes(["RNN", "GRU", "LSTM h", "LSTM c"], [logs["rnn"], logs["gru"], logs["lstm"], logs["lstm_c"]])
        self.diagrams.set_edges(r.edges)
        for cell in CELLS:
            res = r.results[cell]
            v = res.verdict
            text = f"{CELL_NAMES[cell]}: {v.kind}"
            if v.first_t is not None:
                text += f"\nfrom t = {v.first_t}"
            else:
                text += f"\n‖dL/dh₁‖ {format_power(float(res.log10_grad_norm[0]), 2)}"
            badge = self.badges[cell]
            badge.setText(text)
            tip = f"{CELL_NAMES[cell]}: {v.describe()}. ‖dL/dh₁‖ = {format_power(float(res.log10_grad_norm[0]))}"
            if cell == "lstm":
                tip += f"; cell state: {r.lstm.cell_verdict.describe()}"
            badge.setToolTip(tip)
            badge.setStyleSheet(f"background: {t.verdict_colour(v.kind)}; font-size: {t.font_pt - 2}pt; "
                                "padding: 2px 4px; "
                                f"color: {'#000000' if not t.projector else '#ffffff'};")
        self.pulse.steps = steps
        self.pulse.position = min(self.pulse.position, steps + 1.0)
        self._on_pulse(self.pulse.position)

    # -- animation ------------------------------------------------------------------------------------
    def _on_pulse(self, position: float) -> None:
        self.lanes.set_pulse(position)
        r = self._result
        if r is None:
            return
        steps = r.rnn.steps
        step = min(max(math.ceil(position - 1e-9), 1), steps)
        self.cursor.setValue(float(step) if position <= steps else steps + 0.5)
        th = self.theme
        if position > steps:
            self.pulse_label.setText(f"<span style='color:{th.muted}'>L = Σ h_T: press ▶ to send the gradient "
                                     "back through all three cells at once</span>")
            return
        logs = self._curve_logs(r)
        parts = []
        for key, name in (("rnn", "RNN"), ("gru", "GRU"), ("lstm", "LSTM h"), ("lstm_c", "LSTM c")):
            colour = th.series[SERIES_INDEX["lstm" if key == "lstm_c" else key]]
            parts.append(f"<span style='color:{colour}'><b>{name}</b></span> {format_power(float(logs[key][step - 1]), 2)}")
        self.pulse_label.setText(f"t = {step}: " + " · ".join(parts))

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
            "t": [int(v) for v in r.rnn.t],
            "rnn_log10_grad_norm": r.rnn.log10_grad_norm,
            "lstm_log10_grad_norm": r.lstm.log10_grad_norm,
            "gru_log10_grad_norm": r.gru.log10_grad_norm,
            "lstm_log10_cell_grad_norm": r.lstm.log10_cell_grad_norm,
            "rnn_grad_norm": r.rnn.grad_norm,
            "lstm_grad_norm": r.lstm.grad_norm,
            "gru_grad_norm": r.gru.grad_norm,
            "lstm_cell_grad_norm": r.lstm.cell_grad_norm,
        }

    @property
    def result(self) -> CellComparison | None:
        return self._result
