"""Gradient flow through time for a vanilla RNN: ``||dL/dh_t||`` for ``t = 1..T``, exactly.

Backward through time, ``g_{t-1} = W_hh^T (f'(z_t) * g_t)`` with ``g_T = dL/dh_T = 1`` (the loss is
``sum(h_T)``). Over a thousand sigmoid steps the norms reach 10^-1800, far below float64, so the
backward pass carries a direction of norm about 1 and a separate log10 magnitude: the product is
linear in ``g``, so rescaling loses nothing and the log10 values stay exact at any depth.

The derivatives follow PyTorch's own backward formulas (``1 - y*y`` for tanh, ``y*(1-y)`` for sigmoid,
ReLU passing the gradient unless ``y <= 0``), so results equal float64 autograd with ``retain_grad``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .activations import get_activation
from .cancel import check_cancelled
from .init import spectral_norm, spectral_radius
from .scenario import Scenario
from .thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD, Verdict, verdict_from_log10

# Keep the running direction's norm between these, so ``v @ v`` neither overflows nor underflows.
_RENORM_LOW = 1e-60
_RENORM_HIGH = 1e60
_FLOAT_MAX_LOG10 = np.log10(np.finfo(np.float64).max)
_FLOAT_TINY_LOG10 = np.log10(np.finfo(np.float64).smallest_subnormal)


@dataclass
class FlowResult:
    """Per-step figures of one run. Arrays have length ``T``; index 0 is ``t = 1``.

    ``log10_grad_norm`` is exact even far outside float64 (``-inf`` only where the gradient is
    exactly zero, for example behind a layer of dead ReLU units). ``grad_norm`` is the same number as
    a float64, 0.0 where it underflows and ``inf`` where it overflows.
    """

    t: np.ndarray
    log10_grad_norm: np.ndarray
    grad_norm: np.ndarray
    log10_local_factor: np.ndarray  # log10 ||g_{t-1}|| / ||g_t||, the factor applied by step t; NaN at t = 1
    log10_cumulative: np.ndarray  # log10 ||g_t|| / ||g_T||
    dfdz: np.ndarray  # f'(z_t) per unit, T x n
    h: np.ndarray  # hidden states h_1..h_T, T x n
    forward_overflow: np.ndarray  # bool per step: h_t holds inf or NaN
    w_hh: np.ndarray
    verdict: Verdict
    cell: str = "rnn"
    activation: str = "tanh"
    extra: dict[str, Any] = field(default_factory=dict)
    # log10 ||dL/dx_t||, the gradient reaching the input at step t: the measure every model shares
    # (an attention layer has no recurrent state to compare). Exact like log10_grad_norm.
    log10_input_grad_norm: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return int(self.t.size)

    @property
    def input_grad_norm(self) -> np.ndarray | None:
        """``||dL/dx_t||_2`` as float64 (0.0 where it underflows, ``inf`` where it overflows)."""
        return None if self.log10_input_grad_norm is None else power10(self.log10_input_grad_norm)

    @property
    def spectral_radius(self) -> float:
        """Largest eigenvalue modulus of ``W_hh``, computed on first use (an eigensolve costs as much
        as the whole gradient pass at n = 128, and not every caller needs it)."""
        if "spectral_radius" not in self.extra:
            self.extra["spectral_radius"] = spectral_radius(self.w_hh)
        return self.extra["spectral_radius"]

    @property
    def spectral_norm(self) -> float:
        """``||W_hh||_2``, computed on first use."""
        if "spectral_norm" not in self.extra:
            self.extra["spectral_norm"] = spectral_norm(self.w_hh)
        return self.extra["spectral_norm"]

    @property
    def log10_bound(self) -> np.ndarray:
        """log10 of the bound ``||g_T|| (c ||W_hh||_2)^(T-t)`` on the curve, ``c = max f'``
        (0.25 for sigmoid, 1 otherwise): each backward step multiplies by at most ``c ||W_hh||_2``."""
        if "log10_bound" not in self.extra:
            per_step = get_activation(self.activation).max_derivative * self.spectral_norm
            with np.errstate(divide="ignore", invalid="ignore"):
                log_step = np.log10(per_step) if per_step > 0 else -np.inf
                bound = self.log10_grad_norm[-1] + (self.steps - self.t) * log_step
            bound[-1] = self.log10_grad_norm[-1]
            self.extra["log10_bound"] = bound
        return self.extra["log10_bound"]

    @property
    def log10_total_factor(self) -> float:
        """log10 of ``||dL/dh_1|| / ||dL/dh_T||``: what is left after travelling back T-1 steps."""
        return float(self.log10_cumulative[0])

    @property
    def log10_mean_factor(self) -> float:
        """Geometric mean of the per-step factor (NaN when T = 1 or the gradient became exactly 0)."""
        if self.steps < 2 or not np.isfinite(self.log10_cumulative[0]):
            return float("nan")
        return float(self.log10_cumulative[0] / (self.steps - 1))

    @property
    def underflow(self) -> np.ndarray:
        """Steps whose gradient is nonzero but smaller than the smallest float64."""
        return np.isfinite(self.log10_grad_norm) & (self.log10_grad_norm < _FLOAT_TINY_LOG10)

    @property
    def overflow(self) -> np.ndarray:
        """Steps whose gradient is larger than the largest float64."""
        return self.log10_grad_norm > _FLOAT_MAX_LOG10

    def to_json_dict(self) -> dict[str, Any]:
        """The ``gradsim flow --format json`` document (CONTRACTS section 3)."""
        return {
            "cell": self.cell,
            "activation": self.activation,
            "t": [int(v) for v in self.t],
            "grad_norm": json_finite(self.grad_norm),
            "log10_grad_norm": json_finite(self.log10_grad_norm),
            "log10_local_factor": json_finite(self.log10_local_factor),
            "log10_bound": json_finite(self.log10_bound),
            "forward_overflow": [bool(v) for v in self.forward_overflow],
            "spectral_radius": self.spectral_radius,
            "spectral_norm": self.spectral_norm,
            "verdict": verdict_json(self.verdict),
            **self.input_json(),
        }

    def input_json(self) -> dict[str, list]:
        """``input_grad_norm`` and ``log10_input_grad_norm`` for the JSON document of every cell."""
        if self.log10_input_grad_norm is None:
            return {}
        return {"input_grad_norm": json_finite(self.input_grad_norm),
                "log10_input_grad_norm": json_finite(self.log10_input_grad_norm)}


def json_finite(values: np.ndarray) -> list[float | None]:
    """Floats for strict JSON, ``None`` for anything not finite: a log10 of an exact zero, or a norm
    that overflows float64 (its exact value is in the log10 column; one that underflows is 0.0)."""
    return [float(v) if np.isfinite(v) else None for v in values]


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict in every model's JSON document: its kind, first step and thresholds."""
    return {"kind": verdict.kind, "first_t": verdict.first_t, "vanish_threshold": verdict.vanish_threshold,
            "explode_threshold": verdict.explode_threshold}


