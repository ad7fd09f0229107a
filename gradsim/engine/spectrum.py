"""The eigenvalue story: where ``W_hh``'s eigenvalues sit against the unit circle, and what each
step's Jacobian ``J_t = diag(f'(z_t)) W_hh`` does to the backward signal.

The backward pass multiplies by ``J_t^T``; its singular values are those of ``J_t``, so the largest
one bounds how much one step can stretch the gradient and the smallest how much it can shrink it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
        """What the linear regime predicts for long sequences: the radius decides the long run."""
        if self.spectral_radius < 1.0 - 1e-12:
            return "vanish"
        if self.spectral_radius > 1.0 + 1e-12:
            return "explode"
        return "marginal"


def matrix_spectrum(w: np.ndarray) -> MatrixSpectrum:
    """Eigenvalues sorted by modulus (largest first), singular values, radius and norm."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError("matrix must be square")
    eig = np.linalg.eigvals(w)
    eig = eig[np.argsort(-np.abs(eig), kind="stable")]
    sv = np.linalg.svd(w, compute_uv=False)
    return MatrixSpectrum(eig, sv, spectral_radius(w), spectral_norm(w))


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
    """The ``gradsim spectrum --format json`` document: spectrum of ``W_hh``, the measured flow's
    average rate and the memory horizon."""
    from .flow import gradient_flow

    spec = matrix_spectrum(scenario.W_hh)
    result = gradient_flow(scenario, vanish_threshold, explode_threshold)
    rate = lyapunov_log10_rate(result.log10_grad_norm)
    horizon = memory_horizon(rate, vanish_threshold)
    return {
        "eigenvalues_real": [float(v) for v in spec.eigenvalues.real],
        "eigenvalues_imag": [float(v) for v in spec.eigenvalues.imag],
        "singular_values": [float(v) for v in spec.singular_values],
        "spectral_radius": spec.spectral_radius,
        "spectral_norm": spec.spectral_norm,
        "prediction": spec.prediction,
        "log10_rate_per_step": None if not np.isfinite(rate) else rate,
        "memory_horizon_steps": None if not np.isfinite(horizon) else horizon,
        "verdict": result.verdict.kind,
    }
