"""Small control widgets the scenes share: a slider paired with a spin box, a labelled combo box.

A slider gives the teacher a big target to drag; the spin box beside it shows the exact value and
takes typing. Both stay in sync and emit one ``valueChanged(float)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QAbstractTextDocumentLayout, QPainter, QPalette, QTextDocument
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
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # long labels must not widen the control panel: show ~14 characters, the popup shows all
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(14)
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


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when narrow instead of spilling over its neighbours;
    the full text stays in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(10, self.width()))
        super().setText(shown)


class ThresholdBox(QGroupBox):
    """The vanishing and exploding thresholds as powers of ten (flow, gates and any scene with a verdict)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        import math

        from ..engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD

        super().__init__("Thresholds", parent)
        form = QFormLayout(self)
        self.vanish_exp = QSpinBox()
        self.vanish_exp.setRange(-300, -1)
        self.vanish_exp.setPrefix("10^")
        self.vanish_exp.setValue(int(round(math.log10(VANISH_THRESHOLD))))
        self.vanish_exp.setToolTip("Below this the gradient counts as vanished")
        self.explode_exp = QSpinBox()
        self.explode_exp.setRange(1, 300)
        self.explode_exp.setPrefix("10^")
        self.explode_exp.setValue(int(round(math.log10(EXPLODE_THRESHOLD))))
        self.explode_exp.setToolTip("Above this the gradient counts as exploding")
        form.addRow("Vanishing below", self.vanish_exp)
        form.addRow("Exploding above", self.explode_exp)
        self.vanish_exp.valueChanged.connect(lambda _v: self.changed.emit())
        self.explode_exp.valueChanged.connect(lambda _v: self.changed.emit())

    def thresholds(self) -> tuple[float, float]:
        return 10.0 ** self.vanish_exp.value(), 10.0 ** self.explode_exp.value()


class PulseControls(QGroupBox):
    """Play / step / rewind buttons and a speed slider driving a ``chain.BackwardPulse``."""

    def __init__(self, pulse, play_tip: str, speed: int = 10, parent: QWidget | None = None) -> None:
        super().__init__("Backward animation", parent)
        self.pulse = pulse
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip(play_tip)
        self.back_button = QPushButton("◀")
        self.back_button.setToolTip("Step toward the loss (←)")
        self.fwd_button = QPushButton("▶|")
        self.fwd_button.setToolTip("Step back in time (→)")
        self.rewind_button = QPushButton("⟲")
        self.rewind_button.setToolTip("Rewind to the loss (R)")
        for button in (self.play_button, self.back_button, self.fwd_button, self.rewind_button):
            row.addWidget(button)
        layout.addLayout(row)
        form = QFormLayout()
        self.speed = SliderSpin(1, 200, 1, speed, integer=True, suffix=" steps/s",
                                tooltip="How many time steps the pulse crosses per second")
        form.addRow("Speed", self.speed)
        layout.addLayout(form)
        pulse.speed = float(self.speed.value())
        self.play_button.clicked.connect(pulse.toggle)
        self.back_button.clicked.connect(lambda: pulse.step(-1))
        self.fwd_button.clicked.connect(lambda: pulse.step(1))
        self.rewind_button.clicked.connect(pulse.rewind)
        self.speed.valueChanged.connect(lambda v: setattr(pulse, "speed", float(v)))
        pulse.playing_changed.connect(lambda playing: self.play_button.setText("❚❚ Pause" if playing else "▶ Play"))


class ReadoutLabel(QWidget):
    """One line of rich text, for a readout that changes with every control move.

    Why not a QLabel: ``QLabel.setText`` asks the surrounding layout to recompute, and the relayout
    (with the repaints of whatever it touches) cost about 4 ms of a 20 ms redraw in the flow scene.
    This widget's size hint depends on its font only, so a new text repaints it and nothing else.
    Text that does not fit is clipped at the right edge (the widget never widens its column).
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        self._html = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        return self._html

    def setText(self, html: str) -> None:  # noqa: N802 - QLabel's name, so callers need not care
        if html == self._html:
            return
        self._html = html
        self._doc.setDefaultFont(self.font())
        self._doc.setHtml(html)
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance("0") * 16, metrics.height() + 2)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(0, self.sizeHint().height())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._doc.setDefaultFont(self.font())
            self._doc.setHtml(self._html)
            self.updateGeometry()
            self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        painter = QPainter(self)
        painter.setClipRect(self.rect())
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, self.palette().color(QPalette.ColorRole.WindowText))
        painter.translate(0, max(0.0, (self.height() - self._doc.size().height()) / 2))
        self._doc.documentLayout().draw(painter, context)
