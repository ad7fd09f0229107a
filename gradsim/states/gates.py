"""State of the ``gates`` scene: one input sequence through several models, side by side.

The scene has two comparisons (``compare``), on the same inputs and controls:

- ``"gates"``: the vanilla RNN, the LSTM and the GRU by ``‖dL/dhₜ‖`` (the forget-gate lesson);
- ``"additive"``: all five models of :mod:`gradsim.engine.additive` (adding the residual RNN and a
  causal self-attention layer) by ``‖dL/dxₜ‖``, the gradient reaching the input at step t: the one
  measure a model without a recurrent state shares with the others (issue 20).

The models are listed once, in :data:`MODELS`, each with the comparisons it takes part in (the
curves, lanes, badges, legend and claims all follow that list). ``compute_gates`` is the worker job;
``outcome(state)`` maps each model of the comparison (and, for the gates, the LSTM's cell state,
``"lstm_c"``) to its verdict, which is what presets and lesson steps claim with
``{"rnn": "vanishing", "lstm": "healthy"}``. In the additive comparison a verdict judges ``‖dL/dxₜ‖``.

The badges say how far back each gradient stays within the thresholds (:func:`steps_within`):
"vanishing from t = 76" reads worse than "from t = 144" although the first gradient lasts longer,
so the count of steps is what the scene shows and compares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..engine.additive import ModelComparison, compare_models
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
    verdict_from_log10,
)
from ..formatting import format_log10, format_number
from ..presets import preset_ids
from ..state import SceneState, number, one_of

GATES, ADDITIVE = "gates", "additive"
COMPARES = (GATES, ADDITIVE)  # RNN vs LSTM vs GRU by ‖dL/dhₜ‖; all five models by ‖dL/dxₜ‖


@dataclass(frozen=True)
class Model:
    """One model the scene compares: its key in the engine's results, and how the scene names it."""

    key: str
    name: str  # badges, legend, lanes
    series: int  # index of its colour in the theme's series
    compares: tuple[str, ...] = COMPARES  # the comparisons it takes part in


# The one list of compared models, in the order of badges, legend and lanes. Attention, the model
# the additive comparison is about, takes the orange/brown series (the grey/yellow one is the cursor's
# neighbour in the normal theme), the residual RNN the last one.
MODELS: tuple[Model, ...] = (
    Model("rnn", "RNN", 0),
    Model("lstm", "LSTM", 1),
    Model("gru", "GRU", 2),
    Model("residual", "Residual", 4, (ADDITIVE,)),
    Model("attention", "Attention", 3, (ADDITIVE,)),
)


def models_of(compare: str) -> tuple[Model, ...]:
    """The models one comparison shows, in the order of :data:`MODELS`."""
    return tuple(m for m in MODELS if compare in m.compares)


MODEL_KEYS: tuple[str, ...] = tuple(m.key for m in models_of(GATES))  # the gates comparison's
ADDITIVE_KEYS: tuple[str, ...] = tuple(m.key for m in models_of(ADDITIVE))
CELL_STATE = "lstm_c"  # the LSTM's cell-state gradient ‖dL/dcₜ‖, shown beside the models' ‖dL/dhₜ‖
# the residual RNN's alpha: small enough that, at the defaults, its state does not drift into
# saturation and its ‖dL/dxₜ‖ stays within the thresholds over 200 steps on every seed (tests)
RESIDUAL_SCALE_RANGE = (0.0, 2.0)
DEFAULT_RESIDUAL_SCALE = 0.1

APP_MAX_HIDDEN = 256
APP_MAX_STEPS = 1000
FORGET_BIAS_RANGE = (0.0, 5.0)
VIEWS = ("curves", "cells")  # what a short screen shows: the gradients (lanes and chart), or the diagrams

# The defaults open on the scene's point: the LSTM's forget gate biased open (3) keeps its gradient
# over all 200 steps, while the vanilla RNN's falls below 10⁻⁶ (on every seed: tests/engine/test_claims.py).
DEFAULTS = GeneratorSettings(hidden=32, input=4, steps=200, activation="tanh", init="gaussian", scale=1.0,
                             input_scale=1.0, seed=0, cell="lstm", forget_bias=3.0)


@dataclass(frozen=True)
class GatesState(SceneState):
    scene_id = "gates"
    KEEP_ON_PRESET = ("speed", "seed", "view")  # a preset holds on every seed; speed and view are the presenter's

    preset: str = field(default="custom", metadata=one_of(preset_ids("gates")))
    compare: str = field(default=GATES, metadata=one_of(COMPARES))
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
    residual_scale: float = field(default=DEFAULT_RESIDUAL_SCALE, metadata=number(*RESIDUAL_SCALE_RANGE))

    @property
    def models(self) -> tuple[Model, ...]:
        return models_of(self.compare)

    def generator(self) -> GeneratorSettings:
        """The settings every model is drawn from: the LSTM's (its cell and forget bias are saved with
        them) for the gates, the attention layer's for the additive comparison (a scenario file of
        either reopens on its comparison); the residual RNN's alpha goes with both."""
        return GeneratorSettings(hidden=self.hidden, input=DEFAULTS.input, steps=self.steps,
                                 activation=DEFAULTS.activation, init=self.init, scale=self.scale,
                                 input_scale=self.input_scale, seed=self.seed,
                                 cell="lstm" if self.compare == GATES else "attention",
                                 forget_bias=self.forget_bias, residual_scale=self.residual_scale)

    def job(self) -> GatesJob:
        return GatesJob(self.generator(), self.vanish, self.explode, tuple(m.key for m in self.models), self.compare)

    def scenario_document(self) -> dict:
        """The ``gradsim.scenario/1`` document that reopens to this picture (see :meth:`generator`)."""
        return {"format": "gradsim.scenario/1", **self.generator().to_dict()}


