"""Scene ``training``: the training lab. A vanilla RNN and an LSTM (or any mix of up to three models:
the recurrent cells and a small causal Transformer) train side by side on copy-memory or the adding
problem, and the views show, live, why one learns and the other does not: held-out accuracy against
chance, the ``‖dL/dhₜ‖`` heatmap (which time steps the learning signal still reaches; ``‖dL/deₜ‖``
at the Transformer's input, which has no ``hₜ``), the eigenvalues of ``W_hh``, the gradient norm
before and after clipping, and a sweep of the final accuracy over the delay. Each model's status
line gives its time per training step, measured on its own run.

Data flow: a control -> a new :class:`~gradsim.states.training.TrainingState` (validated there, one
undo step) -> ``refresh``: a change of what is trained resets the run and asks the worker for the
untrained models' picture; Start hands ``state.train_settings()`` to the
:class:`~gradsim.ui.lab.session.TrainingSession`, whose task yields one snapshot per step; its
frame timer asks this scene to draw the view on show. The parts live in :mod:`gradsim.ui.lab`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...engine.errors import InputError
from ...engine.training import CELLS, OPTIMIZERS, TrainSettings
from ...states.training import (
    _SHARED,
    MAX_MODELS,
    MODEL_KEYS,
    SLOT_NAMES,
    SPARE_MODELS,
    VIEWS,
    TrainingState,
    preview_models,
)
from ..controls import Choice, SliderSpin
from ..lab.files import ask_csv_path, ask_open_path, ask_save_path, curve_columns, sweep_columns
from ..lab.models_panel import CELL_NAMES, ModelPanel
from ..lab.replay import REPLAY_SECONDS, Replay, replay_key
from ..lab.session import FRAME_MS, TrainingSession  # noqa: F401 - FRAME_MS: the benchmark reads it here
from ..lab.sweep import SweepRunner
from ..lab.traces import ModelTrace
from ..lab.views import CurvesView, EigenView, GradNormView, HeatmapView, LabFrame, StatusLines, SweepView
from ..plots import write_csv
from .base import Scene

_ENGINE = TrainSettings()
# the Start button's text in each of the session's run states
START_TEXTS = {"ready": "▶ Start", "training": "❚❚ Pause", "paused": "▶ Resume", "finished": "Finished",
               "stopped": "Stopped"}


class TrainingScene(Scene):
    scene_id = "training"
    title = "Training lab"
    summary = "Models side by side on one task: where the gradient does not reach, nothing is learned."
    State = TrainingState

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self.session = TrainingSession(self)
        self.sweep = SweepRunner(self)
        self._run_key = None  # what the run on show was trained from (state.training_key())
        self._preview: dict | None = None
        self._replay: Replay | None = None  # the run on show, played back (recording an animation)
        self._replay_step: int | None = None  # the training step a replay shows; None: the whole run
        self.frames_drawn = 0  # redraws asked for by the frame timer (the GUI benchmark counts them)
        self.make_preset_box(layout, "Ready-made comparisons; what each title says held on every seed tried")

        files = QGroupBox("Run files")
        row = QHBoxLayout(files)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the settings, weights (PyTorch state dicts) and curves of every model")
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Open a saved run: its curves are shown and Start trains it further. "
                                    "Files are read as plain weights only; code inside is refused.")
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Export the curves (loss, held-out accuracy, gradient norms) as CSV")
        for b in (self.save_button, self.load_button, self.csv_button):
            row.addWidget(b)
        layout.addWidget(files)

        task_box = QGroupBox("Task")
        tf = QFormLayout(task_box)
        tf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.task = Choice([("copy", "Copy-memory"), ("adding", "Adding")], _ENGINE.task,
                           tooltip="Copy-memory: remember symbols across a delay. Adding: sum two marked numbers.")
        self.delay = SliderSpin(0, 200, 1, _ENGINE.delay, integer=True,
                                tooltip="Copy: blank steps between the symbols and the recall marker. "
                                        "Adding: the sequence length.")
        self.symbols = SliderSpin(1, 10, 1, _ENGINE.symbols, integer=True, tooltip="Copy: symbols to remember (L)")
        self.categories = SliderSpin(2, 16, 1, _ENGINE.categories, integer=True,
                                     tooltip="Copy: categories per symbol (K); chance accuracy is 1/K")
        tf.addRow("Task", self.task)
        tf.addRow("Delay", self.delay)
        tf.addRow("Symbols L", self.symbols)
        tf.addRow("Categories K", self.categories)
        layout.addWidget(task_box)

        self.panels = [ModelPanel(i) for i in range(MAX_MODELS)]
        for i, panel in enumerate(self.panels):
            panel.changed.connect(lambda name, value, i=i: self._change_model(i, name, value))
            panel.included.connect(lambda on, i=i: self._include_model(i, on))
            layout.addWidget(panel)

        train_box = QGroupBox("Training")
        f = QFormLayout(train_box)
        f.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.hidden = SliderSpin(2, 256, 1, _ENGINE.hidden, integer=True, tooltip="Hidden units of every model")
        self.embedding = SliderSpin(1, 64, 1, _ENGINE.embedding, integer=True,
                                    tooltip="Copy: size of the learned embedding of the input tokens")
        self.optimizer = Choice([(o, {"adam": "Adam", "sgd": "SGD"}[o]) for o in OPTIMIZERS], _ENGINE.optimizer,
                                tooltip="Optimiser of every model")
        self.lr = SliderSpin(0.0001, 0.05, 0.0001, _ENGINE.lr, decimals=4, tooltip="Learning rate")
        self.batch = SliderSpin(1, 512, 1, _ENGINE.batch, integer=True, tooltip="Sequences per training step")
        self.steps = SliderSpin(10, 5000, 10, _ENGINE.steps, integer=True, tooltip="Optimiser steps per run")
        self.clip = QCheckBox("Clip the gradient norm")
        self.clip.setToolTip("Rescale the whole gradient to the threshold when its norm is larger")
        self.clip_threshold = SliderSpin(0.1, 20.0, 0.1, _ENGINE.clip_threshold, decimals=1,
                                         tooltip="Clipping threshold for the gradient norm")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Seed of weights, training data and the held-out set: same seed, same run "
                             "(a preset's claim held on every seed tried)")
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

        sweep_box = QGroupBox("Delay sweep")
        sf = QFormLayout(sweep_box)
        sf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.sweep_delays = QLineEdit()
        self.sweep_delays.setToolTip("Delays to train at, separated by commas (0 to 200)")
        self.sweep_steps = QSpinBox()
        self.sweep_steps.setRange(10, 5000)
        self.sweep_steps.setSingleStep(50)
        self.sweep_steps.setToolTip("Optimiser steps per run (a run stops early at 99 % held-out accuracy)")
        cells = QWidget()
        cl = QHBoxLayout(cells)
        cl.setContentsMargins(0, 0, 0, 0)
        self.sweep_cells = {c: QCheckBox({"rnn": "RNN"}.get(c, CELL_NAMES[c])) for c in CELLS}
        for c, box in self.sweep_cells.items():
            box.setToolTip(f"Include the {CELL_NAMES[c]} in the sweep")
            box.toggled.connect(lambda on, c=c: self._toggle_sweep_cell(c, on))
            cl.addWidget(box)
        sf.addRow("Delays", self.sweep_delays)
        sf.addRow("Steps", self.sweep_steps)
        sf.addRow("Cells", cells)
        layout.addWidget(sweep_box)

        stop = getattr(_ENGINE, "stop_accuracy", None)
        self.note = QLabel(f"Changing a setting resets the run. Held-out accuracy is measured every "
                           f"{_ENGINE.eval_every} steps on {_ENGINE.eval_size} fresh sequences"
                           + (f"; a model stops training once it reaches {100 * stop:.0f} %." if stop else "."))
        self.note.setObjectName("caption")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

        self.bind(self.task, "task")
        for name in ("delay", "symbols", "categories", "hidden", "embedding", "batch", "steps"):
            self.bind(getattr(self, name), name, int)
        self.bind(self.optimizer, "optimizer")
        self.bind(self.lr, "lr", float)
        self.bind(self.clip, "clip", bool)
        self.bind(self.clip_threshold, "clip_threshold", float)
        self.bind(self.seed, "seed", int)
        self.bind(self.sweep_steps, "sweep_steps", int, "change sweep steps")
        self.sweep_delays.editingFinished.connect(self._edit_sweep_delays)
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button.clicked.connect(self._load_dialog)
        self.csv_button.clicked.connect(self._csv_dialog)
        self.session.frame.connect(self._on_frame)
        self.session.run_state_changed.connect(self._show_run_state)
        self.session.problem.connect(lambda text: self.context.show_error(text))
        self.session.note.connect(lambda text: self.context.show_status(text))
        self.sweep.changed.connect(self._on_sweep_changed)
        self.sweep.ended.connect(self._on_sweep_ended)

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        t = self.theme
        run = QHBoxLayout()
        run.setSpacing(4)
        self.start_button = QPushButton(START_TEXTS["ready"])
        self.start_button.setToolTip("Start, pause or resume training every model side by side (Space)")
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("Pause and train exactly one more step (→)")
        self.reset_button = QPushButton("⟲ Reset")
        self.reset_button.setToolTip("Throw the run away and start again from the same seed (R)")
        self.run_buttons = (self.start_button, self.step_button, self.reset_button)
        for b in self.run_buttons:
            run.addWidget(b)
        self.header_row.addLayout(run)
        self.header_row.setAlignment(run, Qt.AlignmentFlag.AlignTop)
        self.start_button.clicked.connect(self.play_pause)
        self.step_button.clicked.connect(lambda: self.step(1))
        self.reset_button.clicked.connect(self.reset_run)

        self.status = StatusLines(t)
        layout.addWidget(self.status)
        self.curves_view = CurvesView(t)
        self.heat_view = HeatmapView(t)
        self.eig_view = EigenView(t)
        self.grad_view = GradNormView(t)
        self.sweep_view = SweepView(t)
        self.views = (self.curves_view, self.heat_view, self.eig_view, self.grad_view, self.sweep_view)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for i, view in enumerate(self.views):
            self.tabs.addTab(view.page, view.name)
            self.tabs.setTabToolTip(i, view.tip)
        layout.addWidget(self.tabs, 1)
        self.bind(self.tabs, "view", lambda index: VIEWS[index], "change view")
        self.sweep_view.button.clicked.connect(self._toggle_sweep)
        self.apply_theme(t)

    def apply_theme(self, theme) -> None:
        self.status.theme = theme
        for view in self.views:
            view.apply_theme(theme)
        self._size_start_button()
        self._draw_sweep()
        self.draw_now()

    def set_bare(self, bare: bool) -> None:
        """Frames (a recording, a handout) show the run, not the buttons that drive it: a replay
        stopped half-way would otherwise carry a "Finished" button."""
        super().set_bare(bare)
        for button in self.run_buttons:
            button.setVisible(not bare)

    def _size_start_button(self) -> None:
        """One width for every text the Start button takes: a button that changes size relayouts
        the header and repaints every chart below it."""
        self.start_button.ensurePolished()
        text = self.start_button.text()
        width = 0
        for candidate in START_TEXTS.values():
            self.start_button.setText(candidate)
            width = max(width, self.start_button.sizeHint().width())
        self.start_button.setText(text)
        self.start_button.setFixedWidth(width)

    # -- state ----------------------------------------------------------------------------------------
    def show_state(self, state: TrainingState) -> None:
        self.task.set_value(state.task)
        for name in ("delay", "symbols", "categories", "hidden", "embedding", "lr", "batch", "steps",
                     "clip_threshold"):
            getattr(self, name).setValue(getattr(state, name))
        self.optimizer.set_value(state.optimizer)
        self.clip.setChecked(state.clip)
        self.clip_threshold.setEnabled(state.clip)
        self.seed.setValue(state.seed)
        copy = state.task == "copy"
        for w in (self.symbols, self.categories, self.embedding):
            w.setEnabled(copy)
        for i, panel in enumerate(self.panels):
            included = i < len(state.models)
            panel.show_model(state.models[i] if included else SPARE_MODELS[i], included)
            if i == 2:  # C joins after B
                panel.setEnabled(len(state.models) >= 2)
        self.tabs.setCurrentIndex(VIEWS.index(state.view))
        self.sweep_delays.setText(", ".join(str(d) for d in state.sweep_delays))
        self.sweep_steps.setValue(state.sweep_steps)
        for c, box in self.sweep_cells.items():
            box.setChecked(c in state.sweep_cells)

    def _change_model(self, index: int, name: str, value) -> None:
        """A model's control moved: the state with that model changed (its own undo step; drags merge)."""
        if self._showing or index >= len(self.state.models):
            return
        models = [m.to_dict() for m in self.state.models]
        models[index][name] = value
        self._propose(f"change model {SLOT_NAMES[index]} {name.replace('_', ' ')}", f"model {index} {name}",
                      models=models)

    def _include_model(self, index: int, on: bool) -> None:
        """Ticking B or C adds a model (B an LSTM, C a GRU); unticking removes it."""
        if self._showing:
            return
        models = list(self.state.models)
        if on and index >= len(models):
            models.append(SPARE_MODELS[len(models)])
        elif not on and index < len(models):
            del models[index]
        self._propose(f"{'add' if on else 'remove'} model {SLOT_NAMES[index]}", None, models=models)

    def _toggle_sweep_cell(self, cell: str, on: bool) -> None:
        if self._showing:
            return
        cells = set(self.state.sweep_cells) | {cell} if on else set(self.state.sweep_cells) - {cell}
        self._propose("change sweep cells", None, sweep_cells=sorted(cells))

    def _edit_sweep_delays(self) -> None:
        if self._showing:
            return
        parts = [p.strip() for p in self.sweep_delays.text().replace(";", ",").split(",") if p.strip()]
        try:
            delays = [int(p) for p in parts]
        except ValueError:
            self.context.show_error(f"delay sweep: {self.sweep_delays.text()!r} is not a list of whole numbers")
            self._show(self.state)
            return
        self._propose("change sweep delays", None, sweep_delays=delays)

    def _propose(self, label: str, merge_key: str | None, **fields) -> None:
        try:
            new = self.state.replace(**fields)
        except ValueError as exc:
            self.context.show_error(str(exc))
            self._show(self.state)
            return
        self.set_state(new, label, merge_key)

    # -- the run ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """A new state: a change of what is trained resets the run and asks for the untrained
        models' picture (chance levels, initial eigenvalues); any other change only redraws."""
        key = self.state.training_key()
        if key != self._run_key:
            had_run = bool(self.session.traces)
            self._run_key = key
            self._replay_step = None
            self.session.reset()
            self._preview = None
            self.request(preview_models, self.state.job(), key="preview")
            if had_run:
                self.context.show_status("Settings changed: the run was reset")
        self.draw_now()

    def on_result(self, result, key: str) -> None:
        if key == "preview" and not self.session.traces and list(result["settings"]) == list(self.state.job()):
            self._preview = result
            self.draw_now()

    def reset(self) -> None:
        """Defaults, and no run (Ctrl+R, a lesson step, a "show me" link)."""
        self.sweep.stop()
        self.reset_run()
        super().reset()

    def reset_run(self) -> None:
        """Stop training and forget the run; the next Start begins again from the seed."""
        self._run_key = None
        self._end_replay()
        self.refresh()

    def play_pause(self) -> None:
        self._end_replay()
        self.session.play_pause(self.state.train_settings())

    def step(self, direction: int) -> None:
        if direction > 0:
            self._end_replay()
            self.session.step(self.state.train_settings())

    def rewind(self) -> None:
        self.reset_run()

    def prepare_still(self) -> bool:
        """A handout page of the lab shows the models trained to the end (each stops at its steps or
        at the stop accuracy), trained here on the worker as Start would; a run already finished, or
        stopped on a non-finite loss, is shown as it is."""
        state = self.session.run_state
        if state in ("ready", "paused"):
            self.play_pause()
            state = self.session.run_state
        return state == "training"

    def deactivate(self) -> None:
        self.session.pause()

    def shutdown(self) -> None:
        self.sweep.stop()
        self.session.stop()

    @property
    def run_state(self) -> str:
        return self.session.run_state

    @property
    def traces(self) -> list[ModelTrace]:
        return self.session.traces

    def _show_run_state(self, state: str) -> None:
        self.start_button.setText(START_TEXTS[state])
        can_train = state not in ("finished", "stopped")  # an ended run trains no further; Reset starts again
        self.start_button.setEnabled(can_train)
        self.step_button.setEnabled(can_train)

    # -- replaying the run on show (recording an animation, issue 19) ---------------------------------
    # The animation of the lab is the run on show played back, a loaded run or one trained here:
    # its curves grow from the first training step to the last in every view. Nothing is trained
    # again and torch is not touched; seeking only cuts the traces the lab already holds.
    animation_is_replay = True  # a recording of S seconds plays the whole run in S seconds

    def _replay_of_run(self) -> Replay | None:
        traces = self.session.traces
        if not traces:
            return None
        if self._replay is None or self._replay.key != replay_key(traces):
            self._replay = Replay(traces)
        return None if self._replay.empty else self._replay

    def animation_length(self) -> float | None:
        return REPLAY_SECONDS if self._replay_of_run() is not None else None

    def recording_problem(self) -> str | None:
        """Why there is nothing to record, or None."""
        if self._replay_of_run() is None:
            return ("training lab: nothing to replay: open a saved run (Load…, or gradsim gui --open-run "
                    "FILE from gradsim train --save FILE) or train first")
        return None

    def seek_animation(self, seconds: float) -> None:
        """Show the run on show as it stood ``seconds`` into its replay (training pauses; from
        ``REPLAY_SECONDS`` on, the whole run is shown, as without a replay)."""
        replay = self._replay_of_run()
        if replay is None:
            return
        self.session.pause()
        step = replay.step_at(seconds)
        self._replay_step = None if step >= replay.last_step else step
        self.draw_now()

    def _end_replay(self) -> None:
        if self._replay_step is not None:
            self._replay_step = None
            self.draw_now()
        self._replay = None

    # -- drawing ------------------------------------------------------------------------------------
    def frame(self) -> LabFrame:
        traces = self.session.traces
        replay = self._replay_of_run() if self._replay_step is not None else None
        if replay is not None:
            traces = replay.traces_at(self._replay_step)
        settings = [tr.settings for tr in traces] if traces else list(self.state.train_settings())
        return LabFrame(traces, settings, None if traces else self._preview)

    def draw_now(self) -> None:
        """Draw the status lines and the view on show (the others catch up when shown)."""
        if not hasattr(self, "views"):
            return
        frame = self.frame()
        self.status.draw(frame)
        view = self.views[self.tabs.currentIndex()]
        view.draw(frame)
        view.settle()

    def _on_frame(self) -> None:
        self.draw_now()
        self.frames_drawn += 1
        self._drawn_once = True
        self.drawn.emit()

    # -- delay sweep ---------------------------------------------------------------------------------
    def _toggle_sweep(self) -> None:
        if self.sweep.stop():
            return
        s = self.state
        if not s.sweep_delays:
            self.context.show_error("delay sweep: give at least one delay (in the controls, C)")
            return
        if not s.sweep_cells:
            self.context.show_error("delay sweep: tick at least one cell (in the controls, C)")
            return
        try:
            base = s.sweep_base()
        except InputError as exc:
            self.context.show_error(f"delay sweep: {exc}")
            return
        self.sweep.start(base, s.sweep_delays, s.sweep_cells)

    def _on_sweep_changed(self, new_point: bool) -> None:
        self.sweep_view.button.setText("Stop sweep" if self.sweep.running else "Run sweep")
        self.sweep_view.status.setText(self.sweep.status)
        if new_point:
            self._draw_sweep()

    def _on_sweep_ended(self, outcome: str) -> None:
        if outcome not in ("finished", "stopped"):
            self.context.show_error(f"delay sweep: {outcome}")
        self.drawn.emit()

    def _draw_sweep(self) -> None:
        points = self.sweep.points
        chance = points[0].chance if points else self.state.chance
        self.sweep_view.draw_points(points, chance, self.state.sweep_delays)

    # -- files --------------------------------------------------------------------------------------
    def save_run_to(self, path: str | Path) -> bool:
        from ...engine.training import save_run

        runs = self.session.runs()
        if not runs:
            self.context.show_error("training: nothing to save yet; train at least one step")
            return False
        try:
            save_run(path, runs)
        except InputError as exc:
            self.context.show_error(str(exc))
            return False
        self.context.show_status(f"Saved {_models(len(runs))} to {Path(path).name}")
        return True

    def load_run_from(self, path: str | Path) -> bool:
        """Show a saved run (one undo step for its settings); Start trains it further."""
        from ...engine.training import load_runs

        try:
            runs = load_runs(path)
            if len(runs) > MAX_MODELS:
                raise InputError(f"{path}: the app shows up to {MAX_MODELS} models")
        except InputError as exc:
            self.context.show_error(str(exc))
            return False
        first = runs[0].settings
        try:
            new = self.state.replace(preset="custom", **{k: getattr(first, k) for k in _SHARED},
                                     models=[{k: getattr(r.settings, k) for k in MODEL_KEYS} for r in runs])
        except ValueError as exc:
            self.context.show_error(f"{path}: {exc}")
            return False
        self.set_state(new, f"load run {Path(path).name}")
        self._run_key = new.training_key()
        self._end_replay()
        self.session.show_runs(runs)
        self._show_run_state(self.session.run_state)
        self.draw_now()
        finished = all(r.finished for r in runs)
        self.context.show_status(f"Loaded {_models(len(runs))} from {Path(path).name}"
                                 + ("" if finished else "; Start continues the run"))
        return True

    def _save_dialog(self) -> None:
        path = ask_save_path(self)
        if path:
            self.save_run_to(path)

    def _load_dialog(self) -> None:
        path = ask_open_path(self)
        if path:
            self.load_run_from(path)

    def _csv_dialog(self) -> None:
        columns = self.export_columns()
        if columns is None:
            self.context.show_error("training: no curves yet")
            return
        path = ask_csv_path(self)
        if path:
            try:
                write_csv(path, columns)
            except OSError as exc:
                self.context.show_error(f"{path}: cannot write ({exc.strerror or exc})")

    # -- export ---------------------------------------------------------------------------------------
    def export_plot(self):
        return self.views[self.tabs.currentIndex()].export_plot()

    def export_columns(self) -> dict | None:
        if self.tabs.currentIndex() == VIEWS.index("sweep") and self.sweep.points:
            return sweep_columns(self.sweep.points)
        return curve_columns(self.session.runs())

    def activate(self) -> None:
        self.draw_now()


def _models(count: int) -> str:
    return f"{count} model" if count == 1 else f"{count} models"
