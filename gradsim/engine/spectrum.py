"""The eigenvalue story: where ``W_hh``'s eigenvalues sit against the unit circle, and what each
step's Jacobian ``J_t = diag(f'(z_t)) W_hh`` does to the backward signal.

The backward pass multiplies by ``J_t^T``; its singular values are those of ``J_t``, so the largest
one bounds how much one step can stretch the gradient and the smallest how much it can shrink it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, get_activation
from .init import spectral_norm, spectral_radius


@dataclass
class MatrixSpectrum:
    """Eigenvalues (complex), spectral radius and spectral norm of one square matrix."""

    eigenvalues: np.ndarray
    singular_values: np.ndarray
    spectral_radius: float
    spectral_norm: float

    @property
    def prediction(self) -> str:
        """The long-run trend of the *linear* map ``W_hh`` alone (identity activation): the radius
        decides it. It says nothing certain about a finite sequence or a nonlinear network; for that
        use :func:`theorem_prediction`."""
        if self.spectral_radius < 1.0 - 1e-12:
            return "vanish"
        if self.spectral_radius > 1.0 + 1e-12:
            return "explode"
        return "marginal"


def matrix_spectrum(w: np.ndarray) -> MatrixSpectrum:
    """Eigenvalues sorted by modulus (largest first), singular values, radius and norm.

    The radius and the norm are read off the eigenvalues and singular values just computed, the
    numbers :func:`~gradsim.engine.init.spectral_radius` and ``spectral_norm`` give bit for bit (the
    same decompositions of the same matrix), instead of decomposing the matrix twice more: at
    n = 128 an eigensolve costs 4 ms of the spectrum scene's redraw."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError("matrix must be square")
    eig = np.linalg.eigvals(w)
    sv = np.linalg.svd(w, compute_uv=False)
    radius = float(np.max(np.abs(eig))) if w.size else 0.0
    norm = float(np.max(sv)) if w.size else 0.0
    return MatrixSpectrum(eig[np.argsort(-np.abs(eig), kind="stable")], sv, radius, norm)


# --------------------------------------------------------------------------------------------------
# what the theorem can promise before anything is measured

PREDICTION_VANISH = "vanishing guaranteed"
PREDICTION_NONE = "no guarantee"

# The models the theorem does not cover, and why: each gives the gradient a path whose factor W_hh
# does not bound, so W_hh's figures guarantee nothing about them.
_UNCOVERED_WHY = {
    "lstm": "the LSTM's cell state c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t carries the gradient through the forget "
            "gate f_t, a path whose factor W_hh does not bound",
    "gru": "the GRU's update h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1} carries the gradient through the update "
           "gate z_t, a path whose factor W_hh does not bound",
    "residual": "the residual RNN h_t = h_(t-1) + α f(W_hh h_(t-1) + ...) adds the identity to every step's "
                "Jacobian, a path whose factor W_hh does not bound",
    "attention": "causal attention reaches every earlier step in one hop through its attention weights, not "
                 "through products of W_hh",
}


