"""Scene ``agreement``: subject-verb agreement, where vanishing gradients meet a sentence.

The one picture: a sentence as a row of large word chips, each shaded by how much of the verb's error
signal reaches that word (``‖dL/dxₜ‖`` on a log colour scale), the subject and the verb tagged. Under
it, one line of figures and one sentence saying what they mean for the network on show (a "Why?"
button opens the longer story); below, what that does to learning: the accuracy of real trained
models (shipped weights, scored here on fresh sentences) against the subject-verb distance.

The chips grow with the screen: their type is the largest (up to 2.2 times the title size) that keeps
the sentence within a third of the scene's height. Everything shown comes from
:mod:`gradsim.engine.agreement` through the worker (:mod:`gradsim.states.agreement`); the views draw.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QLinearGradient, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...engine import agreement as ag
from ...states.agreement import (
    CURVE_SAMPLES,
    RUNS,
    AgreementState,
    AgreementView,
    compute_view,
    holds_without_gradient,
    sentence_ids,
)
from ..controls import Choice, SliderSpin
from ..plots import colormap, curve_pen, format_power, make_plot, power_label, style_plot, threshold_line
from ..theme import Theme
from ..wrapped_choices import WrappedChoices
from .base import Scene

CHIP_SHARE = 0.34  # the chips, their key and colour bar take at most this share of the scene's height
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
KEY_LABELS = ("subject", "verb (read as a blank)", "attractor", "not read")
MIXED_LABEL = f"a mix of distances {ag.MIXED_RANGE[0]}–{ag.MIXED_RANGE[1]}"


def sentence_label(sentence_id: str) -> str:
    """What the sentence list shows: the whole sentence (never cut), and how far its verb stands."""
    if sentence_id == "generated":
        return "A generated sentence: choose its distance below"
    s = ag.seed_sentences()[int(sentence_id.split(":")[1])]
    words = "word" if s.distance == 1 else "words"
    return f"“{s.text}” (verb {s.distance} {words} after the subject)"


def sentence_picker() -> WrappedChoices:
    """The sentences listed whole where they are chosen: the seeds' three, then the generated one."""
    ids = sentence_ids()
    return WrappedChoices([(i, sentence_label(i)) for i in ids if i != "generated"]
                          + [("generated", sentence_label("generated"))])


# --------------------------------------------------------------------------------------------------
# the sentence view: chips, their key and their colour scale, as items of one graphics view


