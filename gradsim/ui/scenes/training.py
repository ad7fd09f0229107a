"""Scene ``training``: the training lab. A vanilla RNN and an LSTM (or any mix of up to three models)
train side by side on copy-memory or the adding problem, and the views show, live, why one learns and
the other does not: held-out accuracy against chance, the ``||dL/dh_t||`` heatmap (which time steps
the learning signal still reaches), the eigenvalues of ``W_hh``, the gradient norm before and after
clipping, and the engine's alerts.

Data flow: controls -> ``train_settings()`` -> a :class:`GeneratorTask` running
:func:`train_side_by_side` on its own thread -> one snapshot per optimiser step, appended here to
per-model buffers -> a ~30 fps timer redraws the visible tab from those buffers. Views hold no math:
every number drawn is a value the engine put in a snapshot (or in a loaded run's curves).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...engine import tasks
from ...engine.activations import ACTIVATIONS, get_activation
from ...engine.errors import InputError
from ...engine.init import INIT_LABELS, INITIALISERS
from ...engine.training import CELL_LABELS, CELLS, OPTIMIZERS, TrainSettings
from ..controls import Choice, SliderSpin
from ..plots import (
    colormap,
    curve_pen,
    make_plot,
    power_label,
    settle_view,
    style_plot,
    threshold_line,
    write_csv,
)
from ..worker import GeneratorTask
from .base import Scene

MAX_MODELS = 3
SLOT_NAMES = ("A", "B", "C")
LINE_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine)
SHARED_KEYS = ("task", "delay", "symbols", "categories", "hidden", "embedding", "optimizer", "lr", "batch",
               "steps", "clip", "clip_threshold", "eval_every", "seed")
MODEL_KEYS = ("cell", "forget_bias", "activation", "init", "scale")
RUN_FILTER = "gradsim runs (*.gradsim-run.pt *.pt);;All files (*)"
FRAME_MS = 30  # at most ~33 redraws per second (goal: 30), whatever the training speed

_DEFAULT = TrainSettings()
_DEFAULT_SHARED = {k: getattr(_DEFAULT, k) for k in SHARED_KEYS}
_RNN = {"cell": "rnn", "forget_bias": 3.0, "activation": "tanh", "init": "pytorch_default", "scale": 1.0}
_LSTM3 = {**_RNN, "cell": "lstm", "forget_bias": 3.0}

PRESETS: dict[str, tuple[str, dict]] = {
    "comparison": ("Vanilla RNN vs LSTM (forget bias 3), copy, delay 40",
                   {**_DEFAULT_SHARED, "delay": 40, "models": [_RNN, _LSTM3]}),
    "short": ("Short delay 10: the vanilla RNN learns too",
              {**_DEFAULT_SHARED, "delay": 10, "models": [_RNN, _LSTM3]}),
    "forget": ("LSTM forget bias 0 vs 3, delay 40",
               {**_DEFAULT_SHARED, "delay": 40, "models": [{**_LSTM3, "forget_bias": 0.0}, _LSTM3]}),
    "gated": ("Vanilla RNN vs LSTM vs GRU, delay 40",
              {**_DEFAULT_SHARED, "delay": 40, "models": [_RNN, _LSTM3, {**_RNN, "cell": "gru"}]}),
    "irnn": ("Identity-initialised ReLU RNN (IRNN) vs tanh, delay 40",
             {**_DEFAULT_SHARED, "delay": 40,
              "models": [_RNN, {**_RNN, "activation": "relu", "init": "identity", "scale": 1.0}]}),
    "nan": ("Linear RNN, spectral radius 1.5, no clipping: explodes",
            {**_DEFAULT_SHARED, "delay": 60, "clip": False,
             "models": [{**_RNN, "activation": "identity", "init": "orthogonal", "scale": 1.5}]}),
    "clipping": ("Same linear RNN with clipping at 1: trains, no NaN",
                 {**_DEFAULT_SHARED, "delay": 20, "clip": True, "clip_threshold": 1.0,
                  "models": [{**_RNN, "activation": "identity", "init": "orthogonal", "scale": 1.2}]}),
    "adding": ("Adding problem, 50 steps: vanilla RNN vs LSTM",
               {**_DEFAULT_SHARED, "task": "adding", "delay": 50, "models": [_RNN, _LSTM3]}),
    "custom": ("Custom", {}),
}


def _preset_settings(key: str) -> dict:
    return {**PRESETS[key][1], "preset": key}


# ---------------------------------------------------------------------------------------------------
# per-model data kept by the view (filled only from engine snapshots or a loaded run's curves)


class _Growing:
    """A growing float64 array, appended in place with amortised O(1) cost: a column of numbers
    (``shape=()``) or of fixed-width rows (the heatmap). A redraw hands ``array()`` (a view, no copy)
    to ``setData``: converting whole Python lists to arrays on every frame grew with the run's length.
    Appending never writes into an element a view already shows, so a view given out stays valid."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.shape = shape
        self._data = np.empty((64, *shape))
        self.count = 0

    def append(self, value) -> None:
        if self.count == len(self._data):
            grown = np.empty((2 * len(self._data), *self.shape))
            grown[: self.count] = self._data[: self.count]
            self._data = grown
        self._data[self.count] = value
        self.count += 1

    def array(self) -> np.ndarray:
        return self._data[: self.count]


_serials = itertools.count(1)


class ModelTrace:
    """What the views draw for one model: every engine value of every snapshot so far.

    The lists keep the engine's values as they came (tests and the CSV export read them); the
    columns hold the same values as float64 (log10 where the chart has a log axis), appended once
    per snapshot, so a redraw no longer converts the whole history to arrays. ``serial`` names this trace
    for the views' "already drawn" checks (unlike ``id()``, it is never reused).
    """

    def __init__(self, settings: TrainSettings) -> None:
        self.settings = settings
        self.label = settings.label()
        self.serial = next(_serials)
        self.step: list[int] = []
        self.loss: list[float] = []
        self.grad_before: list[float] = []
        self.grad_after: list[float] = []
        self.heat = _Growing((settings.length,))
        self.eval_step: list[int] = []
        self.accuracy: list[float] = []
        self.eigenvalues: np.ndarray | None = None
        self.initial_eigenvalues: np.ndarray | None = None
        self.last = None  # the latest Snapshot
        self.run = None  # the engine's TrainRun (for saving)
        self.step_x = _Growing()
        self.log_loss = _Growing()
        self.log_grad_before = _Growing()
        self.log_grad_after = _Growing()
        self.eval_x = _Growing()
        self.accuracy_pct = _Growing()
        self.log_loss_min = math.inf  # smallest finite log10(loss) so far (the loss chart's floor)
        self.heat_min = math.inf  # finite extremes of the heatmap so far (its colour levels)
        self.heat_max = -math.inf
        self.heat_nonfinite = False  # an exact zero gradient (log10 = -inf) or a NaN in the heatmap

    def _append_step(self, step: int, loss: float, before: float, after: float, log10_grad_h) -> None:
        self.step.append(step)
        self.loss.append(loss)
        self.grad_before.append(before)
        self.grad_after.append(after)
        self.heat.append(log10_grad_h)
        self.step_x.append(float(step))
        logs = _log10((loss, before, after))
        self.log_loss.append(logs[0])
        self.log_grad_before.append(logs[1])
        self.log_grad_after.append(logs[2])
        if math.isfinite(logs[0]) and logs[0] < self.log_loss_min:
            self.log_loss_min = float(logs[0])
        row = np.asarray(log10_grad_h, dtype=np.float64)
        finite = row[np.isfinite(row)]
        self.heat_nonfinite = self.heat_nonfinite or finite.size < row.size
        if finite.size:
            self.heat_min = min(self.heat_min, float(finite.min()))
            self.heat_max = max(self.heat_max, float(finite.max()))

    def _append_eval(self, step: int, accuracy: float) -> None:
        self.eval_step.append(step)
        self.accuracy.append(accuracy)
        self.eval_x.append(float(step))
        self.accuracy_pct.append(100.0 * accuracy)

    def add(self, snap) -> None:
        self.last = snap
        self.run = snap.run
        self._append_step(snap.step, snap.loss, snap.grad_norm_before, snap.grad_norm_after, snap.log10_grad_h)
        if snap.accuracy is not None:
            self._append_eval(snap.step, snap.accuracy)
        if snap.eigenvalues is not None:
            if self.initial_eigenvalues is None:
                self.initial_eigenvalues = snap.eigenvalues
            self.eigenvalues = snap.eigenvalues

    @classmethod
    def from_run(cls, run) -> ModelTrace:
        trace = cls(run.settings)
        c = run.curves
        trace.run = run
        for row in zip(c.step, c.loss, c.grad_norm_before, c.grad_norm_after, c.log10_grad_h, strict=True):
            trace._append_step(*row)
        for step, accuracy in zip(c.eval_step, c.accuracy, strict=True):
            trace._append_eval(step, accuracy)
        if c.eigenvalues:
            trace.initial_eigenvalues = c.eigenvalues[0]
            trace.eigenvalues = c.eigenvalues[-1]
        return trace


