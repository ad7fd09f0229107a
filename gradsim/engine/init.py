"""Recurrent weight initialisers, all deterministic from a seed.

``scale`` means the same thing for every initialiser as far as it can: the spectral radius of the
result for ``gaussian``, ``orthogonal`` and ``identity`` (a gain on a matrix whose eigenvalues all have
modulus 1), and a plain multiplier on PyTorch's default ``U(-1/sqrt(n), 1/sqrt(n))`` for
``pytorch_default`` (``scale = 1`` is exactly PyTorch's distribution).
"""

from __future__ import annotations

import numpy as np

INITIALISERS = ("gaussian", "orthogonal", "identity", "pytorch_default")

INIT_LABELS = {
    "gaussian": "Gaussian (spectral radius)",
    "orthogonal": "orthogonal × gain",
    "identity": "identity × gain (IRNN)",
    "pytorch_default": "PyTorch uniform × scale",
}


def spectral_radius(w: np.ndarray) -> float:
    """Largest eigenvalue modulus of a square matrix."""
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        return 0.0
    return float(np.max(np.abs(np.linalg.eigvals(w))))


def spectral_norm(w: np.ndarray) -> float:
    """Largest singular value ``||W||_2``."""
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        return 0.0
    return float(np.linalg.norm(w, 2))


def orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian with the sign of R's diagonal fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    return q * d


def recurrent_weights(init: str, n: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """The ``n x n`` recurrent matrix ``W_hh`` of the named initialiser at the given scale."""
    if not np.isfinite(scale) or scale < 0:
        raise ValueError("weight scale must be a finite number >= 0")
    return scale_recurrent(unit_recurrent(init, n, rng), scale)


def unit_recurrent(init: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """What the initialiser draws before the scale is applied: a matrix and the divisor of the scale.

    Split out so that callers can draw once and rescale many times (a weight-scale slider) with the
    very same numbers :func:`recurrent_weights` gives; see :func:`scale_recurrent`.
    """
    if n < 1:
        raise ValueError("hidden size must be at least 1")
    if init == "gaussian":
        w = rng.standard_normal((n, n))
        return w, spectral_radius(w)
    if init == "orthogonal":
        return orthogonal(n, rng), 1.0
    if init == "identity":
        return np.eye(n), 1.0
    if init == "pytorch_default":
        bound = 1.0 / np.sqrt(n)
        return rng.uniform(-bound, bound, size=(n, n)), 1.0
    raise ValueError(f"unknown initialiser {init!r} (choose one of {', '.join(INITIALISERS)})")


def scale_recurrent(unit: tuple[np.ndarray, float], scale: float) -> np.ndarray:
    """``W_hh`` at ``scale`` from :func:`unit_recurrent`'s draw (a zero divisor gives zeros)."""
    w, divisor = unit
    return w * (scale / divisor) if divisor > 0 else w * 0.0


def input_weights(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``W_xh`` (n x m), PyTorch's default uniform for a layer with m inputs."""
    bound = 1.0 / np.sqrt(max(m, 1))
    return rng.uniform(-bound, bound, size=(n, m))