def power10(log10_values: np.ndarray) -> np.ndarray:
    """``10 ** log10_values`` as float64: 0.0 where it underflows, ``inf`` where it overflows (the
    exact value stays in the log10 array)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.power(10.0, log10_values)


def geometric_step(log10_norm: np.ndarray) -> float:
    """The geometric mean of ``||g_{t-1}|| / ||g_t||`` over a run, from its exact log10 norms: the
    factor one backward step applied on average. NaN when ``T = 1`` or either end is not finite
    (the gradient became exactly 0)."""
    steps = log10_norm.size
    if steps < 2 or not np.all(np.isfinite(log10_norm[[0, -1]])):
        return float("nan")
    return float(10.0 ** ((log10_norm[0] - log10_norm[-1]) / (steps - 1)))


def mean_over_backward_steps(values: np.ndarray) -> float:
    """Mean over units and the steps ``t = 2..T`` that the backward pass goes through (all steps if
    ``T = 1``): the average of a per-step factor along the way back."""
    rows = values[1:] if values.shape[0] > 1 else values
    return float(np.mean(rows))


def forward(scenario: Scenario) -> np.ndarray:
    """Run ``h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)`` and return ``h_1..h_T`` (T x n).

    The input contributions of all steps are one matrix product up front, so the loop does only the
    recurrent matrix-vector product and the activation.
    """
    act = get_activation(scenario.activation)
    w = np.ascontiguousarray(scenario.W_hh, dtype=np.float64)
    drive = scenario.x @ scenario.W_xh.T + scenario.b_h  # T x n
    steps, n = drive.shape
    h = np.empty((steps, n))
    prev = np.asarray(scenario.h0, dtype=np.float64)
    name = act.name
    # Iterating over the arrays hands out row views in C; indexing h[t] in Python costs more than
    # the add it feeds at n = 128.
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "tanh":
            tanh, dot = np.tanh, np.dot
            for row, drv in zip(h, drive, strict=True):
                dot(w, prev, out=row)
                row += drv
                prev = tanh(row, out=row)
        elif name == "identity":
            for row, drv in zip(h, drive, strict=True):
                np.dot(w, prev, out=row)
                row += drv
                prev = row
        elif name == "relu":
            for row, drv in zip(h, drive, strict=True):
                np.dot(w, prev, out=row)
                row += drv
                prev = np.maximum(row, 0.0, out=row)
        else:
            for t, drv in enumerate(drive):
                row = h[t]
                np.dot(w, prev, out=row)
                row += drv
                h[t] = act.f(row)
                prev = h[t]
    return h


def derivative_from_output(activation: str, y: np.ndarray) -> np.ndarray:
    """``f'(z_t)`` computed from the output ``y = f(z)`` exactly as PyTorch's backward does."""
    with np.errstate(invalid="ignore", over="ignore"):
        if activation == "tanh":
            return 1.0 - y * y
        if activation == "sigmoid":
            return (1.0 - y) * y
        if activation == "relu":
            return np.where(y <= 0, 0.0, 1.0)
        if activation == "identity":
            return np.ones_like(y)
    raise ValueError(f"unknown activation {activation!r}")


@dataclass
class BackwardChain:
    """The backward pass of a recurrence, kept in log space.

    ``log10_norm[t]`` is ``log10 ||g_t||`` (exact, ``-inf`` for an exact zero). ``directions[t]``
    times ``10**log10_scale[t]`` is the vector ``g_t`` itself: the rows are of moderate size, so
    products with them (the gradient reaching the input, ``W_xh^T (f' g_t)``) are taken for all
    steps at once afterwards, without ever forming a number outside float64.
    ``slopes[t] * 10**log10_slope_scale[t]`` is the element-wise factor of step ``t`` (``f'(z_t)``,
    or ``alpha f'(z_t)`` for the residual RNN).
    """

    log10_norm: np.ndarray
    directions: np.ndarray
    log10_scale: np.ndarray
    slopes: np.ndarray
    log10_slope_scale: np.ndarray

    def input_log10_norms(self, w_in: np.ndarray) -> np.ndarray:
        """``log10 ||W_in^T (slope_t * g_t)||`` for every step: ``log10 ||dL/dx_t||`` when ``W_in``
        is the input matrix that feeds the pre-activation ``z_t``. Both factors are stored with
        their largest entries near 1 (the slopes exactly 1, the directions within 1e+-60), so the
        product of all steps is one matrix product without underflow."""
        rows = np.multiply(self.slopes, self.directions) @ np.asarray(w_in, dtype=np.float64)
        return row_log10_norms(rows, self.log10_scale + self.log10_slope_scale)


def backward_chain(w_hh: np.ndarray, dfdz: np.ndarray, block: int = 16, identity: bool = False) -> BackwardChain:
    """The backward pass ``g_T = 1``, ``g_{t-1} = W_hh^T (f'(z_t) g_t)`` (plus ``g_t`` when
    ``identity``: the residual RNN ``h_t = h_{t-1} + alpha f(z_t)``, whose ``dfdz`` is then
    ``alpha f'(z_t)``), with exact log10 norms and the direction of every ``g_t``.

    Without the identity each row of ``f'`` is divided by its largest entry first (and that log
    added back); with it the rows are used as they are, since ``g_t`` is added unscaled. The chain
    is run in blocks of ``block`` steps with two or three NumPy calls a step; the norms of a block
    are taken at once and the direction renormalised at the block's end. A block whose norms leave
    ``[1e-60, 1e60]`` (where squares would lose digits) is recomputed step by step with the careful,
    per-step renormalisation, so the result is exact at any depth and fast in the common case.
    """
    dfdz = np.asarray(dfdz, dtype=np.float64)
    steps, n = dfdz.shape
    out = np.empty(steps)
    directions = np.empty((steps, n))
    log_scale = np.zeros(steps)
    wt = np.ascontiguousarray(np.asarray(w_hh, dtype=np.float64).T)
    with np.errstate(divide="ignore", invalid="ignore"):
        if identity:
            d_scaled = dfdz
            log_row = np.zeros(steps)
            dead = np.zeros(steps, dtype=bool)
        else:
            row_max = np.max(np.abs(dfdz), axis=1) if n else np.zeros(steps)
            dead = row_max == 0.0
            row_scale = np.where(dead, 1.0, row_max)
            d_scaled = dfdz / row_scale[:, None]
            log_row = np.log10(row_scale)
    out[steps - 1] = 0.5 * np.log10(n)
    directions[steps - 1] = 1.0
    rows = list(directions)
    d_rows = list(d_scaled)
    tmp = np.empty(n)
    g = np.ones(n)
    offset = 0.0  # the true gradient is g * 10**offset
    t = steps - 1  # index of the step whose gradient g holds
    low2, high2 = _RENORM_LOW**2, _RENORM_HIGH**2
    multiply, dot = np.multiply, np.dot

    def done() -> BackwardChain:
        if not identity:
            return BackwardChain(out, directions, log_scale, d_scaled, log_row)
        slopes, log_slopes = _peak_scaled(dfdz, np.zeros(steps))  # alpha f' can be far below 1
        return BackwardChain(out, directions, log_scale, slopes, log_slopes)

    with np.errstate(all="ignore"):
        while t > 0:
            check_cancelled()
            k = min(block, t)  # steps t-1 .. t-k are computed from rows t .. t-k+1 of f'
            if not dead[t - k + 1 : t + 1].any():
                prev = g
                for i in range(k):
                    multiply(d_rows[t - i], prev, out=tmp)
                    row = dot(wt, tmp, out=rows[t - 1 - i])
                    if identity:
                        row += prev
                    prev = row
                chunk = directions[t - k : t]  # steps t-k .. t-1, in increasing order
                sq = np.einsum("ij,ij->i", chunk, chunk)
                if np.all((sq > low2) & (sq < high2)):
                    scales = (offset + np.cumsum(log_row[t - k + 1 : t + 1][::-1]))[::-1]
                    log_scale[t - k : t] = scales
                    out[t - k : t] = scales + 0.5 * np.log10(sq)
                    g = chunk[0] / np.sqrt(sq[0])
                    offset = float(out[t - k])
                    t -= k
                    continue
            # careful path: one step at a time, rescaling by the largest entry before squaring
            if dead[t]:
                out[:t] = -np.inf
                directions[:t] = 0.0
                return done()
            v = dot(wt, d_scaled[t] * g, out=rows[t - 1])
            if identity:
                v += g
            offset += log_row[t]
            t -= 1
            amax = float(np.max(np.abs(v)))
            if amax == 0.0:
                out[: t + 1] = -np.inf
                directions[:t] = 0.0
                return done()
            unit = np.divide(v, amax, out=v)  # the stored direction: largest entry 1
            log_scale[t] = offset + np.log10(amax)
            rel = float(np.sqrt(unit @ unit))
            out[t] = offset + np.log10(amax) + np.log10(rel)
            g = unit / rel
            offset = float(out[t])
    return done()


def row_log10_norms(rows: np.ndarray, offsets: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    """``log10 ||row_t|| + offsets[t]`` for every row at once (of ``row_t @ right`` when ``right``
    is given), each row scaled by its largest entry first so that nothing underflows when squared
    (nor in the product); ``-inf`` for rows that are exactly zero."""
    rows, offsets = _peak_scaled(np.asarray(rows, dtype=np.float64), np.asarray(offsets, dtype=np.float64))
    if right is not None:
        rows, offsets = _peak_scaled(rows @ right, offsets)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = offsets + 0.5 * np.log10(np.einsum("ij,ij->i", rows, rows))
    out[~np.any(rows != 0.0, axis=1)] = -np.inf
    return out


def _peak_scaled(rows: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows divided by their largest magnitude, that magnitude's log10 added to the offsets (rows of
    zeros, NaN or inf are left as they are)."""
    if rows.shape[1] == 0:
        return rows, offsets
    with np.errstate(invalid="ignore", divide="ignore"):
        peak = np.max(np.abs(rows), axis=1)
        safe = np.where((peak > 0.0) & np.isfinite(peak), peak, 1.0)
        return rows / safe[:, None], offsets + np.log10(safe)


def gradient_flow(
    scenario: Scenario,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> FlowResult:
    """The gradient flow of CONTRACTS section 1: ``||dL/dh_t||_2`` for ``t = 1..T``, float64, and
    the gradient reaching the input, ``||dL/dx_t||_2``.

    LSTM and GRU scenarios (generated form) are handed to :mod:`gradsim.engine.cells`, which imports
    torch; residual RNNs and the attention layer to :mod:`gradsim.engine.additive`; vanilla RNNs
    are pure NumPy.
    """
    if scenario.cell in ("residual", "attention"):
        from .additive import scenario_flow

        return scenario_flow(scenario, vanish_threshold, explode_threshold)
    if scenario.cell != "rnn":
        from .cells import gated_gradient_flow  # imports torch lazily

        if scenario.generator is None:
            raise ValueError("LSTM and GRU scenarios need the generated form")
        return gated_gradient_flow(scenario.generator, vanish_threshold, explode_threshold)

    h = forward(scenario)
    dfdz = derivative_from_output(scenario.activation, h)
    chain = backward_chain(scenario.W_hh, dfdz)
    return assemble_result(chain.log10_norm, h, dfdz, scenario.W_hh, vanish_threshold, explode_threshold,
                           cell="rnn", activation=scenario.activation,
                           log10_input_grad_norm=chain.input_log10_norms(scenario.W_xh))  # W_xh^T (f' g_t)


def assemble_result(
    log10_norm: np.ndarray,
    h: np.ndarray,
    dfdz: np.ndarray,
    w_hh: np.ndarray,
    vanish_threshold: float,
    explode_threshold: float,
    cls: type[FlowResult] = FlowResult,
    **fields: Any,
) -> FlowResult:
    """A result of class ``cls`` from the exact log10 norms: the float64 norms, per-step factors,
    cumulative factors, forward-overflow flags and the verdict are derived here for every model."""
    steps = log10_norm.size
    t = np.arange(1, steps + 1)
    grad_norm = power10(log10_norm)
    local = np.full(steps, np.nan)
    with np.errstate(invalid="ignore"):
        local[1:] = log10_norm[:-1] - log10_norm[1:]
        cumulative = log10_norm - log10_norm[-1]
    overflow = ~np.all(np.isfinite(h), axis=1)
    return cls(
        t=t,
        log10_grad_norm=log10_norm,
        grad_norm=grad_norm,
        log10_local_factor=local,
        log10_cumulative=cumulative,
        dfdz=dfdz,
        h=h,
        forward_overflow=overflow,
        w_hh=w_hh,
        verdict=verdict_from_log10(log10_norm, vanish_threshold, explode_threshold),
        **fields,
    )
