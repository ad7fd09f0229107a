"""Windows for the user's own models: "File > Open model..." and "File > Open run...".

:class:`ModelView` shows a saved ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` state dict: its recurrent
layers, the eigenvalues of each layer's ``W_hh`` against the unit circle (each gate's block for LSTM
and GRU), and the gradient flow ``||dL/dh_t||`` of every layer on inputs the user picks (zeros, noise
of a chosen scale, or a sequence from a ``.npy`` / ``.csv`` file), on a log chart.

:class:`RunView` shows a run log written by ``gradsim.monitor``: a timestep x training-step heatmap
of ``log10 ||dL/dh_t||`` with its colour bar, the latest step's curve against the thresholds, and the
alerts. It follows the file while the training script is still writing it (a file watcher, plus a
timer because watchers miss appends on some file systems and drop files that are replaced).

Same pattern as the scenes: controls -> settings -> worker -> engine (:mod:`gradsim.monitor`) ->
result -> views. Reading files, eigenvalues and the gradient flow all run on the worker thread; the
run-log follower lives in worker jobs only and hands the GUI fresh arrays, never shared state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QFileSystemWatcher, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import InputError
from ..engine.thresholds import (
    EXPLODE_THRESHOLD,
    EXPLODING,
    HEALTHY,
    VANISH_THRESHOLD,
    VANISHING,
    verdict_from_log10,
)
from ..monitor.model_file import (
    FlowOnInputs,
    LayerSpectrum,
    ModelInfo,
    gradient_flow_on_inputs,
    load_model_file,
    make_inputs,
)
from ..monitor.runlog import RunLogFollower
from .controls import Choice, SliderSpin
from .plots import (
    clean_log10,
    colormap,
    curve_pen,
    format_power,
    make_plot,
    power_label,
    style_plot,
    threshold_line,
)
from .theme import Theme

MODEL_FILTER = "Model weights (*.pt *.pth *.safetensors);;All files (*)"
RUN_FILTER = "gradsim run logs (*.jsonl *.gradsim.jsonl);;All files (*)"
INPUT_FILTER = "Sequences (*.npy *.csv);;All files (*)"
INPUT_LABELS = {"zeros": "zeros", "noise": "Gaussian noise", "file": "sequence from a file"}
GATE_LABELS = {"W_hh": "W_hh", "i": "i (input)", "f": "f (forget)", "g": "g (candidate)", "o": "o (output)",
               "r": "r (reset)", "z": "z (update)", "n": "n (candidate)"}
GATE_SYMBOLS = ("o", "s", "t", "d")
POLL_MS = 1000


# -- worker jobs (module level: they run on the worker thread) ---------------------------------------
@dataclass
class LoadedModel:
    info: ModelInfo
    spectra: dict[str, list[LayerSpectrum]]  # module name -> every layer, direction and gate


def load_model_job(path: str) -> LoadedModel:
    """Read and check the file, infer the layers and compute every ``W_hh`` spectrum."""
    info = load_model_file(path)
    return LoadedModel(info, {m.name: m.spectra() for m in info.modules})


@dataclass
class FlowRequest:
    spec: Any  # LayerSpec
    inputs: str
    steps: int
    scale: float
    seed: int
    file: str | None
    nonlinearity: str


def flow_job(req: FlowRequest) -> FlowOnInputs:
    x = make_inputs(req.inputs, req.steps, req.spec.input_size, req.scale, req.seed, req.file)
    return gradient_flow_on_inputs(req.spec, x, req.nonlinearity if req.spec.cell == "rnn" else "tanh")


@dataclass
class RunSnapshot:
    """What the run view draws, built from the follower on the worker thread."""

    header: dict
    series_keys: list[str]
    key: str | None
    steps: np.ndarray
    matrix: np.ndarray  # rows = recorded steps, columns = t = 1..T; log10 norms (NaN = no value)
    alerts: list[str]  # one line per series or parameter and kind: which steps, and the latest detail
    alert_count: int  # threshold crossings in all
    finished: bool
    skipped: int
    incomplete: bool
    reset: bool
    vanish: float
    explode: float
    latest: np.ndarray  # the latest recorded step's own series (not padded)
    first: np.ndarray
    notes: list[str] = field(default_factory=list)


def poll_run_job(follower: RunLogFollower, key: str | None, shown: tuple | None = None) -> RunSnapshot | None:
    """Read what was appended to the log and build the arrays of series ``key`` (the first if None).

    ``shown`` is ``(series key, records, finished)`` of what the view already draws: when nothing has
    changed the job returns None instead of rebuilding the same arrays every second."""
    new = follower.poll()
    log = follower.log
    if log is None:
        raise InputError(f"{follower.path}: not a gradsim run log yet (no complete header line)")
    if not new and not follower.reset and shown == (key, len(log.records), log.finished):
        return None
    keys = log.series_keys()
    if key not in keys:
        key = keys[0] if keys else None
    steps, matrix = log.heatmap(key) if key is not None else (np.zeros(0), np.zeros((0, 0)))
    rows = [r.layers[key] for r in log.records if key in r.layers] if key is not None else []
    alerts = log.alerts()
    grouped: dict[tuple[str, str], list] = {}
    for a in alerts:
        grouped.setdefault((a.where, a.kind), []).append(a)
    summary = []
    for (where, kind), items in grouped.items():
        first, last = items[0], items[-1]
        span = f"step {first.step}" if len(items) == 1 else f"steps {first.step}–{last.step} ({len(items)}×)"
        detail = f", latest from t = {last.first_t}" if last.first_t is not None else ""
        summary.append((last.step, f"{where}: {kind}, {span}{detail}"))
    summary.sort()
    return RunSnapshot(
        header=log.header, series_keys=keys, key=key, steps=steps, matrix=matrix,
        alerts=[text for _step, text in summary], alert_count=len(alerts), finished=log.finished,
        skipped=log.skipped_lines, incomplete=log.incomplete_tail, reset=follower.reset,
        vanish=log.vanish_threshold, explode=log.explode_threshold,
        latest=rows[-1].copy() if rows else np.zeros(0), first=rows[0].copy() if rows else np.zeros(0),
        notes=[str(n) for n in log.header.get("notes", [])],
    )


# -- shared machinery ----------------------------------------------------------------------------------
class _WorkerView(QWidget):
    """Requests to the shared worker under keys of our own; stale results are dropped."""

    drawn = Signal()
    load_failed = Signal(str)

    def __init__(self, context: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.theme: Theme = context.theme
        self._prefix = f"userfile-{id(self)}"
        self._latest: dict[str, int] = {}
        self._drawn_once = False
        context.worker.finished.connect(self._on_finished)
        context.worker.failed.connect(self._on_failed)

    def request(self, fn, *args: Any, key: str, lane: str | None = None) -> int:
        full = f"{self._prefix}:{key}"
        request_id = self.context.worker.submit(full, fn, *args, lane=lane)
        self._latest[full] = request_id
        return request_id

    def _on_finished(self, full_key: str, request_id: int, result: Any) -> None:
        if self._latest.get(full_key) != request_id:
            return
        self.on_result(result, full_key.split(":", 1)[1])
        self._drawn_once = True
        self.drawn.emit()

    def _on_failed(self, full_key: str, request_id: int, message: str) -> None:
        if self._latest.get(full_key) != request_id:
            return
        self.on_failed(message, full_key.split(":", 1)[1])

    @property
    def drawn_once(self) -> bool:
        return self._drawn_once

    def on_result(self, result: Any, key: str) -> None:
        raise NotImplementedError

    def on_failed(self, message: str, key: str) -> None:
        self.context.show_error(message)

    def detach(self) -> None:
        """Stop listening to the worker (the window is closing)."""
        for signal, slot in ((self.context.worker.finished, self._on_finished),
                             (self.context.worker.failed, self._on_failed)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass


def _panel(controls: QWidget) -> QScrollArea:
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(controls)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll


def _fit_panel(scroll: QScrollArea, theme: Theme) -> None:
    """As wide as the controls ask for (fonts grow in projector mode), within limits, so that the charts
    keep most of a 1024-px window."""
    controls = scroll.widget()
    controls.ensurePolished()
    for child in controls.findChildren(QWidget):
        child.ensurePolished()
    controls.adjustSize()
    needed = controls.sizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 6
    scroll.setFixedWidth(int(min(400 if theme.projector else 320, max(250, needed))))


def _caption(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("caption")
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _badge() -> QLabel:
    badge = QLabel("…")
    badge.setObjectName("badge")
    badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return badge


def _style_badge(badge: QLabel, kind: str, text: str, theme: Theme) -> None:
    colour = theme.verdict_colour(kind)
    badge.setText(text)
    badge.setStyleSheet(f"QLabel#badge {{ background: {colour}; color: {theme.background}; }}")


def _direction_label(key: str) -> str:
    """``"lstm/l1/reverse"`` -> ``"layer 1 ←"`` (the arrow says which way the direction reads)."""
    parts = key.split("/")
    layer = parts[1][1:] if len(parts) > 1 else "?"
    arrow = "←" if key.endswith("/reverse") else "→"
    return f"layer {layer} {arrow}"


# -- Open model ------------------------------------------------------------------------------------------
class ModelView(_WorkerView):
    """A saved model: layers, ``W_hh`` eigenvalues, gradient flow on chosen inputs."""

    def __init__(self, context: Any, path: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.path = Path(path)
        self.loaded: LoadedModel | None = None
        self.flow: FlowOnInputs | None = None
        self._input_file: str | None = None
        self._updating = False
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._eig_items: list[pg.ScatterPlotItem] = []
        self._build()
        self.apply_theme(self.theme)
        self.request(load_model_job, str(self.path), key="load", lane="files")

    # layout
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        controls = QWidget()
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(4, 4, 4, 4)

        model_box = QGroupBox("Model")
        ml = QVBoxLayout(model_box)
        self.file_label = _caption(self.path.name)
        self.file_label.setToolTip(str(self.path))
        self.module_choice = Choice([], None, tooltip="The recurrent modules found in the file")
        self.layer_list = QListWidget()
        self.layer_list.setToolTip("Layers and directions (→ reads forward, ← is the reverse direction); "
                                   "pick one to see its W_hh eigenvalues")
        self.layer_list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.layer_list.setMaximumHeight(150)
        self.nonlinearity = Choice([("tanh", "tanh"), ("relu", "ReLU")], "tanh",
                                   tooltip="A vanilla RNN's nonlinearity is not stored in its weights: say which")
        nl_row = QFormLayout()
        nl_row.addRow("RNN f", self.nonlinearity)
        ml.addWidget(self.file_label)
        ml.addWidget(self.module_choice)
        ml.addWidget(self.layer_list)
        ml.addLayout(nl_row)
        cl.addWidget(model_box)

        inputs = QGroupBox("Inputs x_t")
        form = QFormLayout(inputs)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.input_kind = Choice(list(INPUT_LABELS.items()), "noise",
                                 tooltip="What the model reads: all zeros, Gaussian noise, or your own sequence")
        self.steps = SliderSpin(1, 2000, 1, 100, integer=True, tooltip="Sequence length T (zeros and noise)")
        self.noise_scale = SliderSpin(0.0, 5.0, 0.05, 1.0, tooltip="Standard deviation of the noise inputs")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999_999)
        self.seed.setToolTip("Seed of the noise: the same seed gives the same inputs")
        self.file_button = QPushButton("Choose sequence…")
        self.file_button.setToolTip("A T × inputs array: .npy (never unpickled) or .csv, one row per step")
        self.input_file_label = _caption("no file chosen")
        form.addRow("Inputs", self.input_kind)
        form.addRow("Steps T", self.steps)
        form.addRow("Noise scale", self.noise_scale)
        form.addRow("Seed", self.seed)
        form.addRow(self.file_button)
        form.addRow(self.input_file_label)
        cl.addWidget(inputs)
        self.loss_note = _caption("Loss L = sum of the top layer's final hidden state (each direction's), "
                                  "so dL/dh_T = 1 as in the flow scene; float64.")
        cl.addWidget(self.loss_note)
        cl.addStretch(1)
        self.panel = _panel(controls)
        outer.addWidget(self.panel, 0)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.badge = _badge()
        head.addWidget(self.header, 1)
        head.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        rl.addLayout(head)

        t = self.theme
        self.eig_chart = make_plot(t, "", "Re λ", "Im λ", legend_columns=2)
        self.eig_chart.setMinimumWidth(220)
        eig_item = self.eig_chart.getPlotItem()
        eig_item.setAspectLocked(True)
        angle = np.linspace(0, 2 * np.pi, 361)
        self.unit_circle = pg.PlotDataItem(np.cos(angle), np.sin(angle), name="|λ| = 1")
        eig_item.addItem(self.unit_circle)
        self.radius_label = _caption()
        self.flow_chart = make_plot(t, "", "time step t", "‖dL/dh_t‖ (log scale)", log_y=True, legend_columns=2)
        self.flow_chart.setMinimumWidth(300)
        flow_item = self.flow_chart.getPlotItem()
        self.zero_marks = pg.ScatterPlotItem(symbol="x", name="0 in float64")
        flow_item.addItem(self.zero_marks)
        self.vanish_line = threshold_line(t, t.vanish, "vanishing threshold")
        self.explode_line = threshold_line(t, t.explode, "exploding threshold", below=True)
        self.vanish_line.setValue(math.log10(VANISH_THRESHOLD))
        self.explode_line.setValue(math.log10(EXPLODE_THRESHOLD))
        flow_item.addItem(self.vanish_line, ignoreBounds=True)
        flow_item.addItem(self.explode_line, ignoreBounds=True)

        eig_box = QWidget()
        el = QVBoxLayout(eig_box)
        el.setContentsMargins(0, 0, 0, 0)
        el.addWidget(self.eig_chart, 1)
        el.addWidget(self.radius_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(eig_box)
        splitter.addWidget(self.flow_chart)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        self.splitter = splitter
        rl.addWidget(splitter, 1)
        self.flow_caption = _caption()
        rl.addWidget(self.flow_caption)
        outer.addWidget(right, 1)

        self.module_choice.choiceChanged.connect(self._on_module)
        self.layer_list.currentRowChanged.connect(lambda _row: self._draw_spectrum())
        self.nonlinearity.choiceChanged.connect(self._on_control)
        self.input_kind.choiceChanged.connect(self._on_control)
        self.steps.valueChanged.connect(self._on_control)
        self.noise_scale.valueChanged.connect(self._on_control)
        self.seed.valueChanged.connect(self._on_control)
        self.file_button.clicked.connect(self._choose_file)
        self._update_header()


    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_orientation()

    def _fit_orientation(self) -> None:
        """Charts side by side when there is room; stacked, with one-row legends, on narrow windows
        (a 1024-px window in projector mode leaves about 600 px for the charts)."""
        wide = self.width() - self.panel.width() >= 700
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            total = self.splitter.width() if wide else self.splitter.height()
            self.splitter.setSizes([int(total * 0.4), total - int(total * 0.4)] if wide else [total // 2, total // 2])
        self.eig_chart.legend.setColumnCount(2 if wide else 3)
        self.flow_chart.legend.setColumnCount(2 if wide else 4)
        self.eig_chart.setMinimumWidth(220 if wide else 0)
        self.flow_chart.setMinimumWidth(300 if wide else 0)

    # settings
    def current_spec(self):
        if self.loaded is None:
            return None
        return self.loaded.info.module(self.module_choice.value())

    def settings(self) -> dict:
        return {
            "module": self.module_choice.value() if self.module_choice.count() else None,
            "inputs": self.input_kind.value(),
            "steps": int(self.steps.value()),
            "scale": float(self.noise_scale.value()),
            "seed": int(self.seed.value()),
            "file": self._input_file,
            "nonlinearity": self.nonlinearity.value(),
        }

    def apply_settings(self, settings: dict) -> None:
        known = {"module", "inputs", "steps", "scale", "seed", "file", "nonlinearity"}
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"model view: unknown setting '{sorted(unknown)[0]}'")
        if "inputs" in settings and settings["inputs"] not in INPUT_LABELS:
            raise ValueError(f"model view: unknown input kind {settings['inputs']!r}")
        if "nonlinearity" in settings and settings["nonlinearity"] not in ("tanh", "relu"):
            raise ValueError(f"model view: unknown nonlinearity {settings['nonlinearity']!r}")
        steps = settings.get("steps", self.steps.value())
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 2000:
            raise ValueError("model view: steps must be an integer from 1 to 2000")
        scale = settings.get("scale", self.noise_scale.value())
        if not isinstance(scale, (int, float)) or not 0 <= scale <= 5:
            raise ValueError("model view: noise scale must be between 0 and 5")
        seed = settings.get("seed", self.seed.value())
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 999_999:
            raise ValueError("model view: seed must be an integer from 0 to 999999")
        module = settings.get("module")
        if module is not None and self.module_choice.count() and module not in self.module_choice.values():
            raise ValueError(f"model view: no module {module!r} in this model")
        self._updating = True
        try:
            self.input_kind.set_value(settings.get("inputs", self.input_kind.value()))
            self.nonlinearity.set_value(settings.get("nonlinearity", self.nonlinearity.value()))
            self.steps.setValue(steps)
            self.noise_scale.setValue(float(scale))
            self.seed.setValue(seed)
            if "file" in settings:
                self._input_file = settings["file"]
                self.input_file_label.setText(Path(self._input_file).name if self._input_file else "no file chosen")
            if module is not None and self.module_choice.count():
                self.module_choice.set_value(module)
        finally:
            self._updating = False
        self._sync_enabled()
        self.refresh()

    def set_input_file(self, path: str | Path) -> None:
        """Use a sequence file as the inputs (what "Choose sequence…" does after its dialog)."""
        self._input_file = str(path)
        self.input_file_label.setText(Path(path).name)
        self.input_file_label.setToolTip(str(path))
        self._updating = True
        self.input_kind.set_value("file")
        self._updating = False
        self._sync_enabled()
        self.refresh()

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Input sequence", str(self.path.parent), INPUT_FILTER)
        if path:
            self.set_input_file(path)

    def _sync_enabled(self) -> None:
        kind = self.input_kind.value()
        self.steps.setEnabled(kind != "file")
        self.noise_scale.setEnabled(kind == "noise")
        self.seed.setEnabled(kind == "noise")
        spec = self.current_spec()
        self.nonlinearity.setEnabled(spec is not None and spec.cell == "rnn")

    def _on_control(self, *_args: Any) -> None:
        if self._updating:
            return
        self._sync_enabled()
        self.refresh()

    def _on_module(self, _value: str) -> None:
        if self._updating:
            return
        self._fill_layers()
        self._sync_enabled()
        self.refresh()

    def refresh(self) -> None:
        spec = self.current_spec()
        if spec is None:
            return
        kind = self.input_kind.value()
        if kind == "file" and not self._input_file:
            self.flow_caption.setText("Choose a sequence file for the inputs.")
            return
        req = FlowRequest(spec, kind, int(self.steps.value()), float(self.noise_scale.value()),
                          int(self.seed.value()), self._input_file, self.nonlinearity.value())
        self.request(flow_job, req, key="flow")

    # results
    def on_result(self, result: Any, key: str) -> None:
        if key == "load":
            self.loaded = result
            self._updating = True
            self.module_choice.clear()
            for m in result.info.modules:
                self.module_choice.addItem(m.describe(), m.name)
                self.module_choice.setItemData(self.module_choice.count() - 1, m.describe(),
                                               Qt.ItemDataRole.ToolTipRole)
            self.module_choice.setVisible(len(result.info.modules) > 1)
            self._updating = False
            self._fill_layers()
            self._sync_enabled()
            self._update_header()
            self.refresh()
        elif key == "flow":
            self.flow = result
            self._draw_flow()

    def on_failed(self, message: str, key: str) -> None:
        if key == "load":
            self.load_failed.emit(message)
        else:
            self.flow_caption.setText(message)
            self.context.show_error(message)

    def _fill_layers(self) -> None:
        spec = self.current_spec()
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        if spec is not None:
            spectra = self.loaded.spectra[spec.name]
            for key in spec.series_keys():
                radii = [s.spectral_radius for s in spectra if s.key == key]
                item = QListWidgetItem(f"{_direction_label(key)}   ρ max {max(radii):.3f}")
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
        spectra = self.selected_spectra()
        entries = [(self.unit_circle, "|λ| = 1")]
        lines = []
        for i, s in enumerate(spectra):
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
        self.eig_chart.getPlotItem().setTitle(
            f"W_hh eigenvalues, {_direction_label(key)}" if key else "W_hh eigenvalues",
            color=t.foreground, size=f"{t.font_pt}pt")
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
        layers = sorted({int(k.split("/")[1][1:]) for k in flow.series})
        for key, logs in flow.series.items():
            layer = int(key.split("/")[1][1:])
            colour = t.series[layers.index(layer) % len(t.series)]
            style = Qt.PenStyle.DashLine if key.endswith("/reverse") else Qt.PenStyle.SolidLine
            y, zero = clean_log10(logs, floor)
            x = np.arange(1, y.size + 1, dtype=np.float64)
            curve = pg.PlotDataItem(x, y, pen=curve_pen(colour, t, style), connect="finite", skipFiniteCheck=True)
            item.addItem(curve)
            self._curves[key] = curve
            entries.append((curve, _direction_label(key)))
            zero_x += list(x[zero])
            zero_y += list(y[zero])
        self.zero_marks.setData(np.array(zero_x, dtype=np.float64), np.array(zero_y, dtype=np.float64))
        if zero_x:
            entries.append((self.zero_marks, "0 in float64"))
        self.flow_chart.set_legend(entries)
        item.enableAutoRange()
        worst = self._worst_verdict()
        kind, text, where = worst
        _style_badge(self.badge, kind, text, t)
        self.badge.setToolTip(f"Verdict over every layer (exploding wins over vanishing): {where}")
        summary = [f"{_direction_label(key)} {format_power(float(logs[0]), 2)}" for key, logs in flow.series.items()]
        self.flow_caption.setText(f"T = {flow.steps}. ‖dL/dh_1‖: " + ", ".join(summary))

    def _worst_verdict(self) -> tuple[str, str, str]:
        """``(kind, badge text, where)``: the first step past a threshold over every layer."""
        verdicts = self.flow.verdicts if self.flow is not None else {}
        for kind in (EXPLODING, VANISHING):
            hits = [(k, v) for k, v in verdicts.items() if v.kind == kind]
            if hits:
                key, v = max(hits, key=lambda kv: kv[1].first_t or 0)
                return kind, f"{kind} from t = {v.first_t}", f"{key}, {v.describe()}"
        return HEALTHY, "healthy", "every layer stays between the thresholds"

    def _update_header(self) -> None:
        t = self.theme
        title = self.path.name
        if self.loaded is None:
            sub = "reading the file…"
        else:
            sub = "; ".join(m.describe() for m in self.loaded.info.modules)
            if self.loaded.info.other_keys:
                sub += f" (+{len(self.loaded.info.other_keys)} other tensors, not recurrent)"
        self.header.setText(f"<span style='font-size:{t.title_pt + 2}pt; font-weight:bold'>{title}</span><br>"
                            f"<span style='color:{t.muted}'>{sub}</span>")

    def apply_theme(self, theme: Theme) -> None:
        self.theme = t = theme
        _fit_panel(self.panel, t)
        style_plot(self.eig_chart, t)
        style_plot(self.flow_chart, t)
        self.unit_circle.setPen(curve_pen(t.bound, t, Qt.PenStyle.DashLine, 0.6))
        self.zero_marks.setPen(pg.mkPen(t.foreground, width=2))
        self.zero_marks.setBrush(pg.mkBrush(t.foreground))
        self.zero_marks.setSize(t.marker_size)
        for line, colour in ((self.vanish_line, t.vanish), (self.explode_line, t.explode)):
            line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
            line.label.setColor(colour)
            line.label.fill = pg.mkBrush(t.background)
            font = line.label.textItem.font()
            font.setPointSize(max(8, t.font_pt - 1))
            line.label.setFont(font)
        self._update_header()
        self._draw_spectrum()
        if self.flow is not None:
            self._draw_flow()
        self._fit_orientation()


# -- Open run --------------------------------------------------------------------------------------------
class RunView(_WorkerView):
    """A monitor run log: heatmap over timesteps and training steps, latest curve, alerts; live."""

    def __init__(self, context: Any, path: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.path = Path(path)
        self.follower = RunLogFollower(self.path)  # touched by worker jobs only
        self.snapshot: RunSnapshot | None = None
        self._updating = False
        self._build()
        self.apply_theme(self.theme)
        self.watcher = QFileSystemWatcher([str(self.path)], self)
        self.watcher.fileChanged.connect(self._on_file_changed)
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self.poll)
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()
        self.poll()

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        controls = QWidget()
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(4, 4, 4, 4)
        box = QGroupBox("Run")
        bl = QVBoxLayout(box)
        self.file_label = _caption(self.path.name)
        self.file_label.setToolTip(str(self.path))
        self.series = Choice([], None, tooltip="Which module, layer and direction the heatmap shows")
        self.follow = QCheckBox("Follow the file live")
        self.follow.setChecked(True)
        self.follow.setToolTip("Re-read the log as the training script appends to it")
        self.status = _caption("reading…")
        bl.addWidget(self.file_label)
        bl.addWidget(self.series)
        bl.addWidget(self.follow)
        bl.addWidget(self.status)
        cl.addWidget(box)
        alerts_box = QGroupBox("Alerts")
        al = QVBoxLayout(alerts_box)
        self.alerts = QListWidget()
        self.alerts.setToolTip("Threshold crossings the monitor recorded, one line per series or parameter "
                               "and kind, most recent last")
        self.alerts.setWordWrap(True)
        self.alerts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        al.addWidget(self.alerts)
        cl.addWidget(alerts_box, 1)
        self.panel = _panel(controls)
        outer.addWidget(self.panel, 0)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.badge = _badge()
        self.badge.setToolTip("Latest recorded step of this series, against the run's thresholds")
        head.addWidget(self.header, 1)
        head.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        rl.addLayout(head)

        t = self.theme
        self.heat_chart = make_plot(t, "", "time step t", "training step", legend=False)
        heat_item = self.heat_chart.getPlotItem()
        self.image = pg.ImageItem(axisOrder="row-major")
        heat_item.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(values=(-8, 2), colorMap=colormap(t), interactive=False)
        self.colour_bar.setImageItem(self.image, insert_in=heat_item)
        self.colour_bar.axis.tickStrings = lambda values, scale, spacing: [power_label(v) for v in values]
        self.latest_chart = make_plot(t, "", "time step t", "‖dL/dh_t‖ (log scale)", log_y=True, legend_columns=3)
        latest_item = self.latest_chart.getPlotItem()
        self.latest_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.first_curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        latest_item.addItem(self.first_curve)
        latest_item.addItem(self.latest_curve)
        self.vanish_line = threshold_line(t, t.vanish, "vanishing threshold")
        self.explode_line = threshold_line(t, t.explode, "exploding threshold", below=True)
        latest_item.addItem(self.vanish_line, ignoreBounds=True)
        latest_item.addItem(self.explode_line, ignoreBounds=True)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.heat_chart)
        splitter.addWidget(self.latest_chart)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        rl.addWidget(splitter, 1)
        self.heat_caption = _caption()
        rl.addWidget(self.heat_caption)
        outer.addWidget(right, 1)

        self.series.choiceChanged.connect(self._on_series)
        self.follow.toggled.connect(self._on_follow)
        self._update_header()

    # polling
    def poll(self) -> None:
        key = self.series.value() if self.series.count() else None
        snap = self.snapshot
        shown = None if snap is None else (snap.key, int(snap.steps.size) if snap.key == key else -1, snap.finished)
        self.request(poll_run_job, self.follower, key, shown, key="poll", lane="files")

    def _on_file_changed(self, path: str) -> None:
        if path not in self.watcher.files() and Path(path).exists():
            self.watcher.addPath(path)  # replaced files drop out of the watch list
        if self.follow.isChecked():
            self._debounce.start()

    def _on_follow(self, on: bool) -> None:
        if on:
            self.timer.start()
            self.poll()
        else:
            self.timer.stop()

    def _on_series(self, _value: str) -> None:
        if not self._updating:
            self.poll()

    def settings(self) -> dict:
        return {"series": self.series.value() if self.series.count() else None, "follow": self.follow.isChecked()}

    def apply_settings(self, settings: dict) -> None:
        unknown = set(settings) - {"series", "follow"}
        if unknown:
            raise ValueError(f"run view: unknown setting '{sorted(unknown)[0]}'")
        series = settings.get("series")
        if series is not None and self.series.count() and series not in self.series.values():
            raise ValueError(f"run view: no series {series!r} in this run")
        if "follow" in settings:
            self.follow.setChecked(bool(settings["follow"]))
        if series is not None and self.series.count():
            self.series.set_value(series)

    def on_result(self, result: Any, key: str) -> None:
        if result is None:  # nothing new since the last poll
            return
        snap: RunSnapshot = result
        self.snapshot = snap
        self._updating = True
        if self.series.values() != snap.series_keys:
            self.series.clear()
            for k in snap.series_keys:
                self.series.addItem(f"{k.split('/')[0]}: {_direction_label(k)}", k)
        if snap.key is not None and self.series.value() != snap.key:
            self.series.set_value(snap.key)
        self._updating = False
        if snap.finished:
            self.timer.stop()
        self._draw()

    def on_failed(self, message: str, key: str) -> None:
        if self.snapshot is None:
            self.timer.stop()
            self.load_failed.emit(message)
        else:
            self.status.setText(message)

    def heat_levels(self) -> tuple[float, float]:
        """Colour range: the finite values' range, widened to a decade at least."""
        m = self.snapshot.matrix if self.snapshot is not None else np.zeros((0, 0))
        finite = m[np.isfinite(m)]
        if finite.size == 0:
            return -1.0, 1.0
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1.0:
            mid = 0.5 * (lo + hi)
            lo, hi = mid - 0.5, mid + 0.5
        return lo, hi

    def _draw(self) -> None:
        snap, t = self.snapshot, self.theme
        if snap is None:
            return
        self._update_header()
        lines = []
        n = snap.steps.size
        if snap.finished:
            lines.append(f"finished: {n} steps recorded")
        else:
            lines.append(f"{n} steps recorded" + (" — following" if self.follow.isChecked() else ""))
        if snap.skipped:
            lines.append(f"{snap.skipped} damaged line(s) skipped")
        if snap.incomplete:
            lines.append("last line incomplete (still being written, or cut off)")
        lines += snap.notes
        self.status.setText("\n".join(lines))
        self.alerts.clear()
        for message in snap.alerts:
            self.alerts.addItem(message)
        if not snap.alerts:
            self.alerts.addItem("none: every recorded step stayed between the thresholds")
        log_v, log_e = math.log10(snap.vanish), math.log10(snap.explode)
        self.vanish_line.setValue(log_v)
        self.explode_line.setValue(log_e)

        if n == 0 or snap.matrix.size == 0:
            self.image.clear()
            self.latest_curve.setData([], [])
            self.first_curve.setData([], [])
            _style_badge(self.badge, "", "no steps yet", t)
            self.heat_caption.setText("Waiting for the first recorded step…")
            return
        lo, hi = self.heat_levels()
        img = snap.matrix.copy()
        img[np.isneginf(img)] = lo  # exact zeros drawn at the bottom of the scale
        width = img.shape[1]
        uniform = n == 1 or np.all(np.diff(snap.steps) == snap.steps[1] - snap.steps[0])
        if uniform:
            spacing = float(snap.steps[1] - snap.steps[0]) if n > 1 else 1.0
            y0, height = float(snap.steps[0]) - spacing / 2, spacing * n
            self.heat_chart.getPlotItem().setLabel("left", "training step")
        else:
            y0, height = 0.5, float(n)
            self.heat_chart.getPlotItem().setLabel("left", "recorded step (in order)")
        self.image.setImage(img, autoLevels=False, levels=(lo, hi))
        self.image.setRect(QRectF(0.5, y0, float(width), height))
        self.colour_bar.setLevels((lo, hi))
        self.heat_chart.getPlotItem().setRange(xRange=(0.5, width + 0.5), yRange=(y0, y0 + height), padding=0)

        floor = lo - 1.0
        y_latest, _ = clean_log10(snap.latest, floor)
        y_first, _ = clean_log10(snap.first, floor)
        self.latest_curve.setData(np.arange(1, y_latest.size + 1, dtype=np.float64), y_latest)
        self.first_curve.setData(np.arange(1, y_first.size + 1, dtype=np.float64), y_first)
        self.latest_chart.set_legend([
            (self.latest_curve, f"step {int(snap.steps[-1])} (latest)"),
            (self.first_curve, f"step {int(snap.steps[0])} (first)"),
        ])
        self.latest_chart.getPlotItem().enableAutoRange()
        verdict = verdict_from_log10(snap.latest, snap.vanish, snap.explode)
        text = "healthy" if verdict.kind == HEALTHY else f"{verdict.kind} from t = {verdict.first_t}"
        _style_badge(self.badge, verdict.kind, text, t)
        self.heat_caption.setText(
            f"Colour: ‖dL/dh_t‖ of {snap.key} on a log scale, {format_power(lo, 2)} to {format_power(hi, 2)}; "
            f"thresholds {power_label(log_v)} and {power_label(log_e)}. Blank cells: no value at that step."
        )

    def _update_header(self) -> None:
        t = self.theme
        sub = "reading the log…"
        if self.snapshot is not None:
            mods = self.snapshot.header.get("modules", [])
            sub = "; ".join(
                f"{m.get('name')}: {str(m.get('cell', '')).upper()}, {m.get('num_layers')} layer(s), "
                f"hidden {m.get('hidden_size')}" + (", bidirectional" if m.get("bidirectional") else "")
                for m in mods if isinstance(m, dict)
            )
        self.header.setText(f"<span style='font-size:{t.title_pt + 2}pt; font-weight:bold'>Run: {self.path.name}"
                            f"</span><br><span style='color:{t.muted}'>{sub}</span>")

    def apply_theme(self, theme: Theme) -> None:
        self.theme = t = theme
        _fit_panel(self.panel, t)
        style_plot(self.heat_chart, t)
        style_plot(self.latest_chart, t)
        self.colour_bar.setColorMap(colormap(t))
        axis = self.colour_bar.axis
        axis.setPen(pg.mkPen(t.foreground))
        axis.setTextPen(t.foreground)
        font = QFont()
        font.setPointSize(t.font_pt)
        axis.setStyle(tickFont=font, tickTextOffset=6, autoExpandTextSpace=True)
        axis.setWidth(None)  # the colour bar fixes 45 px, too narrow for 10⁻¹⁵ in projector type
        axis.setLabel("‖dL/dh_t‖ (log scale)", color=t.foreground, **{"font-size": f"{t.font_pt}pt"})
        self.latest_curve.setPen(curve_pen(t.series[0], t))
        self.first_curve.setPen(curve_pen(t.series[1], t, Qt.PenStyle.DotLine, 0.8))
        for line, colour in ((self.vanish_line, t.vanish), (self.explode_line, t.explode)):
            line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
            line.label.setColor(colour)
            line.label.fill = pg.mkBrush(t.background)
        self._update_header()
        if self.snapshot is not None:
            self._draw()

    def stop(self) -> None:
        self.timer.stop()
        self._debounce.stop()