@dataclass(frozen=True)
class GradientPrediction:
    """What Pascanu, Mikolov & Bengio (2013) let one say about the backward pass from ``W_hh`` and the
    activation alone, before running anything.

    One backward step of a vanilla RNN multiplies the gradient by ``J_t^T = W_hh^T diag(f'(z_t))``,
    whose norm is at most ``sigma_max(W_hh) * gamma`` with ``gamma = max |f'|``. So
    ``sigma_max * gamma < 1`` is *sufficient* for vanishing: ``k`` steps shrink ``||dL/dh_t||`` to at
    most ``(sigma_max * gamma)^k`` of its size, on every input. ``sigma_max * gamma > 1`` is only
    *necessary* for exploding: the gradient may grow, or shrink anyway where units saturate.
    ``spectral_radius`` (rho) is the long-run rate per step of the linear map ``W_hh``;
    ``long_run_rate_per_step`` repeats it when the network is that linear map (identity activation)
    and is None otherwise, since a nonlinear network's Jacobians change from step to step.

    ``gamma`` is None for the LSTM, GRU, residual RNN and attention: the theorem covers
    ``h_t = f(W_hh h_{t-1} + ...)``, and each of those adds a path (the cell state, the update gate,
    the identity, the attention hop) whose factor ``W_hh`` does not bound, so nothing about them is
    guaranteed from ``W_hh``'s figures.
    """

    cell: str
    activation: str | None
    sigma_max: float
    gamma: float | None
    spectral_radius: float
    long_run_rate_per_step: float | None
    vanishing_guaranteed: bool
    explanation: str

    @property
    def bound_per_step(self) -> float | None:
        """``sigma_max * gamma``: the most one backward step can multiply ``||dL/dh_t||`` by."""
        return None if self.gamma is None else self.sigma_max * self.gamma

    @property
    def prediction(self) -> str:
        """``"vanishing guaranteed"`` when ``sigma_max * gamma < 1``, otherwise ``"no guarantee"``."""
        return PREDICTION_VANISH if self.vanishing_guaranteed else PREDICTION_NONE

    def log10_bound(self, backward_steps: int | np.ndarray) -> float | np.ndarray | None:
        """``log10 (sigma_max * gamma)^k``: the largest ``||dL/dh_{t-k}|| / ||dL/dh_t||`` possible
        (``-inf`` when the bound is 0; None for gated cells)."""
        b = self.bound_per_step
        if b is None:
            return None
        with np.errstate(divide="ignore"):
            log_b = float(np.log10(b)) if b > 0 else -np.inf
        k = np.asarray(backward_steps, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            out = np.where(k == 0, 0.0, k * log_b)
        return float(out) if out.ndim == 0 else out

    def badge(self) -> tuple[str, str]:
        """The two lines of a prediction badge, e.g. ``("VANISHING GUARANTEED", "σ_max·γ = 0.5 < 1")``
        or ``("NO GUARANTEE", "σ_max·γ = 1.2 ≥ 1")``; for a linear map the detail adds ``ρ``, and for
        gated cells it says the theorem does not cover them. Never a promise of an explosion."""
        if self.bound_per_step is None:
            name = {"lstm": "LSTM", "gru": "GRU", "residual": "residual RNN", "attention": "attention"}[self.cell]
            return "NO GUARANTEE", f"the theorem does not cover the {name}"
        product = f"σ_max·γ = {_figure(self.bound_per_step)}"
        if self.vanishing_guaranteed:
            return "VANISHING GUARANTEED", f"{product} < 1"
        detail = f"{product} ≥ 1"
        if self.long_run_rate_per_step is not None:
            detail += f"; ρ = {_figure(self.long_run_rate_per_step)} per step in the long run"
        return "NO GUARANTEE", detail

    def to_json_dict(self) -> dict:
        return {
            "prediction": self.prediction,
            "vanishing_guaranteed": self.vanishing_guaranteed,
            "sigma_max": self.sigma_max,
            "gamma": self.gamma,
            "sigma_max_times_gamma": self.bound_per_step,
            "spectral_radius": self.spectral_radius,
            "long_run_rate_per_step": self.long_run_rate_per_step,
            "explanation": self.explanation,
        }


def _figure(x: float) -> str:
    return f"{x:.3g}"


def theorem_prediction(w_hh: np.ndarray, activation: str | None = "tanh", cell: str = "rnn") -> GradientPrediction:
    """The prediction of Pascanu, Mikolov & Bengio (2013) for recurrent matrix ``w_hh``.

    ``activation`` is the vanilla RNN's (``gamma`` is its largest slope: tanh 1, sigmoid 1/4,
    ReLU 1, identity 1); the other cells (``lstm``, ``gru``, ``residual``, ``attention``) get no
    guarantee (see :class:`GradientPrediction`). The spectrum scene and ``gradsim spectrum`` both call this.
    """
    w = np.asarray(w_hh, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError("W_hh must be square")
    sigma = spectral_norm(w)
    rho = spectral_radius(w)
    if cell in _UNCOVERED_WHY:
        return GradientPrediction(
            cell, None, sigma, None, rho, None, False,
            f"No guarantee: the theorem bounds h_t = f(W_hh h_(t-1) + ...), but {_UNCOVERED_WHY[cell]}, "
            "so W_hh's figures alone guarantee no outcome.",
        )
    if cell != "rnn":
        raise ValueError(f"unknown cell {cell!r} (choose rnn, {', '.join(_UNCOVERED_WHY)})")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r} (choose one of {', '.join(ACTIVATIONS)})")
    gamma = float(get_activation(activation).max_derivative)
    product = sigma * gamma
    linear = activation == "identity"
    rate = rho if linear else None
    figures = f"σ_max(W_hh)·γ = {_figure(sigma)} × {gamma:g} = {_figure(product)}"
    if product < 1.0:
        explanation = (
            f"{figures} < 1, which is sufficient for vanishing: every backward step multiplies "
            f"‖dL/dh_t‖ by at most {_figure(product)}, so k steps leave at most {_figure(product)}^k of it."
        )
    else:
        explanation = (
            f"{figures} ≥ 1, so the sufficient condition for a shrinking gradient does not hold and "
            "nothing is guaranteed; a product above 1 is necessary for growth but not sufficient"
        )
        if linear:
            explanation += f", and as a linear map W_hh changes it by ρ = {_figure(rho)} per step in the long run."
        else:
            explanation += " (saturated units pass less)."
    return GradientPrediction("rnn", activation, sigma, gamma, rho, rate, product < 1.0, explanation)


def step_jacobian_singular_values(w_hh: np.ndarray, dfdz: np.ndarray, every: int = 1) -> np.ndarray:
    """Singular values (descending) of ``diag(f'(z_t)) W_hh`` for each step ``t`` (rows).

    ``every`` keeps every k-th step, for long sequences with wide matrices. The SVDs are batched.
    """
    d = np.asarray(dfdz, dtype=np.float64)[::every]
    jac = d[:, :, None] * np.asarray(w_hh, dtype=np.float64)[None, :, :]
    with np.errstate(invalid="ignore"):
        finite = np.all(np.isfinite(jac), axis=(1, 2))
    out = np.full((d.shape[0], w_hh.shape[0]), np.nan)
    if finite.any():
        out[finite] = np.linalg.svd(jac[finite], compute_uv=False)
    return out


def lyapunov_log10_rate(log10_grad_norm: np.ndarray) -> float:
    """Average log10 growth per backward step of the Jacobian product (its largest Lyapunov exponent
    in base 10), estimated from the measured curve: a least-squares slope of ``log10 ||g_t||`` over
    ``T - t``. Negative means the signal dies, positive that it grows."""
    logs = np.asarray(log10_grad_norm, dtype=np.float64)
    finite = np.isfinite(logs)
    if finite.sum() < 2:
        return float("nan")
    back = (logs.size - 1 - np.arange(logs.size))[finite]
    slope = np.polyfit(back.astype(np.float64), logs[finite], 1)[0]
    return float(slope)


def memory_horizon(log10_rate: float, vanish_threshold: float = 1e-6) -> float:
    """Steps until the signal has fallen by the vanishing threshold at the given average rate
    (``inf`` when it does not fall)."""
    if not np.isfinite(log10_rate) or log10_rate >= 0:
        return float("inf")
    return float(np.log10(vanish_threshold) / log10_rate)


def spectrum_report(scenario, vanish_threshold: float = 1e-6, explode_threshold: float = 1e3) -> dict:
    """The ``gradsim spectrum --format json`` document: spectrum of ``W_hh``, the theorem's
    prediction (:func:`theorem_prediction`) and, beside it, what the gradient flow measured."""
    from .flow import gradient_flow

    spec = matrix_spectrum(scenario.W_hh)
    pred = theorem_prediction(scenario.W_hh, scenario.activation if scenario.cell == "rnn" else None,
                              scenario.cell)
    result = gradient_flow(scenario, vanish_threshold, explode_threshold)
    rate = lyapunov_log10_rate(result.log10_grad_norm)
    horizon = memory_horizon(rate, vanish_threshold)
    backward = result.steps - 1
    bound = pred.log10_bound(backward)
    measured = float(result.log10_grad_norm[0] - result.log10_grad_norm[-1])
    return {
        "eigenvalues_real": [float(v) for v in spec.eigenvalues.real],
        "eigenvalues_imag": [float(v) for v in spec.eigenvalues.imag],
        "singular_values": [float(v) for v in spec.singular_values],
        "spectral_radius": spec.spectral_radius,
        "spectral_norm": spec.spectral_norm,
        **pred.to_json_dict(),
        "backward_steps": backward,
        "log10_bound_first_to_last": None if bound is None or not np.isfinite(bound) else float(bound),
        "log10_measured_first_to_last": measured if np.isfinite(measured) else None,
        "log10_rate_per_step": None if not np.isfinite(rate) else rate,
        "memory_horizon_steps": None if not np.isfinite(horizon) else horizon,
        "verdict": result.verdict.kind,
    }
