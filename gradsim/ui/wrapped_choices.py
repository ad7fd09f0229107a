"""A choice among a few long texts, each shown whole: a radio button with its text wrapped beside it.

A combo box shows one line and cuts a sentence ("Seeds: The cats, which we adopted from …"); a list
widget elides its items. Here every text wraps to the width it is given, the text is part of the
click target, and the widget reports the chosen value like ``controls.Choice`` does (so
``Scene.bind`` takes it).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QLabel, QRadioButton, QSizePolicy, QWidget


class _ClickLabel(QLabel):
    """A wrapped label that reports a click (the text of a radio button that may wrap)."""

    clicked = Signal()

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()


class WrappedChoices(QWidget):
    """``items``: ``(value, text)`` pairs, in the order shown; ``choiceChanged(value)`` on a choice."""

    choiceChanged = Signal(str)  # noqa: N815 - Qt naming

    def __init__(self, items: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(1, 1)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        self.labels: dict[str, QLabel] = {}
        for row, (value, text) in enumerate(items):
            button = QRadioButton()
            button.setToolTip(text)
            label = _ClickLabel(text)
            label.clicked.connect(button.click)
            self.group.addButton(button)
            self.buttons[value], self.labels[value] = button, label
            grid.addWidget(button, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(label, row, 1)
            button.toggled.connect(lambda on, v=value: on and self.choiceChanged.emit(v))

    def value(self) -> str:
        return next(v for v, b in self.buttons.items() if b.isChecked())

    def set_value(self, value: str) -> None:
        self.buttons[value].setChecked(True)

    def values(self) -> list[str]:
        return list(self.buttons)
