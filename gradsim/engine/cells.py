"""Gradient flow through an LSTM and a GRU, side by side with the vanilla RNN, exactly.

The cells are PyTorch's own, as :mod:`gradsim.engine.equations` writes them down (``torch.nn.LSTM``
gate order i, f, g, o; ``torch.nn.GRU`` gate order r, z, n; the same parameter names and layouts),
so :meth:`GatedNetwork.state_dict` loads unchanged into a real one-layer ``nn.LSTM`` or ``nn.GRU``
and the numbers here are the numbers PyTorch computes.

Why a hand-written backward pass: autograd with ``retain_grad`` returns float64 tensors, and over a
thousand steps ``||dL/dh_t||`` falls far below 1e-308, where those tensors hold zeros. The backward
recursion is linear in the loss gradient, so this module carries the state ``(dL/dh_t, dL/dc_t)`` as a
direction rescaled every step plus a separate log10 magnitude, and the log10 norms stay exact at any
depth. The forward pass runs in torch float64 with PyTorch's operations; the element-wise
derivatives of a whole run are taken at once afterwards, so the backward loop is one matrix-vector
product and a few vector operations a step.

Weights from a seed (``GeneratorSettings``): the seed's three streams are the vanilla RNN's, so all
three cells see the same input sequence ``x``. The candidate block (LSTM ``g``, GRU ``n``), which
plays the role of ``W_hh``, is *exactly* the vanilla RNN's ``W_hh`` and ``W_xh`` (same initialiser,
scale and draw). The gate blocks use PyTorch's default ``U(-1/sqrt(n), 1/sqrt(n))`` for the recurrent
weights and the RNN's input initialiser for the input weights, from two further streams of the seed.
Biases are zero, like the RNN's ``b_h``, except the LSTM's forget-gate bias, which is set to
``forget_bias`` (in ``bias_ih``; ``bias_hh`` stays zero).

torch is imported inside functions only: importing this module loads neither torch nor Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .cancel import Ticker
from .equations import (
    CANDIDATE_BLOCK,
    GATE_NAMES,
    GATES,
    gru_local_derivatives,
    gru_step_with_gates,
    input_drive,
    lstm_local_derivatives,
    lstm_step_with_gates,
)
from .errors import InputError
from .flow import (
    FlowResult,
    assemble_result,
    geometric_step,
    gradient_flow,
    json_finite,
    mean_over_backward_steps,
    power10,
    row_log10_norms,
    verdict_json,
)
from .init import input_weights
from .scenario import GeneratorSettings, Scenario, float64_state_dict, float_array
from .thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD, verdict_from_log10

GATED_CELLS = ("lstm", "gru")

_FLOAT_TINY_LOG10 = float(np.log10(np.finfo(np.float64).smallest_subnormal))
_FLOAT_MAX_LOG10 = float(np.log10(np.finfo(np.float64).max))


# ---------------------------------------------------------------------------------------------------
# weights


@dataclass
class GatedNetwork:
    """Every number of one LSTM or GRU run, in PyTorch's layout.

    ``weight_ih`` is ``(G n) x m``, ``weight_hh`` is ``(G n) x n``, the biases have length ``G n``
    with ``G = 4`` (LSTM, blocks i, f, g, o) or ``3`` (GRU, blocks r, z, n); ``x`` is ``T x m``.
    ``h0`` and ``c0`` are the initial states (zeros by default, as in PyTorch).
    """

    cell: str
    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias_ih: np.ndarray
    bias_hh: np.ndarray
    x: np.ndarray
    h0: np.ndarray | None = None
    c0: np.ndarray | None = None
    forget_bias: float | None = None  # what the generator set, for labels only

    def __post_init__(self) -> None:
        if self.cell not in GATED_CELLS:
            raise InputError(f"unknown gated cell {self.cell!r} (expected one of: {', '.join(GATED_CELLS)})")
        self.weight_ih = float_array(self.weight_ih, "weight_ih", 2)
        self.weight_hh = float_array(self.weight_hh, "weight_hh", 2)
        self.bias_ih = float_array(self.bias_ih, "bias_ih", 1)
        self.bias_hh = float_array(self.bias_hh, "bias_hh", 1)
        self.x = float_array(self.x, "x", 2)
        g = GATES[self.cell]
        rows, n = self.weight_hh.shape
        if n < 1 or rows != g * n:
            raise InputError(f"weight_hh of an {self.cell.upper()} must be {g}n x n, got {rows}x{n}")
        if self.weight_ih.shape[0] != g * n:
            raise InputError(f"weight_ih has {self.weight_ih.shape[0]} rows, expected {g * n}")
        for name in ("bias_ih", "bias_hh"):
            if getattr(self, name).shape != (g * n,):
                raise InputError(f"{name} has shape {getattr(self, name).shape}, expected ({g * n},)")
        if self.x.shape[0] < 1 or self.x.shape[1] != self.weight_ih.shape[1]:
            raise InputError(f"x must be T x {self.weight_ih.shape[1]} with T >= 1, got {self.x.shape}")
        for name in ("h0", "c0"):
            v = getattr(self, name)
            v = np.zeros(n) if v is None else float_array(v, name, 1)
            if v.shape != (n,):
                raise InputError(f"{name} has length {v.shape[0]}, expected {n}")
            setattr(self, name, v)

    @property
    def hidden(self) -> int:
        return int(self.weight_hh.shape[1])

    @property
    def steps(self) -> int:
        return int(self.x.shape[0])

    def block(self, name: str) -> np.ndarray:
        """The ``n x n`` recurrent block of one gate (``"f"``, ``"g"``, ``"z"`` ...)."""
        k = GATE_NAMES[self.cell].index(name)
        n = self.hidden
        return self.weight_hh[k * n : (k + 1) * n]

    def state_dict(self) -> dict[str, Any]:
        """float64 tensors under ``torch.nn.LSTM`` / ``GRU`` names: ``module.load_state_dict`` takes them."""
        return float64_state_dict({"weight_ih_l0": self.weight_ih, "weight_hh_l0": self.weight_hh,
                                   "bias_ih_l0": self.bias_ih, "bias_hh_l0": self.bias_hh})


def build_network(settings: GeneratorSettings, cell: str | None = None, base: Scenario | None = None) -> GatedNetwork:
    """The LSTM or GRU of ``settings`` (``cell`` overrides ``settings.cell``), drawn from its seed.

    The candidate block and the inputs are those of the vanilla RNN of the same settings; pass that
    RNN's scenario as ``base`` when it is already built (it saves drawing ``W_hh`` again, which for the
    Gaussian initialiser costs an eigenvalue solve). The gate blocks come from two further streams of
    the same seed (children 3 and 4 of its ``SeedSequence``; 0..2 are the RNN's), so they do not
    depend on which initialiser drew ``W_hh``.
    """
    cell = settings.cell if cell is None else cell
    if cell not in GATED_CELLS:
        raise InputError(f"unknown gated cell {cell!r} (expected one of: {', '.join(GATED_CELLS)})")
    settings = replace(settings, cell=cell).validated()
    if base is None:
        base = replace(settings, cell="rnn", activation="tanh").build()
    n, m = settings.hidden, settings.input
    if base.W_hh.shape != (n, n) or base.W_xh.shape != (n, m) or base.x.shape != (settings.steps, m):
        raise InputError("build_network: the base scenario does not match the settings")
    rng_gates_hh, rng_gates_ih = (np.random.default_rng(s) for s in np.random.SeedSequence(settings.seed).spawn(5)[3:])
    g = GATES[cell]
    w_hh = np.empty((g * n, n))
    w_ih = np.empty((g * n, m))
    bound = 1.0 / np.sqrt(n)
    for k in range(g):
        rows = slice(k * n, (k + 1) * n)
        if k == CANDIDATE_BLOCK:
            w_hh[rows] = base.W_hh
            w_ih[rows] = base.W_xh
        else:
            w_hh[rows] = rng_gates_hh.uniform(-bound, bound, size=(n, n))
            w_ih[rows] = input_weights(n, m, rng_gates_ih)
    bias_ih = np.zeros(g * n)
    bias_hh = np.zeros(g * n)
    forget_bias = None
    if cell == "lstm":
        bias_ih[n : 2 * n] = settings.forget_bias
        forget_bias = float(settings.forget_bias)
    return GatedNetwork(cell, w_ih, w_hh, bias_ih, bias_hh, base.x.copy(), forget_bias=forget_bias)


def _spectral_norm(w: np.ndarray) -> float:
    """Largest singular value, as the square root of the largest eigenvalue of the small Gram matrix
    ``W^T W`` (n x n even for the stacked 4n x n gate weights): much cheaper than a full SVD."""
    w = np.asarray(w, dtype=np.float64)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    return float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0)))


# ---------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Edge:
    """One edge of a cell diagram and the mean factor it applied per step in this run.

    ``kind`` is ``"additive"`` for the path the gated cells add (the LSTM's cell state, the GRU's
    ``z``-weighted copy of ``h_{t-1}``), ``"matrix"`` for a recurrent weight matrix (``factor`` is its
    spectral norm, the most it can stretch a vector), ``"gate"`` for an element-wise multiplier
    (``factor`` is the mean over units and steps ``t = 2..T``, the steps the backward pass goes
    through) and ``"step"`` for the whole backward step, measured as the geometric mean of
    ``||g_{t-1}|| / ||g_t||`` (``NaN`` when ``T = 1`` or the gradient became exactly 0).
    """

    key: str
    label: str
    factor: float
    kind: str


@dataclass
class GatedFlowResult(FlowResult):
    """A :class:`FlowResult` for an LSTM or GRU, with the LSTM's cell-state gradient.

    ``log10_grad_norm`` is ``log10 ||dL/dh_t||`` as for the RNN; ``log10_cell_grad_norm`` is
    ``log10 ||dL/dc_t||`` (LSTM only, ``None`` for the GRU), ``dL/dc_t`` being the total derivative
    (through ``h_t`` and through ``c_{t+1}``), as autograd's ``retain_grad`` on ``c_t`` gives it.
    ``w_hh`` is the candidate block (the one in the vanilla RNN's place), so ``spectral_radius`` and
    ``spectral_norm`` compare with the RNN's. ``dfdz`` holds the per-unit multiplier of the additive
    path (the forget gate ``f_t`` of the LSTM, ``z_t`` of the GRU).
    """

    log10_cell_grad_norm: np.ndarray | None = None
    edges: tuple[Edge, ...] = ()
    gates: dict[str, np.ndarray] = field(default_factory=dict)  # T x n activations, by gate name
    network: GatedNetwork | None = None

    @property
    def log10_bound(self) -> np.ndarray:
        """No simple per-step bound holds for gated cells: all NaN (the RNN's has ``c ||W_hh||``)."""
        return np.full(self.steps, np.nan)

    @property
    def cell_grad_norm(self) -> np.ndarray | None:
        return None if self.log10_cell_grad_norm is None else power10(self.log10_cell_grad_norm)

    @property
    def cell_beyond_float(self) -> np.ndarray | None:
        """Steps whose ``||dL/dc_t||`` is nonzero but outside float64 (below its smallest or above its
        largest number); ``None`` for the GRU."""
        if self.log10_cell_grad_norm is None:
            return None
        logs = self.log10_cell_grad_norm
        return np.isfinite(logs) & ((logs < _FLOAT_TINY_LOG10) | (logs > _FLOAT_MAX_LOG10))

    @property
    def cell_verdict(self):
        """The threshold verdict of the cell-state curve (LSTM), ``None`` for the GRU."""
        if self.log10_cell_grad_norm is None:
            return None
        v = self.verdict
        return verdict_from_log10(self.log10_cell_grad_norm, v.vanish_threshold, v.explode_threshold)

    def edge(self, key: str) -> Edge:
        for e in self.edges:
            if e.key == key:
                return e
        raise KeyError(key)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``gradsim flow --cell lstm|gru --format json`` document: the RNN's keys (``log10_bound``
        all ``null``), plus ``log10_cell_grad_norm`` for the LSTM and the per-edge mean factors."""
        doc = super().to_json_dict()
        doc["edges"] = {e.key: (float(e.factor) if np.isfinite(e.factor) else None) for e in self.edges}
        if self.log10_cell_grad_norm is not None:
            doc["cell_grad_norm"] = json_finite(self.cell_grad_norm)
            doc["log10_cell_grad_norm"] = json_finite(self.log10_cell_grad_norm)
            doc["cell_verdict"] = verdict_json(self.cell_verdict)
        if self.network is not None and self.network.forget_bias is not None:
            doc["forget_bias"] = self.network.forget_bias
        return doc


# ---------------------------------------------------------------------------------------------------
# forward (torch float64, PyTorch's equations)


def _forward(net: GatedNetwork) -> dict[str, np.ndarray]:
    """Run the cell over ``x``; return ``h`` (and ``c``) and the gate activations, each ``T x n``
    (``act`` is ``T x G n`` in PyTorch's stacking), and for the GRU ``hn = W_hn h_{t-1} + b_hn``.

    The step functions of :mod:`gradsim.engine.equations` on a batch of one, without autograd: the
    cells' equations are written there only. An in-place copy of them used to live here "for
    speed", but it was not clearly faster (the step functions took 0.86-0.93x its time at
    (T, n) = (200, 64) and 1.0-1.2x at (1000, 128), in ``benchmarks/bench_cells.py`` and runs
    alternating the two), so it went. The states and gates of every step are kept as the step
    functions return them and joined once at the end.

    On vectors this small each torch call costs more than its arithmetic, so the loop runs under
    ``torch.inference_mode``, which skips the autograd bookkeeping ``no_grad`` still does per call:
    0.72-0.85x the forward's time (``benchmarks/bench_cells.py``), bit for bit the same numbers
    (the same kernels run). Nothing made here enters autograd later: it leaves as NumPy arrays.
    """
    import torch

    n, steps = net.hidden, net.steps
    w_ih, w_hh, b_ih, b_hh = (torch.from_numpy(a) for a in (net.weight_ih, net.weight_hh, net.bias_ih, net.bias_hh))
    w_hh_t = w_hh.t()
    if net.cell == "lstm":
        c = torch.from_numpy(net.c0)[None]

        def step(drive_t: Any, h: Any) -> tuple[Any, tuple[Any, ...], Any]:
            nonlocal c
            h, c, gates_t = lstm_step_with_gates(drive_t, h, c, w_hh_t)
            return h, gates_t, c  # the LSTM's backward reads c_t
    else:
        def step(drive_t: Any, h: Any) -> tuple[Any, tuple[Any, ...], Any]:
            return gru_step_with_gates(drive_t, h, w_hh_t, b_hh)  # the GRU's reads W_hh h + b_hh

    h = torch.from_numpy(net.h0)[None]
    hs: list[Any] = []
    gates: list[tuple[Any, ...]] = []
    kept: list[Any] = []
    tick = Ticker(2 * steps, f"{net.cell.upper()} steps")
    with torch.inference_mode():
        drive = input_drive(net.cell, torch.from_numpy(net.x), w_ih, b_ih, b_hh).unbind(0)  # every input term at once
        for t in range(steps):
            if not t & 15:
                tick(t)
            h, gates_t, kept_t = step(drive[t], h)
            hs.append(h)
            gates.append(gates_t)
            kept.append(kept_t)
        # one copy: every step's gate rows side by side in one row, then cut into the T rows
        act = torch.cat([block for gates_t in gates for block in gates_t], 1).view(steps, -1)
        extra = {"c": torch.cat(kept).numpy()} if net.cell == "lstm" else {"hn": torch.cat(kept)[:, 2 * n :].numpy()}
        return {"h": torch.cat(hs).numpy(), "act": act.numpy(), **extra}


# ---------------------------------------------------------------------------------------------------
# backward (exact log10 norms)


def _lstm_backward(net: GatedNetwork, fw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log10 ||dL/dh_t||``, ``log10 ||dL/dc_t||`` and ``log10 ||dL/dx_t||`` for ``t = 1..T``,
    ``L = sum(h_T)``.

    With ``a_t = dL/dh_t`` and ``b_t = dL/dc_t`` (total derivatives), step ``t`` sends back
    ``d gates_t = [b_t g i(1-i), b_t c_{t-1} f(1-f), b_t i (1-g^2), a_t tanh(c_t) o(1-o)]``,
    ``a_{t-1} = W_hh^T d gates_t`` and ``b_{t-1} = f_t b_t + o_{t-1} (1 - tanh^2 c_{t-1}) a_{t-1}``.
    The pair is rescaled by its largest entry every step and the scale's log10 kept aside. The input
    receives ``dL/dx_t = W_ih^T d gates_t``, formed for every step at once from the kept rows.
    """
    n, steps = net.hidden, net.steps
    act, c = fw["act"], fw["c"]
    i, f, g, o = act[:, :n], act[:, n : 2 * n], act[:, 2 * n : 3 * n], act[:, 3 * n :]
    c_prev = np.vstack([net.c0[None, :], c[:-1]])
    factors = lstm_local_derivatives(i, f, g, o, c_prev, np.tanh(c))
    k = np.empty((steps, 4 * n))  # d gates_t = k_t * [b, b, b, a]
    for block in range(4):
        k[:, block * n : (block + 1) * n] = next(factors)
    dtc = next(factors)  # dh_t/dc_t, element-wise
    wt = np.ascontiguousarray(net.weight_hh.T)
    # row t of ab_rows holds (a_t, b_t) / 10**offsets[t] side by side, so that one call finds the
    # pair's largest entry and one rescales it; the norms are taken at the end
    ab_rows = np.empty((steps, 2 * n))
    a_rows, b_rows = ab_rows[:, :n], ab_rows[:, n:]
    offsets = np.zeros(steps)
    a = a_rows[-1]
    a[:] = 1.0
    b = b_rows[-1]
    b[:] = dtc[-1]
    offset = 0.0
    u = np.empty(4 * n)
    u3 = u[: 3 * n].reshape(3, n)
    a_dtc = np.empty(n)
    magnitude = np.empty(2 * n)
    dot, multiply, absolute, largest = np.dot, np.multiply, np.abs, np.maximum.reduce
    tick = Ticker(2 * steps, "LSTM steps")
    for t in range(steps - 1, 0, -1):
        if not t & 15:
            tick(2 * steps - t)
        u3[:] = b
        u[3 * n :] = a
        u *= k[t]
        ab = ab_rows[t - 1]
        a = dot(wt, u, out=a_rows[t - 1])
        b = multiply(b, f[t], out=b_rows[t - 1])
        b += multiply(a, dtc[t - 1], out=a_dtc)
        peak = float(largest(absolute(ab, out=magnitude)))
        if peak == 0.0:  # exactly nothing flows further back
            ab_rows[:t] = 0.0
            break
        ab /= peak
        offset += math.log10(peak)
        offsets[t - 1] = offset
    d_gates = k * np.concatenate([b_rows, b_rows, b_rows, a_rows], axis=1)
    log_x = row_log10_norms(d_gates, offsets, net.weight_ih)
    return row_log10_norms(a_rows, offsets), row_log10_norms(b_rows, offsets), log_x


def _gru_backward(net: GatedNetwork, fw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``log10 ||dL/dh_t||`` and ``log10 ||dL/dx_t||`` for ``t = 1..T``, ``L = sum(h_T)``.

    Step ``t`` sends back ``a_{t-1} = z_t a_t + W_hh^T [a_t k_r, a_t k_z, a_t k_n]`` with
    ``k_n = (1-z)(1-n^2) r``, ``k_r = (1-z)(1-n^2) (W_hn h_{t-1} + b_hn) r(1-r)`` and
    ``k_z = (h_{t-1} - n) z(1-z)``; ``a`` is rescaled every step. The input side differs only in
    the candidate block, where ``r`` multiplies the recurrent term and not the input's:
    ``dL/dx_t = W_ih^T [a_t k_r, a_t k_z, a_t (1-z)(1-n^2)]``.
    """
    n, steps = net.hidden, net.steps
    act, h, hn = fw["act"], fw["h"], fw["hn"]
    r, z, nn_ = act[:, :n], act[:, n : 2 * n], act[:, 2 * n :]
    h_prev = np.vstack([net.h0[None, :], h[:-1]])
    factors = gru_local_derivatives(r, z, nn_, h_prev, hn)
    k = np.empty((steps, 3 * n))
    for block in range(3):
        k[:, block * n : (block + 1) * n] = next(factors)
    dpre_n = next(factors)
    wt = np.ascontiguousarray(net.weight_hh.T)
    a_rows = np.empty((steps, n))
    offsets = np.zeros(steps)
    a = a_rows[-1]
    a[:] = 1.0
    offset = 0.0
    u = np.empty(3 * n)
    u3 = u.reshape(3, n)
    z_a = np.empty(n)
    magnitude = np.empty(n)
    dot, multiply, absolute, largest = np.dot, np.multiply, np.abs, np.maximum.reduce
    tick = Ticker(2 * steps, "GRU steps")
    for t in range(steps - 1, 0, -1):
        if not t & 15:
            tick(2 * steps - t)
        u3[:] = a
        u *= k[t]
        a_new = dot(wt, u, out=a_rows[t - 1])
        a_new += multiply(z[t], a, out=z_a)
        a = a_new
        peak = float(largest(absolute(a, out=magnitude)))
        if peak == 0.0:
            a_rows[:t] = 0.0
            break
        a /= peak
        offset += math.log10(peak)
        offsets[t - 1] = offset
    k[:, 2 * n :] = dpre_n  # the input's candidate term has no reset gate
    d_input = k * np.concatenate([a_rows, a_rows, a_rows], axis=1)
    return row_log10_norms(a_rows, offsets), row_log10_norms(d_input, offsets, net.weight_ih)


# ---------------------------------------------------------------------------------------------------
# per-edge factors


def _lstm_edges(net: GatedNetwork, fw: dict[str, np.ndarray], log_h: np.ndarray, log_c: np.ndarray) -> tuple[Edge, ...]:
    n = net.hidden
    act, c = fw["act"], fw["c"]
    i, f, g, o = act[:, :n], act[:, n : 2 * n], act[:, 2 * n : 3 * n], act[:, 3 * n :]
    tc = np.tanh(c)
    return (
        # mean forget gate f_t: what the cell state keeps per step (c_t = f c_{t-1} + i g)
        Edge("forget", "× f", mean_over_backward_steps(f), "additive"),
        # mean o_t (1 - tanh² c_t): from the cell state to the hidden state
        Edge("out", "× o·tanh′(c)", mean_over_backward_steps(o * (1.0 - tc * tc)), "gate"),
        # mean i_t (1 - g_t²): from the candidate's pre-activation into the cell state
        Edge("write", "× i·tanh′", mean_over_backward_steps(i * (1.0 - g * g)), "gate"),
        # spectral norm of the stacked recurrent weights [W_hi; W_hf; W_hg; W_ho]: h_{t-1} into the gates
        Edge("w_hh", "W_hh", _spectral_norm(net.weight_hh), "matrix"),
        # geometric mean of ||dL/dh_{t-1}|| / ||dL/dh_t|| over the run
        Edge("step_h", "per step (h)", geometric_step(log_h), "step"),
        # geometric mean of ||dL/dc_{t-1}|| / ||dL/dc_t|| over the run
        Edge("step_c", "per step (c)", geometric_step(log_c), "step"),
    )


def _gru_edges(net: GatedNetwork, fw: dict[str, np.ndarray], log_h: np.ndarray) -> tuple[Edge, ...]:
    n = net.hidden
    act = fw["act"]
    r, z, nn_ = act[:, :n], act[:, n : 2 * n], act[:, 2 * n :]
    return (
        # mean update gate z_t: the share of h_{t-1} copied straight into h_t
        Edge("keep", "× z", mean_over_backward_steps(z), "additive"),
        # mean (1 - z_t)(1 - n_t²): through the candidate n_t into h_t
        Edge("cand", "× (1−z)·tanh′(n)", mean_over_backward_steps((1.0 - z) * (1.0 - nn_ * nn_)), "gate"),
        # mean reset gate r_t: how much of W_hn h_{t-1} reaches the candidate
        Edge("reset", "× r", mean_over_backward_steps(r), "gate"),
        # spectral norm of the stacked recurrent weights [W_hr; W_hz; W_hn]: h_{t-1} into the gates
        Edge("w_hh", "W_hh", _spectral_norm(net.weight_hh), "matrix"),
        # geometric mean of ||dL/dh_{t-1}|| / ||dL/dh_t|| over the run
        Edge("step_h", "per step (h)", geometric_step(log_h), "step"),
    )


def rnn_edges(result: FlowResult) -> tuple[Edge, ...]:
    """The vanilla RNN's diagram edges, from its :class:`FlowResult` (same definitions as the cells')."""
    return (
        # mean f′(z_t): the activation's slope on the only path back
        Edge("act", "× f′(z)", mean_over_backward_steps(result.dfdz), "gate"),
        # spectral norm of W_hh: h_{t-1} into the pre-activation
        Edge("w_hh", "W_hh", _spectral_norm(result.w_hh), "matrix"),
        # geometric mean of ||dL/dh_{t-1}|| / ||dL/dh_t|| over the run
        Edge("step_h", "per step (h)", geometric_step(result.log10_grad_norm), "step"),
    )


# ---------------------------------------------------------------------------------------------------
# public entry points


def gated_flow(
    net: GatedNetwork,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> GatedFlowResult:
    """``||dL/dh_t||`` (and for the LSTM ``||dL/dc_t||``) for ``t = 1..T``, ``L = sum(h_T)``, exact in log10."""
    fw = _forward(net)
    n = net.hidden
    if net.cell == "lstm":
        log_h, log_c, log_x = _lstm_backward(net, fw)
        edges = _lstm_edges(net, fw, log_h, log_c)
    else:
        (log_h, log_x), log_c = _gru_backward(net, fw), None
        edges = _gru_edges(net, fw, log_h)
    names = GATE_NAMES[net.cell]
    gates = {name: fw["act"][:, k * n : (k + 1) * n] for k, name in enumerate(names)}
    if net.cell == "lstm":
        gates["c"] = fw["c"]
    # dfdz: the per-unit multiplier of the additive path, the forget gate f (LSTM) or z (GRU)
    return assemble_result(  # type: ignore[return-value]
        log_h, fw["h"], gates[names[1]], net.block(names[CANDIDATE_BLOCK]), vanish_threshold, explode_threshold,
        cls=GatedFlowResult, cell=net.cell, activation="tanh", log10_input_grad_norm=log_x,
        log10_cell_grad_norm=log_c, edges=edges, gates=gates, network=net,
    )


def gated_gradient_flow(
    settings: GeneratorSettings,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
    base: Scenario | None = None,
) -> GatedFlowResult:
    """The gradient flow of the LSTM or GRU that ``settings`` (``cell = "lstm" | "gru"``) generates."""
    if settings.cell not in GATED_CELLS:
        raise InputError(f"gated_gradient_flow needs cell 'lstm' or 'gru', got {settings.cell!r}")
    if settings.activation != "tanh":
        raise InputError(f"the {settings.cell.upper()} has fixed activations (sigmoid gates, tanh candidate); "
                         f"activation '{settings.activation}' applies to the vanilla RNN only")
    return gated_flow(build_network(settings, base=base), vanish_threshold, explode_threshold)


@dataclass
class CellComparison:
    """The vanilla RNN, the LSTM and the GRU of one set of settings, on the same input sequence."""

    settings: GeneratorSettings
    results: dict[str, FlowResult]  # keyed "rnn", "lstm", "gru"
    edges: dict[str, tuple[Edge, ...]]

    @property
    def rnn(self) -> FlowResult:
        return self.results["rnn"]

    @property
    def lstm(self) -> GatedFlowResult:
        return self.results["lstm"]  # type: ignore[return-value]

    @property
    def gru(self) -> GatedFlowResult:
        return self.results["gru"]  # type: ignore[return-value]


def compare_cells(
    settings: GeneratorSettings,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
    cells: tuple[str, ...] = ("rnn", "lstm", "gru"),
    base: Scenario | None = None,
) -> CellComparison:
    """Run each of ``cells`` on ``settings`` (its ``cell`` field is ignored), all on the same inputs.
    The RNN uses the settings' activation; the gated cells have their own (sigmoid gates, tanh
    candidate), so the activation is not passed on to them. ``base``, the vanilla RNN's scenario of
    the same settings, saves drawing it again when the caller has it."""
    unknown = [c for c in cells if c != "rnn" and c not in GATED_CELLS]
    if unknown:
        raise InputError(f"unknown cell {unknown[0]!r} (expected one of: rnn, {', '.join(GATED_CELLS)})")
    if base is None:  # W_hh, W_xh and x, drawn once for all three
        base = replace(settings, cell="rnn").validated().build()
    results: dict[str, FlowResult] = {}
    edges: dict[str, tuple[Edge, ...]] = {}
    for cell in cells:
        if cell == "rnn":
            res = gradient_flow(base, vanish_threshold, explode_threshold)
            results[cell] = res
            edges[cell] = rnn_edges(res)
        else:
            res = gated_gradient_flow(replace(settings, cell=cell, activation="tanh"), vanish_threshold,
                                      explode_threshold, base=base)
            results[cell] = res
            edges[cell] = res.edges
    return CellComparison(settings, results, edges)
