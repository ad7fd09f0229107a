"""The run window: a run log written by ``gradsim.monitor``, followed live while training writes it.

A timestep × training-step heatmap of ``log10 ‖dL/dhₜ‖`` with its colour bar, the latest step's
curve (and the first's) against the run's thresholds with the verdict as a badge, and the alerts.
It follows the file while the training script is still writing it: a file watcher, plus a timer,
because watchers miss appends on some file systems and drop files that are replaced.

A :class:`~.file_scene.FileScene`: the settings (which series, whether to follow) are a
:class:`~gradsim.states.run_view.RunViewState`; the follower lives in worker jobs only
(:func:`~gradsim.states.run_view.poll_run_job`, on the files lane) and hands the window fresh arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QFileSystemWatcher, QRectF, Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QGroupBox, QListWidget, QSplitter, QVBoxLayout, QWidget

from ...monitor.runlog import RunLogFollower, is_reverse_series
from ...states.model_view import direction_label
from ...states.run_view import RunSnapshot, RunViewState, poll_run_job
from ..controls import Choice
from ..plots import clean_log10, colormap, curve_pen, format_power, make_plot, power_label, style_plot
from ..scenes._thresholds import place_threshold_lines, style_threshold_lines, threshold_lines
from ..theme import Theme
from .file_scene import FileScene, caption_label, paint_badge, verdict_badge_label

POLL_MS = 1000
DEBOUNCE_MS = 150  # a burst of change notifications (one append) becomes one read


class RunView(FileScene):
    """A monitor run log: heatmap over timesteps and training steps, latest curve, alerts; live."""

    key_prefix = "run"
    State = RunViewState

    def __init__(self, context: Any, path: str | Path, parent: QWidget | None = None) -> None:
        self.follower = RunLogFollower(path)  # touched by worker jobs only
        self.snapshot: RunSnapshot | None = None
        super().__init__(context, path, parent)
        self.title = f"Run: {self.path.name}"
        self.set_summary("reading the log…")
        self.apply_theme(self.theme)
        self.watcher = QFileSystemWatcher([str(self.path)], self)
        self.watcher.fileChanged.connect(self._on_file_changed)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.poll)
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.refresh()

    # -- controls -----------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        layout.addWidget(self._build_run_box())
        layout.addWidget(self._build_alerts_box(), 1)

    def _build_run_box(self) -> QGroupBox:
        """Which series the heatmap shows, and whether to follow the file."""
        box = QGroupBox("Run")
        inner = QVBoxLayout(box)
        file_label = caption_label(self.path.name)
        file_label.setToolTip(str(self.path))
        self.series = Choice([], None, tooltip="Which module, layer and direction the heatmap shows")
        self.follow = QCheckBox("Follow the file live")
        self.follow.setToolTip("Re-read the log as the training script appends to it")
        inner.addWidget(file_label)
        inner.addWidget(self.series)
        inner.addWidget(self.follow)
        self.bind(self.series, "series", label="choose series")
        self.bind(self.follow, "follow", label="follow the file")
        return box

    def _build_alerts_box(self) -> QGroupBox:
        box = QGroupBox("Alerts")
        self.alerts_box = box
        inner = QVBoxLayout(box)
        self.alerts = QListWidget()
        self.alerts.setToolTip("Threshold crossings the monitor recorded, one line per series or parameter "
                               "and kind, most recent last")
        self.alerts.setWordWrap(True)
        self.alerts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner.addWidget(self.alerts)
        return box

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        self.badge = verdict_badge_label("Latest recorded step of this series, against the run's thresholds")
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._build_heatmap())
        splitter.addWidget(self._build_latest_chart())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter, 1)
        self.status = caption_label("reading…")  # how far the log has got, or what is wrong with it
        self.heat_caption = caption_label()
        layout.addWidget(self.status)
        layout.addWidget(self.heat_caption)

    def _build_heatmap(self) -> QWidget:
        """log10 ‖dL/dhₜ‖ over t (across) and the recorded training steps (down), with its colour bar."""
        t = self.theme
        self.heat_chart = make_plot(t, "", "time step t", "training step", legend=False)
        heat_item = self.heat_chart.getPlotItem()
        self.image = pg.ImageItem(axisOrder="row-major")
        heat_item.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(values=(-8, 2), colorMap=colormap(t), interactive=False)
        self.colour_bar.setImageItem(self.image, insert_in=heat_item)
        self.colour_bar.axis.tickStrings = lambda values, scale, spacing: [power_label(v) for v in values]
        return self.heat_chart

    def _build_latest_chart(self) -> QWidget:
        """The latest recorded step's curve, and the first's, against the run's thresholds."""
        self.latest_chart = make_plot(self.theme, "", "time step t", "‖dL/dhₜ‖", log_y=True, legend_columns=3)
        item = self.latest_chart.getPlotItem()
        self.latest_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.first_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        item.addItem(self.first_curve)
        item.addItem(self.latest_curve)
        self.thresholds = threshold_lines(self.latest_chart)
        return self.latest_chart

    # -- state and following ------------------------------------------------------------------------
    def show_state(self, state: RunViewState) -> None:
        self.follow.setChecked(state.follow)
        if state.series is not None and state.series in self.series.values():
            self.series.set_value(state.series)

    def apply_settings(self, settings: dict, label: str = "apply settings") -> None:
        """As for every scene, plus: a series must be one the log has (once it is read)."""
        series = settings.get("series") if isinstance(settings, Mapping) else None
        if series is not None and self.series.count() and series not in self.series.values():
            raise ValueError(f"run view: no series {series!r} in this run")
        super().apply_settings(settings, label)

    def refresh(self) -> None:
        """Follow the file (or not) as the state says, and read it now."""
        finished = self.snapshot is not None and self.snapshot.finished
        if self.state.follow and not finished:
            if not self.timer.isActive():
                self.timer.start()
        else:
            self.timer.stop()
        self.poll()

    def poll(self) -> None:
        snap = self.snapshot
        key = self.state.series if self.state.series is not None else (snap.key if snap is not None else None)
        shown = None if snap is None else (snap.key, int(snap.steps.size) if snap.key == key else -1, snap.finished)
        self.request(poll_run_job, self.follower, key, shown, key="poll", lane="files")

    def _on_file_changed(self, path: str) -> None:
        if path not in self.watcher.files() and Path(path).exists():
            self.watcher.addPath(path)  # replaced files drop out of the watch list
        if self.state.follow:
            self._debounce.start()

    def shutdown(self) -> None:
        self.timer.stop()
        self._debounce.stop()
        super().shutdown()

    # -- results ------------------------------------------------------------------------------------
    def on_result(self, result: Any, key: str) -> None:
        if result is None:  # nothing new since the last poll
            return
        snap: RunSnapshot = result
        self.snapshot = snap
        with self.showing():
            if self.series.values() != snap.series_keys:
                self.series.clear()
                for k in snap.series_keys:
                    self.series.addItem(f"{k.split('/')[0]}: {direction_label(k)}", k)
            if snap.key is not None:
                self.series.set_value(snap.key)
        if snap.finished:
            self.timer.stop()
        self._draw()

    def show_problem(self, message: str, key: str) -> None:
        self.status.setText(message)

    def _draw(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        self._update_summary()
        self.status.setText("\n".join(snap.status_lines(self.state.follow)))
        self._draw_alerts(snap)
        place_threshold_lines(self.latest_chart, self.thresholds, snap.vanish, snap.explode)
        if snap.steps.size == 0 or snap.matrix.size == 0:
            self.image.clear()
            self.latest_curve.setData([], [])
            self.first_curve.setData([], [])
            paint_badge(self.badge, "", "no steps yet", self.theme)
            self.heat_caption.setText("Waiting for the first recorded step…")
            return
        lo, hi = snap.colour_range()
        self._draw_heatmap(snap, lo, hi)
        self._draw_latest(snap, floor=lo - 1.0)
        self.heat_caption.setText(
            f"Colour: ‖dL/dhₜ‖ of {snap.key} on a log scale, {format_power(lo, 2)} to {format_power(hi, 2)}; "
            f"thresholds {power_label(math.log10(snap.vanish))} and {power_label(math.log10(snap.explode))}. "
            "Blank cells: no value at that step."
            + (" Reverse direction: its gradient travels from t = 1 up to T." if is_reverse_series(snap.key) else "")
        )

    def _draw_alerts(self, snap: RunSnapshot) -> None:
        self.alerts_box.setTitle(f"Alerts: {snap.alert_count}")
        self.alerts.clear()
        for message in snap.alerts:
            self.alerts.addItem(message)
        if not snap.alerts:
            self.alerts.addItem("none: every recorded step stayed between the thresholds")

    def _draw_heatmap(self, snap: RunSnapshot, lo: float, hi: float) -> None:
        n = snap.steps.size
        img = snap.matrix.copy()
        img[np.isneginf(img)] = lo  # exact zeros drawn at the bottom of the scale
        width = img.shape[1]
        item = self.heat_chart.getPlotItem()
        if n == 1 or np.all(np.diff(snap.steps) == snap.steps[1] - snap.steps[0]):
            spacing = float(snap.steps[1] - snap.steps[0]) if n > 1 else 1.0
            y0, height = float(snap.steps[0]) - spacing / 2, spacing * n
            item.setLabel("left", "training step")
        else:
            y0, height = 0.5, float(n)
            item.setLabel("left", "recorded step (in order)")
        self.image.setImage(img, autoLevels=False, levels=(lo, hi))
        self.image.setRect(QRectF(0.5, y0, float(width), height))
        self.colour_bar.setLevels((lo, hi))
        item.setRange(xRange=(0.5, width + 0.5), yRange=(y0, y0 + height), padding=0)

    def _draw_latest(self, snap: RunSnapshot, floor: float) -> None:
        y_latest, _ = clean_log10(snap.latest, floor)
        y_first, _ = clean_log10(snap.first, floor)
        self.latest_curve.setData(np.arange(1, y_latest.size + 1, dtype=np.float64), y_latest)
        self.first_curve.setData(np.arange(1, y_first.size + 1, dtype=np.float64), y_first)
        self.latest_chart.set_legend([
            (self.latest_curve, f"step {int(snap.steps[-1])} (latest)"),
            (self.first_curve, f"step {int(snap.steps[0])} (first)"),
        ])
        self.latest_chart.getPlotItem().enableAutoRange()
        kind = snap.verdict.kind if snap.verdict is not None else ""
        paint_badge(self.badge, kind, snap.badge, self.theme)
        self.badge.setToolTip("Latest recorded step of this series, against the run's thresholds: "
                              + (snap.verdict.describe() if snap.verdict is not None else "no value"))

    def _update_summary(self) -> None:
        modules = self.snapshot.header.get("modules", []) if self.snapshot is not None else []
        self.set_summary("; ".join(
            f"{m.get('name')}: {str(m.get('cell', '')).upper()}, {m.get('num_layers')} layer(s), "
            f"hidden {m.get('hidden_size')}" + (", bidirectional" if m.get("bidirectional") else "")
            for m in modules if isinstance(m, dict)
        ))

    def apply_theme(self, theme: Theme) -> None:
        t = theme
        style_plot(self.heat_chart, t)
        style_plot(self.latest_chart, t)
        style_threshold_lines(self.latest_chart, self.thresholds, t)
        self.colour_bar.setColorMap(colormap(t))
        axis = self.colour_bar.axis
        axis.setPen(pg.mkPen(t.foreground))
        axis.setTextPen(t.foreground)
        axis.setStyle(tickFont=t.qfont(t.small_px), tickTextOffset=6, autoExpandTextSpace=True)
        axis.setWidth(None)  # the colour bar fixes 45 px, too narrow for 10⁻¹⁵ in projector type
        axis.setLabel("‖dL/dhₜ‖", color=t.foreground, **{"font-size": f"{t.font_px}px"})
        self.latest_curve.setPen(curve_pen(t.series[0], t))
        self.first_curve.setPen(curve_pen(t.series[1], t, Qt.PenStyle.DotLine, 0.8))
        if self.snapshot is not None:
            self._draw()
        else:
            paint_badge(self.badge, "", "…", t)
