"""Scene ``gates``: a vanilla RNN, an LSTM and a GRU on the same inputs, side by side.

Two comparisons on the same inputs (``GatesState.compare``; a switch beside the title): the gates,
described here, and the additive path (issue 20: five models by ``‖dL/dxₜ‖``, adding the residual
RNN and self-attention; :mod:`gradsim.ui.scenes.gates_additive`).

The gates' lesson is the LSTM's cell state: on that path the backward signal is multiplied by the forget
gate (close to 1 once its bias is raised) instead of by ``W_hh`` and ``tanh′``. The scene opens on
that picture (forget bias 3: the LSTM keeps its gradient over all 200 steps, the RNN's falls below
10⁻⁶). It shows each model's ``‖dL/dhₜ‖`` and the LSTM's ``‖dL/dcₜ‖`` on one log chart with, above
it and column for column, the same numbers as coloured lanes with the backward pulse; a badge per
model saying for how many steps its gradient stays within the thresholds; and a diagram of each cell
whose edges are coloured by the mean factor they applied per step in this run.

Data flow as in ``flow``: controls -> a new :class:`GatesState` -> worker -> :func:`compute_gates`
-> :class:`CellComparison` (or :class:`ModelComparison`) -> views. The views only draw the engine's
arrays. The models come from ``gradsim.states.gates.MODELS`` (one list); a model without a diagram
below simply has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...engine.additive import ModelComparison
from ...engine.cells import CellComparison, Edge
from ...engine.init import INIT_LABELS, INITIALISERS
from ...engine.scenario import Scenario
from ...states.gates import (
    ADDITIVE,
    APP_MAX_HIDDEN,
    APP_MAX_STEPS,
    CELL_STATE,
    COMPARES,
    FORGET_BIAS_RANGE,
    GATES,
    RESIDUAL_SCALE_RANGE,
    VIEWS,
    GatesJob,
    GatesState,
    Model,
    compute_gates,
    models_of,
    reach_sentence,
    reach_text,
)
from ..chain import LanesView, ThresholdPair, fit_legend, log_bounds, set_marks, show_legend, stretch_ends
from ..controls import Badge, Choice, SeedBox, SliderSpin, form_box
from ..plots import (
    clean_log10,
    colormap,
    curve_pen,
    format_power,
    make_plot,
    reserve_tick_width,
    settle_view,
    style_plot,
)
from ..theme import Theme
from .base import Scene

__all__ = ["GatesJob", "GatesScene", "compute_gates"]  # the job is used by benchmarks/bench_cells.py too

# Colour scale of the diagram edges: log10 of the mean factor per step, fixed so that colours mean
# the same thing whatever the settings (0.03 ... 3; 1 means "passes the gradient on unchanged").
FACTOR_LOG_RANGE = (-1.5, 0.5)


@dataclass(frozen=True)
class Curve:
    """One gradient curve (and lane): a model's ‖dL/dhₜ‖, or the LSTM's cell-state ‖dL/dcₜ‖."""

    key: str  # "rnn", "lstm", ... or CELL_STATE
    model: Model
    legend: str
    lane: str
    dashed: bool = False


def _curves() -> tuple[Curve, ...]:
    """Every curve the scene draws, in the order of :data:`MODELS` (the LSTM's cell state after it)."""
    out = []
    for m in models_of(GATES):
        has_cell = m.key == "lstm"
        out.append(Curve(m.key, m, m.name, f"{m.name} h" if has_cell else m.name))
        if has_cell:
            out.append(Curve(CELL_STATE, m, "LSTM cell ‖dL/dcₜ‖", "LSTM c", dashed=True))
    return tuple(out)


CURVES = _curves()


def curve_logs(r: CellComparison) -> dict[str, np.ndarray]:
    """The log10 norms behind every curve, from the engine's result."""
    out = {}
    for c in CURVES:
        res = r.results[c.model.key]
        out[c.key] = res.log10_cell_grad_norm if c.key == CELL_STATE else res.log10_grad_norm
    return out


def _beyond_float(r: CellComparison, key: str) -> np.ndarray:
    if key == CELL_STATE:
        return r.lstm.cell_beyond_float
    res = r.results[key]
    return res.underflow | res.overflow


# ---------------------------------------------------------------------------------------------------
# cell diagrams

# Node positions, edges and labels of each model's diagram (x 0..10, y 0..5; y grows upward). A node
# is (x, y, label, label side); an edge is (key, from, to, preferred label side): the gradient goes
# from -> to. A model with no entry here has no diagram.
_DIAGRAMS: dict[str, dict] = {
    "rnn": {
        "nodes": {"h_prev": (0.5, 2.6, "hₜ₋₁", "below"), "pre": (5.0, 2.6, "W h + U x", "below"),
                  "h": (9.5, 2.6, "hₜ", "below")},
        "edges": [("act", "h", "pre", "above"), ("w_hh", "pre", "h_prev", "above")],
        "note": (5.0, 5.5, "(no additive path)"),
    },
    "lstm": {
        "nodes": {"c_prev": (0.5, 4.6, "cₜ₋₁", "above"), "c": (6.5, 4.6, "cₜ", "above"),
                  "h_prev": (0.5, 0.6, "hₜ₋₁", "below"), "gates": (3.5, 0.6, "i f g o", "below"),
                  "h": (9.5, 0.6, "hₜ", "below")},
        "edges": [("forget", "c", "c_prev", "above"), ("out", "h", "c", "right"), ("write", "c", "gates", "left"),
                  ("w_hh", "gates", "h_prev", "above")],
        "note": None,
    },
    "gru": {
        "nodes": {"h_prev": (0.5, 4.6, "hₜ₋₁", "above"), "h": (9.5, 4.6, "hₜ", "above"),
                  "wh": (2.5, 0.6, "W h", "below"), "n": (7.5, 0.6, "nₜ", "below")},
        "edges": [("keep", "h", "h_prev", "above"), ("cand", "h", "n", "right"), ("reset", "n", "wh", "above"),
                  ("w_hh", "wh", "h_prev", "left")],
        "note": None,
    },
    # the additive comparison's paths: the identity plus a correction, and one hop per step
    "residual": {
        "nodes": {"h_prev": (0.5, 4.6, "hₜ₋₁", "above"), "h": (9.5, 4.6, "hₜ", "above"),
                  "pre": (5.0, 0.6, "W h + U x", "below")},
        "edges": [("identity", "h", "h_prev", "above"), ("act", "h", "pre", "right"), ("w_hh", "pre", "h_prev", "left")],
        "note": None,
    },
    "attention": {  # the node labels of the middle and last steps follow T (AdditivePage)
        "nodes": {"loss": (9.5, 4.6, "L", "above"), "first": (0.5, 0.6, "x₁", "below"),
                  "middle": (5.0, 0.6, "xₜ", "below"), "last": (9.5, 0.6, "x_T", "below")},
        "edges": [("hop_first", "loss", "first", "above"), ("hop_middle", "loss", "middle", "left"),
                  ("skip", "loss", "last", "right")],
        "note": None,
    },
}
GATE_MODELS = models_of(GATES)  # the gates comparison's models (badges, curves, lanes)
DIAGRAM_MODELS = tuple(m for m in GATE_MODELS if m.key in _DIAGRAMS)
X_RANGE, Y_RANGE = (-0.4, 10.4), (-1.1, 6.3)

# where a node label sits relative to its node, as a TextItem anchor
_ANCHORS = {"above": (0.5, 1.0), "below": (0.5, 0.0)}

_EDGE_TEXT = {
    "act": "tanh′", "w_hh": "‖W_hh‖₂", "forget": "f", "out": "o·tanh′", "write": "i·tanh′",
    "keep": "z", "cand": "(1−z)·tanh′", "reset": "r",
    "identity": "I", "hop_first": "a₁", "hop_middle": "aₜ", "skip": "I",
}
# edges drawn as a wide band: paths on which no W_hh multiplies the gradient at every step
WIDE_KINDS = ("additive", "hop")


def factor_value(factor: float) -> str:
    """An edge's factor: two decimals (``0.76``), or two figures where that would read 0.00 (a₁ of
    attention is about 1/T: ``0.0061``)."""
    if not np.isfinite(factor):
        return "n/a"
    return f"{factor:.2f}" if abs(factor) >= 0.095 else f"{factor:.2g}"


def factor_text(edge: Edge, two_lines: bool = False, name: str | None = None) -> str:
    """The edge label: which factor and its mean value in this run (stacked where room is narrow)."""
    return f"{name or _EDGE_TEXT.get(edge.key, edge.label)}{chr(10) if two_lines else ' '}{factor_value(edge.factor)}"


def _rect_hits_segment(rect: QRectF, a: QPointF, b: QPointF, margin: float) -> bool:
    """Whether a segment (widened by ``margin`` pixels) passes through a rectangle: the segment
    clipped to the grown rectangle (Liang-Barsky) is not empty. Exact, and cheap enough for every
    label of every redraw (sampling the segment every 3 px cost a slider step 10-15 ms)."""
    x0, y0, x1, y1 = rect.left() - margin, rect.top() - margin, rect.right() + margin, rect.bottom() + margin
    ax, ay = a.x(), a.y()
    dx, dy = b.x() - ax, b.y() - ay
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)):
        if p == 0:
            if q < 0:
                return False  # parallel to this side and outside it
            continue
        r = q / p
        if p < 0:
            lo = max(lo, r)
        else:
            hi = min(hi, r)
        if lo > hi:
            return False
    return True


