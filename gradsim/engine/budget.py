"""The resource budget: estimate what a piece of work will allocate, and refuse it before it starts.

Settings the validators accept can still describe work far larger than a laptop's memory (a GRU
trained on 2,000-step sequences in batches of 4,096 keeps about 15 GB of activations for its
backward pass). Each kind of work has an estimate here, measured against the real peak resident
memory on this project's machine (``benchmarks/bench_budget.py`` prints both), and
:func:`check_memory` refuses, in one line, anything estimated above :data:`MEMORY_BUDGET_BYTES`.
The budget counts the work's own arrays, not the interpreter and libraries (about 100 MB for NumPy,
300 MB once torch is loaded).

Qt-free and torch-free.
"""

from __future__ import annotations

from .errors import InputError

MEMORY_BUDGET_BYTES = 2 * 1024**3
FLOAT64 = 8
FLOAT32 = 4

# Training: float32 numbers kept per (sequence, step) for the backward pass, per hidden unit and per
# input feature, measured as peak resident memory (ru_maxrss) at T = 202, B = 512: RNN 6.7, GRU 16.9,
# LSTM 16.1 per unit, 2.1-2.3 per input feature; rounded up by about 10 %. The held-out evaluation
# measured 1.0 per input feature and 1.0 per gate unit (eval_size 8192).
TRAIN_FLOATS_PER_UNIT = {"rnn": 7.5, "gru": 18.5, "lstm": 18.0}
TRAIN_FLOATS_PER_INPUT = 2.5
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def gigabytes(n: float) -> str:
    return f"{n / 1024**3:.1f} GB"


def check_memory(estimate: float, what: str, where: str = "arguments", hint: str = "") -> None:
    """Refuse work estimated above the budget, in one line, before it starts."""
    if estimate > MEMORY_BUDGET_BYTES:
        tail = f"; {hint}" if hint else ""
        raise InputError(
            f"{where}: {what} would need about {gigabytes(estimate)} of memory, over gradsim's "
            f"{gigabytes(MEMORY_BUDGET_BYTES)} budget{tail}"
        )


def flow_memory_bytes(cell: str, steps: int, hidden: int, inputs: int) -> float:
    """Peak arrays of one gradient flow (:func:`gradsim.engine.flow.gradient_flow`), float64.

    The vanilla RNN keeps the inputs, the drive, ``h``, ``f'`` and its scaled copy (about six
    ``T x n`` arrays); the gated cells keep every gate's activation, the backward pass's factors and
    two rows per step of the backward signal (about twenty ``T x n``)."""
    per_unit = 6 if cell == "rnn" else 6 * GATES.get(cell, 4) + 6
    return FLOAT64 * steps * (2 * inputs + per_unit * hidden) + FLOAT64 * (GATES.get(cell, 4) + 1) * hidden * (hidden + inputs)


def spectrum_memory_bytes(cell: str, steps: int, hidden: int, inputs: int, jacobian_rows: int = 400) -> float:
    """The spectrum view: one flow, the eigen- and singular values of ``W_hh``, and the batched
    per-step Jacobians (``rows x n x n``, twice for the SVD's workspace)."""
    rows = min(steps, jacobian_rows)
    return flow_memory_bytes(cell, steps, hidden, inputs) + 2 * FLOAT64 * rows * hidden * hidden + 10 * FLOAT64 * hidden * hidden


def training_memory_bytes(
    cell: str, length: int, batch: int, hidden: int, features: int, eval_size: int, outputs: int = 8
) -> float:
    """One training step and one held-out evaluation of :mod:`gradsim.engine.training`.

    The step keeps its graph (every ``h_t`` and gate) while the evaluation runs, so the two add up.
    The evaluation runs without a graph but computes every step's input terms at once
    (``eval_size x T x gates*H``) and looks up the embedding for the whole batch."""
    gates = GATES.get(cell, 4)
    train = FLOAT32 * batch * length * (TRAIN_FLOATS_PER_UNIT.get(cell, 18.5) * hidden + TRAIN_FLOATS_PER_INPUT * features)
    evaluate = 1.15 * FLOAT32 * eval_size * length * (gates * hidden + features)
    params = FLOAT32 * 4 * (gates * hidden * (hidden + features + 2) + outputs * (hidden + 1))  # + grad, Adam's two
    return train + evaluate + params