class SentenceView(QGraphicsView):
    """Tokens as chips in reading order, wrapped to the width, shaded by a log colour scale.

    The subject and the verb carry a tag above their chip; attractors (nouns of the other number
    between them) a dashed outline; tokens the network never reads (after the verb) are hollow. Under
    the chips: a key of these marks and the colour bar. Every text is a scene item, so what a layout
    audit measures is what is drawn.
    """

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        self.tokens: tuple[str, ...] = ()
        self.subject = -1
        self.verb = -1
        self.attractors: tuple[int, ...] = ()
        self.log10: np.ndarray = np.array([])
        self.vmin, self.vmax = -3.0, 0.0
        self.height_budget = 300.0  # the scene sets it: about half of its height
        self.chip_px = theme.font_px
        self.bar_title = "‖dL/dxₜ‖"
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.chip_items: list[tuple[QGraphicsPathItem, QGraphicsSimpleTextItem]] = []

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.rebuild()

    def set_sentence(self, sal: ag.Saliency, vmin: float, vmax: float) -> None:
        s = sal.sentence
        self.tokens, self.subject, self.verb, self.attractors = s.tokens, s.subject, s.verb, s.attractors
        self.log10 = np.asarray(sal.log10_grad_norm, dtype=np.float64)
        self.vmin, self.vmax = vmin, vmax
        self.rebuild()

    def set_height_budget(self, budget: float) -> None:
        if abs(budget - self.height_budget) >= 1:
            self.height_budget = budget
            self.rebuild()

    # -- geometry ----------------------------------------------------------------------------------
    def _fonts(self, chip_px: int) -> tuple[QFont, QFont, QFont]:
        t = self.theme
        return t.qfont(chip_px), t.qfont(t.small_px, bold=True), t.qfont(t.small_px)

    def ticks(self, most: int = 6) -> list[int]:
        """Whole powers of ten for the colour bar, at most ``most`` of them, a round number of decades apart."""
        lo, hi = math.ceil(self.vmin - 1e-9), math.floor(self.vmax + 1e-9)
        step = next((c for c in (1, 2, 5, 10, 20, 50, 100, 200, 500) if (hi - lo) / c < max(1, most)), 1000)
        return [k for k in range(lo, hi + 1) if k % step == 0] or [lo]

    def layout(self, width: float, chip_px: int) -> dict:
        """Where everything goes at this width and chip size: chip rectangles, the key row, the bar."""
        chip_font, tag_font, small = self._fonts(chip_px)
        fm, tm, sm = QFontMetricsF(chip_font), QFontMetricsF(tag_font), QFontMetricsF(small)
        pad_x, gap = fm.horizontalAdvance(" ") * 0.6 + 4, max(6.0, chip_px * 0.18)
        chip_h = fm.height() + 6
        tag_h = tm.height() + 2
        rows: list[list[tuple[int, float, float]]] = [[]]
        x = 4.0
        for i, tok in enumerate(self.tokens):
            w = max(fm.horizontalAdvance(tok) + 2 * pad_x, tm.horizontalAdvance("SUBJECT") + 8 if i == self.subject
                    else tm.horizontalAdvance("VERB") + 8 if i == self.verb else 0)
            if x + w > width - 6 and x > 4:
                rows.append([])
                x = 4.0
            rows[-1].append((i, x, w))
            x += w + gap
        rects: list[QRectF] = []
        y = 2.0
        for row in rows:
            tagged = any(i in (self.subject, self.verb) for i, _x, _w in row)
            top = y + (tag_h if tagged else 0.0)
            rects += [QRectF(rx, top, w, chip_h) for _i, rx, w in row]
            y = top + chip_h + gap
        # under the chips: the key of the marks and the colour bar, side by side when there is room
        key_w = sum(sm.height() * 1.4 + 5 + sm.horizontalAdvance(k) + 18 for k in KEY_LABELS)
        title_w = sm.horizontalAdvance(self.bar_title) + 10
        half_tick = sm.horizontalAdvance("10⁻⁰⁰") / 2
        one_row = key_w + title_w + 240 + half_tick <= width
        key_y = y
        bar_y = y if one_row else y + sm.height() + 6
        bar_left = (key_w if one_row else 4.0) + title_w
        bar_h = sm.height() * 0.9
        tick_y = bar_y + bar_h + 3
        total = tick_y + 5 + sm.height() + 2
        return {"rects": rects, "key_y": key_y, "bar_y": bar_y, "bar_h": bar_h, "tick_y": tick_y,
                "bar_left": bar_left, "bar_right": width - half_tick - 4, "title_x": bar_left - title_w,
                "height": total, "fonts": (chip_font, tag_font, small), "tag_h": tag_h}

    def choose_chip_px(self, width: float) -> int:
        """The largest chip type, from 2.2 times the title size down to the type scale's smallest size,
        whose layout fits the height budget (a long sentence on a small screen, or under an open lesson
        bar, gets smaller chips, never cut ones)."""
        t = self.theme
        largest = int(round(t.title_px * 2.2))
        for px in range(largest, t.small_px - 1, -1):
            if self.layout(width, px)["height"] <= self.height_budget:
                return px
        return t.small_px

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt naming
        return int(math.ceil(self.layout(width, self.choose_chip_px(width))["height"]))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(max(self.width(), 400), self.heightForWidth(max(self.width(), 400)))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.rebuild()

    # -- drawing ---------------------------------------------------------------------------------------
    def chip_colour(self, i: int) -> QColor | None:
        """Fill of token ``i``: the colour map at its log10 value, or None for an unread token."""
        value = self.log10[i] if i < len(self.log10) else math.nan
        if math.isnan(value):
            return None
        if value == -math.inf:  # an exactly zero gradient: the bottom of the scale
            value = self.vmin
        span = self.vmax - self.vmin
        frac = 0.0 if span <= 0 else min(max((value - self.vmin) / span, 0.0), 1.0)
        return colormap(self.theme).map(frac, mode="qcolor")

    def _text(self, text: str, font: QFont, colour: QColor, x: float, y: float) -> QGraphicsSimpleTextItem:
        item = QGraphicsSimpleTextItem(text)
        item.setFont(font)
        item.setBrush(QBrush(colour))
        item.setPos(x, y)
        self.scene().addItem(item)
        return item

    def _box(self, rect: QRectF, radius: float, pen: QPen, brush) -> QGraphicsPathItem:
        path = QPainterPath()
        path.addRoundedRect(rect, radius, radius)
        item = QGraphicsPathItem(path)
        item.setPen(pen)
        item.setBrush(brush)
        self.scene().addItem(item)
        return item

    def rebuild(self) -> None:
        """Lay the chips out for the current width and type, and replace the scene's items."""
        t = self.theme
        scene = self.scene()
        scene.clear()
        self.chip_items = []
        self.setBackgroundBrush(QColor(t.background))
        width = max(200, self.viewport().width() or self.width())
        self.chip_px = self.choose_chip_px(width)
        geo = self.layout(width, self.chip_px)
        chip_font, tag_font, small = geo["fonts"]
        height = geo["height"]
        scene.setSceneRect(0, 0, width, height)
        if self.height() != int(math.ceil(height)):
            self.setFixedHeight(int(math.ceil(height)))
        border = max(2.0, t.line_width * 0.75)
        fm = QFontMetricsF(chip_font)
        tm = QFontMetricsF(tag_font)
        for i, (tok, rect) in enumerate(zip(self.tokens, geo["rects"], strict=True)):
            fill = self.chip_colour(i)
            if fill is None:
                brush, pen = QBrush(QColor(t.background)), QPen(QColor(t.muted), 1.5, Qt.PenStyle.DotLine)
                text_colour = QColor(t.muted)
            else:
                brush = QBrush(fill)
                pen = QPen(QColor(t.foreground if t.projector else t.background), 1.0)
                luminance = 0.299 * fill.redF() + 0.587 * fill.greenF() + 0.114 * fill.blueF()
                text_colour = QColor("#000000" if luminance > 0.5 else "#ffffff")
            if i == self.subject:
                pen = QPen(QColor(t.highlight), border * 1.6)
            elif i == self.verb:
                pen = QPen(QColor(t.foreground), border * 1.6)
            elif i in self.attractors:
                pen = QPen(QColor(t.explode), border, Qt.PenStyle.DashLine)
            box = self._box(rect.adjusted(1.5, 1.5, -1.5, -1.5), 6, pen, brush)
            w = fm.horizontalAdvance(tok)
            label = self._text(tok, chip_font, text_colour, rect.center().x() - w / 2,
                               rect.center().y() - fm.height() / 2)
            self.chip_items.append((box, label))
            tag = "SUBJECT" if i == self.subject else "VERB" if i == self.verb else ""
            if tag:
                colour = QColor(t.highlight if i == self.subject else t.foreground)
                self._text(tag, tag_font, colour, rect.center().x() - tm.horizontalAdvance(tag) / 2,
                           rect.top() - geo["tag_h"])
        # the key of the marks
        sm = QFontMetricsF(small)
        x, y = 4.0, geo["key_y"]
        pens = [QPen(QColor(t.highlight), border * 1.2), QPen(QColor(t.foreground), border * 1.2),
                QPen(QColor(t.explode), border * 0.8, Qt.PenStyle.DashLine),
                QPen(QColor(t.muted), 1.5, Qt.PenStyle.DotLine)]
        for label, pen in zip(KEY_LABELS, pens, strict=True):
            box_w = sm.height() * 1.4
            self._box(QRectF(x, y + 3, box_w, sm.height() - 6), 3, pen, Qt.BrushStyle.NoBrush)
            self._text(label, small, QColor(t.muted), x + box_w + 5, y)
            x += box_w + 5 + sm.horizontalAdvance(label) + 18
        # the colour bar: its title at the left, ticks at whole powers of ten under it
        bar = QRectF(geo["bar_left"], geo["bar_y"], max(10.0, geo["bar_right"] - geo["bar_left"]), geo["bar_h"])
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        cmap = colormap(t)
        for frac in np.linspace(0, 1, 11):
            gradient.setColorAt(float(frac), cmap.map(float(frac), mode="qcolor"))
        rect_item = QGraphicsRectItem(bar)
        rect_item.setBrush(QBrush(gradient))
        rect_item.setPen(QPen(QColor(t.foreground), 1))
        scene.addItem(rect_item)
        self._text(self.bar_title, small, QColor(t.foreground), geo["title_x"], bar.center().y() - sm.height() / 2)
        span = self.vmax - self.vmin
        room = int(bar.width() // (sm.horizontalAdvance("10⁻⁰⁰") * 1.5))  # labels never touch
        for k in self.ticks(room):
            tx = bar.left() + (0 if span <= 0 else (k - self.vmin) / span) * bar.width()
            scene.addLine(tx, bar.bottom(), tx, bar.bottom() + 4, QPen(QColor(t.foreground), 1))
            text = power_label(k)
            self._text(text, small, QColor(t.foreground), tx - sm.horizontalAdvance(text) / 2, geo["tick_y"] + 2)
        self.setSceneRect(scene.sceneRect())


class WhyPopup(QFrame):
    """The longer explanation behind the caption: a popup over the scene, closed by a click outside."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("whypopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.text)

    def open_near(self, anchor: QWidget, width: int) -> None:
        self.setFixedWidth(width)
        inner = width - 28
        self.setFixedHeight(self.text.heightForWidth(inner) + 24)
        top_left = anchor.mapToGlobal(QPoint(anchor.width() - width, anchor.height() + 4))
        self.move(top_left)
        self.show()


# --------------------------------------------------------------------------------------------------
# the scene


class AgreementScene(Scene):
    scene_id = "agreement"
    title = "Subject-verb agreement"
    summary = "Does the verb's error signal reach its subject?"
    State = AgreementState

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._saliency: ag.Saliency | None = None
        self._curves: ag.AccuracyCurves | None = None
        self.curve_samples = CURVE_SAMPLES
        d = AgreementState()

        box = QGroupBox("Sentence")
        bl = QVBoxLayout(box)
        self.sentence = sentence_picker()
        self.sentence.setToolTip("Three example sentences, or one generated at the distance you set")
        bl.addWidget(self.sentence)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.distance = SliderSpin(1, ag.MIXED_RANGE[1], 1, d.distance, integer=True,
                                   tooltip="Subject-verb distance: the verb stands this many words after its "
                                           "subject, so the verb's gradient crosses this many recurrent steps")
        self.number = Choice([("singular", "singular"), ("plural", "plural")], d.number,
                             tooltip="Number of the subject (and so of its verb); a seed sentence has its own")
        self.variant = QSpinBox()
        self.variant.setRange(0, 9999)
        self.variant.setToolTip("Which generated sentence: the same number always gives the same words")
        self.attractors = QCheckBox("other number")
        self.attractors.setToolTip("Nouns between subject and verb take the other number (attractors: "
                                   "a reader that follows the last noun gets the verb wrong)")
        form.addRow("Distance", self.distance)
        form.addRow("Subject", self.number)
        form.addRow("Variant", self.variant)
        form.addRow("Nouns between", self.attractors)
        bl.addLayout(form)
        self.note = QLabel()
        self.note.setObjectName("caption")
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bl.addWidget(self.note)
        layout.addWidget(box)

        mbox = QGroupBox("Network")
        mform = QFormLayout(mbox)
        mform.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.model = Choice([(k, ag.MODEL_LABELS[k]) for k in ag.MODEL_CHOICES], d.model,
                            tooltip="Whose gradient to show: a vanilla RNN before training (PyTorch's initial "
                                    "weights), or the trained vanilla RNN or LSTM shipped with gradsim")
        self.training = Choice([("mixed", f"distances {ag.MIXED_RANGE[0]}–{ag.MIXED_RANGE[1]}")]
                               + [(str(x), f"distance {x} only") for x in ag.FIXED_DISTANCES], "mixed",
                               tooltip="Which trained model: the one trained on a mix of distances 1–40, or one "
                                       "trained only at one fixed distance")
        self.run = QSpinBox()
        self.run.setRange(0, RUNS - 1)
        self.run.setToolTip("Training seed: three runs of each model ship with gradsim "
                            "(for the untrained network: the seed of its initial weights)")
        mform.addRow("Model", self.model)
        mform.addRow("Trained on", self.training)
        mform.addRow("Seed", self.run)
        layout.addWidget(mbox)
        self._forms = (form, mform)

        self.bind(self.sentence, "sentence", label="choose sentence")
        self.bind(self.distance, "distance", int)
        self.bind(self.number, "number", label="change subject number")
        self.bind(self.variant, "variant", int)
        self.bind(self.attractors, "attractors")
        self.bind(self.model, "model")
        self.bind(self.training, "training", lambda v: v if v == "mixed" else int(v))
        self.bind(self.run, "run", int, label="change seed")

    # -- views ------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.sentence_view = SentenceView(t)
        self.sentence_view.setToolTip("Each chip is shaded by ‖dL/dxₜ‖: the gradient of the verb's loss with "
                                      "respect to that word's embedding (log colour scale, key below the chips)")
        # one line of figures, and under it the sentence that says what they mean here
        self.readout = QLabel("–")
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout.setToolTip(
            "per word: the geometric mean of the decay, (subject / verb) to the power 1 / distance\n"
            "subject / verb: ‖dL/dxₜ‖ at the subject over ‖dL/dxₜ‖ at the verb, the share of the signal that arrives\n"
            "a rule of thumb: about 0.7 per word, over this distance\n"
            "P(plural): the network's probability that the verb is plural (badge: its answer)")
        self.readout_values: dict[str, str] = {}
        self._captions = {"per_step": "per word", "total": "subject / verb", "reference": "rule",
                          "prediction": "P(plural)"}
        self.insight = QLabel()
        self.insight.setWordWrap(True)
        self.insight.setTextFormat(Qt.TextFormat.RichText)
        self.insight.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.insight.setToolTip("What the figures above mean for the network on show")
        self.why_button = QToolButton()
        self.why_button.setText("Why?")
        self.why_button.setToolTip("Why the curves below differ: the longer story, with the figures measured")
        self.why_popup = WhyPopup(self)
        self.explanation = self.why_popup.text
        self.explanation.setText("Scoring the trained models on fresh sentences…")
        self.why_button.clicked.connect(self.show_why)
        caption_row = QHBoxLayout()
        caption_row.setContentsMargins(4, 0, 4, 0)
        caption_row.addWidget(self.insight, 1)
        caption_row.addWidget(self.why_button, 0, Qt.AlignmentFlag.AlignTop)

        self.chart = make_plot(t, "", "subject-verb distance (words)", "", legend_columns=3)
        self.chart.setMinimumHeight(int(12 * t.small_px))
        item = self.chart.getPlotItem()
        self.fixed_curves = {c: pg.PlotDataItem(connect="finite", skipFiniteCheck=True) for c in ag.CELLS}
        self.mixed_curves = {c: pg.PlotDataItem(connect="finite", skipFiniteCheck=True) for c in ag.CELLS}
        self.transfer_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.run_points = {c: pg.ScatterPlotItem() for c in ag.CELLS}
        self.run_lines: dict[str, list[pg.PlotDataItem]] = {c: [] for c in ag.CELLS}
        self.chance_line = threshold_line(t, t.muted, "chance 50 %")
        self.cursor = pg.InfiniteLine(angle=90, movable=False)
        self.cursor_proxy = pg.PlotDataItem()  # the cursor's legend entry (never drawn)
        for c in ag.CELLS:
            item.addItem(self.run_points[c])
            item.addItem(self.mixed_curves[c])
            item.addItem(self.fixed_curves[c])
        item.addItem(self.transfer_curve)
        item.addItem(self.chance_line, ignoreBounds=True)
        item.addItem(self.cursor, ignoreBounds=True)
        self.chance_line.setValue(50.0)
        item.setRange(xRange=(0, ag.MIXED_RANGE[1] + 1), yRange=(35, 107), padding=0)  # room for the 100 % tick label
        self.chart.setToolTip("Held-out accuracy (%) of the shipped models. One distance: each model was trained "
                              "at one distance and is scored there. Mixed: one model trained on distances 1–40, "
                              f"scored at every distance. Dotted: the vanilla RNN trained at distance "
                              f"{ag.FIXED_DISTANCES[0]} only, scored at every distance. Means over three "
                              "training seeds; dots and thin lines are the single runs.")

        self.badge = QLabel("…")
        self.badge.setObjectName("badge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setToolTip("The network's answer for this verb: singular or plural, and whether it is right")
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)

        layout.addWidget(self.sentence_view, 0)
        layout.addWidget(self.readout, 0)
        layout.addLayout(caption_row)
        layout.addWidget(self.chart, 1)
        self.apply_theme(t)

    def apply_theme(self, theme: Theme) -> None:
        t = theme
        # labels above their fields with the projector's large type, so the drawer stays narrow
        policy = QFormLayout.RowWrapPolicy.WrapAllRows if t.projector else QFormLayout.RowWrapPolicy.DontWrapRows
        for form in self._forms:
            form.setRowWrapPolicy(policy)
        self.why_popup.setStyleSheet(f"QFrame#whypopup {{ background: {t.panel}; border: 2px solid {t.muted}; }}"
                                     f"QFrame#whypopup QLabel {{ background: {t.panel}; }}")
        self.sentence_view.apply_theme(t)
        scoring = "" if self._curves is not None else ": scoring the shipped models…"
        style_plot(self.chart, t, f"held-out accuracy (%){scoring}")
        # the legend after the style: its entries keep the type size they were made with
        self.chart.set_legend([
            (self.fixed_curves["rnn"], "vanilla, one distance"),
            (self.fixed_curves["lstm"], "LSTM, one distance"),
            (self.mixed_curves["rnn"], "vanilla, mixed"),
            (self.mixed_curves["lstm"], "LSTM, mixed"),
            (self.transfer_curve, f"vanilla, trained at {ag.FIXED_DISTANCES[0]}"),
            (self.cursor_proxy, "this sentence"),
        ])
        colours = {"rnn": t.series[0], "lstm": t.series[1]}
        symbols = {"rnn": "o", "lstm": "s"}
        for c in ag.CELLS:
            self.fixed_curves[c].setPen(curve_pen(colours[c], t))
            self.fixed_curves[c].setSymbol(symbols[c])
            self.fixed_curves[c].setSymbolSize(t.marker_size)
            self.fixed_curves[c].setSymbolBrush(colours[c])
            self.fixed_curves[c].setSymbolPen(pg.mkPen(t.foreground))
            self.mixed_curves[c].setPen(curve_pen(colours[c], t, Qt.PenStyle.DashLine, 0.8))
            faint = QColor(colours[c])
            faint.setAlphaF(0.45)
            self.run_points[c].setBrush(pg.mkBrush(faint))
            self.run_points[c].setPen(pg.mkPen(None))
            self.run_points[c].setSymbol(symbols[c])
            self.run_points[c].setSize(t.marker_size * 0.6)
            for line in self.run_lines[c]:
                line.setPen(pg.mkPen(faint, width=max(1.0, t.line_width * 0.4)))
        self.transfer_curve.setPen(curve_pen(colours["rnn"], t, Qt.PenStyle.DotLine, 0.9))
        self.chance_line.setPen(curve_pen(t.muted, t, Qt.PenStyle.DotLine, 0.7))
        self.chance_line.label.setColor(t.muted)
        self.chance_line.label.setFont(t.qfont(t.small_px))
        self.cursor.setPen(pg.mkPen(t.highlight, width=max(1.0, t.line_width * 0.6)))
        self.cursor_proxy.setPen(self.cursor.pen)
        self._fit_chips()
        if self._saliency is not None:
            self._draw_saliency(self._saliency)

    # -- layout: the chips take up to half of the scene's height ----------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_chips()

    def _fit_chips(self) -> None:
        """The chips take up to CHIP_SHARE of the scene's height, and never the room the chart needs
        for its legend, its title and a readable plot (a short scene, like 800 x 600 under an open
        lesson bar, gets smaller chips rather than a chart squeezed to a line)."""
        if not hasattr(self, "chart"):
            return
        height = max(200, self.height())
        chart_min = int(min(12 * self.theme.small_px, 0.36 * height))
        self.chart.setMinimumHeight(chart_min)
        width = max(100, self.views_widget.width())
        others = (self.header.sizeHint().height() + self.readout.heightForWidth(width)
                  + self.insight.heightForWidth(width - self.why_button.sizeHint().width() - 20) + chart_min
                  + 5 * self.views_layout.spacing() + 12)
        budget = min(CHIP_SHARE * height, height - others)
        self.sentence_view.set_height_budget(max(3.0 * self.theme.small_px, budget))

    # -- state --------------------------------------------------------------------------------------
    def show_state(self, state: AgreementState) -> None:
        self.sentence.set_value(state.sentence)
        self.distance.setValue(state.distance)
        self.number.set_value(state.number)
        self.variant.setValue(state.variant)
        self.attractors.setChecked(state.attractors)
        self.model.set_value(state.model)
        self.training.set_value(str(state.training))
        self.run.setValue(state.run)
        for w in (self.distance, self.number, self.variant, self.attractors):
            w.setEnabled(state.generated)
        self.training.setEnabled(state.model != "untrained")
        if state.generated:
            self.note.setText("Generated from the vocabulary: move the distance to push the verb away "
                              "from its subject.")
        else:
            seed = state.seed_sentence()
            self.note.setText(f"A sentence from the seeds: its subject is {ag.NUMBER_NAMES[seed.number]} and its "
                              f"verb stands {seed.distance} word{'s' if seed.distance != 1 else ''} later. "
                              "Choose the generated sentence to move the verb.")

    # -- compute and draw -------------------------------------------------------------------------
    def refresh(self) -> None:
        samples = self.curve_samples if self._curves is None else None  # the chart's title says it is scoring
        self.request(compute_view, self.state.job(samples), key="view")

    def activate(self) -> None:
        if self._saliency is None:
            self.refresh()

    def on_result(self, result: AgreementView, key: str) -> None:
        if result.curves is not None:
            self._curves = result.curves
            self._draw_curves(result.curves)
        self._saliency = result.saliency
        self._draw_saliency(result.saliency)

    def colour_range(self, sal: ag.Saliency) -> tuple[float, float]:
        """Colour-scale limits: the read tokens' smallest and largest log10 values, at least a decade apart."""
        finite = sal.log10_grad_norm[np.isfinite(sal.log10_grad_norm)]
        if finite.size == 0:  # every gradient exactly zero
            return -1.0, 0.0
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1.0:
            mid = (hi + lo) / 2
            lo, hi = mid - 0.5, mid + 0.5
        return lo, hi

    def _draw_saliency(self, sal: ag.Saliency) -> None:
        t = self.theme
        lo, hi = self.colour_range(sal)
        self.sentence_view.set_sentence(sal, lo, hi)
        s = sal.sentence
        d = s.distance
        values = {
            "per_step": f"× {sal.per_step:.3g}" if math.isfinite(sal.per_step) else "–",
            "total": format_power(math.log10(sal.total)) if sal.total > 0 else "0",
            "reference": f"0.7{str(d).translate(_SUPERSCRIPT)} = {format_power(math.log10(sal.seed_reference))}",
            "prediction": f"{sal.p_plural:.3f}",
        }
        self.readout_values = values
        self.readout.setText(" &nbsp;·&nbsp; ".join(
            f"<span style='color:{t.muted}'>{self._captions[k]}</span>&nbsp;<b>{v}</b>" for k, v in values.items()))
        ok = sal.correct
        unsure = max(sal.p_plural, 1 - sal.p_plural) < 0.6
        answer = ag.NUMBER_NAMES[sal.predicted]
        self.badge.setText(("✓ " if ok else "✗ ") + answer + (" (a guess)" if unsure else ""))
        self.badge.setToolTip(f"{sal.model}: predicts a {answer} verb, which is {'right' if ok else 'wrong'}: "
                              f"the subject is {ag.NUMBER_NAMES[s.number]} (P(plural) = {sal.p_plural:.3f})")
        colour = t.muted if unsure else t.healthy if ok else t.explode
        self.badge.setStyleSheet(f"background: {colour}; color: {t.on_colour(colour)};")
        self.sentence_view.setToolTip(self._token_tooltip(sal))
        self.cursor.setValue(float(d))
        self.insight.setText(self.insight_text(sal))
        self._fit_chips()  # the captions' height changed with their text

    def insight_text(self, sal: ag.Saliency) -> str:
        """What the figures mean for the network on show: chosen by the state, figures from the result."""
        state: AgreementState = self.state
        d = sal.sentence.distance
        share = format_power(math.log10(sal.total)) if sal.total > 0 else "nothing"
        words = f"{d} word{'s' if d != 1 else ''}"
        if state.model == "untrained":
            return (f"Before training, the verb's signal shrinks by about ×{sal.per_step:.2g} per word on its way "
                    f"back: the subject, {words} back, gets {share} of it.")
        trained = (MIXED_LABEL if state.training == "mixed" else f"distance {state.training} only")
        verdict = "right" if sal.correct else "wrong"
        if holds_without_gradient(state, sal):
            return (f"<b>Right</b> (P(plural) = {sal.p_plural:.3f}) with only {share} of the signal at the subject: "
                    f"this vanilla RNN was trained on {trained}. The short ones taught it to store the number, "
                    "and a memory that holds is one where the gradient dies out.")
        if state.model == "lstm":
            return (f"The LSTM (trained on {trained}) is {verdict} here; its cell passes the signal back through the "
                    f"forget gate, and {share} of it reaches the subject, {words} back.")
        return (f"This vanilla RNN was trained on {trained}: {verdict} here (P(plural) = {sal.p_plural:.3f}), "
                f"with {share} of the signal at the subject.")

    def show_why(self) -> None:
        width = int(min(self.width() * 0.8, self.theme.font_px * 40))
        self.why_popup.open_near(self.why_button, width)

    def _token_tooltip(self, sal: ag.Saliency) -> str:
        lines = [f"{sal.model}", "‖dL/dxₜ‖ per word:"]
        for i, tok in enumerate(sal.sentence.tokens):
            g = sal.log10_grad_norm[i]
            lines.append(f"  {tok}: {format_power(float(g)) if math.isfinite(g) else 'not read'}")
        return "\n".join(lines)

    def _draw_curves(self, curves: ag.AccuracyCurves) -> None:
        item = self.chart.getPlotItem()
        for c in ag.CELLS:
            if c in curves.fixed:
                x = curves.fixed_distances[c].astype(np.float64)
                self.fixed_curves[c].setData(x, 100.0 * curves.fixed_mean(c))
                runs = curves.fixed[c]
                self.run_points[c].setData(x=np.tile(x, runs.shape[0]), y=100.0 * runs.ravel())
            for line in self.run_lines[c]:
                item.removeItem(line)
            self.run_lines[c] = []
            if c in curves.mixed:
                x = curves.mixed_distances.astype(np.float64)
                self.mixed_curves[c].setData(x, 100.0 * curves.mixed_mean(c))
                for row in curves.mixed[c]:
                    line = pg.PlotDataItem(x, 100.0 * row, connect="finite", skipFiniteCheck=True)
                    item.addItem(line)
                    line.setZValue(-5)
                    self.run_lines[c].append(line)
        if "rnn" in curves.transfer:
            self.transfer_curve.setData(curves.mixed_distances.astype(np.float64), 100.0 * curves.transfer_mean("rnn"))
        self.apply_theme(self.theme)
        self.explanation.setText(self.explanation_text(curves))

    @staticmethod
    def explanation_text(curves: ag.AccuracyCurves) -> str:
        """The lesson of the chart, with the figures just measured."""
        s = curves.summary()
        rnn = s.get("rnn_fixed", {})
        pct = lambda v: f"{100 * v:.0f}&nbsp;%"  # noqa: E731
        fixed_part = ", ".join(f"{pct(rnn[d])} at {d}" for d in sorted(rnn) if d in (5, 10, 20, 30))
        lstm_min = s.get("lstm_fixed_min", math.nan)
        lstm_part = (f"{pct(lstm_min)} at every distance" if lstm_min >= 0.995
                     else f"never below {pct(lstm_min)}")
        learned, runs = s.get("rnn_mixed_learned", 0), s.get("rnn_mixed_runs", 0)
        if learned == runs:
            mixed_part = f"all {runs} runs reach {pct(s['rnn_mixed_min_learned'])} or better at every distance"
        elif learned:
            mixed_part = (f"{learned} of {runs} runs reach {pct(s['rnn_mixed_min_learned'])} or better at every "
                          f"distance (the other stayed on its starting plateau for all 800 steps)")
        else:
            mixed_part = f"none of the {runs} runs escaped the starting plateau within 800 steps"
        transfer = ""
        if "rnn_transfer_far_mean" in s:
            transfer = (f"<p><b>Trained at {s['rnn_transfer_from']} only:</b> the vanilla RNN still averages "
                        f"{pct(s['rnn_transfer_far_mean'])} at the longer distances (dotted line): holding the "
                        "number over 40 words is not the problem, learning to hold it is.</p>")
        return (
            f"<p><b>One distance:</b> vanilla RNN {fixed_part}; LSTM {lstm_part}.</p>"
            f"<p><b>Mixed 1–40:</b> for the vanilla RNN {mixed_part}.</p>{transfer}"
            "<p><b>Why:</b> trained at one long distance, the only signal linking the verb to its subject is a "
            "gradient that has shrunk by the per-word factor once per word, so it drowns in the noise of the "
            "fillers and the network never starts to remember. With a mix, the short sentences carry a strong "
            "signal: the network learns to store the subject's number in its state, and once that memory exists "
            "the longer sentences only ask it to hold on a little longer. Short examples act as a curriculum. "
            "A memory that holds is one where small changes die out, which is why the gradient at the subject "
            "stays tiny even when the answer is right (Bengio, Simard and Frasconi, 1994). "
            "The LSTM's cell state, with its forget gate open from the start (bias 2), passes the gradient "
            "back almost undamped, so it learns at any distance.</p>"
        )

    # -- export -----------------------------------------------------------------------------------
    def export_plot(self):
        return self.chart

    def export_columns(self) -> dict | None:
        sal = self._saliency
        if sal is None:
            return None
        return {
            "position": list(range(len(sal.sentence.tokens))),
            "token": list(sal.sentence.tokens),
            "grad_norm": sal.grad_norm,
            "log10_grad_norm": sal.log10_grad_norm,
        }

    @property
    def saliency_result(self) -> ag.Saliency | None:
        return self._saliency

    @property
    def curves_result(self) -> ag.AccuracyCurves | None:
        return self._curves
