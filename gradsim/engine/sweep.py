"""Experiments the scalar and spectrum scenes run on top of the core engine.

* The seeds' eigenvalue experiment: scale ``W_hh`` to a chosen *spectral norm* and measure
  ``||dL/dh_1||`` after T steps, for many norms and several seeds. The initialisers of
  :mod:`gradsim.engine.init` scale the spectral *radius*, which for a non-normal matrix is smaller
  than the norm, so the sweep rescales each drawn matrix to ``||W||_2`` itself.
* The linearised picture of a typed-in matrix: its Jacobian at ``h = 0`` and what that predicts,
  next to the measured gradient flow of the same matrix.
* The scalar figures that need more than :mod:`gradsim.engine.scalar` gives: ``w^t`` curves as exact
  log10 values, the derivative curves of the activations, and a feedforward product of different
  per-layer weights beside the recurrent product of one weight.

Everything here is NumPy; every gradient comes from :func:`gradsim.engine.flow.gradient_flow`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from .activations import ACTIVATIONS, get_activation
from .cancel import check_cancelled, report_progress
from .errors import InputError
from .flow import FlowResult, derivative_from_output, gradient_flow
from .init import spectral_norm, spectral_radius
from .scalar import TABLE_WEIGHTS, power_reading
from .scenario import MAX_CELLS, GeneratorSettings, Scenario
from .spectrum import MatrixSpectrum, lyapunov_log10_rate, matrix_spectrum, memory_horizon
from .thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD

SWEEP_NORMS = tuple(float(v) for v in np.linspace(0.5, 1.5, 20))
MARKED_NORMS = (0.8, 1.0, 1.2)  # the seeds' three spectral norms
MAX_MATRIX = 4  # the matrix editor's largest size
MAX_ENTRY = 100.0


# ---------------------------------------------------------------------------------------------------
# the spectral-norm sweep


def rescale_to_norm(w: np.ndarray, target: float) -> np.ndarray:
    """``w`` multiplied so that its largest singular value is ``target``."""
    if not np.isfinite(target) or target < 0:
        raise InputError(f"target spectral norm must be a finite number >= 0, got {target!r}")
    norm = spectral_norm(w)
    if norm == 0.0:
        raise InputError("cannot rescale a zero matrix to a spectral norm")
    return np.asarray(w, dtype=np.float64) * (target / norm)


def _base_scenario(settings: GeneratorSettings, seed: int) -> Scenario:
    """The seed's network at scale 1 (so a zero scale never leaves nothing to rescale)."""
    return replace(settings, seed=seed, scale=1.0, cell="rnn").build()


def scenario_with_norm(settings: GeneratorSettings, target_norm: float, seed: int | None = None) -> Scenario:
    """The network of ``settings`` (at ``seed``), ``W_hh`` rescaled to spectral norm ``target_norm``.

    Inputs and ``W_xh`` are those of the generated scenario; the result is an explicit scenario.
    """
    base = _base_scenario(settings, settings.seed if seed is None else seed)
    return replace(base, W_hh=rescale_to_norm(base.W_hh, target_norm), generator=None)


@dataclass
class NormSweep:
    """``log10 ||dL/dh_1||`` for each spectral norm (rows) and seed (columns), T steps back.

    ``marked_log10`` holds the same figure at exactly the :data:`MARKED_NORMS` (the sweep's grid
    does not contain them). ``-inf`` means the gradient is exactly 0 (dead ReLU units).
    """

    norms: np.ndarray
    seeds: tuple[int, ...]
    steps: int
    log10_grad_h1: np.ndarray  # len(norms) x len(seeds)
    marked_norms: np.ndarray
    marked_log10: np.ndarray  # len(marked_norms) x len(seeds)
    radius_over_norm: np.ndarray  # rho(W) / ||W||_2 of each seed's matrix: how far below the norm the radius sits

    @property
    def low(self) -> np.ndarray:
        return np.min(self.log10_grad_h1, axis=1)

    @property
    def high(self) -> np.ndarray:
        return np.max(self.log10_grad_h1, axis=1)

    @property
    def median(self) -> np.ndarray:
        return np.median(self.log10_grad_h1, axis=1)

    @property
    def marked_median(self) -> np.ndarray:
        return np.median(self.marked_log10, axis=1)

    def to_json_dict(self) -> dict:
        def clean(a):
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in np.atleast_2d(a)]

        return {
            "steps": self.steps,
            "seeds": list(self.seeds),
            "spectral_norms": [float(v) for v in self.norms],
            "log10_grad_norm_h1": clean(self.log10_grad_h1),
            "marked_norms": [float(v) for v in self.marked_norms],
            "marked_log10_grad_norm_h1": clean(self.marked_log10),
            "radius_over_norm": [float(v) for v in self.radius_over_norm],
        }


