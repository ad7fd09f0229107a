"""State of the ``training`` scene (the training lab): the task, up to three models trained side by
side, the optimiser, the delay sweep's settings and the view on show.

The defaults are the engine's: every task and training setting starts at ``TrainSettings()``, the
settings ``gradsim train`` uses, so the lab's first preset (which names only the two models) is
the command line's demo and follows it when the engine's defaults change.

A preset's claim is *which models learn*: ``outcome(state)`` really trains every model of the state
to its last step (``train_side_by_side``) and reports, per model, whether its held-out accuracy
ended at ``LEARNS_ACCURACY`` or more (learned), within ``FAILS_MARGIN`` of chance (failed), or
whether the loss stopped being a number (diverged). Training takes seconds to minutes, so
``SLOW_OUTCOME`` tells the claims test to check these on two random seeds in its slow variant;
``benchmarks/bench_presets.py`` checks seeds 0-9. No Qt here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from dataclasses import replace as dataclass_replace
from typing import Any

from ..engine import tasks
from ..engine.activations import ACTIVATIONS
from ..engine.errors import InputError
from ..engine.init import INITIALISERS
from ..engine.training import CELLS, MODELS, OPTIMIZERS, TrainRun, TrainSettings, train_side_by_side
from ..presets import CUSTOM, preset_ids
from ..state import Rule, SceneState, _reject, _short, flag, number, one_of

MAX_MODELS = 3
SLOT_NAMES = ("A", "B", "C")
# the views of the lab, in the order of its view switcher
VIEWS = ("curves", "heatmap", "eigenvalues", "gradnorm", "sweep")
MAX_SWEEP_DELAYS = 12

# What a preset may claim, in the words of issue 15: learned means a held-out accuracy of at least
# 95 %; failed means ending within 10 points of chance (above or below it).
LEARNS_ACCURACY = 0.95
FAILS_MARGIN = 0.10
SLOW_OUTCOME = True  # outcome() trains for seconds to minutes: the claims test checks it in its slow variant

_ENGINE = TrainSettings()  # the engine's defaults: the lab starts (and its first preset sits) on them


def _rule(meta: dict) -> Rule:
    return meta["rule"]


# The rule of each per-model setting, as the app shows them (the engine takes wider ranges). A model
# slot takes every model the engine trains: the recurrent cells and the small Transformer (issue 20);
# the delay sweep, which compares cells by the distance their gradient crosses, takes the cells.
MODEL_RULES: dict[str, Rule] = {
    "cell": _rule(one_of(MODELS)),
    "forget_bias": _rule(number(-2.0, 6.0)),
    "activation": _rule(one_of(ACTIVATIONS)),
    "init": _rule(one_of(INITIALISERS)),
    "scale": _rule(number(0.0, 2.5)),
}


@dataclass(frozen=True)
class ModelSpec:
    """One model of the comparison. ``forget_bias`` is used by the LSTM only; ``activation``,
    ``init`` and ``scale`` (of ``W_hh``) by the vanilla RNN only, as in the engine. ``cell`` may be
    ``"transformer"``: the engine's small causal Transformer, whose width is the shared ``hidden``."""

    cell: str = "rnn"
    forget_bias: float = _ENGINE.forget_bias
    activation: str = _ENGINE.activation
    init: str = _ENGINE.init
    scale: float = _ENGINE.scale

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MODEL_KEYS = tuple(f.name for f in fields(ModelSpec))
# the model a ticked slot starts with: A a vanilla RNN, B an LSTM, C a GRU
SPARE_MODELS = (ModelSpec("rnn"), ModelSpec("lstm"), ModelSpec("gru"))


def _model(value: Any, index: int) -> ModelSpec:
    """A model from a (partial) dictionary: missing keys take the defaults, as lesson files expect."""
    where = f"model {SLOT_NAMES[index]}"
    if isinstance(value, ModelSpec):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        _reject(f"{where} must be an object of name: value pairs")
    unknown = [k for k in value if k not in MODEL_KEYS]
    if unknown:
        _reject(f"{where}: unknown setting {_short(str(unknown[0]))} (takes: {', '.join(MODEL_KEYS)})")
    values = {**ModelSpec().to_dict(), **value}
    out = {}
    for key in MODEL_KEYS:
        try:
            out[key] = MODEL_RULES[key](values[key])
        except ValueError as exc:
            _reject(f"{where}: '{key}': {exc}")
    return ModelSpec(**out)


def model_list() -> dict:
    """1 to ``MAX_MODELS`` models, kept as a tuple of frozen :class:`ModelSpec`."""

    def convert(value: Any) -> tuple[ModelSpec, ...]:
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_MODELS:
            _reject(f"expected a list of 1 to {MAX_MODELS} models")
        return tuple(_model(m, i) for i, m in enumerate(value))

    return {"rule": Rule(f"1 to {MAX_MODELS} models", convert)}


