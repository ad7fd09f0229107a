"""Threshold lines labelled in the chart's right margin, where no curve can run over the words.

A label placed inside the plot sits on some curve sooner or later (the curves of the scalar and
spectrum scenes fan out to every height), so each threshold is named by a tick of the right axis at
its own height instead: the line runs into its name. Charts here plot log10 values.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt

from ...engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD
from ...formatting import power_label
from ..plots import curve_pen
from ..theme import Theme


def threshold_lines(chart, vanish: float = VANISH_THRESHOLD,
                    explode: float = EXPLODE_THRESHOLD) -> tuple[pg.InfiniteLine, pg.InfiniteLine]:
    """Add the vanishing and exploding lines to ``chart`` and name them on its right axis."""
    item = chart.getPlotItem()
    lines = []
    for _ in range(2):
        line = pg.InfiniteLine(angle=0, movable=False)
        item.addItem(line, ignoreBounds=True)
        lines.append(line)
    item.showAxis("right")
    placed = (lines[0], lines[1])
    place_threshold_lines(chart, placed, vanish, explode)
    return placed


def place_threshold_lines(chart, lines: tuple[pg.InfiniteLine, pg.InfiniteLine], vanish: float,
                          explode: float) -> None:
    """Move the lines (and their names) to other thresholds (a run log's own, say)."""
    for line, value in zip(lines, (vanish, explode), strict=True):
        line.setValue(math.log10(value))
    chart.getPlotItem().getAxis("right").setTicks([[
        (math.log10(vanish), f"{power_label(math.log10(vanish))} vanishing"),
        (math.log10(explode), f"{power_label(math.log10(explode))} exploding")], []])


def style_threshold_lines(chart, lines: tuple[pg.InfiniteLine, pg.InfiniteLine], theme: Theme) -> None:
    """Colours and type for the lines and their names (after ``style_plot``, which styles every axis)."""
    for line, colour in zip(lines, (theme.vanish, theme.explode), strict=True):
        line.setPen(curve_pen(colour, theme, Qt.PenStyle.DashLine, 0.75))
    axis = chart.getPlotItem().getAxis("right")
    axis.setGrid(False)  # the dashed lines are the grid here
    axis.setStyle(tickFont=theme.qfont(theme.small_px), tickLength=0, tickTextOffset=4)
