"""The activation functions of the vanilla RNN and their derivatives, as PyTorch defines them.

Each derivative is written in terms of the pre-activation ``z``. ReLU's derivative at exactly
``z = 0`` is 0, as in PyTorch, so a unit sitting at zero is dead for the backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # The same formula as PyTorch's CPU kernel, so saturated values round the same way;
    # exp(-z) overflowing to inf gives exactly 0, as it does there.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _sigmoid_prime(z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _tanh_prime(z: np.ndarray) -> np.ndarray:
    t = np.tanh(z)
    return 1.0 - t * t


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_prime(z: np.ndarray) -> np.ndarray:
    return (np.asarray(z) > 0).astype(np.float64)


def _identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=np.float64).copy()


def _identity_prime(z: np.ndarray) -> np.ndarray:
    return np.ones_like(np.asarray(z, dtype=np.float64))


@dataclass(frozen=True)
class Activation:
    """An activation ``f`` with its derivative ``f'`` and the largest value ``f'`` can take."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    max_derivative: float
    label: str


_TABLE = {
    "tanh": Activation("tanh", np.tanh, _tanh_prime, 1.0, "tanh"),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_prime, 0.25, "sigmoid σ"),
    "relu": Activation("relu", _relu, _relu_prime, 1.0, "ReLU"),
    "identity": Activation("identity", _identity, _identity_prime, 1.0, "identity (linear)"),
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name; a ``ValueError`` names the valid choices."""
    try:
        return _TABLE[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r} (choose one of {', '.join(ACTIVATIONS)})") from None