def delay_list(lo: int = 0, hi: int = 200) -> dict:
    """The delay sweep's delays: whole numbers, kept sorted and without repeats (may be empty)."""

    def convert(value: Any) -> tuple[int, ...]:
        if not isinstance(value, (list, tuple)):
            _reject("expected a list of delays")
        out = set()
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v):
                _reject(f"a delay must be a whole number, got {_short(v)}")
            if not lo <= int(v) <= hi:
                _reject(f"delay {int(v)} is outside {lo}..{hi}")
            out.add(int(v))
        if len(out) > MAX_SWEEP_DELAYS:
            _reject(f"at most {MAX_SWEEP_DELAYS} delays")
        return tuple(sorted(out))

    return {"rule": Rule(f"whole numbers in {lo}..{hi}", convert)}


def cell_set() -> dict:
    """Some of the cells, kept in the engine's order (may be empty)."""

    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or any(c not in CELLS for c in value):
            _reject(f"expected a list of cells among {', '.join(CELLS)}")
        return tuple(c for c in CELLS if c in value)

    return {"rule": Rule("cells among " + ", ".join(CELLS), convert)}


_SHARED = ("task", "delay", "symbols", "categories", "hidden", "embedding", "optimizer", "lr", "batch", "steps",
           "clip", "clip_threshold", "seed")


