"""State of the ``spectrum`` scene: a generated ``W_hh`` (its eigenvalues, its per-step Jacobians, the
spectral-norm sweep) and a small matrix the user types.

Three worker jobs, one per picture that costs something: ``compute_network`` (the generated network's
spectrum, flow and Jacobians), ``compute_matrix`` (the typed matrix's flow with no input) and
``compute_sweep`` (the seeds' eigenvalue experiment). Each result carries the prediction of Pascanu,
Mikolov & Bengio (2013) for its matrix (:func:`predict`, the one place the scene gets it from) next to
what the engine measured, so the scene can say both and never let one contradict the other.

What presets and lesson steps claim (``outcome``) is a mapping: ``"network"`` and ``"matrix"`` to
the measured verdict of those flows, and ``"norm 0.8"``, ``"norm 1.0"``, ``"norm 1.2"`` to the
verdict of the sweep's median ``‖dL/dh₁‖`` at those spectral norms. Only what a claim names is
computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..engine.activations import ACTIVATIONS, get_activation
from ..engine.init import INITIALISERS
from ..engine.scenario import GeneratorSettings
from ..engine.spectrum import lyapunov_log10_rate, memory_horizon, theorem_prediction
from ..engine.sweep import (
    MARKED_NORMS,
    MAX_ENTRY,
    MAX_MATRIX,
    SWEEP_NORMS,
    MatrixStudy,
    NetworkSpectrum,
    NormSweep,
    matrix_study,
    network_spectrum,
    spectral_norm_sweep,
)
from ..engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD, Verdict, verdict_from_log10
from ..presets import preset_ids
from ..state import SceneState, matrix, number, one_of

VIEWS = ("eigenvalues", "jacobians", "matrix", "sweep")
SEED_MATRIX = ((0.5, 0.3), (0.2, 0.4))  # the seeds' exercise
INPUTS = 4  # input size of the generated networks, as in the flow scene
MAX_HIDDEN = 128
MAX_STEPS = 1000


@dataclass(frozen=True)
class SpectrumState(SceneState):
    """What the spectrum scene shows. ``view`` is the tab on show; ``steps`` is T of both the
    network's flow and the typed matrix's flow."""

    scene_id = "spectrum"
    KEEP_ON_PRESET = ("seed",)  # a preset's claim holds on every seed
    PRESENTATION = ("view",)  # looking at another tab keeps the preset

    preset: str = field(default="custom", metadata=one_of(preset_ids("spectrum")))
    activation: str = field(default="tanh", metadata=one_of(ACTIVATIONS))
    init: str = field(default="orthogonal", metadata=one_of(INITIALISERS))
    scale: float = field(default=0.9, metadata=number(0.0, 2.5))
    hidden: int = field(default=64, metadata=number(1, MAX_HIDDEN, integer=True))
    seed: int = field(default=0, metadata=number(0, 999_999, integer=True))
    input_scale: float = field(default=0.1, metadata=number(0.0, 3.0))
    steps: int = field(default=100, metadata=number(2, MAX_STEPS, integer=True))
    matrix: tuple[tuple[float, ...], ...] = field(default=SEED_MATRIX,
                                                  metadata=matrix(MAX_MATRIX, -MAX_ENTRY, MAX_ENTRY))
    sweep_steps: int = field(default=50, metadata=number(1, 500, integer=True))
    sweep_seeds: int = field(default=5, metadata=number(1, 10, integer=True))
    view: str = field(default="eigenvalues", metadata=one_of(VIEWS))

    def replace(self, **changes):
        if "preset" not in changes and changes and all(k in self.PRESENTATION for k in changes):
            changes["preset"] = self.preset
        return super().replace(**changes)

    def generator(self) -> GeneratorSettings:
        return GeneratorSettings(hidden=self.hidden, input=INPUTS, steps=self.steps, activation=self.activation,
                                 init=self.init, scale=self.scale, input_scale=self.input_scale, seed=self.seed)

    def matrix_job(self) -> MatrixJob:
        return MatrixJob(self.matrix, self.activation, self.steps)

    def sweep_job(self) -> SweepJob:
        settings = GeneratorSettings(hidden=self.hidden, input=INPUTS, steps=self.sweep_steps,
                                     activation=self.activation, init=self.init, scale=1.0,
                                     input_scale=self.input_scale, seed=self.seed)
        return SweepJob(settings, tuple(range(self.seed, self.seed + self.sweep_seeds)))

    def job(self) -> SpectrumJob:
        return SpectrumJob(self.generator(), self.matrix_job(), self.sweep_job())


# ---------------------------------------------------------------------------------------------------
# the prediction


def predict(w_hh: np.ndarray, activation: str):
    """What Pascanu, Mikolov & Bengio (2013) promise for ``W_hh`` and ``f`` before anything runs.

    One backward step multiplies ``‖dL/dhₜ‖`` by at most ``σ_max(W_hh)·γ`` with ``γ = max |f′|``, so
    ``σ_max·γ < 1`` is sufficient for vanishing; ``σ_max·γ > 1`` is only necessary for exploding
    (nothing is promised); ``ρ(W_hh)`` is the long-run rate per step of the linear map. The scene
    reads ``sigma_max``, ``gamma``, ``spectral_radius``, ``vanishing_guaranteed``,
    ``bound_per_step`` and ``long_run_rate_per_step`` (set for a linear network only).
    """
    return theorem_prediction(w_hh, activation)


def log10_per_step(value: float) -> float:
    return math.log10(value) if value > 0 else -math.inf


# ---------------------------------------------------------------------------------------------------
# the jobs and their results


@dataclass(frozen=True)
class MatrixJob:
    matrix: tuple[tuple[float, ...], ...]
    activation: str
    steps: int


@dataclass(frozen=True)
class SweepJob:
    settings: GeneratorSettings
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class SpectrumJob:
    network: GeneratorSettings
    matrix: MatrixJob
    sweep: SweepJob


@dataclass
class NetworkResult:
    """The generated network: spectrum, flow, step Jacobians (the engine's), and the prediction."""

    network: NetworkSpectrum
    prediction: object  # see ``predict``

    @property
    def verdict(self) -> Verdict:
        return self.network.flow.verdict


@dataclass
class MatrixResult:
    """The typed matrix with no input and ``h₀ = 0``: its measured flow beside what the theorem says.

    ``log10_bound[t-1]`` is the theorem's ceiling ``‖dL/dh_T‖ (σ_max·γ)^(T−t)``. With tanh and the
    identity the state stays at 0, where ``f′ = 1``: the run *is* the linear map ``W_hh``, and
    ``log10_long_run[t-1] = log10 ‖dL/dh_T‖ + (T−t) log10 ρ(W_hh)`` is the rate it settles to (None
    for sigmoid, whose state leaves 0, and ReLU, whose ``f′(0) = 0`` cuts the gradient at once).
    """

    study: MatrixStudy
    prediction: object
    log10_bound: np.ndarray
    log10_long_run: np.ndarray | None
    log10_rate: float  # measured average log10 change per backward step (nan if no two finite points)
    memory_horizon: float  # steps until the signal has fallen by the vanishing threshold at that rate

    @property
    def verdict(self) -> Verdict:
        return self.study.flow.verdict


@dataclass
class SweepResult:
    sweep: NormSweep
    activation: str
    gamma: float  # max |f′|: left of ‖W_hh‖₂ = 1/γ vanishing is guaranteed

    def marked_verdict(self, norm: float) -> Verdict:
        i = int(np.argmin(np.abs(self.sweep.marked_norms - norm)))
        return verdict_from_log10(np.array([self.sweep.marked_median[i]]), VANISH_THRESHOLD, EXPLODE_THRESHOLD)


def compute_network(settings: GeneratorSettings) -> NetworkResult:
    """Worker: the generated network's spectrum, flow, step Jacobians and horizon, and the prediction."""
    network = network_spectrum(settings, VANISH_THRESHOLD, EXPLODE_THRESHOLD)
    # the build draws W_hh once per (initialiser, size, seed) and rescales it: this costs no new draw
    return NetworkResult(network, predict(settings.build().W_hh, settings.activation))


def compute_matrix(job: MatrixJob) -> MatrixResult:
    """Worker: the typed matrix's flow with no input, the theorem's bound and the long-run line."""
    study = matrix_study([list(r) for r in job.matrix], job.activation, job.steps)
    prediction = predict(study.w_hh, job.activation)
    flow = study.flow
    back = (flow.steps - flow.t).astype(np.float64)
    last = flow.log10_grad_norm[-1]
    with np.errstate(invalid="ignore"):
        bound = last + back * log10_per_step(prediction.bound_per_step)
        bound[-1] = last
        long_run = None
        if job.activation in ("tanh", "identity"):
            long_run = last + back * log10_per_step(study.spectrum.spectral_radius)
            long_run[-1] = last
    rate = lyapunov_log10_rate(flow.log10_grad_norm)
    return MatrixResult(study, prediction, bound, long_run, rate, memory_horizon(rate, VANISH_THRESHOLD))


def compute_sweep(job: SweepJob) -> SweepResult:
    """Worker: the spectral-norm sweep (20 norms + the 3 marked ones, times the seeds)."""
    sweep = spectral_norm_sweep(job.settings, SWEEP_NORMS, job.seeds, MARKED_NORMS)
    return SweepResult(sweep, job.settings.activation, float(get_activation(job.settings.activation).max_derivative))


# ---------------------------------------------------------------------------------------------------
# claims


class _Outcome(Mapping):
    """The verdicts a claim may name, computed only when asked for (the sweep costs the most)."""

    def __init__(self, state: SpectrumState) -> None:
        self._state = state
        self._sweep: SweepResult | None = None
        self._keys = ("network", "matrix", *(f"norm {n:.1f}" for n in MARKED_NORMS))
        self._known: dict[str, Verdict] = {}

    def __getitem__(self, key: str) -> Verdict:
        if key not in self._keys:
            raise KeyError(key)
        if key not in self._known:
            if key == "network":
                self._known[key] = compute_network(self._state.generator()).verdict
            elif key == "matrix":
                self._known[key] = compute_matrix(self._state.matrix_job()).verdict
            else:
                if self._sweep is None:
                    self._sweep = compute_sweep(self._state.sweep_job())
                self._known[key] = self._sweep.marked_verdict(float(key.split()[1]))
        return self._known[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:  # what a failed claim prints: the verdicts it looked at
        return "{" + ", ".join(f"{k}: {v.kind}" for k, v in self._known.items()) + "}"


def outcome(state: SpectrumState) -> Mapping[str, Verdict]:
    """What a preset or lesson step may claim: ``network``, ``matrix``, ``norm 0.8`` ... (see above)."""
    return _Outcome(state)


STATE = SpectrumState
