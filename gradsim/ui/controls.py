"""Small control widgets the scenes share: a slider paired with a spin box, a labelled combo box.

A slider gives the teacher a big target to drag; the spin box beside it shows the exact value and
takes typing. Both stay in sync and emit one ``valueChanged(float)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QAbstractTextDocumentLayout, QFontMetrics, QPainter, QPalette, QTextDocument
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


class SliderSpin(QWidget):
    """A horizontal slider and a spin box bound to the same value (float or int)."""

    valueChanged = Signal(float)  # noqa: N815 - Qt naming

    def __init__(self, minimum: float, maximum: float, step: float, value: float, decimals: int = 2,
                 integer: bool = False, tooltip: str = "", suffix: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._min, self._max, self._step = minimum, maximum, step
        self._integer = integer
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((maximum - minimum) / step))
        self.slider.setPageStep(max(1, self.slider.maximum() // 10))
        self.slider.setMinimumWidth(70)
        if integer:
            self.spin: QSpinBox | QDoubleSpinBox = QSpinBox()
            self.spin.setRange(int(minimum), int(maximum))
            self.spin.setSingleStep(max(1, int(step)))
        else:
            self.spin = QDoubleSpinBox()
            self.spin.setDecimals(decimals)
            self.spin.setRange(minimum, maximum)
            self.spin.setSingleStep(step)
        if suffix:
            self.spin.setSuffix(suffix)
        self.spin.setMinimumWidth(self.spin.fontMetrics().horizontalAdvance("000.00" + suffix) + 24)
        self.spin.setKeyboardTracking(False)
        self.spin.setAccelerated(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 3)
        layout.addWidget(self.spin, 2)
        if tooltip:
            self.setToolTip(tooltip)
            self.slider.setToolTip(tooltip)
            self.spin.setToolTip(tooltip)
        self._syncing = False
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)
        self.setValue(value)

    def value(self) -> float:
        v = self.spin.value()
        return int(v) if self._integer else float(v)

    def setValue(self, value: float) -> None:  # noqa: N802 - Qt naming
        value = min(max(value, self._min), self._max)
        self.spin.setValue(int(round(value)) if self._integer else value)

    def _from_slider(self, position: int) -> None:
        if self._syncing:
            return
        value = self._min + position * self._step
        self._syncing = True
        self.spin.setValue(int(round(value)) if self._integer else value)
        self._syncing = False
        self.valueChanged.emit(self.value())

    def _from_spin(self, value: float) -> None:
        if self._syncing:
            return
        self._syncing = True
        self.slider.setValue(round((value - self._min) / self._step))
        self._syncing = False
        self.valueChanged.emit(self.value())


class Choice(QComboBox):
    """A combo box of ``(value, label)`` pairs that reports and accepts the value."""

    choiceChanged = Signal(str)  # noqa: N815

    def __init__(self, items: Sequence[tuple[str, str]], value: str | None = None, tooltip: str = "",
                 parent: QWidget | None = None, elide: bool = False) -> None:
        super().__init__(parent)
        if elide:  # only for free text (sentences): the popup shows it whole
            self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.setMinimumContentsLength(14)
        else:  # labels are short names: shown whole, the panel grows to fit the longest
            self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for key, label in items:
            self.addItem(label, key)
            self.setItemData(self.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        if tooltip:
            self.setToolTip(tooltip)
        if value is not None:
            self.set_value(value)
        self.currentIndexChanged.connect(lambda _i: self.choiceChanged.emit(self.value()))

    def value(self) -> str:
        return str(self.currentData())

    def set_value(self, value: str) -> None:
        index = self.findData(value)
        if index < 0:
            raise ValueError(f"unknown choice {value!r}")
        self.setCurrentIndex(index)

    def values(self) -> list[str]:
        return [str(self.itemData(i)) for i in range(self.count())]


class PowerSpinBox(QSpinBox):
    """A spin box of whole powers of ten, shown as the charts show them: 10⁻⁶, not 10^-6."""

    def textFromValue(self, value: int) -> str:  # noqa: N802 - Qt naming
        from .plots import power_label

        return power_label(value)

    def valueFromText(self, text: str) -> int:  # noqa: N802 - Qt naming
        return _parse_power(text)

    def validate(self, text: str, pos: int):
        from PySide6.QtGui import QValidator

        try:
            value = _parse_power(text)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos


_FROM_SUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def _parse_power(text: str) -> int:
    """``10⁻⁶``, ``10^-6``, ``1e-6`` or ``-6``: the exponent, -6."""
    t = text.strip().translate(_FROM_SUPERSCRIPT).replace(" ", "")
    for prefix in ("10^", "1e", "10"):
        if t.startswith(prefix) and len(t) > len(prefix):
            t = t[len(prefix):]
            break
    return int(t)


class ThresholdBox(QGroupBox):
    """The vanishing and exploding thresholds as powers of ten (flow, gates and any scene with a verdict)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        from ..engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD

        super().__init__("Thresholds", parent)
        form = QFormLayout(self)
        self.vanish_exp = PowerSpinBox()
        self.vanish_exp.setRange(-300, -1)
        self.vanish_exp.setToolTip("Below this the gradient counts as vanished")
        self.explode_exp = PowerSpinBox()
        self.explode_exp.setRange(1, 300)
        self.explode_exp.setToolTip("Above this the gradient counts as exploding")
        self.show_thresholds(VANISH_THRESHOLD, EXPLODE_THRESHOLD)
        form.addRow("Vanishing below", self.vanish_exp)
        form.addRow("Exploding above", self.explode_exp)
        self.vanish_exp.valueChanged.connect(lambda _v: self.changed.emit())
        self.explode_exp.valueChanged.connect(lambda _v: self.changed.emit())

    def thresholds(self) -> tuple[float, float]:
        return 10.0 ** self.vanish_exp.value(), 10.0 ** self.explode_exp.value()

    def show_thresholds(self, vanish: float, explode: float) -> None:
        self.vanish_exp.setValue(int(round(math.log10(vanish))))
        self.explode_exp.setValue(int(round(math.log10(explode))))


