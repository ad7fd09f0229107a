"""Small control widgets the scenes share: a slider paired with a spin box, a labelled combo box.

A slider gives the teacher a big target to drag; the spin box beside it shows the exact value and
takes typing. Both stay in sync and emit one ``valueChanged(float)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
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
