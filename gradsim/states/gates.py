"""State of the ``gates`` scene: one input sequence through several recurrent models, side by side.

The models the scene compares are listed once, in :data:`MODELS` (the curves, lanes, badges, legend
and claims all follow that list; a new model is one more entry, once the engine's ``compare_cells``
knows it). ``compute_gates`` is the worker job; ``outcome(state)`` maps each model (and the LSTM's
cell state, ``"lstm_c"``) to its verdict, which is what presets and lesson steps claim with
``{"rnn": "vanishing", "lstm": "healthy"}``.

The badges say how far back each gradient stays within the thresholds (:func:`steps_within`):
"vanishing from t = 76" reads worse than "from t = 144" although the first gradient lasts longer,
so the count of steps is what the scene shows and compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.cells import CellComparison, compare_cells
from ..engine.init import INITIALISERS
from ..engine.scenario import GeneratorSettings
from ..engine.thresholds import (
    EXPLODE_THRESHOLD,
    HEALTHY,
    VANISH_THRESHOLD,
    VANISHING,
    Verdict,
    threshold_text,
)
from ..presets import preset_ids
from ..state import SceneState, number, one_of


@dataclass(frozen=True)
class Model:
    """One model the scene compares: its key in the engine's results, and how the scene names it."""

    key: str
    name: str  # badges, legend, lanes
    series: int  # index of its colour in the theme's series


# The one list of compared models, in the order of badges, legend and lanes.
MODELS: tuple[Model, ...] = (
    Model("rnn", "RNN", 0),
    Model("lstm", "LSTM", 1),
    Model("gru", "GRU", 2),
)
MODEL_KEYS: tuple[str, ...] = tuple(m.key for m in MODELS)
CELL_STATE = "lstm_c"  # the LSTM's cell-state gradient ‖dL/dcₜ‖, shown beside the models' ‖dL/dhₜ‖

APP_MAX_HIDDEN = 256
APP_MAX_STEPS = 1000
FORGET_BIAS_RANGE = (0.0, 5.0)
VIEWS = ("curves", "cells")  # what a short screen shows: the gradients (lanes and chart), or the cell diagrams

# The defaults open on the scene's point: the LSTM's forget gate biased open (3) keeps its gradient
# over all 200 steps, while the vanilla RNN's falls below 10⁻⁶ (on every seed: tests/engine/test_claims.py).
DEFAULTS = GeneratorSettings(hidden=32, input=4, steps=200, activation="tanh", init="gaussian", scale=1.0,
                             input_scale=1.0, seed=0, cell="lstm", forget_bias=3.0)


@dataclass(frozen=True)
class GatesState(SceneState):
    scene_id = "gates"
    KEEP_ON_PRESET = ("speed", "seed", "view")  # a preset holds on every seed; speed and view are the presenter's

    preset: str = field(default="custom", metadata=one_of(preset_ids("gates")))
    forget_bias: float = field(default=DEFAULTS.forget_bias, metadata=number(*FORGET_BIAS_RANGE))
    steps: int = field(default=DEFAULTS.steps, metadata=number(1, APP_MAX_STEPS, integer=True))
    hidden: int = field(default=DEFAULTS.hidden, metadata=number(1, APP_MAX_HIDDEN, integer=True))
    input_scale: float = field(default=DEFAULTS.input_scale, metadata=number(0.0, 3.0))
    init: str = field(default=DEFAULTS.init, metadata=one_of(INITIALISERS))
    scale: float = field(default=DEFAULTS.scale, metadata=number(0.0, 2.5))
    seed: int = field(default=DEFAULTS.seed, metadata=number(0, 999_999, integer=True))
    vanish: float = field(default=VANISH_THRESHOLD, metadata=number(1e-300, 0.1))
    explode: float = field(default=EXPLODE_THRESHOLD, metadata=number(10.0, 1e300))
    speed: int = field(default=20, metadata=number(1, 200, integer=True))
    view: str = field(default="curves", metadata=one_of(VIEWS))

    def generator(self) -> GeneratorSettings:
        """The settings every model is drawn from (the LSTM's cell and forget bias are saved with them)."""
        return GeneratorSettings(hidden=self.hidden, input=DEFAULTS.input, steps=self.steps,
                                 activation=DEFAULTS.activation, init=self.init, scale=self.scale,
                                 input_scale=self.input_scale, seed=self.seed, cell="lstm",
                                 forget_bias=self.forget_bias)

    def job(self) -> GatesJob:
        return GatesJob(self.generator(), self.vanish, self.explode)

    def scenario_document(self) -> dict:
        """The ``gradsim.scenario/1`` document (the LSTM's settings) that reopens to this picture."""
        return {"format": "gradsim.scenario/1", **self.generator().to_dict()}


