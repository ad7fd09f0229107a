"""The equations of the recurrent cells, written once: PyTorch's, in its parameter layout.

Every module that runs a vanilla RNN, an LSTM or a GRU in torch takes the cell's equations from
here: the trainer (:mod:`gradsim.engine.training`) steps with them under autograd; the gates
scene's engine (:mod:`gradsim.engine.cells`) steps with them without autograd (the ``_with_gates``
forms also hand back the gate values its backward pass reads) and takes its local derivatives from
here. The monitor's replay of a fused kernel (:mod:`gradsim.monitor.recurrence`) takes the input
term from here and keeps a batched, in-place form of the gates and derivatives, since it works on
all timesteps at once from hidden states it already knows. ``tests/engine/test_equations.py``
proves that these functions equal ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` and that every user
agrees with them, to float64 precision.

PyTorch's conventions, stated once:

- Weights: ``weight_ih`` is ``(G n) x m``, ``weight_hh`` is ``(G n) x n``, ``bias_ih`` and
  ``bias_hh`` have length ``G n``: the ``G`` gate blocks of ``n`` rows are stacked in the order
  of :data:`GATE_NAMES` (LSTM ``i, f, g, o``; GRU ``r, z, n``; ``G = 1`` for the vanilla RNN).
  A one-layer module's state dict names them ``weight_ih_l0`` and so on.
- Vanilla RNN: ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, ``f`` tanh or ReLU in PyTorch
  (sigmoid and identity too here).
- LSTM: ``[i, f, g, o] = [s, s, tanh, s](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (``s`` the
  logistic sigmoid), ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``. The two biases only ever
  appear as their sum, so the forget-gate bias is set in ``bias_ih`` with ``bias_hh`` left at 0.
- GRU: ``r = s(W_ir x + b_ir + W_hr h + b_hr)``, ``z = s(W_iz x + b_iz + W_hz h + b_hz)``,
  ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``, ``h_t = (1 - z) n + z h_{t-1}``, computed as
  ``n + z (h_{t-1} - n)`` as PyTorch's kernels do. Here ``b_hh`` is *not* a plain sum with
  ``b_ih``: its candidate block is multiplied by ``r``.
- Zero initial states unless given; the loss's gradient enters through every ``h_t``.

The step functions work on batches (``h`` is ``B x n``; a single sequence is a batch of one) and
take ``W_hh`` already transposed (``w_hh_t``, a view made once per sequence: transposing at every
step would add a node per step to the autograd graph). They use tensor methods only, so this
module imports torch nowhere (importing :mod:`gradsim.engine` loads neither torch nor Qt). The
local derivatives use arithmetic operators only and take NumPy arrays and torch tensors alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

CELLS = ("rnn", "lstm", "gru")
GATE_NAMES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
GATES = {cell: len(names) for cell, names in GATE_NAMES.items()}
CANDIDATE_BLOCK = 2  # g (LSTM) and n (GRU): the block in the place of the vanilla RNN's W_hh

_ACTIVATE = {
    "tanh": lambda z: z.tanh(),
    "sigmoid": lambda z: z.sigmoid(),
    "relu": lambda z: z.relu(),
    "identity": lambda z: z,
}


# ---------------------------------------------------------------------------------------------------
# forward


def input_drive(cell: str, x: Any, weight_ih: Any, bias_ih: Any = None, bias_hh: Any = None) -> Any:
    """The input's part of the pre-activations for every step at once: ``x W_ih^T + b_ih``, plus
    ``b_hh`` for the RNN and the LSTM (which only ever add the two biases). The GRU's ``b_hh`` is
    left for :func:`gru_step`, since ``r`` multiplies its candidate block. ``x`` is ``(..., m)``;
    the result is ``(..., G n)``."""
    bias = bias_ih
    if cell != "gru" and bias_hh is not None:
        bias = bias_hh if bias is None else bias + bias_hh
    flat = x.reshape(-1, x.shape[-1])
    out = flat @ weight_ih.t() if bias is None else bias.addmm(flat, weight_ih.t())
    return out.reshape(*x.shape[:-1], out.shape[-1])


def rnn_step(drive: Any, h: Any, w_hh_t: Any, activation: str = "tanh") -> Any:
    """``h_t = f(drive_t + h_{t-1} W_hh^T)``, ``drive_t`` from :func:`input_drive`."""
    z = drive.addmm(h, w_hh_t)
    return z.tanh() if activation == "tanh" else _ACTIVATE[activation](z)  # tanh without a lookup: the common case


def lstm_gates(pre: Any) -> tuple[Any, Any, Any, Any]:
    """``i, f, g, o`` from the stacked pre-activations ``(..., 4n)``."""
    i, f, g, o = pre.chunk(4, -1)
    return i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()


def lstm_step_with_gates(drive: Any, h: Any, c: Any, w_hh_t: Any) -> tuple[Any, Any, tuple[Any, Any, Any, Any]]:
    """``(h_t, c_t, (i, f, g, o))``: ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``, with the gate
    values the gates engine's backward pass reads."""
    gates = lstm_gates(drive.addmm(h, w_hh_t))
    i, f, g, o = gates
    c = f * c + i * g
    return o * c.tanh(), c, gates


