"""The scalar intuition: one number multiplied by itself, and what activations do to it.

``h_t = tanh(w h_{t-1})`` is the one-unit RNN. Its local Jacobian is ``w (1 - h_t^2)`` and the
gradient after T steps is their product, about ``w^T`` while ``h`` stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, get_activation

TABLE_WEIGHTS = (0.5, 0.7, 0.9, 1.0, 1.1, 1.5, 2.0)


@dataclass
class ScalarTrace:
    """Columns of the trace, index 0 is ``t = 1``."""

    t: np.ndarray
    h: np.ndarray
    local: np.ndarray  # w (1 - h_t^2) = dh_t/dh_{t-1}
    cumprod: np.ndarray  # dh_t/dh_0

    def to_json_dict(self) -> dict:
        return {
            "t": [int(v) for v in self.t],
            "h": [float(v) for v in self.h],
            "local": [float(v) for v in self.local],
            "cumprod": [float(v) for v in self.cumprod],
        }


def scalar_trace(w: float, steps: int, h0: float = 0.1) -> ScalarTrace:
    """Trace ``h_t = tanh(w h_{t-1})`` for ``t = 1..steps``, with the local factor and its product."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    h = np.empty(steps)
    prev = float(h0)
    for i in range(steps):
        prev = np.tanh(w * prev)
        h[i] = prev
    local = w * (1.0 - h * h)
    with np.errstate(under="ignore", over="ignore"):
        cumprod = np.cumprod(local)
    return ScalarTrace(np.arange(1, steps + 1), h, local, cumprod)


def power_reading(value: float) -> str:
    """A plain-words reading of a gradient factor ``w^T``, for the table in the scalar scene."""
    if not np.isfinite(value) or value > 1e6:
        return "explodes: numerical meltdown"
    if value > 100:
        return "explodes: training will diverge"
    if value > 1.5:
        return "grows: mild explosion"
    if value >= 0.67:
        return "about 1: the edge of stability"
    if value >= 0.05:
        return "shrinks, but still usable"
    if value >= 1e-4:
        return "too small to drive learning"
    return "vanished"


def power_table(steps: int, weights: tuple[float, ...] = TABLE_WEIGHTS) -> list[tuple[float, float, str]]:
    """Rows ``(w, w^steps, reading)``."""
    rows = []
    for w in weights:
        with np.errstate(over="ignore", under="ignore"):
            value = float(np.power(float(w), steps))
        rows.append((float(w), value, power_reading(value)))
    return rows


@dataclass
class ActivationRow:
    name: str
    max_derivative: float
    typical_derivative: float  # mean of f'(z) over |z| = 1
    after_10: float  # max_derivative ** 10
    after_50: float


def activation_table() -> list[ActivationRow]:
    """Maximum derivative, the typical derivative near |z| = 1, and the best case after 10 and 50 steps.

    The maximum is found on a fine grid rather than typed in, so the table checks the formulas.
    """
    grid = np.linspace(-8.0, 8.0, 160_001)
    rows = []
    for name in ACTIVATIONS:
        act = get_activation(name)
        max_d = float(np.max(act.df(grid)))
        typical = float(np.mean(act.df(np.array([-1.0, 1.0]))))
        rows.append(ActivationRow(name, max_d, typical, max_d**10, max_d**50))
    return rows