@dataclass(frozen=True)
class GatesJob:
    """What the worker computes: the models of one comparison on one set of settings."""

    settings: GeneratorSettings
    vanish: float = VANISH_THRESHOLD
    explode: float = EXPLODE_THRESHOLD
    models: tuple[str, ...] = MODEL_KEYS
    compare: str = GATES


def compute_gates(job: GatesJob) -> CellComparison | ModelComparison:
    """Runs on the worker thread (the engine imports torch there): every model on the same inputs.
    The gates: :func:`~gradsim.engine.cells.compare_cells`; the additive comparison:
    :func:`~gradsim.engine.additive.compare_models` (``‖dL/dxₜ‖`` of each, the attention's bound)."""
    if job.compare == ADDITIVE:
        return compare_models(job.settings, job.vanish, job.explode, models=job.models)
    return compare_cells(job.settings, job.vanish, job.explode, cells=job.models)


def input_verdict(result) -> Verdict:
    """The verdict of one model's ``‖dL/dxₜ‖`` (same thresholds as its ``‖dL/dhₜ‖`` verdict)."""
    v = result.verdict
    return verdict_from_log10(result.log10_input_grad_norm, v.vanish_threshold, v.explode_threshold)


def verdicts(result: CellComparison | ModelComparison) -> dict[str, Verdict]:
    """Each model's verdict: of ``‖dL/dhₜ‖`` for the gates (and the LSTM cell state's under
    ``"lstm_c"``), of ``‖dL/dxₜ‖`` for the additive comparison."""
    if isinstance(result, ModelComparison):
        return {key: input_verdict(res) for key, res in result.results.items()}
    out = {key: result.results[key].verdict for key in result.results}
    if "lstm" in result.results:
        out[CELL_STATE] = result.lstm.cell_verdict
    return out


def outcome(state: GatesState) -> dict[str, Verdict]:
    """What a preset or lesson step on this scene claims: a verdict per model."""
    return verdicts(compute_gates(state.job()))


# ---------------------------------------------------------------------------------------------------
# words of the additive comparison (Qt-free, so the tests read the same strings the scene shows)

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def subscript(n: int) -> str:
    """``100`` as ``₁₀₀`` (for ``x₁₀₀``)."""
    return str(int(n)).translate(_SUBSCRIPT)


_FLOAT_TINY_LOG10 = math.log10(float(np.finfo(np.float64).smallest_subnormal))
_FLOAT_MAX_LOG10 = math.log10(float(np.finfo(np.float64).max))


def beyond_float64(log10_values: np.ndarray) -> np.ndarray:
    """Steps whose value is nonzero but outside float64 (as the engine's ``underflow``/``overflow``):
    drawn from its exact log10 with a marker, never dropped."""
    logs = np.asarray(log10_values, dtype=np.float64)
    return np.isfinite(logs) & ((logs < _FLOAT_TINY_LOG10) | (logs > _FLOAT_MAX_LOG10))


def input_value_text(log10_value: float, step: int | None, digits: int = 2) -> str:
    """A badge's last line: ``‖dL/dx₁‖ 2.5 × 10⁻²³``; ``‖dL/dxₜ‖ 3 × 10⁻²³`` where a badge is narrow
    (``digits=1``, and ``step=None`` for the subscript t: the chart's cursor says which step)."""
    where = "ₜ" if step is None else subscript(step)
    return f"‖dL/dx{where}‖ {format_log10(float(log10_value), digits)}"


def path_lines(model: str, result: ModelComparison) -> list[str]:
    """How the gradient reaches x₁ in this run, as the path diagram's title says it: the recurrent
    models cross ``T − 1`` steps, each multiplying ‖dL/dhₜ‖ by the measured geometric mean factor;
    attention crosses one hop weighted by the attention the last position pays to step 1."""
    res = result.results[model]
    steps = res.steps
    if model == "attention":
        if steps < 2:
            return ["x₁ is the last step:", "no hop"]
        weight = float(result.results[model].hop_weight[0])
        return ["to x₁: 1 hop", f"× a₁ = {format_number(weight, 2)}"]
    path = result.paths[model]
    crossed = path.steps_crossed
    word = "step" if crossed == 1 else "steps"
    factor = "n/a" if not math.isfinite(path.per_step) else format_number(path.per_step, 3)
    return [f"to x₁: {crossed:,d} {word}", f"× {factor} each"]


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