# -- windows ----------------------------------------------------------------------------------------------
class _FileWindow(QMainWindow):
    """A top-level window holding one view; shown once its file has been read, closed if refused."""

    def __init__(self, view: _WorkerView, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.view = view
        self.setCentralWidget(view)
        self.setWindowTitle(title)
        screen = (parent.screen() if parent is not None else None) or QApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else None
        if available is not None:
            self.resize(min(1100, available.width()), min(720, available.height()))
        else:
            self.resize(1100, 720)
        view.load_failed.connect(self._refused)
        view.drawn.connect(self._first_draw)

    def _first_draw(self) -> None:
        if not self.isVisible():
            self.show()

    def _refused(self, message: str) -> None:
        self.view.context.show_error(message)
        self.close()

    def set_theme(self, theme: Theme) -> None:
        self.view.apply_theme(theme)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if isinstance(self.view, RunView):
            self.view.stop()
        self.view.detach()
        super().closeEvent(event)


def open_model_window(main_window: Any, path: str | Path) -> _FileWindow:
    """"File > Open model...": a window for a saved state dict (shown once read; refused files show the
    one-line reason in the main window's message bar instead)."""
    view = ModelView(main_window, path)
    return _FileWindow(view, f"gradsim: model {Path(path).name}", main_window)


def open_run_window(main_window: Any, path: str | Path) -> _FileWindow:
    """"File > Open run...": a window following a monitor run log."""
    view = RunView(main_window, path)
    return _FileWindow(view, f"gradsim: run {Path(path).name}", main_window)


def open_model_dialog(main_window: Any, start_dir: str = "") -> _FileWindow | None:
    path, _ = QFileDialog.getOpenFileName(main_window, "Open model", start_dir, MODEL_FILTER)
    return open_model_window(main_window, path) if path else None


def open_run_dialog(main_window: Any, start_dir: str = "") -> _FileWindow | None:
    path, _ = QFileDialog.getOpenFileName(main_window, "Open run", start_dir, RUN_FILTER)
    return open_run_window(main_window, path) if path else None


def restyle_windows(main_window: Any, theme: Theme) -> None:
    """Follow the main window's colour profile (call from ``MainWindow.apply_theme``)."""
    for window in main_window.findChildren(_FileWindow):
        window.set_theme(theme)