def form_box(title: str, rows: Sequence[tuple[str, QWidget]]) -> QGroupBox:
    """A titled box of labelled controls, one a row, the fields growing with the panel."""
    box = QGroupBox(title)
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    for label, widget in rows:
        form.addRow(label, widget)
    return box


SEED_TIP = ("Random seed of weights and inputs: the same seed gives the same picture "
            "(a preset's claim holds on every seed)")


class SeedBox(QSpinBox):
    """A scene's random seed, 0 ... 999,999 (every seeded scene takes the same range)."""

    def __init__(self, value: int = 0, tooltip: str = SEED_TIP, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0, 999_999)
        self.setValue(value)
        self.setToolTip(tooltip)


class AnimationControls(QGroupBox):
    """Play / step back / step on / rewind buttons and a speed slider: the one set of animation
    controls (the backward pulse of flow and gates, the scalar scene's trace). The buttons call
    ``play``, ``step(-1)``, ``step(1)`` and ``rewind``; :meth:`set_playing` turns Play into Pause."""

    def __init__(self, title: str, tips: tuple[str, str, str, str], speed: SliderSpin,
                 play: Callable[[], None], step: Callable[[int], None], rewind: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.play_button = QPushButton("▶ Play")
        self.back_button = QPushButton("◀")
        self.fwd_button = QPushButton("▶|")
        self.rewind_button = QPushButton("⟲")
        for button, tip in zip((self.play_button, self.back_button, self.fwd_button, self.rewind_button), tips,
                               strict=True):
            button.setToolTip(tip)
            row.addWidget(button)
        layout.addLayout(row)
        form = QFormLayout()
        self.speed = speed
        form.addRow("Speed", self.speed)
        layout.addLayout(form)
        self.play_button.clicked.connect(play)
        self.back_button.clicked.connect(lambda: step(-1))
        self.fwd_button.clicked.connect(lambda: step(1))
        self.rewind_button.clicked.connect(rewind)

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("❚❚ Pause" if playing else "▶ Play")


class PulseControls(AnimationControls):
    """The animation controls driving a ``chain.BackwardPulse``."""

    def __init__(self, pulse, play_tip: str, speed: int = 10, parent: QWidget | None = None) -> None:
        slider = SliderSpin(1, 200, 1, speed, integer=True, suffix=" steps/s",
                            tooltip="How many time steps the pulse crosses per second")
        super().__init__("Backward animation",
                         (play_tip, "Step toward the loss (←)", "Step back in time (→)", "Rewind to the loss (R)"),
                         slider, pulse.toggle, pulse.step, pulse.rewind, parent)
        self.pulse = pulse
        pulse.speed = float(self.speed.value())
        self.speed.valueChanged.connect(lambda v: setattr(pulse, "speed", float(v)))
        pulse.playing_changed.connect(self.set_playing)


class Badge(QLabel):
    """A verdict badge: a coloured box of one to three lines whose size is fixed, so a new verdict
    never asks the window to lay out again."""

    def __init__(self, text: str = "…", rich: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setObjectName("badge")
        if rich:
            self.setTextFormat(Qt.TextFormat.RichText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def set_colour(self, colour: str, theme, extra: str = "") -> None:
        """The verdict's colour with a readable text colour (re-polishing only when it changes: a
        style sheet costs more than a whole chart update)."""
        style = f"background: {colour}; color: {theme.on_colour(colour)};{extra}"
        if style != self.styleSheet():
            self.setStyleSheet(style)

    def fix_width(self, widest: Sequence[str], lines: int) -> None:
        """As wide as the widest of these texts and ``lines`` lines high."""
        self.ensurePolished()
        # a label's size hint is at least its minimum width: measured under the last fixed size, a
        # badge could grow but never shrink (after a switch back from projector type it kept its width)
        self.setMinimumWidth(0)
        text = self.text()
        width = 0
        for candidate in widest:
            self.setText(candidate)
            width = max(width, self.sizeHint().width())
        self.setText(text)
        metrics = self.fontMetrics()
        self.setFixedSize(width, int(lines * metrics.lineSpacing() + 0.5 * metrics.height() + 6))


class ReadoutLabel(QWidget):
    """One line of rich text, for a readout that changes with every control move.

    Why not a QLabel: ``QLabel.setText`` asks the surrounding layout to recompute, and the relayout
    (with the repaints of whatever it touches) cost about 4 ms of a 20 ms redraw in the flow scene.
    This widget's size hint depends on its base font only, so a new text repaints it and nothing else.
    A number is never cut: text wider than the widget is set in a smaller font until it fits (down to
    60 % of the base size; below that it wraps onto a second line).
    """

    MIN_SHRINK = 0.6

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        self._html = ""
        self._base_px = 0
        self._fitting = False
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        return self._html

    def setText(self, html: str) -> None:  # noqa: N802 - QLabel's name, so callers need not care
        if html == self._html:
            return
        self._html = html
        self._fit()
        self.update()

    def _base_font(self):
        font = self.font()
        if self._base_px:
            font.setPixelSize(self._base_px)
        return font

    def _fit(self) -> None:
        """Choose the largest font (base size down to MIN_SHRINK of it) in which the text fits."""
        base = self._base_font()
        px = base.pixelSize() if base.pixelSize() > 0 else int(round(base.pointSizeF() * 4 / 3))
        if not self._base_px:
            self._base_px = px
        width = max(1, self.width())
        font = base
        size = px
        while True:
            font.setPixelSize(size)
            self._doc.setDefaultFont(font)
            self._doc.setTextWidth(-1)
            self._doc.setHtml(self._html)
            if self._doc.idealWidth() <= width or size <= max(6, int(px * self.MIN_SHRINK)):
                break
            size -= 1
        if self._doc.idealWidth() > width:  # still too wide at the smallest size: wrap
            self._doc.setTextWidth(width)
        if font.pixelSize() != self.font().pixelSize():
            self._fitting = True
            try:
                self.setFont(font)
            finally:
                self._fitting = False

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        metrics = QFontMetrics(self._base_font())
        return QSize(metrics.horizontalAdvance("0") * 16, metrics.height() + 2)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(0, self.sizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if self._fitting:
            return
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            font = self.font()
            self._base_px = font.pixelSize() if font.pixelSize() > 0 else int(round(font.pointSizeF() * 4 / 3))
            self._fit()
            self.updateGeometry()
            self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        painter = QPainter(self)
        painter.setClipRect(self.rect())
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, self.palette().color(QPalette.ColorRole.WindowText))
        painter.translate(0, max(0.0, (self.height() - self._doc.size().height()) / 2))
        self._doc.documentLayout().draw(painter, context)
