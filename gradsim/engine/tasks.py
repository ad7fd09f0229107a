"""Synthetic long-range tasks for the training lab: copy-memory and the adding problem.

Both are generated on the fly from a NumPy random generator, so a run is reproducible from its seed
and nothing is ever downloaded. Both put the information the network needs at the *start* of the
sequence and ask for it at the *end*: the gradient that would teach the network to keep it has to
travel back through every step in between, which is exactly where a vanilla RNN's gradient vanishes.

Copy-memory, token ids (one integer per time step)::

    0            blank
    1 .. K       the K symbol categories
    K + 1        the recall marker

    input:   s_1 .. s_L | blank x D | marker | blank x (L - 1)
    answer:  at the marker step and the L - 1 steps after it, the symbols s_1 .. s_L in order

so the sequence length is ``T = L + D + L`` and the distance between a symbol and its recall is
``D + L`` steps. Targets are the categories ``0 .. K-1`` (symbol id minus one).

Adding problem (Hochreiter & Schmidhuber's formulation): each step carries two numbers, a value drawn
from U(0, 1) and a marker that is 1 at exactly two steps (one in the first half of the sequence, one in
the second) and 0 elsewhere. The answer, read at the last step, is the sum of the two marked values.
A prediction within ``ADDING_TOLERANCE`` of the sum counts as right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradsim.engine.errors import InputError

TASKS = ("copy", "adding")

BLANK = 0
ADDING_TOLERANCE = 0.04


@dataclass(frozen=True)
class TaskBatch:
    """One batch of a task.

    ``inputs``: copy ``(B, T)`` int64 token ids; adding ``(B, T, 2)`` float32 (value, marker).
    ``targets``: copy ``(B, L)`` int64 categories in ``0 .. K-1``; adding ``(B, 1)`` float32 sums.
    ``readout``: the 0-based time steps (length ``L`` or 1) at which the model's output is scored,
    in the order of the columns of ``targets``.
    """

    inputs: np.ndarray
    targets: np.ndarray
    readout: np.ndarray

    @property
    def length(self) -> int:
        return int(self.inputs.shape[1])


def copy_vocabulary(categories: int) -> int:
    """Number of distinct input tokens of copy-memory: blank, the K symbols and the marker."""
    return categories + 2


def copy_marker(categories: int) -> int:
    return categories + 1


def copy_length(symbols: int, delay: int) -> int:
    """Sequence length ``T = L + D + L`` of copy-memory."""
    return symbols + delay + symbols


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def copy_memory_batch(
    rng: np.random.Generator, batch: int, symbols: int, categories: int, delay: int
) -> TaskBatch:
    """``batch`` copy-memory sequences of ``symbols`` symbols from ``categories`` after ``delay`` blanks."""
    _check_int("batch", batch, 1, 1_000_000)
    _check_int("symbols", symbols, 1, 1000)
    _check_int("categories", categories, 2, 1000)
    _check_int("delay", delay, 0, 100_000)
    length = copy_length(symbols, delay)
    pattern = rng.integers(0, categories, size=(batch, symbols), dtype=np.int64)
    inputs = np.full((batch, length), BLANK, dtype=np.int64)
    inputs[:, :symbols] = pattern + 1
    marker_at = symbols + delay
    inputs[:, marker_at] = copy_marker(categories)
    readout = np.arange(marker_at, marker_at + symbols, dtype=np.int64)
    return TaskBatch(inputs=inputs, targets=pattern, readout=readout)


def adding_batch(rng: np.random.Generator, batch: int, length: int) -> TaskBatch:
    """``batch`` adding-problem sequences of ``length`` steps (at least 2)."""
    _check_int("batch", batch, 1, 1_000_000)
    _check_int("sequence length of the adding problem", length, 2, 100_000)
    values = rng.random((batch, length))
    half = length // 2
    first = rng.integers(0, half, size=batch)
    second = rng.integers(half, length, size=batch)
    markers = np.zeros((batch, length))
    rows = np.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    inputs = np.stack([values, markers], axis=-1).astype(np.float32)
    sums = (values[rows, first] + values[rows, second]).astype(np.float32)
    return TaskBatch(inputs=inputs, targets=sums[:, None], readout=np.array([length - 1], dtype=np.int64))


def copy_chance(categories: int) -> float:
    """Accuracy of guessing (or of always answering the same category): ``1 / K``."""
    return 1.0 / categories


def adding_chance(tolerance: float = ADDING_TOLERANCE) -> float:
    """Accuracy of the best input-blind answer, always 1.0, on the adding problem.

    The sum of two U(0, 1) values has the triangular density ``1 - |s - 1|`` on [0, 2], so
    ``P(|s - 1| < e) = 2e - e^2``.
    """
    return 2.0 * tolerance - tolerance * tolerance


def copy_chance_loss(categories: int) -> float:
    """Cross-entropy of the uniform guess, ``ln K``."""
    return float(np.log(categories))


ADDING_CHANCE_LOSS = 1.0 / 6.0
"""Mean squared error of always answering 1.0: the variance of the sum of two U(0, 1), 2/12."""
