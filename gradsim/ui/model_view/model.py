"""The model window: a saved ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` state dict, as a practitioner sees it.

Its recurrent layers (with the largest spectral radius of each), the eigenvalues of the chosen
layer's ``W_hh`` against the unit circle (each gate's block for LSTM and GRU), and the gradient flow
``‖dL/dhₜ‖`` of every layer on inputs the user picks (zeros, noise of a chosen scale, or a sequence
from a ``.npy`` / ``.csv`` file), on a log chart with the verdict over all layers as a badge.

A :class:`~.file_scene.FileScene`: the settings are a :class:`~gradsim.states.model_view.ModelViewState`
(undo in the window's own stack), reading the file and every computation run on the worker
(:mod:`gradsim.states.model_view` holds the jobs), the file's reading reports progress and can be
stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...formatting import subscript
from ...monitor.model_file import INPUT_KINDS, FlowOnInputs, LayerSpec, LayerSpectrum
from ...monitor.runlog import is_reverse_series
from ...states.model_view import (
    APP_MAX_STEPS,
    LoadedModel,
    ModelViewState,
    direction_label,
    flow_job,
    load_model_job,
    series_layer,
    worst_verdict,
)
from ..controls import Choice, SliderSpin
from ..plots import Chart, clean_log10, curve_pen, format_power, make_plot, style_plot
from ..scenes._thresholds import style_threshold_lines, threshold_lines
from ..theme import Theme
from .file_scene import FileScene, caption_label, paint_badge, verdict_badge_label

MODEL_FILTER = "Model weights (*.pt *.pth *.safetensors);;All files (*)"
INPUT_FILTER = "Sequences (*.npy *.csv);;All files (*)"
INPUT_LABELS = {"zeros": "zeros", "noise": "Gaussian noise", "file": "sequence from a file"}
GATE_LABELS = {"W_hh": "W_hh", "i": "i (input)", "f": "f (forget)", "g": "g (candidate)", "o": "o (output)",
               "r": "r (reset)", "z": "z (update)", "n": "n (candidate)"}
GATE_SYMBOLS = ("o", "s", "t", "d")
WIDE_VIEWS_PX = 700  # narrower than this, the two charts are stacked


def flow_caption(flow: FlowOnInputs) -> str:
    """What is left of the gradient at the far end of each direction: ``‖dL/dh₁‖`` forward and, for
    a reverse direction (whose gradient travels from t = 1 up), ``‖dL/dh_T‖``."""
    steps = flow.steps
    parts = []
    for key in flow.series:
        t_far, value = flow.far_end(key)
        parts.append(f"{direction_label(key)} ‖dL/dh{subscript(t_far)}‖ {format_power(value, 2)}")
    if not any(is_reverse_series(k) for k in flow.series):
        return f"T = {steps}. At t = 1: " + ", ".join(parts)
    return (f"T = {steps}. Each direction is judged the way its gradient travels: → from t = {steps} back "
            f"to 1, ← from t = 1 up to {steps}. At the far end: " + ", ".join(parts))


class ModelView(FileScene):
    """A saved model: layers, ``W_hh`` eigenvalues, gradient flow on chosen inputs."""

    key_prefix = "model"
    State = ModelViewState

    def __init__(self, context: Any, path: str | Path, parent: QWidget | None = None) -> None:
        self.loaded: LoadedModel | None = None
        self.flow: FlowOnInputs | None = None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._eig_items: list[pg.ScatterPlotItem] = []
        self._layers_of: str | None = None  # the module whose layers the list shows
        super().__init__(context, path, parent)
        self.apply_theme(self.theme)
        self.request(load_model_job, str(self.path), key="load", lane="files")

    # -- controls -----------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        layout.addWidget(self._build_model_box())
        layout.addWidget(self._build_inputs_box())
        self.loss_note = caption_label("The loss L is the sum of the top layer's final hidden state: h at "
                                       "t = T forward and, if bidirectional, at t = 1 for the reverse direction "
                                       "(←, which reads backwards). Its gradient there is 1, as in the flow "
                                       "scene. Float64.")
        layout.addWidget(self.loss_note)

    def _build_model_box(self) -> QGroupBox:
        """Which module of the file, its layers (pick one for its eigenvalues), and a vanilla RNN's f."""
        box = QGroupBox("Model")
        inner = QVBoxLayout(box)
        self.module_choice = Choice([], None, tooltip="The recurrent modules found in the file")
        self.module_choice.hide()  # shown when the file holds more than one
        self.layer_list = QListWidget()
        self.layer_list.setToolTip("Layers and directions (→ reads forward, ← is the reverse direction); "
                                   "pick one to see its W_hh eigenvalues")
        self.layer_list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.layer_list.setMaximumHeight(150)
        self.nonlinearity = Choice([("tanh", "tanh"), ("relu", "ReLU")], "tanh",
                                   tooltip="A vanilla RNN's nonlinearity is not stored in its weights: say which")
        form = QFormLayout()
        form.addRow("RNN f", self.nonlinearity)
        inner.addWidget(self.module_choice)
        inner.addWidget(self.layer_list)
        inner.addLayout(form)
        self.bind(self.module_choice, "module", label="choose module")
        self.bind(self.nonlinearity, "nonlinearity")
        self.layer_list.currentRowChanged.connect(lambda _row: self._draw_spectrum())
        return box

    def _build_inputs_box(self) -> QGroupBox:
        """What the model reads: zeros, noise (length, scale, seed) or a sequence file."""
        box = QGroupBox("Inputs xₜ")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.input_kind = Choice([(k, INPUT_LABELS[k]) for k in INPUT_KINDS], "noise",
                                 tooltip="What the model reads: all zeros, Gaussian noise, or your own sequence")
        self.steps = SliderSpin(1, APP_MAX_STEPS, 1, 100, integer=True, tooltip="Sequence length T (zeros and noise)")
        self.noise_scale = SliderSpin(0.0, 5.0, 0.05, 1.0, tooltip="Standard deviation of the noise inputs")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999_999)
        self.seed.setToolTip("Seed of the noise: the same seed gives the same inputs")
        self.file_button = QPushButton("Choose sequence…")
        self.file_button.setToolTip("A T × inputs array: .npy (never unpickled) or .csv, one row per step")
        self.input_file_label = caption_label("no file chosen")
        form.addRow("Inputs", self.input_kind)
        form.addRow("Steps T", self.steps)
        form.addRow("Noise scale", self.noise_scale)
        form.addRow("Seed", self.seed)
        form.addRow(self.file_button)
        form.addRow(self.input_file_label)
        self.bind(self.input_kind, "inputs")
        self.bind(self.steps, "steps", lambda v: int(round(v)))
        self.bind(self.noise_scale, "scale", float)
        self.bind(self.seed, "seed", int)
        self.file_button.clicked.connect(self._choose_file)
        return box

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        self.badge = verdict_badge_label("Verdict over every layer and direction (exploding wins over vanishing)")
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self._build_spectrum_view())
        self.splitter.addWidget(self._build_flow_chart())
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        layout.addWidget(self.splitter, 1)
        self.flow_caption = caption_label()
        layout.addWidget(self.flow_caption)

    def _build_spectrum_view(self) -> QWidget:
        """The selected layer's eigenvalues against the unit circle, and its spectral radii below."""
        self.eig_chart = make_plot(self.theme, "", "Re λ", "Im λ", legend_columns=2)
        self.eig_chart.getPlotItem().setAspectLocked(True)
        angle = np.linspace(0, 2 * np.pi, 361)
        self.unit_circle = pg.PlotDataItem(np.cos(angle), np.sin(angle), name="|λ| = 1")
        self.eig_chart.getPlotItem().addItem(self.unit_circle)
        self.radius_label = caption_label()
        box = QWidget()
        inner = QVBoxLayout(box)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.eig_chart, 1)
        inner.addWidget(self.radius_label)
        return box

    def _build_flow_chart(self) -> Chart:
        """‖dL/dhₜ‖ of every layer and direction, exact zeros marked, the thresholds named at the right."""
        self.flow_chart = make_plot(self.theme, "", "time step t", "‖dL/dhₜ‖", log_y=True, legend_columns=2)
        self.zero_marks = pg.ScatterPlotItem(symbol="x", name="0 in float64")
        self.flow_chart.getPlotItem().addItem(self.zero_marks)
        self.thresholds = threshold_lines(self.flow_chart)
        return self.flow_chart

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_orientation()

    def _fit_orientation(self) -> None:
        """Charts side by side when there is room; stacked, with one-row legends, when narrow."""
        wide = self.views_widget.width() >= WIDE_VIEWS_PX
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            total = self.splitter.width() if wide else self.splitter.height()
            self.splitter.setSizes([int(total * 0.4), total - int(total * 0.4)] if wide else [total // 2, total // 2])
        self.eig_chart.legend.setColumnCount(2 if wide else 3)
        self.flow_chart.legend.setColumnCount(2 if wide else 4)

    # -- state --------------------------------------------------------------------------------------
    def current_spec(self) -> LayerSpec | None:
        return self.loaded.module(self.state.module) if self.loaded is not None else None

    def show_state(self, state: ModelViewState) -> None:
        self.input_kind.set_value(state.inputs)
        self.nonlinearity.set_value(state.nonlinearity)
        self.steps.setValue(state.steps)
        self.noise_scale.setValue(state.scale)
        self.seed.setValue(state.seed)
        self.input_file_label.setText(Path(state.file).name if state.file else "no file chosen")
        self.input_file_label.setToolTip(state.file or "")
        spec = self.current_spec()
        if spec is not None:
            self.module_choice.set_value(spec.name)
            if spec.name != self._layers_of:
                self._fill_layers()
        self.steps.setEnabled(state.inputs != "file")
        self.noise_scale.setEnabled(state.inputs == "noise")
        self.seed.setEnabled(state.inputs == "noise")
        self.nonlinearity.setEnabled(spec is not None and spec.cell == "rnn")

    def apply_settings(self, settings: dict, label: str = "apply settings") -> None:
        """As for every scene, plus: a module must be one the file holds (once it is read)."""
        module = settings.get("module") if isinstance(settings, Mapping) else None
        if module is not None and self.loaded is not None and module not in self.module_choice.values():
            raise ValueError(f"model view: no module {module!r} in this model")
        super().apply_settings(settings, label)

    def set_input_file(self, path: str | Path) -> None:
        """Use a sequence file as the inputs (what "Choose sequence…" does after its dialog). The
        same file again is read again: it may have changed."""
        try:
            new = self.state.replace(inputs="file", file=str(path))
        except ValueError as exc:  # a path longer than any file system takes
            self.context.show_error(str(exc))
            return
        if new == self.state:
            self.refresh()
        else:
            self.set_state(new, "choose a sequence file")

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Input sequence", str(self.path.parent), INPUT_FILTER)
        if path:
            self.set_input_file(path)

    def refresh(self) -> None:
        spec = self.current_spec()
        if spec is None:
            return  # the file is still being read; its result asks for the flow
        request = self.state.flow_request(spec)
        if request is None:
            self.flow_caption.setText("Choose a sequence file for the inputs.")
            return
        self.request(flow_job, request, key="flow")

    # -- results ------------------------------------------------------------------------------------
    def on_result(self, result: Any, key: str) -> None:
        if key == "load":
            self._show_model(result)
        elif key == "flow":
            self.flow = result
            self._draw_flow()

    def _show_model(self, loaded: LoadedModel) -> None:
        """The file has been read: list its modules and layers, then compute the flow."""
        self.loaded = loaded
        modules = loaded.info.modules
        with self.showing():
            self.module_choice.clear()
            for m in modules:
                self.module_choice.addItem(m.describe(), m.name)
                self.module_choice.setItemData(self.module_choice.count() - 1, m.describe(),
                                               Qt.ItemDataRole.ToolTipRole)
        self.module_choice.setVisible(len(modules) > 1)
        summary = "; ".join(m.describe() for m in modules)
        if loaded.info.other_keys:
            summary += f" (+{len(loaded.info.other_keys)} other tensors, not recurrent)"
        self.set_summary(summary)
        self._show(self.state)
        self.refresh()

    def show_problem(self, message: str, key: str) -> None:
        self.flow_caption.setText(message)
        self.context.show_error(message)

    def _fill_layers(self) -> None:
        spec = self.current_spec()
        self._layers_of = spec.name if spec is not None else None
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        if spec is not None:
            spectra = self.loaded.spectra[spec.name]
            for key in spec.series_keys():
                radii = [s.spectral_radius for s in spectra if s.key == key]
                item = QListWidgetItem(f"{direction_label(key)}   ρ max {max(radii):.3f}")
                item.setData(Qt.ItemDataRole.UserRole, key)
                item.setToolTip(f"{key}: largest spectral radius over the gate blocks of W_hh")
                self.layer_list.addItem(item)
            self.layer_list.setCurrentRow(0)
        self.layer_list.blockSignals(False)
        self._draw_spectrum()

    def selected_layer_key(self) -> str | None:
        item = self.layer_list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def selected_spectra(self) -> list[LayerSpectrum]:
        spec, key = self.current_spec(), self.selected_layer_key()
        if spec is None or key is None:
            return []
        return [s for s in self.loaded.spectra[spec.name] if s.key == key]

    def _draw_spectrum(self) -> None:
        t = self.theme
        item = self.eig_chart.getPlotItem()
        for old in self._eig_items:
            item.removeItem(old)
        self._eig_items = []
        entries = [(self.unit_circle, "|λ| = 1")]
        lines = []
        for i, s in enumerate(self.selected_spectra()):
            colour = t.series[i % len(t.series)]
            scatter = pg.ScatterPlotItem(
                x=s.eigenvalues.real.astype(np.float64), y=s.eigenvalues.imag.astype(np.float64),
                symbol=GATE_SYMBOLS[i % len(GATE_SYMBOLS)], size=t.marker_size,
                brush=pg.mkBrush(colour), pen=pg.mkPen(t.foreground, width=0.5),
            )
            item.addItem(scatter)
            self._eig_items.append(scatter)
            label = GATE_LABELS.get(s.gate, s.gate)
            entries.append((scatter, label))
            lines.append((s.gate, s.spectral_radius, s.spectral_norm, label))
        self.eig_chart.set_legend(entries)
        key = self.selected_layer_key()
        item.setTitle(f"W_hh eigenvalues, {direction_label(key)}" if key else "W_hh eigenvalues",
                      color=t.foreground, size=f"{t.font_px}px")
        self.radius_label.setText(
            "spectral radius ρ: " + ", ".join(f"{gate} {rho:.3f}" for gate, rho, _n, _l in lines))
        self.radius_label.setToolTip("\n".join(
            f"{label}: spectral radius {rho:.4f}, spectral norm ‖·‖₂ {norm:.4f}" for _g, rho, norm, label in lines))
        item.enableAutoRange()

    def _draw_flow(self) -> None:
        flow, t = self.flow, self.theme
        if flow is None:
            return
        item = self.flow_chart.getPlotItem()
        for curve in self._curves.values():
            item.removeItem(curve)
        self._curves = {}
        finite = np.concatenate([v[np.isfinite(v)] for v in flow.series.values()] + [np.zeros(0)])
        floor = (float(finite.min()) if finite.size else 0.0) - 1.0
        zero_x, zero_y = [], []
        entries = []
        layers = sorted({series_layer(k) or 0 for k in flow.series})
        for key, logs in flow.series.items():
            colour = t.series[layers.index(series_layer(key) or 0) % len(t.series)]
            style = Qt.PenStyle.DashLine if is_reverse_series(key) else Qt.PenStyle.SolidLine
            y, zero = clean_log10(logs, floor)
            x = np.arange(1, y.size + 1, dtype=np.float64)
            curve = pg.PlotDataItem(x, y, pen=curve_pen(colour, t, style), connect="finite", skipFiniteCheck=True)
            item.addItem(curve)
            self._curves[key] = curve
            entries.append((curve, direction_label(key)))
            zero_x += list(x[zero])
            zero_y += list(y[zero])
        self.zero_marks.setData(np.array(zero_x, dtype=np.float64), np.array(zero_y, dtype=np.float64))
        if zero_x:
            entries.append((self.zero_marks, "0 in float64"))
        self.flow_chart.set_legend(entries)
        item.enableAutoRange()
        kind, text, where = worst_verdict(flow)
        paint_badge(self.badge, kind, text, t)
        self.badge.setToolTip(f"Verdict over every layer and direction (exploding wins over vanishing): {where}")
        self.flow_caption.setText(flow_caption(flow))

    def apply_theme(self, theme: Theme) -> None:
        t = theme
        style_plot(self.eig_chart, t)
        style_plot(self.flow_chart, t)
        style_threshold_lines(self.flow_chart, self.thresholds, t)
        self.unit_circle.setPen(curve_pen(t.bound, t, Qt.PenStyle.DashLine, 0.6))
        self.zero_marks.setPen(pg.mkPen(t.foreground, width=2))
        self.zero_marks.setBrush(pg.mkBrush(t.foreground))
        self.zero_marks.setSize(t.marker_size)
        self._draw_spectrum()
        if self.flow is not None:
            self._draw_flow()
        else:
            paint_badge(self.badge, "", "…", t)
        self._fit_orientation()