@dataclass(frozen=True)
class TrainingState(SceneState):
    scene_id = "training"
    # a preset holds on every seed; the view on show and the sweep's settings are the presenter's
    KEEP_ON_PRESET = ("seed", "view", "sweep_delays", "sweep_steps", "sweep_cells")

    preset: str = field(default=preset_ids("training")[1], metadata=one_of(preset_ids("training")))
    task: str = field(default=_ENGINE.task, metadata=one_of(tasks.TASKS))
    delay: int = field(default=_ENGINE.delay, metadata=number(0, 200, integer=True))
    symbols: int = field(default=_ENGINE.symbols, metadata=number(1, 10, integer=True))
    categories: int = field(default=_ENGINE.categories, metadata=number(2, 16, integer=True))
    models: tuple[ModelSpec, ...] = field(default=(SPARE_MODELS[0], SPARE_MODELS[1]), metadata=model_list())
    hidden: int = field(default=_ENGINE.hidden, metadata=number(2, 256, integer=True))
    embedding: int = field(default=_ENGINE.embedding, metadata=number(1, 64, integer=True))
    optimizer: str = field(default=_ENGINE.optimizer, metadata=one_of(OPTIMIZERS))
    lr: float = field(default=_ENGINE.lr, metadata=number(1e-4, 0.05))
    batch: int = field(default=_ENGINE.batch, metadata=number(1, 512, integer=True))
    steps: int = field(default=_ENGINE.steps, metadata=number(10, 5000, integer=True))
    clip: bool = field(default=_ENGINE.clip, metadata=flag())
    clip_threshold: float = field(default=_ENGINE.clip_threshold, metadata=number(0.1, 20.0))
    seed: int = field(default=_ENGINE.seed, metadata=number(0, 2**31 - 1, integer=True))
    view: str = field(default=VIEWS[0], metadata=one_of(VIEWS))
    sweep_delays: tuple[int, ...] = field(default=(5, 10, 20, 30, 40), metadata=delay_list())
    sweep_steps: int = field(default=600, metadata=number(10, 5000, integer=True))
    sweep_cells: tuple[str, ...] = field(default=("rnn", "lstm"), metadata=cell_set())

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TrainingState:
        """As for every scene, plus the older form of the lab's settings (lesson files written by
        earlier versions): ``"sweep": {delays, steps, cells}`` and ``eval_every`` at its only value."""
        if isinstance(settings, Mapping) and ("sweep" in settings or "eval_every" in settings):
            settings = dict(settings)
            sweep = settings.pop("sweep", None)
            if isinstance(sweep, Mapping):
                unknown = set(sweep) - {"delays", "steps", "cells"}
                if unknown:
                    raise ValueError(f"training: 'sweep' takes delays, steps and cells, not {_short(sorted(unknown)[0])}")
                settings.update({f"sweep_{k}": v for k, v in sweep.items()})
            elif sweep is not None:
                raise ValueError("training: 'sweep' must be an object of delays, steps and cells")
            every = settings.pop("eval_every", _ENGINE.eval_every)
            if every != _ENGINE.eval_every:
                raise ValueError(f"training: the app evaluates every {_ENGINE.eval_every} steps")
        state = super().from_settings(settings)
        # The defaults are the first preset: settings that change what it trains and name no
        # preset describe a custom state.
        if "preset" not in settings and state.preset != CUSTOM:
            default = cls()
            if set(state.changed_fields(default)) - set(cls.KEEP_ON_PRESET):
                state = dataclass_replace(state, preset=CUSTOM)
        return state

    def check(self) -> None:
        try:
            self.train_settings()
        except InputError as exc:
            raise ValueError(f"training: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["models"] = [m.to_dict() for m in self.models]
        return out

    # -- what the engine trains ----------------------------------------------------------------------
    def shared(self) -> dict[str, Any]:
        """The settings every model shares (task, sizes, optimiser, steps, clipping, seed)."""
        return {k: getattr(self, k) for k in _SHARED}

    def train_settings(self) -> tuple[TrainSettings, ...]:
        """The engine settings of every model, validated (``InputError`` names a bad value)."""
        shared = self.shared()
        return tuple(TrainSettings(**shared, **m.to_dict()).validate() for m in self.models)

    def job(self) -> tuple[TrainSettings, ...]:
        return self.train_settings()

    def training_key(self) -> tuple:
        """What defines the run: a change of anything else (the view, the sweep) keeps the run."""
        return (*(getattr(self, k) for k in _SHARED), self.models)

    @property
    def chance(self) -> float:
        return tasks.copy_chance(self.categories) if self.task == "copy" else tasks.adding_chance()

    def sweep_base(self) -> TrainSettings:
        """The delay sweep's starting point: the shared settings, the first vanilla RNN's ``f`` and
        ``W_hh`` and the first LSTM's forget bias (the sweep trains each ticked cell at each delay)."""
        values = ModelSpec().to_dict()
        rnn = next((m for m in self.models if m.cell == "rnn"), None)
        lstm = next((m for m in self.models if m.cell == "lstm"), None)
        if rnn is not None:
            values.update(activation=rnn.activation, init=rnn.init, scale=rnn.scale)
        if lstm is not None:
            values["forget_bias"] = lstm.forget_bias
        return TrainSettings(**{**self.shared(), "steps": self.sweep_steps}, **values).validate()


def model_names(models: Sequence[Any]) -> list[tuple[str, ...]]:
    """The names a claim may use for each model: its slot letter, and its cell when no other model
    of the comparison has that cell (``{"learns": ["lstm"], "fails": ["A"]}``)."""
    cells = [m.cell for m in models]
    return [(SLOT_NAMES[i], *((c,) if cells.count(c) == 1 else ())) for i, c in enumerate(cells)]


class TrainingOutcome(dict):
    """Per model name: True (learned), False (failed: within 10 points of chance), ``"diverged"``
    (the loss stopped being a number) or None (in between). ``accuracy`` keeps the final held-out
    accuracy, ``seconds`` the training time and ``steps`` the optimiser steps taken (a run that
    reached the early-stop accuracy ends before its last step) of each model (by its first name)."""

    def __init__(self, values: dict, accuracy: dict[str, float | None], seconds: dict[str, float],
                 chance: float, steps: dict[str, int] | None = None) -> None:
        super().__init__(values)
        self.accuracy = accuracy
        self.seconds = seconds
        self.chance = chance
        self.steps = steps or {}

    def __repr__(self) -> str:
        shown = ", ".join(f"{name} {'n/a' if a is None else f'{100 * a:.1f} %'} -> {self[name]}"
                          for name, a in self.accuracy.items())
        return f"<{shown}; chance {100 * self.chance:.1f} %>"


def judge(run: TrainRun) -> bool | str | None:
    """Learned (True), failed (False), diverged, or neither (None): the end of one trained run."""
    if run.stop_reason is not None and run.stop_reason.startswith("training stopped"):
        return "diverged"
    if not run.curves.accuracy:
        return None
    accuracy = run.curves.accuracy[-1]
    if accuracy >= LEARNS_ACCURACY:
        return True
    if abs(accuracy - run.settings.chance) <= FAILS_MARGIN:
        return False
    return None


def outcome(state: TrainingState) -> TrainingOutcome:
    """Train every model of ``state`` to its last step, side by side as the lab does, and judge each."""
    runs: list[TrainRun | None] = [None] * len(state.models)
    for row in train_side_by_side(state.train_settings()):
        for i, snap in enumerate(row):
            if snap is not None:
                runs[i] = snap.run
    values: dict[str, bool | str | None] = {}
    accuracy: dict[str, float | None] = {}
    seconds: dict[str, float] = {}
    steps: dict[str, int] = {}
    for names, run in zip(model_names(state.models), runs, strict=True):
        verdict = judge(run)
        for name in names:
            values[name] = verdict
        accuracy[names[0]] = run.curves.accuracy[-1] if run.curves.accuracy else None
        seconds[names[0]] = run.seconds
        steps[names[0]] = run.step_count
    return TrainingOutcome(values, accuracy, seconds, state.chance, steps)


def preview_models(settings: Sequence[TrainSettings]) -> dict:
    """Worker job: the untrained models' first picture (chance levels and initial eigenvalues)."""
    return {"settings": list(settings), "eigenvalues": [TrainRun(s).recurrent_eigenvalues() for s in settings]}


STATE = TrainingState