@dataclass(frozen=True)
class GatesJob:
    """What the worker computes: every model of :data:`MODELS` on one set of settings."""

    settings: GeneratorSettings
    vanish: float = VANISH_THRESHOLD
    explode: float = EXPLODE_THRESHOLD
    models: tuple[str, ...] = MODEL_KEYS


def compute_gates(job: GatesJob) -> CellComparison:
    """Runs on the worker thread (the engine imports torch there): every model on the same inputs."""
    return compare_cells(job.settings, job.vanish, job.explode, cells=job.models)


def verdicts(result: CellComparison) -> dict[str, Verdict]:
    """Each model's verdict, and the LSTM cell state's under ``"lstm_c"``."""
    out = {key: result.results[key].verdict for key in result.results}
    if "lstm" in result.results:
        out[CELL_STATE] = result.lstm.cell_verdict
    return out


def outcome(state: GatesState) -> dict[str, Verdict]:
    """What a preset or lesson step on this scene claims: a verdict per model."""
    return verdicts(compute_gates(state.job()))


def steps_within(verdict: Verdict, steps: int) -> int:
    """How many steps, counted back from the loss, the gradient stays within the thresholds.

    The verdict's ``first_t`` is the latest step past a threshold, so steps ``first_t + 1 .. T``
    (``T − first_t`` of them) are all within; a healthy gradient is within at all ``T``.
    """
    return int(steps) if verdict.first_t is None else int(steps) - int(verdict.first_t)


def reach_text(verdict: Verdict, steps: int) -> str:
    """The badge's second line: what the verdict measured, as a count that compares across models.

    ``"≥ 10⁻⁶ for 56 of 200 steps"`` (vanishing), ``"≥ 10⁻⁶ for all 200 steps"`` (healthy: also
    ≤ the exploding threshold, said in the tooltip), ``"≤ 10³ for 12 of 200 steps"`` (exploding).
    """
    within = steps_within(verdict, steps)
    if verdict.kind in (HEALTHY, VANISHING):
        limit = f"≥ {threshold_text(verdict.vanish_threshold)}"
    else:
        limit = f"≤ {threshold_text(verdict.explode_threshold)}"
    count = f"all {steps}" if within == steps else f"{within} of {steps}"
    return f"{limit} for {count} steps"


def reach_sentence(name: str, verdict: Verdict, steps: int, what: str = "‖dL/dhₜ‖") -> str:
    """The badge's tooltip: the same count in words, with both thresholds."""
    within = steps_within(verdict, steps)
    band = f"{threshold_text(verdict.vanish_threshold)} … {threshold_text(verdict.explode_threshold)}"
    if verdict.kind == HEALTHY:
        return f"{name}: {what} stays within {band} at all {steps} steps back from the loss"
    side = "below" if verdict.kind == VANISHING else "above"
    limit = verdict.vanish_threshold if verdict.kind == VANISHING else verdict.explode_threshold
    return (f"{name}: {what} stays within {band} for the last {within} of {steps} steps, and is {side} "
            f"{threshold_text(limit)} at t = {verdict.first_t}")


STATE = GatesState
