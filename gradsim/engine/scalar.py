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
    """One row of the activation table.

    ``derivative_at_minus_1`` and ``derivative_at_plus_1`` are ``f'(-1)`` and ``f'(+1)``: equal for
    tanh, sigmoid and identity, but 0 and 1 for ReLU, whose mean (``typical_derivative``, 0.5) is a
    slope ReLU never has. Show the two values (:meth:`near_one_text` does), not the mean.
    """

    name: str
    max_derivative: float
    derivative_at_minus_1: float
    derivative_at_plus_1: float
    after_10: float  # max_derivative ** 10
    after_50: float

    @property
    def typical_derivative(self) -> float:
        """Mean of ``f'(-1)`` and ``f'(+1)`` (the seeds' "typical derivative near |z| = 1"); for ReLU
        it is 0.5, a slope ReLU never has: prefer the two values."""
        return 0.5 * (self.derivative_at_minus_1 + self.derivative_at_plus_1)

    def near_one_text(self) -> str:
        """``0.42`` when ``f'(-1) = f'(+1)``, else ``1 at +1, 0 at −1`` (ReLU)."""
        lo, hi = self.derivative_at_minus_1, self.derivative_at_plus_1
        if abs(lo - hi) <= 1e-12 * max(1.0, abs(hi)):
            return f"{hi:.2g}"
        return f"{hi:.2g} at +1, {lo:.2g} at −1"


def activation_table() -> list[ActivationRow]:
    """Maximum derivative, the derivative at z = -1 and z = +1, and the best case after 10 and 50
    steps.

    The maximum is found on a fine grid rather than typed in, so the table checks the formulas.
    """
    grid = np.linspace(-8.0, 8.0, 160_001)
    rows = []
    for name in ACTIVATIONS:
        act = get_activation(name)
        max_d = float(np.max(act.df(grid)))
        at_minus, at_plus = (float(v) for v in act.df(np.array([-1.0, 1.0])))
        rows.append(ActivationRow(name, max_d, at_minus, at_plus, max_d**10, max_d**50))
    return rows