def lstm_step(drive: Any, h: Any, c: Any, w_hh_t: Any) -> tuple[Any, Any]:
    """``(h_t, c_t)`` of :func:`lstm_step_with_gates`, for callers that need only the states."""
    h, c, _ = lstm_step_with_gates(drive, h, c, w_hh_t)
    return h, c


def gru_gates(drive: Any, hidden: Any) -> tuple[Any, Any, Any]:
    """``r, z, n`` from ``drive = x W_ih^T + b_ih`` and ``hidden = h W_hh^T + b_hh``, each ``(..., 3n)``."""
    ir, iz, in_ = drive.chunk(3, -1)
    hr, hz, hn = hidden.chunk(3, -1)
    r = (ir + hr).sigmoid()
    z = (iz + hz).sigmoid()
    return r, z, (in_ + r * hn).tanh()


def gru_step_with_gates(drive: Any, h: Any, w_hh_t: Any, bias_hh: Any = None) -> tuple[Any, tuple[Any, Any, Any], Any]:
    """``(h_t, (r, z, n), hidden)``: ``h_t = (1 - z) n + z h_{t-1}``, as ``n + z (h_{t-1} - n)``,
    with the gate values and ``hidden = h_{t-1} W_hh^T + b_hh`` (``3n`` wide), whose candidate block
    ``W_hn h + b_hn`` the gates engine's backward pass reads (``r`` multiplies it)."""
    hidden = h @ w_hh_t if bias_hh is None else bias_hh.addmm(h, w_hh_t)
    gates = gru_gates(drive, hidden)
    _, z, n = gates
    return n + z * (h - n), gates, hidden


def gru_step(drive: Any, h: Any, w_hh_t: Any, bias_hh: Any = None) -> Any:
    """``h_t`` of :func:`gru_step_with_gates`, for callers that need only the state."""
    return gru_step_with_gates(drive, h, w_hh_t, bias_hh)[0]


# ---------------------------------------------------------------------------------------------------
# local derivatives (backward)


def lstm_local_derivatives(i: Any, f: Any, g: Any, o: Any, c_prev: Any, tanh_c: Any) -> Iterator[Any]:
    """The element-wise factors of one LSTM step's backward pass, for any number of steps at once.

    With ``a_t`` and ``b_t`` the total derivatives ``dL/dh_t`` and ``dL/dc_t`` (``b_t`` already
    holding ``a_t * dh_dc``), the gradient on the pre-activations of step ``t`` is
    ``[b_t k_i, b_t k_f, b_t k_g, a_t k_o]``; ``W_hh^T`` of it goes to ``h_{t-1}``, ``W_ih^T`` to
    ``x_t``, and ``b_{t-1}`` gets ``f_t b_t``. Yields ``k_i, k_f, k_g, k_o`` and then
    ``dh_dc = o (1 - tanh^2 c_t)``, from the gates, ``c_{t-1}`` and ``tanh(c_t)``. One at a time,
    so that a caller can store each before the next is formed: over a whole run they are large,
    and five of them alive at once cost the gates engine 5 % of its backward pass.
    """
    yield g * (i * (1 - i))
    yield c_prev * (f * (1 - f))
    yield i * (1 - g * g)
    yield tanh_c * (o * (1 - o))
    yield o * (1 - tanh_c * tanh_c)


def gru_local_derivatives(r: Any, z: Any, n: Any, h_prev: Any, hidden_n: Any) -> Iterator[Any]:
    """The element-wise factors of one GRU step's backward pass, for any number of steps at once.

    With ``a_t = dL/dh_t`` (total), ``h_{t-1}`` receives ``z_t a_t + W_hh^T [a_t k_r, a_t k_z,
    a_t k_n]`` and ``x_t`` receives ``W_ih^T [a_t k_r, a_t k_z, a_t k_n_input]``: the candidate
    block differs because ``r`` multiplies ``W_hn h + b_hn`` (``hidden_n``) and not the input's
    term. Yields ``k_r, k_z, k_n, k_n_input``, one at a time (see :func:`lstm_local_derivatives`).
    """
    k_n_input = (1 - z) * (1 - n * n)
    yield k_n_input * hidden_n * (r * (1 - r))
    yield (h_prev - n) * (z * (1 - z))
    yield k_n_input * r
    yield k_n_input