def spectral_norm_sweep(
    settings: GeneratorSettings,
    norms: tuple[float, ...] = SWEEP_NORMS,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    marked: tuple[float, ...] = MARKED_NORMS,
) -> NormSweep:
    """Run the eigenvalue experiment: every norm times every seed, ``settings.steps`` steps each.

    One matrix is drawn per seed and rescaled for every norm, so along a row only the norm changes.
    A seed's column depends on nothing but the settings and that seed (:func:`_seed_column`), so the
    scene stepping its seed from 3 to 4 computes one new column and reuses the four it shares.
    """
    if settings.cell != "rnn":
        raise InputError("the spectral-norm sweep is for the vanilla RNN")
    if len(seeds) < 1 or len(norms) < 1:
        raise InputError("the sweep needs at least one seed and one spectral norm")
    settings.validated("sweep")
    all_norms = tuple(float(v) for v in tuple(norms) + tuple(marked))
    for target in all_norms:  # what rescale_to_norm refuses, refused before any run
        if not np.isfinite(target) or target < 0:
            raise InputError(f"target spectral norm must be a finite number >= 0, got {target!r}")
    out = np.empty((len(all_norms), len(seeds)))
    ratio = np.empty(len(seeds))
    for j, seed in enumerate(seeds):
        report_progress(j, len(seeds), "sweep seeds")
        column, ratio[j] = _seed_column(replace(settings, seed=int(seed), scale=1.0, cell="rnn"), all_norms)
        out[:, j] = column
    k = len(norms)
    norms_array = np.asarray(all_norms)
    return NormSweep(norms_array[:k], tuple(int(s) for s in seeds), settings.steps, out[:k],
                     norms_array[k:], out[k:], ratio)


