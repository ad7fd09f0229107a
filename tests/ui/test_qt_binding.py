"""The pinned PySide6 + pyqtgraph pair must not corrupt Python's reference counts.

PySide6 6.12.0 with pyqtgraph 0.14 lowered the reference count of ``None`` by about five on every
``setData`` and the app aborted ("deallocating None") after a few hundred redraws. This plotting
smoke test catches such a pair before a teacher does.
"""

import sys

import numpy as np


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
