"""State of the ``scalar`` scene: one weight multiplied by itself, the one-unit trace, the activations'
caps and a product of different per-layer weights.

``compute_scalar`` is the worker job: every figure of the scene from the engine in one go (they are
all cheap). What a preset or lesson step claims about this scene is the verdict of the user's own
``wᵀ`` against the thresholds 10⁻⁶ and 10³ (``outcome``), the same figure the badge shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.scalar import ActivationRow, ScalarTrace, activation_table, scalar_trace
from ..engine.sweep import (
    FeedforwardComparison,
    PowerRow,
    activation_curves,
    feedforward_vs_recurrent,
    power_curves,
    power_rows,
)
from ..engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD, Verdict, verdict_from_log10
from ..presets import preset_ids
from ..state import SceneState, number, one_of

VIEWS = ("powers", "trace", "activations", "feedforward")
MAX_STEPS = 200
Z_GRID = np.linspace(-5.0, 5.0, 401)  # where the activations' derivative curves are drawn


@dataclass(frozen=True)
class ScalarState(SceneState):
    """What the scalar scene shows. ``row`` is the trace row the animation starts from (1-based t);
    ``view`` is the tab on show. Neither changes what the engine computes."""

    scene_id = "scalar"
    # the seed only draws the feedforward view's per-layer weights; the speed is the presenter's
    KEEP_ON_PRESET = ("seed", "speed")
    # changes that keep a preset: looking at another tab or row does not change what it claims
    PRESENTATION = ("view", "row", "speed")

    preset: str = field(default="custom", metadata=one_of(preset_ids("scalar")))
    w: float = field(default=0.5, metadata=number(0.01, 3.0))
    steps: int = field(default=20, metadata=number(1, MAX_STEPS, integer=True))
    h0: float = field(default=0.1, metadata=number(-2.0, 2.0))
    spread: float = field(default=0.3, metadata=number(0.0, 1.0))
    seed: int = field(default=0, metadata=number(0, 999_999, integer=True))
    speed: int = field(default=3, metadata=number(1, 20, integer=True))
    row: int = field(default=1, metadata=number(1, MAX_STEPS, integer=True))
    view: str = field(default="powers", metadata=one_of(VIEWS))

    def check(self) -> None:
        if self.row > self.steps:
            raise ValueError(f"scalar: setting 'row': {self.row} is outside 1..{self.steps} (the trace has T rows)")

    def replace(self, **changes):
        # A shorter trace takes the highlighted row with it rather than refusing the new length.
        if "steps" in changes and "row" not in changes:
            try:
                changes["row"] = max(1, min(self.row, int(changes["steps"])))
            except (TypeError, ValueError):
                pass  # the steps rule will say what is wrong with the value
        if "preset" not in changes and changes and all(k in self.PRESENTATION for k in changes):
            changes["preset"] = self.preset
        return super().replace(**changes)

    def job(self) -> ScalarJob:
        return ScalarJob(self.w, self.steps, self.h0, self.spread, self.seed)


@dataclass(frozen=True)
class ScalarJob:
    w: float
    steps: int
    h0: float
    spread: float
    seed: int


@dataclass
class ScalarResult:
    job: ScalarJob
    rows: list[PowerRow]  # the wᵀ table, the user's w marked
    curve_weights: tuple[float, ...]
    curve_t: np.ndarray
    curve_log10: np.ndarray  # len(curve_weights) x (T + 1): log10 wᵗ for t = 0..T
    trace: ScalarTrace
    log10_trace_cumprod: np.ndarray  # log10 |dhₜ/dh₀|
    activations: list[ActivationRow]
    slopes_at_one: dict[str, tuple[float, float]]  # f′(−1) and f′(+1) of each activation (ReLU: 0 and 1)
    z: np.ndarray
    derivatives: dict[str, np.ndarray]
    feedforward: FeedforwardComparison
    verdict: Verdict  # the user's wᵀ against 10⁻⁶ and 10³

    @property
    def user_row(self) -> PowerRow:
        return next(r for r in self.rows if r.user)


def compute_scalar(job: ScalarJob) -> ScalarResult:
    """Runs on the worker thread: every figure of the scene from the engine."""
    rows = power_rows(job.w, job.steps)
    weights = tuple(r.w for r in rows)
    t, logs = power_curves(weights, job.steps)
    trace = scalar_trace(job.w, job.steps, job.h0)
    with np.errstate(divide="ignore"):
        log_cum = np.log10(np.abs(trace.cumprod))
    user_log = next(r.log10_value for r in rows if r.user)
    activations = activation_table()
    return ScalarResult(
        job=job, rows=rows, curve_weights=weights, curve_t=t, curve_log10=logs, trace=trace,
        log10_trace_cumprod=log_cum, activations=activations,
        slopes_at_one={row.name: _slopes_at_one(row) for row in activations}, z=Z_GRID.copy(),
        derivatives=activation_curves(Z_GRID),
        feedforward=feedforward_vs_recurrent(job.w, job.spread, job.steps, job.seed),
        verdict=verdict_from_log10(np.array([user_log]), VANISH_THRESHOLD, EXPLODE_THRESHOLD),
    )


def _slopes_at_one(row: ActivationRow) -> tuple[float, float]:
    """f′(−1) and f′(+1) (ReLU's mean 0.5 is a slope ReLU never has, so the table shows both)."""
    return float(row.derivative_at_minus_1), float(row.derivative_at_plus_1)


def outcome(state: ScalarState) -> Verdict:
    """The verdict of the user's ``wᵀ`` (what the badge says and what a preset's title claims)."""
    rows = power_rows(state.w, state.steps)
    user_log = next(r.log10_value for r in rows if r.user)
    return verdict_from_log10(np.array([user_log]), VANISH_THRESHOLD, EXPLODE_THRESHOLD)


STATE = ScalarState