class CellDiagrams(pg.GraphicsLayoutWidget):
    """A small diagram of each cell: states as nodes, the backward gradient path as arrows coloured
    by the mean factor each edge applied per step (colour bar), the additive path drawn wide.

    Side by side with the titles above (a tall screen), or one above the other with the titles at
    the left (a short one); titles are never turned. Every label sits where no arrow, line, node or
    other label is (placed in pixels after each resize), in the type scale's small size."""

    def __init__(self, theme: Theme, parent=None, models: tuple[Model, ...] = DIAGRAM_MODELS) -> None:
        super().__init__(parent)
        self.theme = theme
        self.models = models
        self.boxes: dict[str, pg.ViewBox] = {}
        self.titles: dict[str, pg.LabelItem] = {}
        self.step_lines: dict[str, list[str]] = {m.key: [] for m in models}
        self.edge_items: dict[tuple[str, str], dict] = {}
        self.node_items: dict[str, tuple[pg.ScatterPlotItem, list[pg.TextItem]]] = {}
        self.notes: dict[str, pg.TextItem] = {}
        self.edges: dict[str, tuple[Edge, ...]] = {}
        self.edge_names: dict[tuple[str, str], str] = {}  # (cell, key) -> the edge's name, where it differs
        for m in models:
            cell = m.key
            title = pg.LabelItem(m.name)
            box = pg.ViewBox(enableMouse=False, enableMenu=False)
            box.setRange(xRange=X_RANGE, yRange=Y_RANGE, padding=0)
            self.boxes[cell] = box
            self.titles[cell] = title
            spec = _DIAGRAMS[cell]
            for key, start, end, side in spec["edges"]:
                halo = pg.PlotCurveItem()
                line = pg.PlotCurveItem()
                arrow = pg.ArrowItem(tailLen=0, tipAngle=40)
                text = pg.TextItem(anchor=(0, 0))
                for z, item in enumerate((halo, line, arrow, text)):
                    item.setZValue(z)
                    box.addItem(item)
                x0, y0 = spec["nodes"][start][:2]
                x1, y1 = spec["nodes"][end][:2]
                self.edge_items[(cell, key)] = {"halo": halo, "line": line, "arrow": arrow, "text": text,
                                                "from": (x0, y0), "to": (x1, y1), "factor": math.nan,
                                                "side": side, "additive": False}
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
                self.notes[cell] = note
            box.sigResized.connect(self._lay_out_labels)
        self.colorbar = pg.ColorBarItem(values=FACTOR_LOG_RANGE, colorMap=colormap(theme), interactive=False, width=12)
        self.colorbar.axis.setTicks([[(math.log10(v), f"{v:g}") for v in (0.03, 0.1, 0.3, 1, 3)], []])
        self.legend_label = pg.LabelItem("")
        self.stacked: bool | None = None
        self._moving = False  # set_stacked is moving the items: their labels are placed once, after
        self.set_stacked(False)
        self.setToolTip("The path the gradient takes back through one step of each cell (arrows point "
                        "from t to t−1). Edge colour and number: the mean factor that edge applied per "
                        "step in this run (colour bar; 1 passes the gradient on unchanged). ‖W_hh‖₂ is the "
                        "spectral norm of the recurrent weights, the most they can stretch it. The wide "
                        "band is the additive path: LSTM cₜ = f·cₜ₋₁ + …, GRU hₜ = z·hₜ₋₁ + ….")
        self.apply_theme(theme)

    @property
    def vertical(self) -> bool:
        """One above the other (older name of :attr:`stacked`)."""
        return bool(self.stacked)

    def set_stacked(self, stacked: bool) -> None:
        """Side by side with titles above (a tall screen), or one above the other with titles at the left."""
        if stacked == self.stacked:
            return
        self.stacked = stacked
        # each addItem lays the grid out again and resizes the boxes: their labels (the costly part)
        # are placed once, below, not after every move (75 times for the two pages' diagrams)
        self._moving = True
        try:
            for item in (*self.titles.values(), *self.boxes.values(), self.colorbar, self.legend_label):
                if item.scene() is not None:
                    self.removeItem(item)
            count = len(self.models)
            for k, m in enumerate(self.models):
                if stacked:
                    self.addItem(self.titles[m.key], row=k, col=0)
                    self.addItem(self.boxes[m.key], row=k, col=1)
                else:
                    self.addItem(self.titles[m.key], row=0, col=k)
                    self.addItem(self.boxes[m.key], row=1, col=k)
            if stacked:
                self.addItem(self.colorbar, row=0, col=2, rowspan=count)
                self.addItem(self.legend_label, row=count, col=0, colspan=3)
            else:
                self.addItem(self.colorbar, row=1, col=count)
                self.addItem(self.legend_label, row=2, col=0, colspan=count + 1)
        finally:
            self._moving = False
        self._legend_text()
        self._update_titles()
        self._fit_nodes()
        self._lay_out_labels()

    # kept for callers of the older name
    set_vertical = set_stacked

    def _legend_text(self) -> None:
        t = self.theme
        self.legend_label.setText("edge colour and number: mean factor per step · wide band: additive path · "
                                  "arrows: the gradient, t → t−1", color=t.muted, size=f"{t.small_px}px")

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        self.colorbar.setColorMap(colormap(theme))
        small = theme.qfont(theme.small_px)
        axis = self.colorbar.axis
        axis.setTextPen(theme.foreground)
        axis.setPen(theme.foreground)
        axis.setStyle(tickFont=small)
        axis.setWidth(int(theme.small_px * 2.2) + 8)
        axis.setLabel("")  # the legend line names the colour: no turned axis title
        for _nodes, labels in self.node_items.values():
            for text in labels:
                text.setColor(theme.foreground)
                text.setFont(small)
                text.textItem.document().setDocumentMargin(1)
        for note in self.notes.values():
            note.setColor(theme.muted)
            note.setFont(small)
            note.textItem.document().setDocumentMargin(1)
        for parts in self.edge_items.values():
            parts["text"].setFont(small)
            parts["text"].setColor(theme.foreground)
            parts["text"].textItem.document().setDocumentMargin(1)
        self._legend_text()
        self._fit_nodes()
        if self.edges:
            self.set_edges(self.edges)
        else:
            self._update_titles()

    def _fit_nodes(self) -> None:
        """The nodes' size and the least height the diagrams need: both follow the type size and
        whether the diagrams are stacked."""
        theme, node_size = self.theme, self.node_size()
        for cell, (nodes, _labels) in self.node_items.items():
            spec = list(_DIAGRAMS[cell]["nodes"].values())
            nodes.setData(x=[s[0] for s in spec], y=[s[1] for s in spec], size=node_size, symbol="o",
                          brush=pg.mkBrush(theme.panel), pen=pg.mkPen(theme.foreground, width=max(1.0, theme.line_width / 2)))
        # three diagrams of two rows of nodes with labels above and below, and the legend line
        self.setMinimumHeight(int(len(self.models) * (4 * theme.small_px + 2 * node_size) + 2 * theme.small_px)
                              if self.stacked
                              else int(8 * theme.small_px + 2 * node_size + 2 * theme.font_px + 40))

    def node_size(self) -> float:
        """Node diameter in pixels: smaller when stacked (the boxes are short, the labels keep their size)."""
        return (0.8 if self.stacked else 1.0) * self.theme.font_px + 4

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
        for m in self.models:
            cell = m.key
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
                parts["additive"] = edge is not None and edge.kind in WIDE_KINDS
                if parts["additive"]:
                    parts["halo"].setData(xs, ys, pen=pg.mkPen(t.highlight, width=t.line_width * 5))
                else:
                    parts["halo"].setData(np.zeros(0), np.zeros(0))
                parts["arrow"].setStyle(brush=pg.mkBrush(colour), pen=pg.mkPen(t.foreground, width=1),
                                        headLen=int(0.8 * t.font_px) + 4)
                # the arrow sits on the second half of its edge, pointing the way the gradient goes
                parts["arrow"].setPos(x0 + 0.72 * (x1 - x0), y0 + 0.72 * (y1 - y0))
                parts["edge"] = edge
                parts["text"].setText(factor_text(edge, name=self.edge_names.get((cell, key))) if edge is not None else "")
            self.step_lines[cell] = [
                f"{'c' if e.key == 'step_c' else 'h'} × {e.factor:.3f}" if np.isfinite(e.factor)
                else f"{'c' if e.key == 'step_c' else 'h'} n/a"
                for e in edges.get(cell, ()) if e.kind == "step"]
        self._update_titles()
        self._orient_arrows()
        self._lay_out_labels()

    def set_node_labels(self, cell: str, labels: dict[str, str]) -> None:
        """New texts for some of a diagram's node labels (by node key), e.g. ``x₁₀₀`` when T changes."""
        keys = list(_DIAGRAMS[cell]["nodes"])
        _nodes, texts = self.node_items[cell]
        for key, text in labels.items():
            item = texts[keys.index(key)]
            if item.toPlainText() != text:
                item.setText(text)

    def title_detail(self, cell: str) -> str:
        """The line(s) under a diagram's name: its measured factor per step (h, and c for the LSTM)."""
        lines = self.step_lines[cell]
        if self.stacked:
            return "<br>".join(f"{line} per step" for line in lines)
        return "per step: " + ", ".join(lines) if lines else ""

    def _update_titles(self) -> None:
        """Each title names the cell and gives :meth:`title_detail`."""
        t = self.theme
        for m in self.models:
            title = self.titles[m.key]
            detail = self.title_detail(m.key)
            text = (f"<span style='color:{t.series[m.series]}; font-size:{t.font_px}px; "
                    f"font-weight:bold'>{m.name}</span><br>"
                    f"<span style='color:{t.foreground}; font-size:{t.small_px}px'>{detail}</span>")
            if text != title.text:  # re-laying out a label is slow; most redraws change no title
                title.setText(text)

    def _orient_arrows(self, resized: pg.ViewBox | None = None) -> None:
        """Point each arrow along its edge as drawn on screen (the boxes stretch with the widget); only
        in the box ``resized`` when one is given."""
        for (cell, _key), parts in self.edge_items.items():
            box = self.boxes[cell]
            if resized is not None and box is not resized:
                continue
            if box.scene() is None or box.width() <= 0 or box.height() <= 0:
                continue  # not laid out yet: the first resize orients the arrows
            px, py = box.viewPixelSize()
            if px <= 0 or py <= 0:
                continue
            (x0, y0), (x1, y1) = parts["from"], parts["to"]
            parts["arrow"].setStyle(angle=math.degrees(math.atan2((y1 - y0) / py, -(x1 - x0) / px)))

    def _lay_out_labels(self, resized: pg.ViewBox | None = None) -> None:
        """Put every edge label beside its edge where it covers no arrow, line, node or other label.

        Works in the box's pixels (labels keep their pixel size while the boxes stretch): candidate
        places along the edge (middle first) on the preferred side, then the other side; the first
        free one wins. A box's labels depend on that box alone, so a box that resized (its
        ``sigResized`` passes it as ``resized``) lays out its own: a new layout of the widget resizes
        each box in turn, and laying out all of them each time cost the square of their number."""
        if self._moving:
            return
        self._orient_arrows(resized)
        for m in self.models:
            box = self.boxes[m.key]
            if resized is not None and box is not resized:
                continue
            if box.scene() is None or box.width() < 20 or box.height() < 20:
                continue
            (vx0, vx1), (vy0, vy1) = box.viewRange()
            sx, sy = box.width() / (vx1 - vx0), box.height() / (vy1 - vy0)

            def to_px(x: float, y: float, vx0=vx0, vy1=vy1, sx=sx, sy=sy) -> QPointF:
                return QPointF((x - vx0) * sx, (vy1 - y) * sy)

            def to_view(p: QPointF, vx0=vx0, vy1=vy1, sx=sx, sy=sy) -> tuple[float, float]:
                return vx0 + p.x() / sx, vy1 - p.y() / sy

            bounds = QRectF(0, 0, box.width(), box.height())
            t = self.theme
            node_size = self.node_size()
            obstacles: list[QRectF] = []
            nodes, labels = self.node_items[m.key]
            spec = list(_DIAGRAMS[m.key]["nodes"].values())
            for (x, y, _label, side), text in zip(spec, labels, strict=True):
                p = to_px(x, y)
                obstacles.append(QRectF(p.x() - node_size / 2, p.y() - node_size / 2, node_size, node_size))
                r = text.textItem.boundingRect()
                # the label just clear of its node, above or below it
                top = p.y() - node_size / 2 - 1 - r.height() if side == "above" else p.y() + node_size / 2 + 1
                text.setAnchor((0, 0))
                text.setPos(*to_view(QPointF(p.x() - r.width() / 2, top)))
                obstacles.append(QRectF(p.x() - r.width() / 2, top, r.width(), r.height()))
            if m.key in self.notes:
                note = self.notes[m.key]
                r = note.textItem.boundingRect()
                p = to_px(*_DIAGRAMS[m.key]["note"][:2])
                obstacles.append(QRectF(p.x() - r.width() / 2, p.y() - r.height() / 2, r.width(), r.height()))
            segments = []
            for (cell, _key), parts in self.edge_items.items():
                if cell != m.key:
                    continue
                a, b = to_px(*parts["from"]), to_px(*parts["to"])
                width = t.line_width * (5 if parts["additive"] else 1.5)
                segments.append((a, b, width / 2 + 2))
                head = int(0.8 * t.font_px) + 4
                tip = parts["arrow"].pos()
                c = to_px(tip.x(), tip.y())
                obstacles.append(QRectF(c.x() - head, c.y() - head, 2 * head, 2 * head))
            placed: list[QRectF] = []
            for (cell, _key), parts in self.edge_items.items():
                if cell != m.key:
                    continue
                text = parts["text"]
                a, b = to_px(*parts["from"]), to_px(*parts["to"])
                edge = parts.get("edge")
                name = self.edge_names.get((m.key, _key))
                variants = ([factor_text(edge, name=name), factor_text(edge, two_lines=True, name=name)]
                            if edge is not None else [""])
                rect = None
                for words in variants:  # one line if it finds a free place, else two
                    if text.toPlainText() != words:
                        text.setText(words)
                    size = text.textItem.boundingRect()
                    rect = self._free_spot(a, b, size.width(), size.height(), parts, obstacles + placed, segments,
                                           bounds)
                    if rect is not None:
                        break
                if rect is None:  # nowhere free: the one-line label at its first place inside the box
                    text.setText(variants[0])
                    size = text.textItem.boundingRect()
                    rect = self._free_spot(a, b, size.width(), size.height(), parts, obstacles + placed, segments,
                                           bounds, fallback=True)
                placed.append(rect)
                text.setAnchor((0, 0))
                text.setPos(*to_view(rect.topLeft()))

    @staticmethod
    def _free_spot(a: QPointF, b: QPointF, w: float, h: float, parts: dict, obstacles: list[QRectF],
                   segments: list, bounds: QRectF, fallback: bool = False) -> QRectF | None:
        dx, dy = b.x() - a.x(), b.y() - a.y()
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        nx, ny = -uy, ux  # a normal (screen y grows downward)
        preferred = parts["side"]
        # which normal direction is the preferred side: "above" is up (-y), "left" is -x, ...
        want = {"above": (0, -1), "below": (0, 1), "left": (-1, 0), "right": (1, 0)}[preferred]
        first = 1 if nx * want[0] + ny * want[1] >= 0 else -1
        clear = (parts["halo"].opts.get("pen").widthF() / 2 if parts["additive"] else 0) + 6
        candidates = []
        for side in (first, -first):
            for f in (0.4, 0.3, 0.5, 0.2, 0.6, 0.1, 0.7):
                px, py = a.x() + f * dx, a.y() + f * dy
                extent = abs(nx) * w / 2 + abs(ny) * h / 2
                cx, cy = px + side * nx * (clear + extent), py + side * ny * (clear + extent)
                candidates.append(QRectF(cx - w / 2, cy - h / 2, w, h))
        for rect in candidates:
            if not bounds.contains(rect):
                continue
            if any(rect.intersects(o) for o in obstacles):
                continue
            if any(_rect_hits_segment(rect, s, e, margin) for s, e, margin in segments):
                continue
            return rect
        if not fallback:
            return None
        inside = [r for r in candidates if bounds.contains(r)]
        return (inside or candidates)[0]