@lru_cache(maxsize=256)
def _seed_column(settings: GeneratorSettings, norms: tuple[float, ...]) -> tuple[tuple[float, ...], float]:
    """One seed's column of the sweep: ``log10 ||dL/dh_1||`` at each spectral norm, and the radius over
    the norm of its matrix. Cached (a few hundred floats at most): the engine is deterministic, and
    the sweeps of neighbouring seeds share all columns but one."""
    base = _base_scenario(settings, settings.seed)
    unit = rescale_to_norm(base.W_hh, 1.0)
    # norms in groups whose trajectories (T x n x group) stay within one largest single flow's
    group = max(1, MAX_CELLS // (2 * base.steps * base.hidden))
    column = np.concatenate([first_step_log10_norms(base, unit, norms[i : i + group])
                             for i in range(0, len(norms), group)])
    return tuple(float(v) for v in column), float(spectral_radius(unit))


def first_step_log10_norms(scenario: Scenario, unit: np.ndarray, norms: tuple[float, ...]) -> np.ndarray:
    """``log10 ||dL/dh_1||`` of ``scenario`` with ``W_hh = norm * unit``, for every norm at once.

    The sweep's runs differ only in the factor on ``W_hh``, so they go through the recurrence
    together: the state is an ``n x k`` matrix (a column per norm) and each step is one matrix
    product for all ``k`` runs instead of ``k`` matrix-vector products, the per-call cost that
    dominated 115 runs of 50 steps. The backward pass is :func:`gradient_flow`'s in log space: each
    column is divided by its largest entry after every step and that factor's log10 kept aside, and
    each step's ``f'`` column by its largest entry beforehand, so the figure stays exact far below
    the float64 range; ``-inf`` where the gradient is exactly 0 (dead ReLU units).
    ``tests/engine/test_spectrum_sweep.py`` holds it to single runs of :func:`gradient_flow` and to
    torch autograd.
    """
    factors = np.asarray(norms, dtype=np.float64)
    unit = np.ascontiguousarray(unit, dtype=np.float64)
    drive = scenario.x @ scenario.W_xh.T + scenario.b_h  # T x n, shared by every run
    steps, n = drive.shape
    k = factors.size
    name = scenario.activation
    act = get_activation(name)
    h = np.empty((steps, n, k))
    prev = np.repeat(np.asarray(scenario.h0, dtype=np.float64)[:, None], k, axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            if not t & 63:
                check_cancelled()
            row = np.dot(unit, prev, out=h[t])
            row *= factors
            row += drive[t][:, None]
            if name == "tanh":
                prev = np.tanh(row, out=row)
            elif name == "relu":
                prev = np.maximum(row, 0.0, out=row)
            elif name == "identity":
                prev = row
            else:
                row[...] = act.f(row)
                prev = row
        slopes = derivative_from_output(name, h)  # T x n x k, f'(z_t) of every run
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        peak = np.max(np.abs(slopes), axis=1)  # T x k
        live = peak > 0.0
        slopes /= np.where(live, peak, 1.0)[:, None, :]
        log_offset = np.where(live[1:], np.log10(np.where(live, peak, 1.0))[1:], -np.inf).sum(axis=0)
        log_offset += (steps - 1) * np.log10(factors)
        wt = np.ascontiguousarray(unit.T)
        g = np.ones((n, k))
        tmp = np.empty((n, k))
        for t in range(steps - 1, 0, -1):  # g_{t-1} = norm * unit^T (f'(z_t) g_t), renormalised
            if not t & 63:
                check_cancelled()
            np.multiply(slopes[t], g, out=tmp)
            np.dot(wt, tmp, out=g)
            top = np.max(np.abs(g), axis=0)
            zero = top == 0.0
            log_offset += np.where(zero, -np.inf, np.log10(np.where(zero, 1.0, top)))
            g /= np.where(zero, 1.0, top)
        return log_offset + 0.5 * np.log10(np.einsum("ij,ij->j", g, g))  # -inf where a factor was 0


# ---------------------------------------------------------------------------------------------------
# the generated network's spectrum and per-step Jacobians


@dataclass
class NetworkSpectrum:
    """Everything the spectrum scene shows about the network the controls describe."""

    settings: GeneratorSettings
    spectrum: MatrixSpectrum
    flow: FlowResult
    step_singular_values: np.ndarray  # steps x n, descending; rows are every ``every``-th step
    step_t: np.ndarray  # the steps of those rows (1-based)
    step_singular_median: np.ndarray  # median singular value of each of those steps
    log10_rate: float  # average log10 growth per backward step (negative: the signal dies)
    memory_horizon: float  # steps until the signal has fallen by the vanishing threshold (inf: never)


def network_spectrum(settings: GeneratorSettings, vanish: float = VANISH_THRESHOLD,
                     explode: float = EXPLODE_THRESHOLD, max_rows: int = 400) -> NetworkSpectrum:
    """Spectrum of ``W_hh``, the gradient flow, each step's Jacobian singular values and the horizon.

    The singular values are taken at every step, or at every k-th step when ``T`` is long or ``n``
    wide (at most ``max_rows`` steps, fewer for wide matrices); ``step_t`` says which."""
    from .spectrum import step_jacobian_singular_values

    scenario = settings.build()
    flow = gradient_flow(scenario, vanish, explode)
    # an SVD costs n^3: wide matrices get fewer sampled steps so a redraw stays within about a second
    n = scenario.hidden
    rows = max(50, min(max_rows, int(max_rows * (48.0 / n) ** 3)))
    every = max(1, int(np.ceil(flow.steps / rows)))
    sv = step_jacobian_singular_values(scenario.W_hh, flow.dfdz, every)
    rate = lyapunov_log10_rate(flow.log10_grad_norm)
    with np.errstate(invalid="ignore"):
        median = np.median(sv, axis=1)
    return NetworkSpectrum(settings, matrix_spectrum(scenario.W_hh), flow, sv, flow.t[::every].copy(), median,
                           rate, memory_horizon(rate, vanish))


# ---------------------------------------------------------------------------------------------------
# the matrix editor


def check_matrix(matrix, where: str = "matrix") -> np.ndarray:
    """A square list of lists (1x1 .. 4x4) of finite numbers within +-100, as float64."""
    if isinstance(matrix, np.ndarray):
        matrix = matrix.tolist()
    if not isinstance(matrix, (list, tuple)) or not 1 <= len(matrix) <= MAX_MATRIX:
        raise InputError(f"{where}: must be a square list of 1 to {MAX_MATRIX} rows")
    n = len(matrix)
    for i, row in enumerate(matrix):
        if not isinstance(row, (list, tuple)) or len(row) != n:
            raise InputError(f"{where}: row {i} must hold {n} numbers (the matrix is square)")
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise InputError(f"{where}: entry [{i}][{j}] is not a number: {v!r}")
            if not np.isfinite(v) or abs(v) > MAX_ENTRY:
                raise InputError(f"{where}: entry [{i}][{j}] = {v!r} is outside -{MAX_ENTRY:g}..{MAX_ENTRY:g}")
    return np.asarray(matrix, dtype=np.float64)


def jacobian_at_zero(w_hh: np.ndarray, activation: str) -> np.ndarray:
    """``dh_t/dh_{t-1}`` at ``h_{t-1} = 0`` with no input: ``diag(f'(0)) W_hh``.

    ``f'(0)`` is 1 for tanh and identity, 0.25 for sigmoid and 0 for ReLU (PyTorch's convention).
    """
    w = np.asarray(w_hh, dtype=np.float64)
    slope = get_activation(activation).df(np.zeros(w.shape[0]))
    return slope[:, None] * w


@dataclass
class MatrixStudy:
    """A typed-in ``W_hh``: its spectrum, the spectrum of its Jacobian at 0, the prediction and the measured flow."""

    w_hh: np.ndarray
    activation: str
    spectrum: MatrixSpectrum  # of W_hh
    jacobian_spectrum: MatrixSpectrum  # of the Jacobian at h = 0
    flow: FlowResult  # measured: no input, h_0 = 0

    @property
    def prediction(self) -> str:
        """vanish / explode / marginal, from the spectral radius of the Jacobian at 0."""
        return self.jacobian_spectrum.prediction

    @property
    def measured(self) -> str:
        return self.flow.verdict.kind


def matrix_study(matrix, activation: str = "tanh", steps: int = 50, vanish: float = VANISH_THRESHOLD,
                 explode: float = EXPLODE_THRESHOLD) -> MatrixStudy:
    """The seeds' exercise for any small matrix: with no input and ``h_0 = 0``, ``h`` stays at the
    fixed point 0 for tanh, identity and ReLU, so every step's Jacobian is exactly ``J(0)`` and the
    measured curve falls at the rate ``rho(J(0))`` predicts."""
    w = check_matrix(matrix)
    if activation not in ACTIVATIONS:
        raise InputError(f"unknown activation {activation!r} (expected one of: {', '.join(ACTIVATIONS)})")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 10_000:
        raise InputError(f"steps must be a whole number in 1..10000, got {steps!r}")
    n = w.shape[0]
    scenario = Scenario("rnn", activation, w, np.zeros((n, 1)), np.zeros(n), np.zeros(n),
                        np.zeros((int(steps), 1)))
    flow = gradient_flow(scenario, vanish, explode)
    return MatrixStudy(w, activation, matrix_spectrum(w), matrix_spectrum(jacobian_at_zero(w, activation)), flow)


# ---------------------------------------------------------------------------------------------------
# scalar figures


@dataclass
class PowerRow:
    w: float
    log10_value: float  # log10 |w|^T, exact even where w^T leaves float64
    reading: str
    user: bool  # the row of the user's own w


def power_rows(w: float, steps: int, weights: tuple[float, ...] = TABLE_WEIGHTS) -> list[PowerRow]:
    """The ``w^T`` table for the standard weights plus the user's ``w`` (marked), sorted by w."""
    if not np.isfinite(w) or w <= 0:
        raise InputError(f"w must be a positive number, got {w!r}")
    rows = []
    for value in sorted(set(weights) | {float(w)}):
        log10_value = steps * float(np.log10(value))
        with np.errstate(over="ignore", under="ignore"):
            plain = float(np.power(value, steps))
        rows.append(PowerRow(float(value), log10_value, power_reading(plain), value == float(w)))
    return rows


def power_curves(weights: tuple[float, ...], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``t = 0..steps`` and ``log10 w^t`` for each weight (rows), exact at any depth."""
    t = np.arange(0, steps + 1, dtype=np.float64)
    logs = np.log10(np.asarray(weights, dtype=np.float64))[:, None] * t[None, :]
    return t, logs


def activation_curves(z: np.ndarray) -> dict[str, np.ndarray]:
    """``f'(z)`` of every activation on the grid ``z``."""
    z = np.asarray(z, dtype=np.float64)
    return {name: get_activation(name).df(z) for name in ACTIVATIONS}


@dataclass
class FeedforwardComparison:
    """A product of different per-layer weights beside one weight multiplied by itself.

    ``layer_weights[k]`` is layer ``k + 1``'s weight, drawn uniformly in ``[w - spread, w + spread]``.
    The products are kept as log10 of their absolute value (``-inf`` once a factor is 0), so long
    products stay exact.
    """

    t: np.ndarray  # 1..T
    layer_weights: np.ndarray
    log10_feedforward: np.ndarray  # log10 |w_1 ... w_t|
    log10_recurrent: np.ndarray  # log10 |w|^t


def feedforward_vs_recurrent(w: float, spread: float, steps: int, seed: int = 0) -> FeedforwardComparison:
    """Draw T per-layer weights around ``w`` from ``seed`` and multiply them up, beside ``w^t``."""
    if not np.isfinite(w) or not np.isfinite(spread) or spread < 0:
        raise InputError("w must be finite and the spread a finite number >= 0")
    if steps < 1:
        raise InputError("steps must be at least 1")
    rng = np.random.default_rng(seed)
    weights = w + spread * rng.uniform(-1.0, 1.0, size=steps)
    with np.errstate(divide="ignore"):
        logs = np.cumsum(np.log10(np.abs(weights)))
        rec = np.arange(1, steps + 1) * np.log10(abs(w)) if w != 0 else np.full(steps, -np.inf)
    return FeedforwardComparison(np.arange(1, steps + 1), weights, logs, rec)
