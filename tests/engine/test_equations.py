"""The cells' equations have one home (gradsim/engine/equations.py); every other form agrees with it.

- The home equals PyTorch's own ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (outputs, final states and
  every gradient) on random sizes, weights, biases (or none) and start states.
- The gates scene's forward (``cells._forward``, stepping with the home) hands the backward pass the
  home's states and gate values, and its NumPy backward the home's autograd gradients (``dL/dh_t``, ``dL/dc_t``, ``dL/dx_t``).
- The monitor's batched in-place replay (``recurrence.backward_direction``) gives the home's autograd
  totals ``dL/dh_t`` and input gradients, for any gradient arriving from outside the recurrence.
- The trainer's model (which steps with the home) equals the torch modules on random sizes.

All in float64, to 1e-12 of the largest entry (the worst seen is about 5e-15): the forms differ
only in the order of their roundings; the backward norms to 1e-12, or to what the chain's
conditioning allows where units saturate (see the test).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradsim.engine import equations
from gradsim.engine.cells import GatedNetwork, _forward, gated_flow
from gradsim.engine.equations import GATES, gru_gates, gru_step, input_drive, lstm_gates, lstm_step, rnn_step

torch = pytest.importorskip("torch")
from gradsim.monitor.recurrence import LayerWeights, backward_direction  # noqa: E402

from .fresh_imports import probe  # noqa: E402

F64 = torch.float64
RANDOM = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CELL_KINDS = st.sampled_from([("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
# weight scales: zero (no path back through W_hh at all) or well inside float64 (the exact log-space
# values below float64's range are tested against segmented autograd in test_cells.py)
SCALES = st.one_of(st.just(0.0), st.floats(1e-3, 2.0))


def unroll(cell: str, x: Any, weight_ih: Any, weight_hh: Any, bias_ih: Any = None, bias_hh: Any = None,
           h0: Any = None, c0: Any = None, activation: str = "tanh") -> tuple[list, list]:
    """One layer over time-major ``x`` (``T x B x m``, PyTorch's default layout) with the home's step
    functions, as the trainer loops them: the lists of ``h_1..h_T`` and (LSTM) ``c_1..c_T``, each
    ``B x n`` and a node of the autograd graph. ``h0`` / ``c0`` default to zeros."""
    n = weight_hh.shape[1]
    zeros = x.new_zeros(x.shape[1], n)
    h = zeros if h0 is None else h0
    c = zeros if c0 is None else c0
    drive = input_drive(cell, x, weight_ih, bias_ih, bias_hh).unbind(0)
    w_hh_t = weight_hh.t()
    hs: list = []
    cs: list = []
    for d in drive:
        if cell == "lstm":
            h, c = lstm_step(d, h, c, w_hh_t)
            cs.append(c)
        elif cell == "gru":
            h = gru_step(d, h, w_hh_t, bias_hh)
        else:
            h = rnn_step(d, h, w_hh_t, activation)
        hs.append(h)
    return hs, cs


def random_weights(cell: str, n: int, m: int, gen: torch.Generator, scale: float, bias: bool) -> dict:
    g = GATES[cell]

    def draw(*shape):
        return scale * torch.randn(*shape, generator=gen, dtype=F64)

    weights = {"weight_ih": draw(g * n, m), "weight_hh": draw(g * n, n)}
    if bias:
        weights |= {"bias_ih": draw(g * n), "bias_hh": draw(g * n)}
    return weights


def torch_module(cell: str, activation: str, m: int, n: int, weights: dict):
    """A one-layer ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` holding ``weights``."""
    bias = "bias_ih" in weights
    if cell == "rnn":
        module = torch.nn.RNN(m, n, nonlinearity=activation, bias=bias, dtype=F64)
    else:
        module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(m, n, bias=bias, dtype=F64)
    module.load_state_dict({f"{k}_l0": v for k, v in weights.items()})
    return module


def assert_close(ours, ref, rtol: float = 1e-12) -> None:
    """Equal to ``rtol`` relative to the largest entry of ``ref`` (entries far below it carry the
    roundings of the large ones they were computed from)."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * scale)


# ---------------------------------------------------------------------------------------------------
# the home against PyTorch's modules


@RANDOM
@given(kind=CELL_KINDS, n=st.integers(1, 9), m=st.integers(1, 5), steps=st.integers(1, 20),
       batch=st.integers(1, 4), seed=st.integers(0, 2**31), scale=SCALES, bias=st.booleans())
def test_home_equals_torch_modules(kind, n, m, steps, batch, seed, scale, bias):
    cell, activation = kind
    gen = torch.Generator().manual_seed(seed)
    weights = random_weights(cell, n, m, gen, scale, bias)
    module = torch_module(cell, activation, m, n, weights)
    leaves = {k: v.clone().requires_grad_(True) for k, v in weights.items()}
    x = torch.randn(steps, batch, m, generator=gen, dtype=F64, requires_grad=True)
    h0 = torch.rand(batch, n, generator=gen, dtype=F64) * 2 - 1
    c0 = torch.randn(batch, n, generator=gen, dtype=F64)
    readout = torch.randn(steps, batch, n, generator=gen, dtype=F64)

    hs, cs = unroll(cell, x, leaves["weight_ih"], leaves["weight_hh"], leaves.get("bias_ih"),
                    leaves.get("bias_hh"), h0, c0 if cell == "lstm" else None, activation)
    ours = torch.stack(hs)
    ref, state = module(x, (h0[None], c0[None]) if cell == "lstm" else h0[None])
    assert_close(ours.detach(), ref.detach())
    if cell == "lstm":
        assert_close(cs[-1].detach(), state[1][0].detach())
        assert len(cs) == steps
    else:
        assert cs == []

    # the gradients of every weight and of the inputs, through the home and through the module
    ours_grads = torch.autograd.grad((ours * readout).sum(), [x, *leaves.values()])
    ref_grads = torch.autograd.grad((ref * readout).sum(), [x, *(module.get_parameter(f"{k}_l0") for k in leaves)])
    for a, b in zip(ours_grads, ref_grads, strict=True):
        assert_close(a, b)


def test_the_gru_bias_hh_stays_out_of_the_input_term():
    """``input_drive`` adds ``b_hh`` for the RNN and the LSTM (only their sum matters) but not for the
    GRU, whose candidate multiplies ``W_hn h + b_hn`` by ``r``."""
    x = torch.ones(2, 1, 1, dtype=F64)
    w = torch.zeros(3, 1, dtype=F64)
    b_ih = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    b_hh = torch.tensor([10.0, 20.0, 30.0], dtype=F64)
    assert input_drive("gru", x, w, b_ih, b_hh)[0, 0].tolist() == [1.0, 2.0, 3.0]
    assert input_drive("lstm", x, w, b_ih, b_hh)[0, 0].tolist() == [11.0, 22.0, 33.0]
    assert input_drive("rnn", x, w, None, b_hh)[0, 0].tolist() == [10.0, 20.0, 30.0]
    assert input_drive("gru", x, w)[0, 0].tolist() == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------------------------------
# the gates scene's forward and NumPy backward


def random_network(cell: str, n: int, m: int, steps: int, seed: int, scale: float) -> GatedNetwork:
    rng = np.random.default_rng(seed)
    g = GATES[cell]
    return GatedNetwork(cell, scale * rng.standard_normal((g * n, m)), scale * rng.standard_normal((g * n, n)),
                        scale * rng.standard_normal(g * n), scale * rng.standard_normal(g * n),
                        rng.standard_normal((steps, m)), h0=rng.uniform(-1, 1, n), c0=rng.standard_normal(n))


def home_run(net: GatedNetwork, requires_grad: bool = False):
    """The home's states and gate values for one network (a batch of one)."""
    w_ih, w_hh, b_ih, b_hh = (torch.tensor(a) for a in (net.weight_ih, net.weight_hh, net.bias_ih, net.bias_hh))
    x = torch.tensor(net.x)[:, None].requires_grad_(requires_grad)
    h0, c0 = torch.tensor(net.h0)[None], torch.tensor(net.c0)[None]
    hs, cs = unroll(net.cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0 if net.cell == "lstm" else None)
    return x, hs, cs, (w_ih, w_hh, b_ih, b_hh)


@RANDOM
@given(cell=st.sampled_from(["lstm", "gru"]), n=st.integers(1, 9), m=st.integers(1, 4), steps=st.integers(1, 30),
       seed=st.integers(0, 2**31), scale=SCALES)
def test_gates_engine_forward_equals_the_home(cell, n, m, steps, seed, scale):
    net = random_network(cell, n, m, steps, seed, scale)
    fw = _forward(net)
    with torch.no_grad():
        x, hs, cs, (w_ih, w_hh, b_ih, b_hh) = home_run(net)
        h = torch.cat(hs)
        h_prev = torch.cat([torch.tensor(net.h0)[None], h[:-1]])
        drive = input_drive(cell, x[:, 0], w_ih, b_ih, b_hh)
        if cell == "lstm":
            gates = lstm_gates(drive + h_prev @ w_hh.T)
            assert_close(fw["c"], torch.cat(cs))
        else:
            hidden = h_prev @ w_hh.T + b_hh
            gates = gru_gates(drive, hidden)
            assert_close(fw["hn"], hidden[:, 2 * n :])
    assert_close(fw["h"], h)
    assert_close(fw["act"], torch.cat(gates, 1))


def robust_norms(g) -> np.ndarray:
    """Row norms, each row scaled by its largest entry first."""
    g = np.asarray(g, dtype=np.float64).reshape(g.shape[0], -1)
    peak = np.max(np.abs(g), axis=1, keepdims=True)
    safe = np.where(peak > 0, peak, 1.0)
    return peak[:, 0] * np.sqrt(np.sum((g / safe) ** 2, axis=1))


@RANDOM
@given(cell=st.sampled_from(["lstm", "gru"]), n=st.integers(1, 9), m=st.integers(1, 4), steps=st.integers(1, 30),
       seed=st.integers(0, 2**31), scale=SCALES)
def test_gates_engine_backward_equals_autograd_through_the_home(cell, n, m, steps, seed, scale):
    net = random_network(cell, n, m, steps, seed, scale)
    res = gated_flow(net)
    x, hs, cs, _ = home_run(net, requires_grad=True)
    grads = torch.autograd.grad(hs[-1].sum(), [*hs, *cs, x], allow_unused=True)
    grads = [torch.zeros(1, n, dtype=F64) if g is None else g for g in grads]
    pairs = [(res.grad_norm, torch.cat(grads[:steps])), (res.input_grad_norm, grads[-1][:, 0])]
    if cell == "lstm":
        pairs.append((res.cell_grad_norm, torch.cat(grads[steps : 2 * steps])))
    # Saturated units make the chain ill-conditioned: a local derivative 1 - a² or a (1 - a), taken
    # from an activation a within d of ±1 (or 1), carries a relative rounding of about eps / d, and a
    # path multiplies up to a handful of them per step (seen: an LSTM cell at c = -8.6, 1 - tanh² =
    # 1.3e-7, off by 3e-10 relative in every norm). The bound follows that conditioning.
    fw = _forward(net)
    near_one = [1.0 - np.abs(fw["act"])]
    if cell == "lstm":
        near_one.append(1.0 - np.tanh(fw["c"]) ** 2)
    kappa = 1.0 / max(min(float(np.min(d)) for d in near_one), 1e-300)
    rtol = max(1e-12, 10 * np.finfo(float).eps * steps * min(kappa, 1e12))
    for ours, ref in pairs:
        ref = robust_norms(ref.numpy())
        assert_close(ours, ref, rtol=rtol)
        assert np.array_equal(ours == 0, ref == 0)


# ---------------------------------------------------------------------------------------------------
# the monitor's batched in-place replay


@RANDOM
@given(kind=CELL_KINDS, n=st.integers(1, 9), m=st.integers(1, 5), steps=st.integers(1, 20),
       batch=st.integers(1, 4), seed=st.integers(0, 2**31), scale=SCALES, bias=st.booleans(),
       final_grads=st.booleans())
def test_monitor_replay_equals_autograd_through_the_home(kind, n, m, steps, batch, seed, scale, bias, final_grads):
    cell, activation = kind
    gen = torch.Generator().manual_seed(seed)
    weights = random_weights(cell, n, m, gen, scale, bias)
    x = torch.randn(steps, batch, m, generator=gen, dtype=F64, requires_grad=True)
    h0 = torch.rand(batch, n, generator=gen, dtype=F64) * 2 - 1
    c0 = torch.randn(batch, n, generator=gen, dtype=F64) if cell == "lstm" else None
    direct = torch.randn(steps, batch, n, generator=gen, dtype=F64)  # what arrives from outside at each h_t
    grad_h_last = torch.randn(batch, n, generator=gen, dtype=F64) if final_grads else None
    grad_c_last = torch.randn(batch, n, generator=gen, dtype=F64) if final_grads and cell == "lstm" else None

    hs, cs = unroll(cell, x, weights["weight_ih"], weights["weight_hh"], weights.get("bias_ih"),
                    weights.get("bias_hh"), h0, c0, activation)
    loss = (torch.stack(hs) * direct).sum()
    if grad_h_last is not None:
        loss = loss + (hs[-1] * grad_h_last).sum()
    if grad_c_last is not None:
        loss = loss + (cs[-1] * grad_c_last).sum()
    *ref_totals, ref_x = torch.autograd.grad(loss, [*hs, x])

    w = LayerWeights(weights["weight_ih"], weights["weight_hh"], weights.get("bias_ih"), weights.get("bias_hh"))
    totals, input_grad = backward_direction(cell, activation, x.detach(), h0, c0, torch.stack(hs).detach(), w,
                                            direct, grad_h_last, grad_c_last, True)
    assert_close(totals, torch.stack(ref_totals))
    assert_close(input_grad, ref_x)


# ---------------------------------------------------------------------------------------------------
# the trainer


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=CELL_KINDS, hidden=st.integers(1, 10), embedding=st.integers(1, 6), delay=st.integers(0, 12),
       batch=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_trainer_states_equal_torch_modules(kind, hidden, embedding, delay, batch, seed):
    from gradsim.engine.training import RecurrentModel, TrainSettings, make_batch

    cell, activation = kind
    s = TrainSettings(cell=cell, activation=activation, hidden=hidden, embedding=embedding, delay=delay,
                      symbols=1, categories=4, batch=batch, forget_bias=1.5)
    model = RecurrentModel(s, np.random.default_rng(seed), dtype=F64)
    data = make_batch(s, np.random.default_rng(seed + 1), batch)
    state = model.state_dict()
    module = torch_module(cell, activation, embedding, hidden,
                          {k: state[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    with torch.no_grad():
        _, states = model.forward(torch.from_numpy(data.inputs), data.readout, capture=True)
        x = torch.nn.functional.embedding(torch.from_numpy(data.inputs), state["embedding"])
        ref, _ = module(x.transpose(0, 1))
    assert_close(torch.stack(states), ref)


def test_the_home_loads_no_torch_at_import():
    """Tensor methods only: the module can be imported (and its constants used) without torch (in a
    fresh interpreter: tests/engine/fresh_imports.py)."""
    assert probe("equations") == 4
    assert equations.GATE_NAMES["gru"][equations.CANDIDATE_BLOCK] == "n"