# ---------------------------------------------------------------------------------------------------
# the pieces both comparisons' pages share


def badge_row(models: tuple[Model, ...], text) -> tuple[QWidget, dict[str, Badge]]:
    """A badge per model (``text(model)`` until its verdict arrives), side by side in equal widths."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(6)
    badges = {}
    for m in models:
        badge = Badge(text(m), rich=True)
        badge.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(badge, 1)
        badges[m.key] = badge
    return row, badges


def chart_marks(chart, theme: Theme) -> tuple[pg.ScatterPlotItem, pg.ScatterPlotItem, pg.InfiniteLine, ThresholdPair]:
    """A comparison chart's markers (beyond float64, exact zeros), its pulse cursor and its threshold
    lines (their labels keep clear of the cursor), the cursor and the lines hidden until the first
    result (the first one loads torch: a few seconds)."""
    item = chart.getPlotItem()
    below_float, zero_marks = pg.ScatterPlotItem(symbol="t"), pg.ScatterPlotItem(symbol="x")
    item.addItem(below_float)
    item.addItem(zero_marks)
    cursor = pg.InfiniteLine(angle=90, movable=False)
    lines = ThresholdPair(chart, theme, cursor=cursor)
    item.addItem(cursor, ignoreBounds=True)
    for it in (*lines.lines, cursor):
        it.setVisible(False)
    return below_float, zero_marks, cursor, lines


def show_marks(view, below: tuple[list, list], zero: tuple[list, list]) -> tuple[bool, bool]:
    """Put the curves' beyond-float64 and exact-zero markers (lists of x and y arrays per curve) on
    ``view.below_float`` and ``view.zero_marks``; whether there are any of each."""
    shown = []
    for marks, (xs, ys) in ((view.below_float, below), (view.zero_marks, zero)):
        x = np.concatenate(xs)
        set_marks(marks, x, np.concatenate(ys), view.theme.marker_size)
        shown.append(bool(x.size))
    return shown[0], shown[1]


def marks_legend(view, below: bool, below_text: str, zero: bool) -> list:
    """The legend entries of the markers on show, then of the threshold lines whose labels found no place."""
    entries = [(view.below_float, below_text)] if below else []
    if zero:
        entries.append((view.zero_marks, "exactly 0"))
    return entries + view.threshold_lines.legend_entries()


class SplitOrTabs:
    """Two views one above the other in a splitter when there is room, or on two tabs on a short or
    narrow screen (a projector at 1024x768): :meth:`arrange` moves the widgets, nothing is built
    twice. The lower view is a :class:`CellDiagrams`: side by side in the splitter, stacked on a tab."""

    def __init__(self, names: tuple[str, str], tooltip: str) -> None:
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.tabs = QTabWidget()
        self.tab_layouts: list[QVBoxLayout] = []
        for name in names:
            page = QWidget()
            page_layout = QVBoxLayout(page)
            page_layout.setContentsMargins(0, 0, 0, 0)
            self.tabs.addTab(page, name)
            self.tab_layouts.append(page_layout)
        self.tabs.setToolTip(tooltip)

    def arrange(self, compact: bool, upper: QWidget, diagrams: CellDiagrams) -> None:
        if compact:
            for page_layout, widget in zip(self.tab_layouts, (upper, diagrams), strict=True):
                page_layout.addWidget(widget)
            diagrams.set_stacked(True)
            self.splitter.hide()
            self.tabs.show()
        else:
            for index, widget in enumerate((upper, diagrams)):
                self.splitter.insertWidget(index, widget)
            self.splitter.setStretchFactor(0, 2)
            self.splitter.setStretchFactor(1, 1)
            self.splitter.setSizes([2000, 1000])  # in proportion, whatever the height
            diagrams.set_stacked(False)
            self.tabs.hide()
            self.splitter.show()


# ---------------------------------------------------------------------------------------------------
# the scene


# Title and summary of each comparison (the header follows ``state.compare``).
HEADERS = {
    GATES: ("RNN vs LSTM vs GRU", "The same inputs through each cell. On the LSTM's cell state the gradient is "
                                  "multiplied by the forget gate, not by W_hh."),
    ADDITIVE: ("The additive path: five models", "‖dL/dxₜ‖ reaching each input. Attention reaches x₁ in one hop, "
                                                 "weighted by the attention a₁ paid to it: no chain of W_hh."),
}
SWITCH_NAMES = {GATES: "Gates", ADDITIVE: "Additive path"}


class GatesScene(Scene):
    scene_id = "gates"
    title, summary = HEADERS[GATES]
    has_animation = True
    State = GatesState

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._result: CellComparison | None = None
        self.make_preset_box(layout, "Ready-made settings for the forget-gate lesson and the additive path; each "
                                     "holds on every seed")
        d = GatesState()

        self.forget_bias = SliderSpin(*FORGET_BIAS_RANGE, 0.1, d.forget_bias, decimals=1,
                                      tooltip="Bias of the LSTM's forget gate: f = σ(bias + …). At 0 the gate is "
                                              "about ½ and the cell state forgets; at 3 it is about 0.95 and the "
                                              "gradient travels far along the cell state")
        layout.addWidget(form_box("LSTM", [("Forget bias", self.forget_bias)]))
        self.residual_scale = SliderSpin(*RESIDUAL_SCALE_RANGE, 0.01, d.residual_scale,
                                         tooltip="α in hₜ = hₜ₋₁ + α f(W_hh hₜ₋₁ + W_xh xₜ): the size of the correction "
                                                 "added to the identity. Small α keeps the gradient near the identity's "
                                                 "× 1; at α = 1 the state drifts into saturation over long sequences "
                                                 "and the correction can stretch the gradient")
        self.residual_box = form_box("Residual RNN", [("Scale α", self.residual_scale)])
        layout.addWidget(self.residual_box)

        self.steps = SliderSpin(1, APP_MAX_STEPS, 1, d.steps, integer=True, tooltip="Sequence length T")
        self.hidden = SliderSpin(1, APP_MAX_HIDDEN, 1, d.hidden, integer=True,
                                 tooltip="Hidden size n, the same for every cell")
        self.input_scale = SliderSpin(0.0, 3.0, 0.05, d.input_scale,
                                      tooltip="Standard deviation of the inputs xₜ (the same sequence for every "
                                              "cell); large inputs saturate the gates")
        self.init = Choice([(i, INIT_LABELS[i]) for i in INITIALISERS], d.init,
                           tooltip="How W_hh is drawn: the RNN's W_hh and the candidate block of the LSTM (g) "
                                   "and GRU (n); the gate blocks keep PyTorch's default uniform")
        self.scale = SliderSpin(0.0, 2.5, 0.01, d.scale,
                                tooltip="Weight scale of W_hh: spectral radius for Gaussian, gain for orthogonal "
                                        "and identity, multiplier for PyTorch default")
        self.seed = SeedBox(d.seed)
        layout.addWidget(form_box("All cells", [
            ("Steps T", self.steps), ("Hidden n", self.hidden), ("Input scale", self.input_scale),
            ("Initialiser", self.init), ("Weight scale", self.scale), ("Seed", self.seed)]))

        self.make_threshold_box(layout)
        self.make_pulse_controls(layout, "Send the gradient backward from L through every cell (Space)")

        note = QLabel("Weights and inputs come from the seed. The LSTM's candidate block g and the GRU's n "
                      "use the RNN's own W_hh and W_xh; biases are 0 except the forget gate's.")
        note.setObjectName("caption")
        note.setWordWrap(True)
        layout.addWidget(note)

        self.bind(self.forget_bias, "forget_bias")
        self.bind(self.residual_scale, "residual_scale")
        self.bind(self.steps, "steps", int)
        self.bind(self.hidden, "hidden", int)
        self.bind(self.input_scale, "input_scale")
        self.bind(self.init, "init")
        self.bind(self.scale, "scale")
        self.bind(self.seed, "seed", int)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        badges, self.badges = badge_row(GATE_MODELS, lambda m: f"{m.name}: computing…")
        self.badge_lines: dict[str, tuple[str, str]] = {}

        self.lanes = LanesView(t)
        self.chart = make_plot(t, "", "time step t", "norm", log_y=True, legend_columns=4)
        item = self.chart.getPlotItem()
        self.curves: dict[str, pg.PlotDataItem] = {}
        for c in CURVES:
            self.curves[c.key] = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        for c in sorted(CURVES, key=lambda c: not c.dashed):  # dashed curves under the solid ones
            item.addItem(self.curves[c.key])
        self.below_float, self.zero_marks, self.cursor, self.threshold_lines = chart_marks(self.chart, t)
        self.vanish_line, self.explode_line = self.threshold_lines.lines
        self.lanes.follow(item)  # step t of the lanes sits above step t of the chart
        item.getViewBox().sigResized.connect(self._on_chart_resized)
        self.diagrams = CellDiagrams(t)

        # Two arrangements of the same views: stacked in one splitter when there is room, or on two
        # tabs (the gradients: lanes above the chart | the cell diagrams) on a short screen such as a
        # projector at 1024x768. _arrange() moves the widgets; nothing is built twice.
        self.gradients = QWidget()  # the values at the pulse, and the lanes above the chart: always together
        gl = QVBoxLayout(self.gradients)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.setSpacing(4)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(self.lanes)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        gl.addWidget(split, 1)
        self.views = SplitOrTabs(("Gradients", "Cells"),
                                 "The screen is short: the gradients and the cell diagrams share it as tabs")
        self.splitter, self.tabs = self.views.splitter, self.views.tabs
        self.bind(self.tabs, "view", lambda index: VIEWS[index], "change view")
        self._compact: bool | None = None
        self.gates_page = QWidget()
        page_layout = QVBoxLayout(self.gates_page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.setSpacing(6)
        page_layout.addWidget(badges)
        page_layout.addWidget(self.splitter, 1)
        page_layout.addWidget(self.tabs, 1)

        from .gates_additive import AdditivePage  # it builds on this module's diagrams

        self.additive = AdditivePage(t)
        self.bind(self.additive.tabs, "view", lambda index: VIEWS[index], "change view")
        self.pages = QStackedWidget()
        self.pages.addWidget(self.gates_page)
        self.pages.addWidget(self.additive)
        layout.addWidget(self.pages, 1)

        # the comparison switch beside the title: a presenter changes it without opening the drawer
        switch = QWidget()
        sl = QHBoxLayout(switch)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.setSpacing(0)
        self.compare_group = QButtonGroup(self)
        self.compare_buttons: dict[str, QToolButton] = {}
        tips = {GATES: "RNN vs LSTM vs GRU: ‖dL/dhₜ‖, the lanes and the cell diagrams",
                ADDITIVE: "All five models on the same inputs by ‖dL/dxₜ‖: adds the residual RNN and self-attention "
                          "(the path Transformers take)"}
        for index, key in enumerate(COMPARES):
            button = QToolButton()
            button.setText(SWITCH_NAMES[key])
            button.setCheckable(True)
            button.setToolTip(tips[key])
            self.compare_group.addButton(button, index)
            sl.addWidget(button)
            self.compare_buttons[key] = button
        self.compare_group.setExclusive(True)
        self.compare_group.idClicked.connect(
            lambda index: self.change(label="switch comparison", compare=COMPARES[index]))
        self.compare_switch = switch
        # where the switch sits: beside the title, or (short screens) in the free corner of the tab bar,
        # so the summary under the title keeps its width
        self.switch_corners: dict[str, QHBoxLayout] = {}
        for key, tabs in ((GATES, self.tabs), (ADDITIVE, self.additive.tabs)):
            corner = QWidget()
            corner_layout = QHBoxLayout(corner)
            corner_layout.setContentsMargins(0, 0, 0, 2)
            tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
            self.switch_corners[key] = corner_layout
        self.header_row.addWidget(switch, 0, Qt.AlignmentFlag.AlignTop)
        self.apply_theme(t)
        self._arrange()

    def _wants_compact(self) -> bool:
        """Tabs when the views get less than about 43 lines of body text in height, or less than about
        26 characters of small text per diagram side by side (the edge labels need that room)."""
        t = self.theme
        return self.height() < 43 * t.font_px or self.views_widget.width() < 3 * 26 * t.small_px

    def _place_switch(self) -> None:
        """The comparison switch beside the title, or in the shown page's tab bar when it is compact."""
        if not hasattr(self, "switch_corners"):
            return
        if self._compact:
            target = self.switch_corners[self.state.compare if self.state is not None else GATES]
            if self.compare_switch.parent() is not target.parentWidget():
                target.addWidget(self.compare_switch)
        elif self.compare_switch.parent() is not self.views_widget:
            self.header_row.addWidget(self.compare_switch, 0, Qt.AlignmentFlag.AlignTop)
        self.compare_switch.show()

    def _arrange(self) -> None:
        compact = self._wants_compact()
        if hasattr(self, "additive"):
            self.additive.arrange(compact)
        if compact == self._compact:
            self._place_switch()
            return
        self._compact = compact
        self.views.arrange(compact, self.gradients, self.diagrams)
        self._place_switch()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._arrange()

    @property
    def compact(self) -> bool:
        return bool(self._compact)

    def apply_theme(self, theme: Theme) -> None:
        t = theme
        self._legend_key = None
        self._badge_keys: dict[str, tuple] = {}
        if self._compact is not None:
            self._arrange()
        self.lanes.apply_theme(t)
        self.diagrams.apply_theme(t)
        style_plot(self.chart, t)
        reserve_tick_width(self.chart, "10⁻¹⁸⁰⁰")
        self.chart.getPlotItem().getAxis("bottom").setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        for c in CURVES:
            colour = t.series[c.model.series]
            style = Qt.PenStyle.DashLine if c.dashed else Qt.PenStyle.SolidLine
            self.curves[c.key].setPen(curve_pen(colour, t, style, 0.8 if c.dashed else 1.0))
        self.below_float.setBrush(pg.mkBrush(t.series[3]))
        self.below_float.setPen(pg.mkPen(t.foreground))
        self.zero_marks.setPen(pg.mkPen(t.foreground, width=2))
        self.zero_marks.setBrush(pg.mkBrush(t.foreground))
        self.threshold_lines.apply_theme(t)
        self.cursor.setPen(pg.mkPen(t.highlight, width=max(1.0, t.line_width * 0.6)))
        for badge in self.badges.values():
            # two lines: the verdict and what it measured; a fixed height, so a new verdict never
            # asks the window to lay out again
            badge.setFixedHeight(int(t.font_px * 1.35 + t.small_px * 1.35 + 0.25 * t.font_px + 6))
        if self._result is not None:
            self._draw(self._result)
        if hasattr(self, "additive"):
            self.additive.apply_theme(t)

    # -- state --------------------------------------------------------------------------------------
    def show_state(self, state: GatesState) -> None:
        additive = state.compare == ADDITIVE
        self.compare_buttons[state.compare].setChecked(True)
        self.pages.setCurrentWidget(self.additive if additive else self.gates_page)
        self.residual_box.setVisible(additive)
        self.residual_scale.setValue(state.residual_scale)
        self.additive.tabs.setCurrentIndex(VIEWS.index(state.view))
        if (self.title, self.summary) != HEADERS[state.compare]:
            self.title, self.summary = HEADERS[state.compare]
            self._update_header()
        self._place_switch()
        self.forget_bias.setValue(state.forget_bias)
        self.steps.setValue(state.steps)
        self.hidden.setValue(state.hidden)
        self.input_scale.setValue(state.input_scale)
        self.init.set_value(state.init)
        self.scale.setValue(state.scale)
        self.seed.setValue(state.seed)
        self.tabs.setCurrentIndex(VIEWS.index(state.view))

    def generator_settings(self):
        return self.state.generator()

    def thresholds(self) -> tuple[float, float]:
        return self.state.vanish, self.state.explode

    # -- scenarios ------------------------------------------------------------------------------------
    def open_scenario(self, scenario: Scenario) -> bool:
        """Generated scenarios of any cell open here (their settings fill the controls)."""
        g = scenario.generator
        if g is None:
            return False
        try:
            values = {k: getattr(g, k) for k in ("hidden", "steps", "init", "scale", "input_scale", "seed",
                                                 "forget_bias", "residual_scale")}
            values["compare"] = ADDITIVE if g.cell in ("residual", "attention") else GATES
            new = GatesState.from_dict(values, base=self.state).replace(preset="custom")
        except ValueError as exc:
            self.context.show_error(f"{str(exc).removeprefix('gates: ')}; use `gradsim flow --scenario` for it")
            return False
        self.set_state(new, f"open {scenario.name or 'scenario'}")
        return True

    # -- compute and draw ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.request(compute_gates, self.state.job(), reuse=True)

    def on_result(self, result: CellComparison | ModelComparison, key: str) -> None:
        if isinstance(result, ModelComparison):
            self.additive.draw(result)
            self.pulse.steps = result.results["attention"].steps
            self.pulse.position = min(self.pulse.position, self.pulse.steps + 1.0)
            self._on_pulse(self.pulse.position)
            return
        self._result = result
        self._draw(result)

    def _draw(self, r: CellComparison) -> None:
        t = self.theme
        first = r.results[GATE_MODELS[0].key]
        x = first.t.astype(np.float64)
        steps = first.steps
        logs = curve_logs(r)
        vanish, explode = first.verdict.vanish_threshold, first.verdict.explode_threshold
        lo_data, hi_data, floor = log_bounds(list(logs.values()), vanish)
        few = steps <= 60
        below_x, below_y, zero_x, zero_y = [], [], [], []
        drawn = []
        for c in CURVES:
            y, zero = clean_log10(logs[c.key], floor)
            colour = t.series[c.model.series]
            self.curves[c.key].setData(x, y, symbol="o" if few and not c.dashed else None,
                                       symbolSize=t.marker_size * 0.6, symbolBrush=colour, symbolPen=colour)
            drawn.append((x, y))
            below = stretch_ends(_beyond_float(r, c.key))  # one marker per stretch, where it leaves
            below_x.append(x[below])
            below_y.append(y[below])
            zero_x.append(x[zero])
            zero_y.append(y[zero])
        self._drawn = drawn
        self.cursor.setVisible(True)
        self._marks = show_marks(self, (below_x, below_y), (zero_x, zero_y))
        self.threshold_lines.set_values(vanish, explode)
        self._y_span = self.threshold_lines.y_span(lo_data, hi_data, floor if self._marks[1] else None)
        self._frame(steps, decide_legend=True)

        self.lanes.set_lanes([c.lane for c in CURVES], [logs[c.key] for c in CURVES])
        self.diagrams.set_edges(r.edges)
        for m in GATE_MODELS:
            self._show_badge(m, r.results[m.key], r)
        self.pulse.steps = steps
        self.pulse.position = min(self.pulse.position, steps + 1.0)
        self._on_pulse(self.pulse.position)
        self.lanes.align()
        settle_view(self.lanes)

    def _frame(self, steps: int, decide_legend: bool) -> None:
        """Ranges with room for the threshold labels, the labels where no curve runs, the legend."""
        self.threshold_lines.frame(steps + 1, self._y_span, lambda: self._drawn, decide_legend)
        self._update_legend(*self._marks)
        settle_view(self.chart)

    def _on_chart_resized(self, *_args) -> None:
        fit_legend(self.chart, 4)
        if self._result is not None and getattr(self, "_y_span", None) is not None:
            self._frame(self._result.rnn.steps, decide_legend=False)

    def _update_legend(self, below: bool, zero: bool) -> None:
        entries = [(self.curves[c.key], c.legend) for c in CURVES]
        entries += marks_legend(self, below, "leaves float64 (exact log shown)", zero)
        self._legend_key = show_legend(self.chart, entries, self.theme, 4, self._legend_key,
                                       lambda: style_plot(self.chart, self.theme))

    def _show_badge(self, m: Model, res, r: CellComparison) -> None:
        """The model's verdict and how many steps its gradient stays within the thresholds."""
        t = self.theme
        v = res.verdict
        lines = (f"{m.name}: {v.kind.upper()}", reach_text(v, res.steps))
        self.badge_lines[m.key] = lines
        tip = reach_sentence(m.name, v, res.steps) + f". ‖dL/dh₁‖ = {format_power(float(res.log10_grad_norm[0]))}"
        if m.key == "lstm":
            tip += "\n" + reach_sentence("LSTM cell state", r.lstm.cell_verdict, res.steps, "‖dL/dcₜ‖")
        key = (lines, tip, t.name, t.font_px)
        if self._badge_keys.get(m.key) == key:
            return
        self._badge_keys[m.key] = key
        badge = self.badges[m.key]
        badge.setText(f"<span style='font-size:{t.font_px}px'>{lines[0]}</span><br>"
                      f"<span style='font-size:{t.small_px}px; font-weight:normal'>{lines[1]}</span>")
        badge.setToolTip(tip)
        badge.set_colour(t.verdict_colour(v.kind), t, " padding: 2px 4px;")

    # -- animation ------------------------------------------------------------------------------------
    def _on_pulse(self, position: float) -> None:
        """The rings on the lanes and the chart's cursor at the same x; the values at the pulse's step
        (the additive comparison: its cursor at the pulse's distance from the loss, and the badges)."""
        if self.state.compare == ADDITIVE:
            self.additive.show_pulse(position, self.pulse.step_at(position))
            return
        self.lanes.set_pulse(position)
        r = self._result
        if r is None:
            return
        steps = r.rnn.steps
        self.cursor.setValue(min(max(position, 1.0), steps + 1.0))
        self.threshold_lines.labels.follow_cursor()
        th = self.theme
        if position > steps:
            self.lanes.set_readout(f"<span style='color:{th.muted}'>The gradient starts at the loss: ▶ sends it "
                                   "back through every cell at once</span>")
            return
        step = self.pulse.step_at(position)
        logs = curve_logs(r)
        parts = []
        for c in CURVES:
            colour = th.series[c.model.series]
            parts.append(f"<span style='color:{colour}'><b>{c.lane}</b></span> "
                         f"{format_power(float(logs[c.key][step - 1]), 2)}")
        self.lanes.set_readout(f"t = {step}: " + " · ".join(parts))

    def pulse_text(self) -> str:
        """The values at the pulse's step, as shown above the lanes."""
        return self.lanes.readout_text()

    # -- export ---------------------------------------------------------------------------------------
    def export_plot(self):
        return self.additive.chart if self.state.compare == ADDITIVE else self.chart

    def export_columns(self) -> dict | None:
        if self.state.compare == ADDITIVE:
            return self.additive.export_columns()
        r = self._result
        if r is None:
            return None
        out: dict = {"t": [int(v) for v in r.rnn.t]}
        for m in GATE_MODELS:
            out[f"{m.key}_log10_grad_norm"] = r.results[m.key].log10_grad_norm
            if m.key == "lstm":
                out["lstm_log10_cell_grad_norm"] = r.lstm.log10_cell_grad_norm
        for m in GATE_MODELS:
            out[f"{m.key}_grad_norm"] = r.results[m.key].grad_norm
            if m.key == "lstm":
                out["lstm_cell_grad_norm"] = r.lstm.cell_grad_norm
        return out

    @property
    def result(self) -> CellComparison | ModelComparison | None:
        """The result the shown comparison draws (None until its first one arrives)."""
        return self.additive.result if self.state.compare == ADDITIVE else self._result
