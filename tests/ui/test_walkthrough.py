"""What a class reads, scene by scene: words from the project's own workshop stay off the screen.

The project calls the texts it was created from "the seeds". On the screen that word met a student
beside the scenes' Seed control (the random seed): "seeds' rule", "Seeds' example" and "The seeds'
PyTorch example" read as something about random seeds. Every text a scene shows (labels, buttons,
choices, tooltips, preset titles and notes) says what it is instead.

The texts on screen are checked in test_presenting.py, on the projector window that module already
shows every scene in (building every scene again in a window of this module's own cost seconds).
"""

from __future__ import annotations

import re

import pytest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QGroupBox, QLabel, QTabWidget, QWidget

from gradsim.presets import load_presets
from gradsim.registry import SCENE_IDS

WORKSHOP_WORD = re.compile(r"\bseeds'", re.IGNORECASE)


def shown_texts(root: QWidget) -> list[str]:
    """Every text the widgets under ``root`` show or offer as a tooltip."""
    out = []
    for w in [root, *root.findChildren(QWidget)]:
        out.append(w.toolTip())
        if isinstance(w, (QLabel, QAbstractButton)):
            out.append(w.text())
        elif isinstance(w, QGroupBox):
            out.append(w.title())
        elif isinstance(w, QComboBox):
            out += [w.itemText(i) for i in range(w.count())]
            out += [str(w.itemData(i, 3) or "") for i in range(w.count())]  # Qt.ToolTipRole
        elif isinstance(w, QTabWidget):
            out += [w.tabText(i) for i in range(w.count())]
    return [t for t in out if t]


@pytest.mark.parametrize("scene_id", [s for s in SCENE_IDS if s in ("flow", "scalar", "spectrum", "gates", "training")])
def test_no_workshop_words_in_presets(scene_id):
    found = [text for p in load_presets(scene_id) for text in (p.title, p.note or "") if WORKSHOP_WORD.search(text)]
    assert not found, found
