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

    @property
    def steps(self) -> int:
        return int(self.t.size)

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
        logs = [None if not np.isfinite(v) else float(v) for v in self.log10_grad_norm]
        local = [None if not np.isfinite(v) else float(v) for v in self.log10_local_factor]
        return {
            "cell": self.cell,
            "activation": self.activation,
            "t": [int(v) for v in self.t],
            "grad_norm": [float(v) for v in self.grad_norm],
            "log10_grad_norm": logs,
            "log10_local_factor": local,
            "log10_bound": [float(v) for v in self.log10_bound],
            "forward_overflow": [bool(v) for v in self.forward_overflow],
            "spectral_radius": self.spectral_radius,
            "spectral_norm": self.spectral_norm,
            "verdict": {
                "kind": self.verdict.kind,
                "first_t": self.verdict.first_t,
                "vanish_threshold": self.verdict.vanish_threshold,
                "explode_threshold": self.verdict.explode_threshold,
            },
        }


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


def backward_log10(w_hh: np.ndarray, dfdz: np.ndarray, block: int = 16) -> np.ndarray:
    """``log10 ||g_t||`` for ``t = 1..T`` with ``g_T = 1`` and ``g_{t-1} = W_hh^T (f'(z_t) g_t)``.

    Each row of ``f'`` is divided by its largest entry first (and that log added back). The chain is
    then run in blocks of ``block`` steps with two NumPy calls a step; the norms of a block are taken
    at once and the direction renormalised at the block's end. A block whose norms leave
    ``[1e-60, 1e60]`` (where squares would lose digits) is recomputed step by step with the careful,
    per-step renormalisation, so the result is exact at any depth and fast in the common case.
    """
    steps, n = dfdz.shape
    out = np.empty(steps)
    wt = np.ascontiguousarray(w_hh.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        row_max = np.max(np.abs(dfdz), axis=1)
        dead = row_max == 0.0
        row_scale = np.where(dead, 1.0, row_max)
        d_scaled = dfdz / row_scale[:, None]
        log_row = np.log10(row_scale)
    out[steps - 1] = 0.5 * np.log10(n)
    chain = np.empty((block, n))
    chain_rows = list(chain)
    d_rows = list(d_scaled)
    tmp = np.empty(n)
    g = np.ones(n)
    offset = 0.0  # the true gradient is g * 10**offset
    t = steps - 1  # index of the step whose gradient g holds
    low2, high2 = _RENORM_LOW**2, _RENORM_HIGH**2
    multiply, dot = np.multiply, np.dot
    with np.errstate(all="ignore"):
        while t > 0:
            check_cancelled()
            k = min(block, t)  # steps t-1 .. t-k are computed from rows t .. t-k+1 of f'
            if not dead[t - k + 1 : t + 1].any():
                prev = g
                for i in range(k):
                    multiply(d_rows[t - i], prev, out=tmp)
                    prev = dot(wt, tmp, out=chain_rows[i])
                sq = np.einsum("ij,ij->i", chain[:k], chain[:k])
                if np.all((sq > low2) & (sq < high2)):
                    logs = offset + np.cumsum(log_row[t - k + 1 : t + 1][::-1]) + 0.5 * np.log10(sq)
                    out[t - k : t][::-1] = logs
                    g = chain[k - 1] / np.sqrt(sq[k - 1])
                    offset = float(logs[-1])
                    t -= k
                    continue
            # careful path: one step at a time, rescaling by the largest entry before squaring
            if dead[t]:
                out[:t] = -np.inf
                return out
            v = wt @ (d_scaled[t] * g)
            offset += log_row[t]
            t -= 1
            amax = float(np.max(np.abs(v)))
            if amax == 0.0:
                out[: t + 1] = -np.inf
                return out
            unit = v / amax
            rel = float(np.sqrt(unit @ unit))
            out[t] = offset + np.log10(amax) + np.log10(rel)
            g = unit / rel
            offset = float(out[t])
    return out


def gradient_flow(
    scenario: Scenario,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> FlowResult:
    """The gradient flow of CONTRACTS section 1: ``||dL/dh_t||_2`` for ``t = 1..T``, float64.

    LSTM and GRU scenarios (generated form) are handed to :mod:`gradsim.engine.cells`, which imports
    torch; vanilla RNNs are pure NumPy.
    """
    if scenario.cell != "rnn":
        from .cells import gated_gradient_flow  # imports torch lazily

        if scenario.generator is None:
            raise ValueError("LSTM and GRU scenarios need the generated form")
        return gated_gradient_flow(scenario.generator, vanish_threshold, explode_threshold)

    h = forward(scenario)
    dfdz = derivative_from_output(scenario.activation, h)
    log10_norm = backward_log10(scenario.W_hh, dfdz)
    return _assemble(scenario, h, dfdz, log10_norm, vanish_threshold, explode_threshold)


def _assemble(scenario, h, dfdz, log10_norm, vanish_threshold, explode_threshold) -> FlowResult:
    steps = log10_norm.size
    t = np.arange(1, steps + 1)
    with np.errstate(over="ignore", under="ignore"):
        grad_norm = np.power(10.0, log10_norm)
    local = np.full(steps, np.nan)
    with np.errstate(invalid="ignore"):
        local[1:] = log10_norm[:-1] - log10_norm[1:]
        cumulative = log10_norm - log10_norm[-1]
    overflow = ~np.all(np.isfinite(h), axis=1)
    return FlowResult(
        t=t,
        log10_grad_norm=log10_norm,
        grad_norm=grad_norm,
        log10_local_factor=local,
        log10_cumulative=cumulative,
        dfdz=dfdz,
        h=h,
        forward_overflow=overflow,
        w_hh=scenario.W_hh,
        verdict=verdict_from_log10(log10_norm, vanish_threshold, explode_threshold),
        cell="rnn",
        activation=scenario.activation,
    )
