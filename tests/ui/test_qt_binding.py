"""The pinned PySide6 + pyqtgraph pair must not corrupt Python's reference counts.

PySide6 6.12.0 with pyqtgraph 0.14 lowered the reference count of ``None`` by about five on every
``setData`` and the app aborted ("deallocating None") after a few hundred redraws. Two guards:
- the refcount smoke test, which sees the fault where it can: before Python 3.12 (from 3.12 on,
  ``None`` is immortal and its count never moves, so there the test is skipped, not passed);
- on every Python, the installed pair must be the pair pyproject.toml pins, the one this smoke test
  passed with; a different pair fails until someone has run the smoke test on it (on 3.10 or 3.11)
  and moved the pin.
"""

import re
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pinned(name: str) -> str:
    match = re.search(rf'"{re.escape(name)}==([^"]+)"', PYPROJECT.read_text(encoding="utf-8"))
    assert match, f"pyproject.toml must pin {name} exactly"
    return match.group(1)


def test_installed_pair_is_the_pinned_pair():
    for name in ("PySide6-Essentials", "pyqtgraph"):
        assert version(name) == _pinned(name), (
            f"{name} {version(name)} is installed but {_pinned(name)} is pinned: run the refcount smoke test "
            "on Python 3.10/3.11 with the new pair before moving the pin")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12: its count never moves")
def test_setdata_keeps_refcounts(qtbot):
    import pyqtgraph as pg

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    curve = widget.plot()
    scatter = pg.ScatterPlotItem()
    widget.addItem(scatter)
    x = np.arange(100, dtype=np.float64)
    before = sys.getrefcount(None)
    for i in range(300):
        curve.setData(x, x * i)
        scatter.setData(x=x, y=x, pen=None, brush=[pg.mkBrush("r")] * 100)
    after = sys.getrefcount(None)
    assert after >= before - 10, f"refcount of None fell by {before - after}: a broken Qt binding"