def _live_curve() -> pg.PlotDataItem:
    """A curve redrawn many times a second: no antialiasing (thick antialiased pens are the slow path
    of Qt's raster engine), clipped to the view and peak-downsampled to the pixels it covers."""
    curve = pg.PlotDataItem(connect="finite", skipFiniteCheck=True, antialias=False)
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    return curve


def _set_legend(chart, entries: list, theme) -> None:
    """Legend row with exactly these entries, rebuilt (and restyled) only when they change; hidden
    when there are none, so no empty box is drawn."""
    key = (theme.name, tuple((id(item), label) for item, label in entries))
    if getattr(chart, "_legend_key", None) == key:
        return
    chart._legend_key = key
    chart.set_legend(entries)
    chart.legend.setVisible(bool(entries))
    style_plot(chart, theme)


_UNSET = object()


def _set_curve(curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray, key) -> None:
    """``setData`` unless the curve already shows the data ``key`` names (a trace's serial and its
    length; ``None`` for empty): unchanged data would still be reprocessed and repainted."""
    if getattr(curve, "_gs_key", _UNSET) == key:
        return
    curve._gs_key = key
    curve.setData(x, y)


def _set_scatter(scatter: pg.ScatterPlotItem, eigs: np.ndarray | None, size: float) -> None:
    """Eigenvalues as points, set again only when the array or the marker size changed (the array
    itself is kept as the key, so its identity cannot be reused by another)."""
    shown = getattr(scatter, "_gs_shown", _UNSET)
    if shown is not _UNSET and shown[0] is eigs and shown[1] == size:
        return
    scatter._gs_shown = (eigs, size)
    if eigs is None:
        empty = np.array([], dtype=np.float64)
        scatter.setData(x=empty, y=empty)
    else:
        scatter.setData(x=eigs.real.astype(np.float64), y=eigs.imag.astype(np.float64), size=size)


def _set_range(plot: pg.PlotItem, x: tuple | None = None, y: tuple | None = None,
               x_padding: float = 0.0, y_padding: float = 0.0) -> None:
    """Set a view range only when it differs from the last one set here, when the view was moved
    since (a drag or zoom with the mouse) or resized: an unchanged range still regenerated ticks and
    relaid out."""
    box = plot.getViewBox()
    # the view's size too: an aspect-locked view (the eigenvalues) fits its range to its shape
    key = (x, y, x_padding, y_padding, box.width(), box.height())
    current = [list(r) for r in box.state["targetRange"]]
    if getattr(box, "_gs_range", None) == (key, current):
        return
    if x is not None and y is not None and x_padding == y_padding:
        plot.setRange(xRange=x, yRange=y, padding=x_padding)
    else:
        if x is not None:
            plot.setXRange(*x, padding=x_padding)
        if y is not None:
            plot.setYRange(*y, padding=y_padding)
    box._gs_range = (key, [list(r) for r in box.state["targetRange"]])


def _set_line(line: pg.InfiniteLine, value: float, text: str) -> None:
    """Move a threshold line and relabel it only when its value or text changed."""
    if getattr(line, "_gs_key", None) == (value, text):
        return
    line._gs_key = (value, text)
    line.setValue(value)
    line.label.setFormat(text)


def _set_label(label: QLabel, text: str, tip: str | None = None) -> None:
    """Rich text is parsed and laid out again on every ``setText``: only when it changed."""
    if label.text() != text:
        label.setText(text)
    if tip is not None and label.toolTip() != tip:
        label.setToolTip(tip)


def _blend(colour: str, background: str, alpha: float) -> QColor:
    """``colour`` at ``alpha`` over ``background``, as one opaque colour. A wide pen with alpha is
    blended pixel by pixel in Qt's raster engine: the faint gradient-norm curves with it took
    60 ms per paint in projector mode at 1920x1080; opaque, the same look costs a few ms."""
    a, b = QColor(colour), QColor(background)
    return QColor.fromRgbF(alpha * a.redF() + (1 - alpha) * b.redF(), alpha * a.greenF() + (1 - alpha) * b.greenF(),
                           alpha * a.blueF() + (1 - alpha) * b.blueF())


def _log10(values: Sequence[float]) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.asarray(values, dtype=np.float64))


# ---------------------------------------------------------------------------------------------------
# controls


class ModelSlot(QGroupBox):
    """One model's own settings: cell, the LSTM's forget-gate bias, the vanilla RNN's f and W_hh."""

    def __init__(self, index: int, values: dict) -> None:
        super().__init__(f"Model {SLOT_NAMES[index]}")
        self.index = index
        if index > 0:
            self.setCheckable(True)
            self.setToolTip(f"Tick to train model {SLOT_NAMES[index]} side by side with the others")
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.cell = Choice([(c, CELL_LABELS[c]) for c in CELLS], values["cell"],
                           tooltip="Vanilla (Elman) RNN, LSTM or GRU, with PyTorch's equations")
        self.forget_bias = SliderSpin(-2.0, 6.0, 0.5, values["forget_bias"], decimals=1,
                                      tooltip="LSTM forget-gate bias at the start: a large value keeps the "
                                              "forget gate open (≈1), so the cell state carries the gradient back")
        self.activation = Choice([(a, get_activation(a).label) for a in ACTIVATIONS], values["activation"],
                                 tooltip="Vanilla RNN activation f in h_t = f(W_hh h_{t−1} + W_xh x_t + b)")
        self.init = Choice([(i, INIT_LABELS[i]) for i in INITIALISERS], values["init"],
                           tooltip="How the vanilla RNN's W_hh is drawn before training")
        self.scale = SliderSpin(0.0, 2.5, 0.05, values["scale"],
                                tooltip="Vanilla RNN W_hh scale: spectral radius (Gaussian), gain (orthogonal, "
                                        "identity) or multiplier of PyTorch's default")
        form.addRow("Cell", self.cell)
        form.addRow("Forget bias", self.forget_bias)
        form.addRow("Activation", self.activation)
        form.addRow("W_hh init", self.init)
        form.addRow("W_hh scale", self.scale)
        self._form = form
        self.cell.choiceChanged.connect(lambda _v: self._enable())
        self._enable()

    def _enable(self) -> None:
        cell = self.cell.value()
        self.forget_bias.setEnabled(cell == "lstm")
        for w in (self.activation, self.init, self.scale):
            w.setEnabled(cell == "rnn")

    def enabled(self) -> bool:
        return self.index == 0 or self.isChecked()

    def values(self) -> dict:
        return {"cell": self.cell.value(), "forget_bias": float(self.forget_bias.value()),
                "activation": self.activation.value(), "init": self.init.value(), "scale": float(self.scale.value())}

    def set_values(self, values: dict) -> None:
        self.cell.set_value(values.get("cell", "rnn"))
        self.forget_bias.setValue(float(values.get("forget_bias", 3.0)))
        self.activation.set_value(values.get("activation", "tanh"))
        self.init.set_value(values.get("init", "pytorch_default"))
        self.scale.setValue(float(values.get("scale", 1.0)))
        self._enable()


# ---------------------------------------------------------------------------------------------------
# the scene


class TrainingScene(Scene):
    scene_id = "training"
    title = "Training lab"
    summary = ("Train a vanilla RNN and an LSTM on a task whose answer lies at the start of the sequence: "
               "where the gradient does not reach, nothing is learned.")
    has_animation = True

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self._updating = False
        self._task: GeneratorTask | None = None
        self._sweep_task: GeneratorTask | None = None
        self._traces: list[ModelTrace] = []
        self._dirty = False
        self._state = "ready"
        self._sweep_points: list = []
        self._sweep_progress = None
        self._reported_stop: set[int] = set()
        self._preview: dict | None = None
        self._retired: list[GeneratorTask] = []
        self.frames_drawn = 0  # redraws done by the timer (the GUI benchmark counts them)

        preset_box = QGroupBox("Presets")
        pl = QVBoxLayout(preset_box)
        self.preset = Choice([(k, v[0]) for k, v in PRESETS.items()], "comparison",
                             tooltip="Ready-made comparisons; the first is the issue's: vanilla RNN vs LSTM at delay 40")
        pl.addWidget(self.preset)
        layout.addWidget(preset_box)

        run_box = QGroupBox("Run")
        rl = QVBoxLayout(run_box)
        row = QHBoxLayout()
        self.start_button = QPushButton("▶ Start")
        self.start_button.setToolTip("Start or resume training all models side by side (Space)")
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("Pause and train exactly one more step (→)")
        self.reset_button = QPushButton("⟲ Reset")
        self.reset_button.setToolTip("Throw the run away and start again from the same seed (R)")
        for b in (self.start_button, self.step_button, self.reset_button):
            row.addWidget(b)
        rl.addLayout(row)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save run…")
        self.save_button.setToolTip("Save settings, weights (PyTorch state dicts) and curves of every model")
        self.load_button = QPushButton("Load run…")
        self.load_button.setToolTip("Open a saved run: its curves are shown and Start trains it further. "
                                    "Files are read as plain weights only; code inside is refused.")
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Export the curves (loss, held-out accuracy, gradient norms) as CSV")
        for b in (self.save_button, self.load_button, self.csv_button):
            row.addWidget(b)
        rl.addLayout(row)
        layout.addWidget(run_box)

        task_box = QGroupBox("Task")
        tf = QFormLayout(task_box)
        tf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.task = Choice([(t, tasks.TASK_LABELS[t]) for t in tasks.TASKS], _DEFAULT.task,
                           tooltip="Copy-memory: remember symbols across a delay. Adding: sum two marked numbers.")
        self.delay = SliderSpin(0, 200, 1, _DEFAULT.delay, integer=True,
                                tooltip="Copy: blank steps between the symbols and the recall marker. "
                                        "Adding: the sequence length.")
        self.symbols = SliderSpin(1, 10, 1, _DEFAULT.symbols, integer=True, tooltip="Copy: symbols to remember (L)")
        self.categories = SliderSpin(2, 16, 1, _DEFAULT.categories, integer=True,
                                     tooltip="Copy: categories per symbol (K); chance accuracy is 1/K")
        tf.addRow("Task", self.task)
        tf.addRow("Delay", self.delay)
        tf.addRow("Symbols L", self.symbols)
        tf.addRow("Categories K", self.categories)
        layout.addWidget(task_box)

        self.slots = [ModelSlot(i, (PRESETS["comparison"][1]["models"] + [_RNN] * 3)[i]) for i in range(MAX_MODELS)]
        self.slots[1].setChecked(True)
        self.slots[2].setChecked(False)
        for slot in self.slots:
            layout.addWidget(slot)

        train_box = QGroupBox("Training")
        f = QFormLayout(train_box)
        f.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.hidden = SliderSpin(2, 256, 1, _DEFAULT.hidden, integer=True, tooltip="Hidden units of every model")
        self.embedding = SliderSpin(1, 64, 1, _DEFAULT.embedding, integer=True,
                                    tooltip="Copy: size of the learned embedding of the input tokens")
        self.optimizer = Choice([(o, {"adam": "Adam", "sgd": "SGD"}[o]) for o in OPTIMIZERS], _DEFAULT.optimizer,
                                tooltip="Optimiser of every model")
        self.lr = SliderSpin(0.0001, 0.05, 0.0001, _DEFAULT.lr, decimals=4, tooltip="Learning rate")
        self.batch = SliderSpin(1, 512, 1, _DEFAULT.batch, integer=True, tooltip="Sequences per training step")
        self.steps = SliderSpin(10, 5000, 10, _DEFAULT.steps, integer=True, tooltip="Optimiser steps per run")
        self.clip = QCheckBox("Clip the gradient norm")
        self.clip.setChecked(_DEFAULT.clip)
        self.clip.setToolTip("Rescale the whole gradient to the threshold when its norm is larger")
        self.clip_threshold = SliderSpin(0.1, 20.0, 0.1, _DEFAULT.clip_threshold, decimals=1,
                                         tooltip="Clipping threshold for the gradient norm")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(_DEFAULT.seed)
        self.seed.setToolTip("Seed of weights, training data and the held-out set: same seed, same run")
        f.addRow("Hidden", self.hidden)
        f.addRow("Embedding", self.embedding)
        f.addRow("Optimiser", self.optimizer)
        f.addRow("Learning rate", self.lr)
        f.addRow("Batch", self.batch)
        f.addRow("Steps", self.steps)
        f.addRow(self.clip)
        f.addRow("Clip at", self.clip_threshold)
        f.addRow("Seed", self.seed)
        layout.addWidget(train_box)

        self.note = QLabel("Changing a setting resets the run. Held-out accuracy is measured every "
                           f"{_DEFAULT.eval_every} steps on {_DEFAULT.eval_size} fresh sequences.")
        self.note.setObjectName("caption")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

        # wiring
        self.preset.choiceChanged.connect(self._on_preset)
        for w in (self.task, self.optimizer):
            w.choiceChanged.connect(self._on_control)
        for w in (self.delay, self.symbols, self.categories, self.hidden, self.embedding, self.lr, self.batch,
                  self.steps, self.clip_threshold):
            w.valueChanged.connect(self._on_control)
        self.clip.toggled.connect(self._on_control)
        self.seed.valueChanged.connect(self._on_control)
        for slot in self.slots:
            slot.cell.choiceChanged.connect(self._on_control)
            slot.activation.choiceChanged.connect(self._on_control)
            slot.init.choiceChanged.connect(self._on_control)
            slot.forget_bias.valueChanged.connect(self._on_control)
            slot.scale.valueChanged.connect(self._on_control)
            if slot.isCheckable():
                slot.toggled.connect(self._on_control)
        self.task.choiceChanged.connect(lambda _v: self._enable_task_controls())
        self.clip.toggled.connect(lambda on: self.clip_threshold.setEnabled(on))
        self.start_button.clicked.connect(self.play_pause)
        self.step_button.clicked.connect(lambda: self.step(1))
        self.reset_button.clicked.connect(self.reset_run)
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button.clicked.connect(self._load_dialog)
        self.csv_button.clicked.connect(self._csv_dialog)
        self._enable_task_controls()

        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._on_frame)

    def _enable_task_controls(self) -> None:
        copy = self.task.value() == "copy"
        for w in (self.symbols, self.categories, self.embedding):
            w.setEnabled(copy)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.badge = QLabel("READY")
        self.badge.setObjectName("badge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setToolTip("State of the run: ready, training, paused, finished or stopped")
        self.header_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)

        status = QWidget()
        self.status_layout = QGridLayout(status)
        self.status_layout.setContentsMargins(4, 0, 4, 0)
        self.status_layout.setVerticalSpacing(2)
        self.status_labels: list[QLabel] = []
        for i in range(MAX_MODELS):
            label = QLabel()
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setToolTip("Step, held-out accuracy against chance, and the engine's alerts for this model")
            self.status_layout.addWidget(label, i, 0)
            self.status_labels.append(label)
        layout.addWidget(status)

        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        # accuracy and loss
        curves = QWidget()
        cl = QVBoxLayout(curves)
        cl.setContentsMargins(0, 0, 0, 0)
        self.acc_chart = make_plot(t, "", "training step", "accuracy %", legend_columns=2)
        # same models, same colours and dashes as the accuracy chart above: no second legend
        self.loss_chart = make_plot(t, "", "training step", "loss (log)", log_y=True, legend=False)
        self.acc_curves = [_live_curve() for _ in range(MAX_MODELS)]
        self.loss_curves = [_live_curve() for _ in range(MAX_MODELS)]
        for c in self.acc_curves:
            self.acc_chart.getPlotItem().addItem(c)
        for c in self.loss_curves:
            self.loss_chart.getPlotItem().addItem(c)
        self.chance_line = threshold_line(t, t.bound, "chance")
        self.acc_chart.getPlotItem().addItem(self.chance_line, ignoreBounds=True)
        self.chance_loss_line = threshold_line(t, t.bound, "chance loss")
        self.loss_chart.getPlotItem().addItem(self.chance_loss_line, ignoreBounds=True)
        cl.addWidget(self.acc_chart, 3)
        cl.addWidget(self.loss_chart, 2)
        self.loss_chart.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.tabs.addTab(curves, "Accuracy && loss")

        # heatmap
        self.heat_widget = pg.GraphicsLayoutWidget()
        self.heat_plots: list[pg.PlotItem] = []
        self.heat_images: list[pg.ImageItem] = []
        for _ in range(MAX_MODELS):
            plot = pg.PlotItem()
            plot.setLabel("bottom", "training step")
            plot.setLabel("left", "time step t")
            plot.setMenuEnabled(False)
            plot.hideButtons()
            image = pg.ImageItem(axisOrder="col-major")
            plot.addItem(image)
            self.heat_plots.append(plot)
            self.heat_images.append(image)
        self.color_bar = pg.ColorBarItem(values=(-8.0, 0.0), colorMap=colormap(t), interactive=False)
        self.color_bar.axis.tickStrings = lambda values, scale, spacing: [power_label(v) for v in values]
        self.color_bar.axis.tickValues = _whole_decade_ticks
        self.color_bar.setImageItem(self.heat_images)
        self._heat_rows = 0
        self._layout_heat(2)
        self.heat_caption = QLabel()
        self.heat_caption.setObjectName("caption")
        self.heat_caption.setWordWrap(True)
        heat_page = QWidget()
        hl = QVBoxLayout(heat_page)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.addWidget(self.heat_widget, 1)
        hl.addWidget(self.heat_caption)
        self.tabs.addTab(heat_page, "Gradient heatmap")

        # eigenvalues
        self.eig_chart = make_plot(t, "", "real part", "imaginary part", legend_columns=2)
        item = self.eig_chart.getPlotItem()
        item.setAspectLocked(True)
        angle = np.linspace(0.0, 2.0 * np.pi, 361)
        self.unit_circle = pg.PlotDataItem(np.cos(angle), np.sin(angle))
        item.addItem(self.unit_circle)
        self.eig_initial = [pg.ScatterPlotItem(symbol="o") for _ in range(MAX_MODELS)]
        self.eig_current = [pg.ScatterPlotItem(symbol="o") for _ in range(MAX_MODELS)]
        for s in self.eig_initial + self.eig_current:
            item.addItem(s)
        self.eig_caption = QLabel()
        self.eig_caption.setObjectName("caption")
        self.eig_caption.setWordWrap(True)
        eig_page = QWidget()
        el = QVBoxLayout(eig_page)
        el.setContentsMargins(0, 0, 0, 0)
        el.addWidget(self.eig_chart, 1)
        el.addWidget(self.eig_caption)
        self.tabs.addTab(eig_page, "Eigenvalues")

        # gradient norm before/after clipping
        self.grad_chart = make_plot(t, "", "training step", "‖gradient‖ (log)", log_y=True,
                                    legend_columns=2)
        self.grad_before = [_live_curve() for _ in range(MAX_MODELS)]
        self.grad_after = [_live_curve() for _ in range(MAX_MODELS)]
        for c in self.grad_before + self.grad_after:
            self.grad_chart.getPlotItem().addItem(c)
        self.grad_chart.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.clip_line = threshold_line(t, t.explode, "clipping threshold")
        self.grad_chart.getPlotItem().addItem(self.clip_line, ignoreBounds=True)
        self.tabs.addTab(self.grad_chart, "Grad norm")

        # delay sweep
        sweep_page = QWidget()
        sl = QVBoxLayout(sweep_page)
        sl.setContentsMargins(0, 0, 0, 0)
        srow = QHBoxLayout()
        self.sweep_delays = QLineEdit("5, 10, 20, 30, 40")
        self.sweep_delays.setToolTip("Delays to train at, separated by commas")
        self.sweep_steps = QSpinBox()
        self.sweep_steps.setRange(10, 5000)
        self.sweep_steps.setSingleStep(50)
        self.sweep_steps.setValue(600)
        self.sweep_steps.setToolTip("Optimiser steps per run (a run stops early at 99 % held-out accuracy)")
        self.sweep_cells = {c: QCheckBox(CELL_LABELS[c].replace("vanilla ", "")) for c in CELLS}
        for c, box in self.sweep_cells.items():
            box.setChecked(c != "gru")
            box.setToolTip(f"Include the {CELL_LABELS[c]} in the sweep")
        self.sweep_button = QPushButton("Run sweep")
        self.sweep_button.setToolTip("Train each ticked cell at each delay and plot the final held-out accuracy. "
                                     "Other settings come from the controls (the LSTM's forget bias from its model slot).")
        srow.addWidget(QLabel("Delays"))
        srow.addWidget(self.sweep_delays, 2)
        srow.addWidget(QLabel("Steps"))
        srow.addWidget(self.sweep_steps)
        sl.addLayout(srow)
        srow2 = QHBoxLayout()
        for box in self.sweep_cells.values():
            srow2.addWidget(box)
        srow2.addStretch(1)
        srow2.addWidget(self.sweep_button)
        sl.addLayout(srow2)
        self.sweep_chart = make_plot(t, "", "delay (blank steps)", "final accuracy %", legend_columns=3)
        self.sweep_curves = {c: pg.PlotDataItem(symbol="o") for c in CELLS}
        for c in self.sweep_curves.values():
            self.sweep_chart.getPlotItem().addItem(c)
        self.sweep_chance = threshold_line(t, t.bound, "chance")
        self.sweep_chart.getPlotItem().addItem(self.sweep_chance, ignoreBounds=True)
        sl.addWidget(self.sweep_chart, 1)
        self.sweep_status = QLabel("Not run yet.")
        self.sweep_status.setObjectName("caption")
        self.sweep_status.setWordWrap(True)
        sl.addWidget(self.sweep_status)
        self.tabs.addTab(sweep_page, "Delay sweep")
        self.sweep_button.clicked.connect(self._toggle_sweep)
        self.tabs.currentChanged.connect(lambda _i: self._mark_dirty())

        self.apply_theme(t)

    def apply_theme(self, theme) -> None:
        t = theme
        for chart in (self.acc_chart, self.loss_chart, self.eig_chart, self.grad_chart, self.sweep_chart):
            style_plot(chart, t)
        self.heat_widget.setBackground(t.background)
        for plot in self.heat_plots:
            style_plot(plot, t)
            plot.showGrid(x=False, y=False)  # grid lines would read as data on an image
        self.color_bar.setColorMap(colormap(t))
        for axis in (self.color_bar.axis,):
            axis.setPen(pg.mkPen(t.foreground))
            axis.setTextPen(t.foreground)
            font = axis.style.get("tickFont") or QFont()
            font.setPointSize(t.font_pt)
            axis.setStyle(tickFont=font)
            axis.setLabel("‖dL/dh_t‖ (log colour scale)", color=t.foreground, **{"font-size": f"{t.font_pt}pt"})
        for i in range(MAX_MODELS):
            colour, style = t.series[i], LINE_STYLES[i]
            self.acc_curves[i].setPen(curve_pen(colour, t, style))
            self.acc_curves[i].setSymbolBrush(colour)
            self.acc_curves[i].setSymbolPen(colour)
            # Curves with a point per training step are drawn solid: Qt strokes a dashed path of
            # a thousand noisy segments about ten times slower, which made the lab drop to 3 fps.
            # Models differ by colour (Okabe-Ito) and the legend; before/after clipping by weight.
            self.loss_curves[i].setPen(curve_pen(colour, t, Qt.PenStyle.SolidLine, 0.7))
            self.grad_before[i].setPen(pg.mkPen(_blend(colour, t.background, 0.45),
                                                width=max(1.0, t.line_width * 0.5)))
            self.grad_after[i].setPen(curve_pen(colour, t, Qt.PenStyle.SolidLine, 0.9))
            self.eig_initial[i].setPen(pg.mkPen(colour, width=max(1.0, t.line_width * 0.5)))
            self.eig_initial[i].setBrush(pg.mkBrush(None))
            self.eig_current[i].setPen(pg.mkPen(t.foreground, width=1))
            self.eig_current[i].setBrush(pg.mkBrush(colour))
        for i, c in enumerate(CELLS):
            self.sweep_curves[c].setPen(curve_pen(t.series[i], t, LINE_STYLES[i]))
            self.sweep_curves[c].setSymbolBrush(t.series[i])
            self.sweep_curves[c].setSymbolPen(t.foreground)
            self.sweep_curves[c].setSymbolSize(t.marker_size)
        self.unit_circle.setPen(curve_pen(t.bound, t, Qt.PenStyle.DashLine, 0.6))
        for line, colour in ((self.chance_line, t.bound), (self.chance_loss_line, t.bound),
                             (self.sweep_chance, t.bound), (self.clip_line, t.explode)):
            line.setPen(curve_pen(colour, t, Qt.PenStyle.DashLine, 0.75))
            line.label.setColor(colour)
            line.label.fill = pg.mkBrush(t.background)
            font = line.label.textItem.font()
            font.setPointSize(max(8, t.font_pt - 1))
            line.label.setFont(font)
        self._draw_badge()
        self._draw_all()
        self._draw_sweep()

    # -- settings -----------------------------------------------------------------------------------
    def shared_settings(self) -> dict:
        return {
            "task": self.task.value(), "delay": int(self.delay.value()), "symbols": int(self.symbols.value()),
            "categories": int(self.categories.value()), "hidden": int(self.hidden.value()),
            "embedding": int(self.embedding.value()), "optimizer": self.optimizer.value(),
            "lr": float(self.lr.value()), "batch": int(self.batch.value()), "steps": int(self.steps.value()),
            "clip": bool(self.clip.isChecked()), "clip_threshold": float(self.clip_threshold.value()),
            "eval_every": _DEFAULT.eval_every, "seed": int(self.seed.value()),
        }

    def model_settings(self) -> list[dict]:
        return [slot.values() for slot in self.slots if slot.enabled()]

    def train_settings(self) -> list[TrainSettings]:
        """The engine settings of every enabled model, validated (InputError names a bad value)."""
        shared = self.shared_settings()
        return [TrainSettings(**shared, **m).validate() for m in self.model_settings()]

    def settings(self) -> dict:
        return {**self.shared_settings(), "models": self.model_settings(), "preset": self.preset.value(),
                "sweep": self.sweep_settings()}

    def sweep_settings(self) -> dict:
        return {"delays": self._parse_delays(strict=False), "steps": int(self.sweep_steps.value()),
                "cells": [c for c, box in self.sweep_cells.items() if box.isChecked()]}

    def apply_settings(self, settings: dict) -> None:
        if not isinstance(settings, dict):
            raise ValueError("training: settings must be an object")
        unknown = set(settings) - set(SHARED_KEYS) - {"models", "preset", "sweep"}
        if unknown:
            raise ValueError(f"training: unknown setting '{sorted(unknown)[0]}'")
        if "preset" in settings and settings["preset"] not in PRESETS:
            raise ValueError(f"training: unknown preset {settings['preset']!r}")
        shared = {**self.shared_settings(), **{k: settings[k] for k in SHARED_KEYS if k in settings}}
        models = settings.get("models", self.model_settings())
        if not isinstance(models, list) or not 1 <= len(models) <= MAX_MODELS:
            raise ValueError(f"training: 'models' must be a list of 1 to {MAX_MODELS} models")
        full_models = []
        for m in models:
            if not isinstance(m, dict) or set(m) - set(MODEL_KEYS):
                raise ValueError(f"training: each model takes only {', '.join(MODEL_KEYS)}")
            full_models.append({**_RNN, **m})
        try:
            for m in full_models:
                TrainSettings(**shared, **m).validate()
        except (InputError, TypeError) as exc:
            raise ValueError(f"training: {exc}") from None
        limits = {"delay": 200, "symbols": 10, "categories": 16, "hidden": 256, "embedding": 64, "batch": 512,
                  "steps": 5000}
        for key, high in limits.items():
            if shared[key] > high:
                raise ValueError(f"training: the app trains with {key} up to {high}; use `gradsim train` beyond")
        if shared["eval_every"] != _DEFAULT.eval_every:
            raise ValueError(f"training: the app evaluates every {_DEFAULT.eval_every} steps")
        sweep = settings.get("sweep")
        if sweep is not None:
            if not isinstance(sweep, dict) or set(sweep) - {"delays", "steps", "cells"}:
                raise ValueError("training: 'sweep' takes delays, steps and cells")
            delays = sweep.get("delays", [])
            if not isinstance(delays, list) or not all(isinstance(d, int) and 0 <= d <= 200 for d in delays):
                raise ValueError("training: sweep delays must be whole numbers from 0 to 200")
            if any(c not in CELLS for c in sweep.get("cells", [])):
                raise ValueError(f"training: sweep cells must be among {', '.join(CELLS)}")
        self._updating = True
        try:
            self.task.set_value(shared["task"])
            self.delay.setValue(shared["delay"])
            self.symbols.setValue(shared["symbols"])
            self.categories.setValue(shared["categories"])
            self.hidden.setValue(shared["hidden"])
            self.embedding.setValue(shared["embedding"])
            self.optimizer.set_value(shared["optimizer"])
            self.lr.setValue(shared["lr"])
            self.batch.setValue(shared["batch"])
            self.steps.setValue(shared["steps"])
            self.clip.setChecked(bool(shared["clip"]))
            self.clip_threshold.setValue(shared["clip_threshold"])
            self.clip_threshold.setEnabled(bool(shared["clip"]))
            self.seed.setValue(int(shared["seed"]))
            for i, slot in enumerate(self.slots):
                if i < len(full_models):
                    slot.set_values(full_models[i])
                if slot.isCheckable():
                    slot.setChecked(i < len(full_models))
            if sweep is not None:
                if "delays" in sweep:
                    self.sweep_delays.setText(", ".join(str(d) for d in sweep["delays"]))
                if "steps" in sweep:
                    self.sweep_steps.setValue(int(sweep["steps"]))
                if "cells" in sweep:
                    for c, box in self.sweep_cells.items():
                        box.setChecked(c in sweep["cells"])
            self.preset.set_value(settings.get("preset", "custom"))
            self._enable_task_controls()
        finally:
            self._updating = False
        self.reset_run()

    def reset(self) -> None:
        self.stop_sweep()
        self.apply_settings({**_preset_settings("comparison"),
                             "sweep": {"delays": [5, 10, 20, 30, 40], "steps": 600, "cells": ["rnn", "lstm"]}})

    def _on_preset(self, key: str) -> None:
        if self._updating or key == "custom":
            return
        main = self.window()
        if hasattr(main, "_push_undo"):
            main._push_undo(f"preset “{PRESETS[key][0]}”", ["training"])
        try:
            self.apply_settings(_preset_settings(key))
        except ValueError as exc:
            self.context.show_error(str(exc))

    def _on_control(self, *_args) -> None:
        if self._updating:
            return
        if self.preset.value() != "custom":
            self._updating = True
            self.preset.set_value("custom")
            self._updating = False
        had_run = bool(self._traces)
        self.reset_run()
        if had_run:
            self.context.show_status("Settings changed: the run was reset")

    # -- the run ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Draw the untrained models: chance levels and the initial eigenvalues (first picture)."""
        try:
            settings = self.train_settings()
        except InputError as exc:
            self.context.show_error(f"training: {exc}")
            return
        self.request(preview_models, settings, key="preview")

    def on_result(self, result, key: str) -> None:
        if key == "preview" and self._task is None and not self._traces:
            self._preview = result
            self._draw_all()

    def _factory(self, models: list):
        from ...engine.training import train_side_by_side

        return lambda: train_side_by_side(models)

    def _ensure_task(self) -> bool:
        """Create the training task if there is none; False if the settings are refused."""
        if self._task is not None:
            return True
        if self._traces and all(tr.run is not None for tr in self._traces):
            models = [tr.run for tr in self._traces]  # continue a loaded or finished-then-extended run
        else:
            try:
                models = self.train_settings()
            except InputError as exc:
                self.context.show_error(f"training: {exc}")
                return False
            self._traces = [ModelTrace(s) for s in models]
        if all(getattr(m, "finished", False) for m in models):
            self.context.show_status("This run has finished; Reset to train again")
            return False
        self._reported_stop.clear()
        task = GeneratorTask(self._factory(models))
        task.snapshot.connect(self._on_snapshot)
        task.ended.connect(self._on_ended)
        self._task = task
        return True

    def play_pause(self) -> None:
        if self._task is not None and self._task.running and not self._task.paused:
            self._task.pause()
            self._set_state("paused")
            return
        if self._task is not None and self._task.running:
            self._task.resume()
            self._set_state("training")
            self._timer.start()
            return
        if not self._ensure_task():
            return
        self._task.start()
        self._set_state("training")
        self._timer.start()

    def step(self, direction: int) -> None:
        if direction <= 0:
            return
        if self._task is None or not self._task.running:
            if not self._ensure_task():
                return
            self._task.start(paused=True)
        self._task.step(1)
        self._set_state("paused")
        self._timer.start()

    def rewind(self) -> None:
        self.reset_run()

    def reset_run(self) -> None:
        """Stop training and forget the run; the next Start begins again from the seed."""
        self._stop_task()
        self._traces = []
        self._preview = None
        self._set_state("ready")
        self._clear_views()
        self.refresh()

    def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.snapshot.disconnect(self._on_snapshot)
            task.ended.disconnect(self._on_ended)
            task.stop()
            self._retire(task)
        self._timer.stop()

    def _retire(self, task: GeneratorTask) -> None:
        """Keep a finished or stopping task referenced until its thread has returned: deleting a
        QObject whose thread may still be inside ``emit`` is a crash waiting to happen."""
        self._retired = [t for t in self._retired if t.running] + [task]

    def _on_snapshot(self, snaps) -> None:
        if self.sender() is not self._task:
            return
        for trace, snap in zip(self._traces, snaps, strict=True):
            if snap is not None:
                trace.add(snap)
                failed = snap.stop_reason is not None and snap.stop_reason.startswith("training stopped")
                if failed and id(trace) not in self._reported_stop:
                    self._reported_stop.add(id(trace))
                    self.context.show_error(f"{trace.label}: {snap.stop_reason}")
        self._dirty = True

    def _on_ended(self, outcome: str) -> None:
        """The task ran out of steps, stopped on a non-finite loss, or raised (our own stops are
        disconnected first and never arrive here)."""
        if self.sender() is not self._task:
            return
        task, self._task = self._task, None
        self._retire(task)
        self._timer.stop()
        self._dirty = True
        self._on_frame()
        failed = any(tr.last is not None and tr.last.stop_reason
                     and tr.last.stop_reason.startswith("training stopped") for tr in self._traces)
        if outcome not in ("finished", "stopped"):
            failed = True
            self.context.show_error(f"training: {outcome}")
        self._set_state("stopped" if failed else "finished")

    def _on_frame(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._draw_all()
        self.frames_drawn += 1
        self._drawn_once = True
        self.drawn.emit()

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._on_frame()

    def _set_state(self, state: str) -> None:
        self._state = state
        self.start_button.setText("❚❚ Pause" if state == "training" else "▶ Start")
        self._draw_badge()

    def _draw_badge(self) -> None:
        t = self.theme
        colours = {"ready": t.muted, "training": t.healthy, "paused": t.highlight, "finished": t.series[0],
                   "stopped": t.explode}
        self.badge.setText(self._state.upper())
        text_colour = "#ffffff" if t.projector or self._state in ("stopped",) else "#000000"
        self.badge.setStyleSheet(f"background: {colours[self._state]}; color: {text_colour};")

    @property
    def state(self) -> str:
        return self._state

    @property
    def traces(self) -> list[ModelTrace]:
        return self._traces

    # -- drawing --------------------------------------------------------------------------------------
    def _clear_views(self) -> None:
        empty = np.array([], dtype=np.float64)
        for c in self.acc_curves + self.loss_curves + self.grad_before + self.grad_after:
            _set_curve(c, empty, empty, None)
        for s in self.eig_initial + self.eig_current:
            _set_scatter(s, None, 0.0)
        for image in self.heat_images:
            image.clear()
            image._gs_key = None
        self._draw_all()

    # Each redraw below hands a chart only what changed since the last one. A chart that is given
    # nothing new is not repainted at all (between two evaluations the accuracy chart stays as it
    # is), and a range, a threshold line, a title or a caption set to what it already shows would
    # still regenerate axis ticks, relayout or repaint: measured, those were most of a frame.

    def _draw_all(self) -> None:
        if not hasattr(self, "tabs"):
            return
        traces = self._traces
        settings = [tr.settings for tr in traces]
        preview = getattr(self, "_preview", None)
        if not settings and preview is not None:
            settings = preview["settings"]
        self._draw_status(settings)
        if not settings:
            return
        page = self.tabs.currentIndex()
        # chance levels come from the engine's task definitions
        chance = settings[0].chance
        _set_line(self.chance_line, 100.0 * chance, f"chance {100 * chance:.1f} %")
        _set_line(self.chance_loss_line, math.log10(settings[0].chance_loss),
                  f"chance loss {settings[0].chance_loss:.3g}")
        if page == 0:
            self._draw_curves(settings)
            charts = (self.acc_chart, self.loss_chart)
        elif page == 1:
            self._draw_heatmaps(settings)
            charts = tuple(self.heat_plots)
        elif page == 2:
            self._draw_eigenvalues(settings, preview)
            charts = (self.eig_chart,)
        elif page == 3:
            self._draw_grad(settings)
            charts = (self.grad_chart,)
        else:
            charts = ()  # the delay sweep draws itself when a sweep point arrives
        for chart in charts:
            settle_view(chart)  # one paint per frame, not two

    def _draw_status(self, settings: list[TrainSettings]) -> None:
        t = self.theme
        for i, label in enumerate(self.status_labels):
            if i >= len(settings):
                label.hide()
                continue
            label.show()
            s = settings[i]
            head = (f"<b style='color:{t.series[i]}'>{SLOT_NAMES[i]} {_line_glyph(i)} {s.label()}</b>")
            tr = self._traces[i] if i < len(self._traces) else None
            if tr is None or tr.last is None:
                _set_label(label, f"{head} &nbsp;<span style='color:{t.muted}'>not trained yet · chance "
                                  f"{100 * s.chance:.1f} %</span>")
                continue
            snap = tr.last
            acc = f"{100 * tr.accuracy[-1]:.1f} %" if tr.accuracy else "–"
            text = f"{head} &nbsp;step {snap.step}/{snap.steps_total} · held-out <b>{acc}</b>"
            tips = [f"chance {100 * snap.chance:.1f} %"]
            if snap.stop_reason:
                failed = snap.stop_reason.startswith("training stopped")
                colour = t.explode if failed else t.healthy
                short = snap.stop_reason.split(";")[0] if failed else snap.stop_reason
                text += f"<br><span style='color:{colour}'>{_html(short)}</span>"
                tips.append(snap.stop_reason)
            elif snap.verdict.kind != "healthy" or snap.alerts:
                kind = snap.verdict.kind
                colour = t.vanish if kind == "vanishing" else t.explode
                if kind != "healthy":
                    text += (f" · <span style='color:{colour}'><b>{kind}</b> for t ≤ {snap.verdict.first_t}"
                             "</span>")
                if any(a.startswith("exploding update") for a in snap.alerts):
                    text += f" · <span style='color:{t.explode}'><b>update clipped</b></span>"
                tips.extend(snap.alerts)
            _set_label(label, text, "\n".join(tips))

    def _draw_curves(self, settings: list[TrainSettings]) -> None:
        acc_entries = []
        top = 0
        empty = np.array([], dtype=np.float64)
        for i in range(MAX_MODELS):
            tr = self._traces[i] if i < len(self._traces) else None
            if tr is None:
                _set_curve(self.acc_curves[i], empty, empty, None)
                _set_curve(self.loss_curves[i], empty, empty, None)
                continue
            _set_curve(self.acc_curves[i], tr.eval_x.array(), tr.accuracy_pct.array(), (tr.serial, tr.eval_x.count))
            _set_curve(self.loss_curves[i], tr.step_x.array(), tr.log_loss.array(), (tr.serial, tr.step_x.count))
            label = f"{SLOT_NAMES[i]} {tr.label}"
            acc_entries.append((self.acc_curves[i], label))
            top = max(top, tr.settings.steps)
        if not self._traces:
            top = settings[0].steps
        _set_legend(self.acc_chart, acc_entries, self.theme)
        _set_range(self.acc_chart.getPlotItem(), x=(0, top), y=(0, 100), x_padding=0.02, y_padding=0.02)
        high = math.log10(settings[0].chance_loss) + 0.3
        low = high - 1.3
        lows = [tr.log_loss_min for tr in self._traces if math.isfinite(tr.log_loss_min)]
        if lows:
            # a tenth of a decade at a time: a falling loss moves the floor a few times, not every frame
            low = min(low, math.floor(10.0 * (min(lows) - 0.2)) / 10.0)
        _set_range(self.loss_chart.getPlotItem(), x=(0, top), y=(low, high), x_padding=0.02, y_padding=0.0)

    def _heat_levels(self) -> tuple[float, float]:
        """Colour levels from the finite extremes of every heatmap (kept by the traces as rows arrive)."""
        shown = [tr for tr in self._traces if tr.heat.count and math.isfinite(tr.heat_min)]
        if not shown:
            return -8.0, 0.0
        hi = math.ceil(max(tr.heat_max for tr in shown))
        lo = max(math.floor(min(tr.heat_min for tr in shown)), hi - 24)
        return float(lo), float(max(hi, lo + 1))

    def _layout_heat(self, rows: int) -> None:
        """One heatmap row per model and the shared colour bar beside them (hidden rows take no space)."""
        if rows == self._heat_rows:
            return
        self._heat_rows = rows
        ci = self.heat_widget.ci
        for item in [*self.heat_plots, self.color_bar]:
            if item.scene() is not None:
                ci.removeItem(item)
        for i in range(rows):
            ci.addItem(self.heat_plots[i], row=i, col=0)
        ci.addItem(self.color_bar, row=0, col=1, rowspan=rows)

    def _draw_heatmaps(self, settings: list[TrainSettings]) -> None:
        lo, hi = self._heat_levels()
        if tuple(self.color_bar.levels()) != (lo, hi):
            self.color_bar.setLevels((lo, hi))
        self._layout_heat(len(settings))
        below_any = False
        for i, (plot, image) in enumerate(zip(self.heat_plots, self.heat_images, strict=True)):
            if i >= len(settings):
                continue
            s = settings[i]
            title = (f"{SLOT_NAMES[i]} {s.label()}", self.theme.foreground, self.theme.font_pt)
            if getattr(plot, "_gs_title", None) != title:
                plot._gs_title = title
                plot.setTitle(title[0], color=title[1], size=f"{title[2]}pt")
            tr = self._traces[i] if i < len(self._traces) else None
            if tr is None or tr.heat.count == 0:
                if getattr(image, "_gs_key", None) is not None:
                    image.clear()
                    image._gs_key = None
                _set_range(plot, x=(0, s.steps), y=(0.5, s.length + 0.5))
                continue
            # drawn in the darkest colour: values below the scale's floor, exact zeros (-inf), NaN
            below_any = below_any or tr.heat_min < lo or tr.heat_nonfinite
            key = (tr.serial, tr.heat.count, lo, hi)
            if getattr(image, "_gs_key", None) == key:
                continue
            image._gs_key = key
            data = tr.heat.array()
            shown = np.where(np.isfinite(data), data, lo)
            image.setImage(shown, autoLevels=False, levels=(lo, hi))
            image.setRect(QRectF(0.5, 0.5, float(len(data)), float(s.length)))
            _set_range(plot, x=(0.5, max(len(data), 10) + 0.5), y=(0.5, s.length + 0.5))
        note = ("Each column is one training step, each row a time step t (t = 1 at the bottom, the loss "
                "enters at the top). Dark means the learning signal does not reach that step.")
        if below_any:
            note += f" Values below {power_label(lo)} and exact zeros are drawn in the darkest colour."
        _set_label(self.heat_caption, note)

    def _draw_eigenvalues(self, settings: list[TrainSettings], preview) -> None:
        entries = [(self.unit_circle, "unit circle |λ| = 1")]
        radius = 1.2
        any_rnn = False
        size = self.theme.marker_size * 0.8
        for i in range(MAX_MODELS):
            init_eigs = cur = None
            if i < len(settings) and settings[i].cell == "rnn":
                tr = self._traces[i] if i < len(self._traces) else None
                if tr is not None and tr.eigenvalues is not None:
                    init_eigs, cur = tr.initial_eigenvalues, tr.eigenvalues
                elif preview is not None and i < len(preview["eigenvalues"]):
                    init_eigs = preview["eigenvalues"][i]
            for scatter, eigs in ((self.eig_initial[i], init_eigs), (self.eig_current[i], cur)):
                if eigs is None or not np.isfinite(eigs).all():
                    _set_scatter(scatter, None, size)
                else:
                    _set_scatter(scatter, eigs, size)
                    # in steps of 0.1: eigenvalues moving a little each step do not rescale the axes each frame
                    radius = max(radius, math.ceil(11.0 * float(np.abs(eigs).max())) / 10.0)
            if init_eigs is not None:
                any_rnn = True
                entries.append((self.eig_initial[i], f"{SLOT_NAMES[i]} before training"))
            if cur is not None:
                entries.append((self.eig_current[i], f"{SLOT_NAMES[i]} now"))
        _set_legend(self.eig_chart, entries, self.theme)
        _set_range(self.eig_chart.getPlotItem(), x=(-radius, radius), y=(-radius, radius),
                   x_padding=0.02, y_padding=0.02)
        if any_rnn:
            _set_label(self.eig_caption, "Eigenvalues of the vanilla RNN's W_hh. Inside the unit circle the "
                                         "gradient shrinks at every step back in time (tanh shrinks it further).")
        else:
            _set_label(self.eig_caption, "No vanilla RNN in this comparison: LSTM and GRU have one W_hh block per "
                                         "gate, and their gradient travels through the gates instead.")

    def _draw_grad(self, settings: list[TrainSettings]) -> None:
        entries = []
        top = 0
        empty = np.array([], dtype=np.float64)
        for i in range(MAX_MODELS):
            tr = self._traces[i] if i < len(self._traces) else None
            if tr is None:
                _set_curve(self.grad_before[i], empty, empty, None)
                _set_curve(self.grad_after[i], empty, empty, None)
                continue
            key = (tr.serial, tr.step_x.count)
            _set_curve(self.grad_before[i], tr.step_x.array(), tr.log_grad_before.array(), key)
            _set_curve(self.grad_after[i], tr.step_x.array(), tr.log_grad_after.array(), key)
            entries.append((self.grad_before[i], f"{SLOT_NAMES[i]} before clipping"))
            if tr.settings.clip:
                entries.append((self.grad_after[i], f"{SLOT_NAMES[i]} after"))
            top = max(top, tr.settings.steps)
        clip = settings[0].clip
        self.clip_line.setVisible(clip)
        if clip:
            _set_line(self.clip_line, math.log10(settings[0].clip_threshold),
                      f"clipping threshold {settings[0].clip_threshold:g}")
        for i in range(MAX_MODELS):
            self.grad_after[i].setVisible(clip)
        _set_legend(self.grad_chart, entries, self.theme)
        _set_range(self.grad_chart.getPlotItem(), x=(0, top or settings[0].steps), x_padding=0.02)

    # -- delay sweep ---------------------------------------------------------------------------------
    def _parse_delays(self, strict: bool = True) -> list[int]:
        out = []
        for part in self.sweep_delays.text().replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                value = int(part)
            except ValueError:
                if strict:
                    raise ValueError(f"delay sweep: {part!r} is not a whole number") from None
                continue
            if not 0 <= value <= 200:
                if strict:
                    raise ValueError(f"delay sweep: delay {value} is outside 0..200")
                continue
            out.append(value)
        return sorted(set(out))

    def sweep_base(self) -> TrainSettings:
        """Shared settings, the first vanilla slot's RNN settings and the first LSTM slot's forget bias."""
        shared = self.shared_settings()
        values = dict(_RNN)
        rnn = next((s.values() for s in self.slots if s.enabled() and s.cell.value() == "rnn"), None)
        lstm = next((s.values() for s in self.slots if s.enabled() and s.cell.value() == "lstm"), None)
        if rnn is not None:
            values.update({k: rnn[k] for k in ("activation", "init", "scale")})
        if lstm is not None:
            values["forget_bias"] = lstm["forget_bias"]
        shared["steps"] = int(self.sweep_steps.value())
        return TrainSettings(**shared, **values).validate()

    def _toggle_sweep(self) -> None:
        if self._sweep_task is not None:
            self.stop_sweep()
            self.sweep_status.setText("Sweep stopped.")
            return
        self.start_sweep()

    def start_sweep(self) -> None:
        from ...engine.training import delay_sweep

        try:
            delays = self._parse_delays()
            if not delays:
                raise ValueError("delay sweep: give at least one delay")
            cells = [c for c, box in self.sweep_cells.items() if box.isChecked()]
            if not cells:
                raise ValueError("delay sweep: tick at least one cell")
            base = self.sweep_base()
        except (ValueError, InputError) as exc:
            self.context.show_error(str(exc))
            return
        self._sweep_points = []
        self._sweep_progress = None
        self._sweep_base = base
        task = GeneratorTask(lambda: delay_sweep(base, delays, cells))
        task.snapshot.connect(self._on_sweep_progress)
        task.ended.connect(self._on_sweep_ended)
        self._sweep_task = task
        self.sweep_button.setText("Stop sweep")
        self.sweep_status.setText(f"Training {len(delays) * len(cells)} runs…")
        task.start()
        self._draw_sweep()

    def stop_sweep(self) -> None:
        task, self._sweep_task = self._sweep_task, None
        if task is not None:
            task.snapshot.disconnect(self._on_sweep_progress)
            task.ended.disconnect(self._on_sweep_ended)
            task.stop()
            self._retire(task)
        self.sweep_button.setText("Run sweep")

    def _on_sweep_progress(self, progress) -> None:
        if self.sender() is not self._sweep_task:
            return
        self._sweep_progress = progress
        new = len(progress.points) != len(self._sweep_points)
        self._sweep_points = list(progress.points)
        done = len(progress.points)
        self.sweep_status.setText(
            f"Run {min(done + 1, progress.total_runs)} of {progress.total_runs}: {CELL_LABELS[progress.cell]} "
            f"at delay {progress.delay}, step {progress.step}/{progress.steps}")
        if new:
            self._draw_sweep()

    def _on_sweep_ended(self, outcome: str) -> None:
        if self.sender() is not self._sweep_task:
            return
        self._retire(self._sweep_task)
        self._sweep_task = None
        self.sweep_button.setText("Run sweep")
        if outcome == "finished":
            self.sweep_status.setText(f"Done: {len(self._sweep_points)} runs. Each point is the held-out accuracy "
                                      "at the end of its run (or when it reached 99 %).")
        else:
            self.sweep_status.setText(f"Sweep ended: {outcome}")
            if outcome != "stopped":
                self.context.show_error(f"delay sweep: {outcome}")
        self._draw_sweep()
        self.drawn.emit()

    @property
    def sweep_points(self) -> list:
        return self._sweep_points

    def _draw_sweep(self) -> None:
        if not hasattr(self, "sweep_curves"):
            return
        entries = []
        for c, curve in self.sweep_curves.items():
            pts = [p for p in self._sweep_points if p.cell == c]
            x = np.array([p.delay for p in pts], dtype=np.float64)
            y = np.array([100.0 * p.accuracy for p in pts], dtype=np.float64)
            curve.setData(x, y)
            if pts:
                entries.append((curve, CELL_LABELS[c]))
        _set_legend(self.sweep_chart, entries, self.theme)
        chance = self._sweep_points[0].chance if self._sweep_points else self.train_settings_chance()
        self.sweep_chance.setValue(100.0 * chance)
        self.sweep_chance.label.setFormat(f"chance {100 * chance:.1f} %")
        delays = [p.delay for p in self._sweep_points] or self._parse_delays(strict=False) or [0, 40]
        self.sweep_chart.getPlotItem().setRange(xRange=(min(delays) - 1, max(delays) + 1), yRange=(0, 100),
                                                padding=0.04)

    def train_settings_chance(self) -> float:
        task = self.task.value() if hasattr(self, "task") else "copy"
        if task == "copy":
            return tasks.copy_chance(int(self.categories.value()))
        return tasks.adding_chance()

    # -- files --------------------------------------------------------------------------------------
    def runs(self) -> list:
        return [tr.run for tr in self._traces if tr.run is not None]

    def save_run_to(self, path: str | Path) -> bool:
        from ...engine.training import save_run

        runs = self.runs()
        if not runs:
            self.context.show_error("training: nothing to save yet; train at least one step")
            return False
        try:
            save_run(path, runs)
        except InputError as exc:
            self.context.show_error(str(exc))
            return False
        self.context.show_status(f"Saved {len(runs)} model(s) to {path}")
        return True

    def load_run_from(self, path: str | Path) -> bool:
        from ...engine.training import load_runs

        try:
            runs = load_runs(path)
        except InputError as exc:
            self.context.show_error(str(exc))
            return False
        if len(runs) > MAX_MODELS:
            self.context.show_error(f"{path}: the app shows up to {MAX_MODELS} models")
            return False
        first = runs[0].settings
        shared = {k: getattr(first, k) for k in SHARED_KEYS}
        models = [{k: getattr(r.settings, k) for k in MODEL_KEYS} for r in runs]
        try:
            self.apply_settings({**shared, "models": models, "preset": "custom"})
        except ValueError as exc:
            self.context.show_error(f"{path}: {exc}")
            return False
        # the models of one file may differ in shared settings only if saved by hand; show each as it is
        self._traces = [ModelTrace.from_run(r) for r in runs]
        finished = all(r.finished for r in runs)
        self._set_state("finished" if finished else "paused")
        self._preview = None
        self._mark_dirty()
        self._on_frame()
        self.context.show_status(f"Loaded {len(runs)} model(s) from {path}"
                                 + ("" if finished else "; Start continues the run"))
        return True

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save run", "run.gradsim-run.pt", RUN_FILTER)
        if path:
            self.save_run_to(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load run", "", RUN_FILTER)
        if path:
            self.load_run_from(path)

    def _csv_dialog(self) -> None:
        columns = self.export_columns()
        if columns is None:
            self.context.show_error("training: no curves yet")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "training-curves.csv", "CSV table (*.csv)")
        if path:
            try:
                write_csv(path, columns)
            except OSError as exc:
                self.context.show_error(f"{path}: cannot write ({exc.strerror or exc})")

    # -- export, lifecycle -----------------------------------------------------------------------------
    def export_plot(self):
        page = self.tabs.currentIndex()
        return {0: self.acc_chart, 1: self.heat_widget, 2: self.eig_chart, 3: self.grad_chart,
                4: self.sweep_chart}.get(page)

    def export_columns(self) -> dict | None:
        """One row per training step; per model its loss, gradient norms and (at evaluations) accuracy."""
        if self.tabs.currentIndex() == 4 and self._sweep_points:
            return {"cell": [p.cell for p in self._sweep_points], "delay": [p.delay for p in self._sweep_points],
                    "accuracy": [p.accuracy for p in self._sweep_points],
                    "chance": [p.chance for p in self._sweep_points], "steps": [p.steps for p in self._sweep_points]}
        if not self._traces or not any(tr.step for tr in self._traces):
            return None
        steps = max((tr.step[-1] for tr in self._traces if tr.step), default=0)
        columns: dict[str, list] = {"step": list(range(1, steps + 1))}
        for i, tr in enumerate(self._traces):
            name = SLOT_NAMES[i]
            evals = dict(zip(tr.eval_step, tr.accuracy, strict=True))
            index = {s: k for k, s in enumerate(tr.step)}
            columns[f"{name}_loss"] = [tr.loss[index[s]] if s in index else None for s in columns["step"]]
            columns[f"{name}_heldout_accuracy"] = [evals.get(s) for s in columns["step"]]
            columns[f"{name}_grad_norm_before_clip"] = [tr.grad_before[index[s]] if s in index else None
                                                        for s in columns["step"]]
            columns[f"{name}_grad_norm_after_clip"] = [tr.grad_after[index[s]] if s in index else None
                                                       for s in columns["step"]]
        return columns

    def activate(self) -> None:
        if not self._traces and getattr(self, "_preview", None) is None:
            self.refresh()

    def deactivate(self) -> None:
        if self._task is not None and self._task.running and not self._task.paused:
            self._task.pause()
            self._set_state("paused")

    def shutdown(self) -> None:
        self.stop_sweep()
        self._stop_task()


def preview_models(settings: list[TrainSettings]) -> dict:
    """Worker thread: build the untrained models, for the first picture (initial eigenvalues)."""
    from ...engine.training import TrainRun

    return {"settings": list(settings), "eigenvalues": [TrainRun(s).recurrent_eigenvalues() for s in settings]}


def _whole_decade_ticks(low: float, high: float, size: float) -> list:
    """Colour-bar ticks at whole powers of ten only, a few of them whatever the range."""
    span = high - low
    if not math.isfinite(span) or span <= 0:
        return [(1.0, [])]
    step = next((c for c in (1, 2, 3, 4, 5, 10, 20, 50, 100) if span / c <= max(2.0, size / 60)), 100)
    first = math.ceil(low / step) * step
    return [(float(step), [float(v) for v in np.arange(first, high + 1e-9, step)])]


def _line_glyph(index: int) -> str:
    return ("━━", "╍╍", "┅┅")[index]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


