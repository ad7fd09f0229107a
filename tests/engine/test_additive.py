"""The additive path: the residual RNN and the self-attention layer against independent computations
(PyTorch float64 autograd, ``nn.MultiheadAttention`` with loaded weights, segment-wise autograd
rescaled between segments, and mpmath at 1100 digits where values leave float64), and the common
measure ``||dL/dx_t||`` of all five models."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradsim.engine import GeneratorSettings, InputError, Scenario, gradient_flow
from gradsim.engine.additive import (
    MODELS,
    AttentionNetwork,
    attention_flow,
    attention_gradient_flow,
    build_attention,
    compare_models,
    residual_flow,
    sinusoidal_positions,
)
from gradsim.engine.cells import build_network, compare_cells

from .fresh_imports import probe

torch = pytest.importorskip("torch")

ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "identity": lambda z: z}


def robust_norm(g) -> float:
    """||g||_2 scaled first (torch's own norm squares entries and returns 0 below ~1e-162)."""
    g = np.asarray(g, dtype=np.float64).ravel()
    peak = float(np.max(np.abs(g))) if g.size else 0.0
    return 0.0 if peak == 0 else peak * float(np.sqrt(np.sum((g / peak) ** 2)))


def row_norms(g) -> np.ndarray:
    return np.array([robust_norm(row) for row in np.asarray(g)])


def assert_close_where_representable(ours: np.ndarray, ref: np.ndarray, conditioning: np.ndarray | None = None) -> None:
    """Equal to a relative 1e-6 wherever PyTorch's value is above 1e-290 (CONTRACTS section 1); where
    torch holds an exact zero, ours is an exact zero too or a value far below float64.

    ``conditioning[t]`` widens the tolerance at steps where no float64 computation can be that close:
    a saturated unit's slope ``1 - y^2`` (or ``y (1 - y)``) loses ``eps y / (1 - y)`` of its relative
    accuracy to the rounding of ``y`` itself, and NumPy's and PyTorch's ``tanh`` differ by one unit in
    the last place on about a fifth of all inputs. Where the input gradient passes only through such
    slopes (every unit saturated) both answers carry that error, so the tolerance there is
    ``1e-6 + 4 * conditioning``."""
    mask = ref > 1e-290
    rtol = 1e-6 if conditioning is None else 1e-6 + 4.0 * conditioning[mask]
    assert np.all(np.abs(ours[mask] - ref[mask]) <= rtol * np.abs(ref[mask])), (ours[mask], ref[mask])
    with np.errstate(divide="ignore"):
        logs = np.log10(ours[ref == 0]) if (ref == 0).any() else np.array([])
    assert np.all(~np.isfinite(logs) | (logs < -280))


# ---------------------------------------------------------------------------------------------------
# independent references in torch


def slope_conditioning(activation: str, y: np.ndarray) -> np.ndarray:
    """Per step, the largest relative rounding error of a unit's slope computed from its output ``y``
    (``1 - y^2`` for tanh, ``y (1 - y)`` for sigmoid; exact for relu and identity)."""
    eps = np.finfo(np.float64).eps
    with np.errstate(divide="ignore", invalid="ignore"):
        if activation == "tanh":
            rel = eps * y * y / (1.0 - y * y)
        elif activation == "sigmoid":
            rel = eps * np.maximum(y / (1.0 - y), (1.0 - y) / y)
        else:
            rel = np.zeros_like(y)
    return np.max(np.nan_to_num(rel, nan=np.inf, posinf=np.inf), axis=1)


def torch_residual(sc: Scenario, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``||dL/dh_t||`` (retain_grad) and ``||dL/dx_t||`` of ``h_t = h_{t-1} + alpha f(W h + U x_t + b)``,
    and the conditioning of each step's slopes (see :func:`assert_close_where_representable`)."""
    w, u, b = (torch.tensor(a, dtype=torch.float64) for a in (sc.W_hh, sc.W_xh, sc.b_h))
    x = torch.tensor(sc.x, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(sc.h0, dtype=torch.float64)
    states, outputs = [], []
    for t in range(x.shape[0]):
        y = ACT[sc.activation](w @ h + u @ x[t] + b)
        h = h + alpha * y
        h.retain_grad()
        states.append(h)
        outputs.append(y.detach())
    h.sum().backward()
    cond = slope_conditioning(sc.activation, torch.stack(outputs).numpy())
    return np.array([robust_norm(s.grad.numpy()) for s in states]), row_norms(x.grad.numpy()), cond


def torch_attention_mha(net: AttentionNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``||dL/de_t||``, ``||dL/dx_t||`` and the last row of attention weights (heads x T) from
    ``torch.nn.MultiheadAttention`` with the network's weights loaded and a causal mask over all
    positions; ``L = sum(e_T + attention_T)``."""
    steps, n = net.steps, net.width
    mha = torch.nn.MultiheadAttention(n, net.heads, dtype=torch.float64)
    mha.load_state_dict(net.state_dict())
    x = torch.tensor(net.x, requires_grad=True)
    e = x @ torch.tensor(net.w_in).T + torch.tensor(net.b_in) + torch.tensor(net.positions)
    e.retain_grad()
    mask = torch.triu(torch.full((steps, steps), float("-inf"), dtype=torch.float64), 1)
    out, weights = mha(e[:, None], e[:, None], e[:, None], attn_mask=mask, need_weights=True,
                       average_attn_weights=False)
    y = e + out[:, 0]
    y[-1].sum().backward()
    return row_norms(e.grad.numpy()), row_norms(x.grad.numpy()), weights[0, :, -1].detach().numpy()


def random_attention(rng: np.random.Generator, heads: int, d: int, m: int, steps: int, w_scale: float,
                     x_scale: float, b_scale: float, sinusoidal: bool) -> AttentionNetwork:
    n = heads * d
    return AttentionNetwork(
        rng.standard_normal((n, m)), b_scale * rng.standard_normal(n), x_scale * rng.standard_normal((steps, m)),
        w_scale * rng.standard_normal((3 * n, n)) / math.sqrt(n), b_scale * rng.standard_normal(3 * n),
        w_scale * rng.standard_normal((n, n)) / math.sqrt(n), b_scale * rng.standard_normal(n), heads=heads,
        positions=None if sinusoidal else rng.standard_normal((steps, n)),
    )


# ---------------------------------------------------------------------------------------------------
# residual RNN


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 10),
    m=st.integers(1, 4),
    steps=st.integers(1, 60),
    activation=st.sampled_from(["tanh", "sigmoid", "relu", "identity"]),
    seed=st.integers(0, 2**31),
    alpha=st.floats(0.0, 3.0),
    w_scale=st.floats(0.0, 2.0),
    x_scale=st.floats(0.0, 3.0),
    bias=st.booleans(),
)
def test_residual_equals_autograd_on_random_networks(n, m, steps, activation, seed, alpha, w_scale, x_scale, bias):
    rng = np.random.default_rng(seed)
    sc = Scenario("residual", activation, W_hh=w_scale * rng.standard_normal((n, n)) / np.sqrt(n),
                  W_xh=rng.standard_normal((n, m)), b_h=rng.standard_normal(n) * bias,
                  h0=0.5 * rng.standard_normal(n), x=x_scale * rng.standard_normal((steps, m)))
    res = residual_flow(sc, alpha)
    ref_h, ref_x, cond = torch_residual(sc, alpha)
    assert_close_where_representable(res.grad_norm, ref_h)
    assert_close_where_representable(res.input_grad_norm, ref_x, cond)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize(("init", "scale", "alpha"), [("gaussian", 1.0, 1.0), ("orthogonal", 0.5, 0.3),
                                                       ("pytorch_default", 1.0, 2.0), ("identity", 0.2, 1.0)])
def test_generated_residual_equals_autograd(activation, init, scale, alpha):
    settings_ = GeneratorSettings(hidden=12, input=3, steps=120, activation=activation, init=init, scale=scale,
                                  cell="residual", residual_scale=alpha, seed=21)
    res = gradient_flow(settings_.build())
    assert res.cell == "residual" and res.residual_scale == alpha
    ref_h, ref_x, cond = torch_residual(settings_.build(), alpha)
    assert_close_where_representable(res.grad_norm, ref_h)
    assert_close_where_representable(res.input_grad_norm, ref_x, cond)


def segmented_residual_logs(sc: Scenario, alpha: float, segment: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Exact log10 norms at any depth by plain autograd: one segment at a time, each seeded with the
    next one's gradient rescaled to a largest entry of 1, the scale's log10 kept aside."""
    w, u, b = (torch.tensor(a, dtype=torch.float64) for a in (sc.W_hh, sc.W_xh, sc.b_h))
    x = torch.tensor(sc.x, dtype=torch.float64)
    f = ACT[sc.activation]
    steps = x.shape[0]
    starts = {}
    with torch.no_grad():
        h = torch.tensor(sc.h0, dtype=torch.float64)
        for t in range(steps):
            if t % segment == 0:
                starts[t] = h.clone()
            h = h + alpha * f(w @ h + u @ x[t] + b)
    log_h, log_x = np.empty(steps), np.empty(steps)
    seed = torch.ones(sc.hidden, dtype=torch.float64)
    offset = 0.0
    for t0 in sorted(starts, reverse=True):
        t1 = min(t0 + segment, steps)
        h_in = starts[t0].clone().requires_grad_(True)
        xs = x[t0:t1].clone().requires_grad_(True)
        h, hs = h_in, []
        for k in range(t1 - t0):
            h = h + alpha * f(w @ h + u @ xs[k] + b)
            h.retain_grad()
            hs.append(h)
        (h * seed).sum().backward()
        for k, s in enumerate(hs):
            log_h[t0 + k] = offset + np.log10(robust_norm(s.grad.numpy()))
            log_x[t0 + k] = offset + np.log10(robust_norm(xs.grad[k].numpy()))
        scale = float(h_in.grad.abs().max())
        seed = h_in.grad / scale
        offset += np.log10(scale)
    return log_h, log_x


def test_residual_exact_far_below_float64():
    """W_hh = -0.9 I with tanh near 0: every backward step is about I - 0.9 I, a factor 0.1, so after
    500 steps the gradient is near 1e-500; segment-wise autograd with rescaling agrees in log10."""
    rng = np.random.default_rng(3)
    n, steps = 4, 500
    sc = Scenario("residual", "tanh", W_hh=-0.9 * np.eye(n) + 0.01 * rng.standard_normal((n, n)),
                  W_xh=rng.standard_normal((n, 2)), b_h=np.zeros(n), h0=np.zeros(n),
                  x=0.01 * rng.standard_normal((steps, 2)))
    res = residual_flow(sc, 1.0)
    assert res.log10_grad_norm[0] < -400 and res.log10_input_grad_norm[0] < -400
    assert res.grad_norm[0] == 0.0 and res.input_grad_norm[0] == 0.0 and res.underflow[0]
    log_h, log_x = segmented_residual_logs(sc, 1.0)
    np.testing.assert_allclose(res.log10_grad_norm, log_h, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(res.log10_input_grad_norm, log_x, rtol=1e-9, atol=1e-8)
    doc = json.loads(json.dumps(res.to_json_dict(), allow_nan=False))
    assert doc["input_grad_norm"][0] == 0.0 and doc["log10_input_grad_norm"][0] < -400


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), alpha=st.floats(0.0, 2.0), scale=st.floats(0.0, 1.5),
       activation=st.sampled_from(["tanh", "sigmoid", "relu"]))
def test_residual_bounds_hold(seed, alpha, scale, activation):
    """Each backward step stretches by at most 1 + alpha c ||W_hh|| and shrinks by at most
    1 - alpha c ||W_hh|| (c = max f'): both curves hold the exact one between them."""
    res = gradient_flow(GeneratorSettings(hidden=10, steps=80, cell="residual", residual_scale=alpha, scale=scale,
                                          activation=activation, seed=seed).build())
    assert np.all(res.log10_grad_norm <= res.log10_bound + 1e-9)
    lower = res.log10_lower_bound
    if res.correction_bound < 1:
        assert np.all(res.log10_grad_norm >= lower - 1e-9)
    else:
        assert np.all(np.isnan(lower))


def test_residual_without_correction_is_the_identity():
    """alpha = 0 (or W_hh = 0 and f' nowhere reaching h) leaves g_t = 1 at every step: sqrt(n), and
    nothing reaches the input (an exact zero, null in JSON)."""
    res = gradient_flow(GeneratorSettings(hidden=9, steps=30, cell="residual", residual_scale=0.0).build())
    np.testing.assert_allclose(res.log10_grad_norm, 0.5 * np.log10(9), rtol=1e-15)
    assert np.all(np.isneginf(res.log10_input_grad_norm))
    doc = json.loads(json.dumps(res.to_json_dict(), allow_nan=False))
    assert doc["log10_input_grad_norm"] == [None] * 30 and doc["input_grad_norm"] == [0.0] * 30
    flat = gradient_flow(GeneratorSettings(hidden=9, steps=30, cell="residual", scale=0.0).build())
    np.testing.assert_allclose(flat.log10_grad_norm, 0.5 * np.log10(9), rtol=1e-15)


def test_residual_uses_the_rnns_numbers():
    s = GeneratorSettings(hidden=7, input=3, steps=25, activation="relu", init="orthogonal", scale=0.8, seed=5)
    rnn = s.build()
    res = gradient_flow(replace(s, cell="residual", residual_scale=0.7).build())
    h, prev = [], rnn.h0
    for t in range(25):
        prev = prev + 0.7 * np.maximum(rnn.W_hh @ prev + rnn.W_xh @ rnn.x[t] + rnn.b_h, 0.0)
        h.append(prev)
    np.testing.assert_allclose(res.h, np.array(h), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(res.w_hh, rnn.W_hh)


# ---------------------------------------------------------------------------------------------------
# attention


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    heads=st.integers(1, 3),
    d=st.integers(1, 4),
    m=st.integers(1, 4),
    steps=st.integers(1, 30),
    seed=st.integers(0, 2**31),
    w_scale=st.floats(0.0, 3.0),
    x_scale=st.floats(0.0, 3.0),
    b_scale=st.floats(0.0, 1.0),
    sinusoidal=st.booleans(),
)
def test_attention_equals_multihead_attention(heads, d, m, steps, seed, w_scale, x_scale, b_scale, sinusoidal):
    net = random_attention(np.random.default_rng(seed), heads, d, m, steps, w_scale, x_scale, b_scale, sinusoidal)
    res = attention_flow(net)
    ref_e, ref_x, weights = torch_attention_mha(net)
    assert_close_where_representable(res.grad_norm, ref_e)
    assert_close_where_representable(res.input_grad_norm, ref_x)
    np.testing.assert_allclose(res.attention_last, weights, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(res.attention_last.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 17])
def test_generated_attention_equals_multihead_attention(seed):
    res = attention_gradient_flow(GeneratorSettings(hidden=16, input=4, steps=90, seed=seed))
    ref_e, ref_x, weights = torch_attention_mha(res.network)
    np.testing.assert_allclose(res.grad_norm, ref_e, rtol=1e-6)
    np.testing.assert_allclose(res.input_grad_norm, ref_x, rtol=1e-6)
    np.testing.assert_allclose(res.attention_last, weights, rtol=1e-9)


def test_generated_attention_draws_pytorch_defaults_from_the_seed():
    s = GeneratorSettings(hidden=20, input=3, steps=15, seed=8)
    net = build_attention(s)
    rnn = s.build()
    np.testing.assert_array_equal(net.w_in, rnn.W_xh)
    np.testing.assert_array_equal(net.x, rnn.x)
    n = 20
    assert np.max(np.abs(net.in_proj_weight)) <= math.sqrt(6 / (4 * n))  # xavier_uniform_ on 3n x n
    assert np.max(np.abs(net.out_weight)) <= 1 / math.sqrt(n)
    assert not net.in_proj_bias.any() and not net.out_bias.any() and net.heads == 1
    # independent of everything but the seed and the sizes; another seed draws other weights
    np.testing.assert_array_equal(build_attention(replace(s, scale=2.0, init="orthogonal")).in_proj_weight,
                                  net.in_proj_weight)
    assert not np.array_equal(build_attention(replace(s, seed=9)).in_proj_weight, net.in_proj_weight)


def test_sinusoidal_positions_follow_the_published_formula():
    steps, width = 50, 7
    pe = torch.zeros(steps, width, dtype=torch.float64)
    for pos in range(steps):
        for i in range(0, width, 2):
            angle = torch.tensor(pos / 10000 ** (i / width), dtype=torch.float64)
            pe[pos, i] = torch.sin(angle)
            if i + 1 < width:
                pe[pos, i + 1] = torch.cos(angle)
    np.testing.assert_allclose(sinusoidal_positions(steps, width), pe.numpy(), rtol=1e-12, atol=1e-15)


def torch_attention_one_head(net: AttentionNetwork, detach_keys: bool) -> tuple[np.ndarray, np.ndarray]:
    """A hand-written one-head layer (no code shared with the engine): ``||dL/de_t||`` and the last
    position's attention; with ``detach_keys`` the gradient flows through the values only."""
    n = net.width
    e = torch.tensor(net.x) @ torch.tensor(net.w_in).T + torch.tensor(net.b_in) + torch.tensor(net.positions)
    e.requires_grad_(True)
    w = torch.tensor(net.in_proj_weight)
    b = torch.tensor(net.in_proj_bias)
    q = e[-1] @ w[:n].T + b[:n]
    k = e @ w[n : 2 * n].T + b[n : 2 * n]
    v = e @ w[2 * n :].T + b[2 * n :]
    if detach_keys:
        k = k.detach()
    a = torch.softmax(k @ q / math.sqrt(n), dim=0)
    y = e[-1] + torch.tensor(net.out_weight) @ (a @ v) + torch.tensor(net.out_bias)
    y.sum().backward()
    return row_norms(e.grad.numpy()), a.detach().numpy()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(2, 400))
def test_the_hop_is_weighted_by_the_attention_probability(seed, steps):
    """The issue's claim, checked two ways: (1) through the value path alone the gradient reaching
    step t < T is exactly a_{T,t} ||W_v^T W_o^T 1||, the same constant times the attention at every
    distance; (2) with the key path too, ||dL/dx_t|| stays below the engine's bound, which is
    a_{T,t} times a constant of the layer."""
    res = attention_gradient_flow(GeneratorSettings(hidden=16, input=4, steps=steps, seed=seed))
    net = res.network
    values_only, a = torch_attention_one_head(net, detach_keys=True)
    np.testing.assert_allclose(res.attention_last[0], a, rtol=1e-9)
    const = np.linalg.norm(net.projection("v")[0].T @ net.out_weight.sum(axis=0))
    np.testing.assert_allclose(values_only[:-1], a[:-1] * const, rtol=1e-9)
    full, _ = torch_attention_one_head(net, detach_keys=False)
    np.testing.assert_allclose(res.grad_norm, full, rtol=1e-6)
    assert np.all(res.log10_input_grad_norm[:-1] <= res.log10_input_bound[:-1] + 1e-9)
    # the bound is the attention times one number for all t < T
    gain = res.log10_input_bound[:-1] - res.log10_attention_last[0, :-1]
    np.testing.assert_allclose(gain, gain[0], atol=1e-9)
    assert np.isnan(res.log10_input_bound[-1])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_attention_reaches_step_1_where_the_rnn_does_not(seed):
    """At T = 1000 on the same inputs the vanilla RNN's gradient at x_1 is below 1e-6 (a chain of 999
    multiplications); the attention layer's is a_{T,1} (about 1/T) times a factor of order one."""
    cmp = compare_models(GeneratorSettings(hidden=32, steps=1000, seed=seed), models=("rnn", "attention"))
    rnn, att = cmp.results["rnn"], cmp.results["attention"]
    assert rnn.log10_input_grad_norm[0] < -6
    assert att.log10_input_grad_norm[0] > -6
    gain = att.log10_input_grad_norm[0] - att.log10_attention_last[0, 0]
    assert -3 < gain <= att.log10_input_bound[0] - att.log10_attention_last[0, 0] + 1e-9


def test_attention_exact_far_below_float64():
    """An attention weight of about 1e-475 on step 1: float64 (and autograd) hold 0 there, the engine
    the exact log10, which mpmath at 1100 digits confirms by central differences."""
    mpmath = pytest.importorskip("mpmath")
    n = 2
    net = AttentionNetwork(np.ones((n, 1)), np.zeros(n), np.array([[-30.0], [0.3], [1.0]]),
                           np.vstack([5 * np.eye(n), 5 * np.eye(n), np.array([[0.7, -0.2], [0.1, 0.4]])]),
                           np.zeros(3 * n), np.array([[0.5, 0.3], [-0.2, 0.8]]), np.zeros(n),
                           positions=np.zeros((3, n)))
    res = attention_flow(net)
    assert res.log10_attention_last[0, 0] < -400 and res.attention_last[0, 0] == 0.0
    assert res.log10_input_grad_norm[0] < -400 and res.input_grad_norm[0] == 0.0
    mp = mpmath.mp
    mp.dps = 1100

    def loss(e):
        wq, wk, wv = (mpmath.matrix(net.projection(k)[0].tolist()) for k in "qkv")
        wo = mpmath.matrix(net.out_weight.tolist())
        q = wq * e[-1]
        scores = [(q.T * (wk * et))[0] / mpmath.sqrt(n) for et in e]
        top = max(scores)
        weights = [mpmath.exp(s - top) for s in scores]
        total = sum(weights)
        mix = sum(((w / total) * (wv * et) for w, et in zip(weights, e, strict=True)), mpmath.matrix(n, 1))
        y = e[-1] + wo * mix
        return sum(y)

    def embed(xs):
        return [mpmath.matrix([[mpmath.mpf(xv)] for _ in range(n)]) for xv in xs]

    h = mpmath.mpf("1e-200")
    xs = [mpmath.mpf(v) for v in net.x[:, 0]]
    dx1 = (loss(embed([xs[0] + h, *xs[1:]])) - loss(embed([xs[0] - h, *xs[1:]]))) / (2 * h)
    de1 = []
    for i in range(n):
        up, down = embed(xs), embed(xs)
        up[0][i] += h
        down[0][i] -= h
        de1.append((loss(up) - loss(down)) / (2 * h))
    ref_x = float(mpmath.log10(abs(dx1)))
    ref_e = float(mpmath.log10(mpmath.sqrt(sum(g**2 for g in de1))))
    assert res.log10_input_grad_norm[0] == pytest.approx(ref_x, abs=1e-9)
    assert res.log10_grad_norm[0] == pytest.approx(ref_e, abs=1e-9)
    # the other steps are in float64's range: autograd agrees there
    ref_e_t, ref_x_t, _ = torch_attention_mha(net)
    np.testing.assert_allclose(res.input_grad_norm[1:], ref_x_t[1:], rtol=1e-6)
    np.testing.assert_allclose(res.grad_norm[1:], ref_e_t[1:], rtol=1e-6)
    assert ref_x_t[0] == 0.0


# ---------------------------------------------------------------------------------------------------
# the common measure: ||dL/dx_t|| for every cell


def torch_input_norms_recurrent(cell: str, settings_: GeneratorSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """``||dL/dx_t||`` by autograd: the vanilla RNN written out (with its slopes' conditioning), LSTM
    and GRU as PyTorch's modules (the engine runs their forward pass in torch: nothing to widen)."""
    if cell == "rnn":
        sc = settings_.build()
        x = torch.tensor(sc.x, requires_grad=True)
        h = torch.tensor(sc.h0)
        outputs = []
        for t in range(sc.steps):
            h = ACT[sc.activation](torch.tensor(sc.W_hh) @ h + torch.tensor(sc.W_xh) @ x[t] + torch.tensor(sc.b_h))
            outputs.append(h.detach())
        h.sum().backward()
        return row_norms(x.grad.numpy()), slope_conditioning(sc.activation, torch.stack(outputs).numpy())
    net = build_network(replace(settings_, activation="tanh"), cell)
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(net.x.shape[1], net.hidden).double()
    module.load_state_dict(net.state_dict())
    x = torch.tensor(net.x, requires_grad=True)
    out, _ = module(x[:, None])
    out[-1].sum().backward()
    return row_norms(x.grad.numpy()), None


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 60), n=st.integers(1, 12), m=st.integers(1, 4),
       scale=st.floats(0.1, 2.0), forget_bias=st.floats(-2.0, 4.0), alpha=st.floats(0.0, 2.0),
       activation=st.sampled_from(["tanh", "sigmoid", "relu"]))
def test_all_five_input_gradients_equal_autograd(seed, steps, n, m, scale, forget_bias, alpha, activation):
    s = GeneratorSettings(hidden=n, input=m, steps=steps, scale=scale, forget_bias=forget_bias,
                          residual_scale=alpha, activation=activation, seed=seed)
    cmp = compare_models(s)
    assert tuple(cmp.results) == MODELS
    for cell in ("rnn", "lstm", "gru"):
        assert_close_where_representable(cmp.results[cell].input_grad_norm, *torch_input_norms_recurrent(cell, s))
    _, ref_x, cond = torch_residual(s.build(), alpha)
    assert_close_where_representable(cmp.results["residual"].input_grad_norm, ref_x, cond)
    _, ref_x, _ = torch_attention_mha(cmp.results["attention"].network)
    np.testing.assert_allclose(cmp.results["attention"].input_grad_norm, ref_x, rtol=1e-6)


def test_rnn_input_gradient_exact_below_float64():
    """Diagonal W_hh, sigmoid, 3000 steps: dL/dx_t = W_xh^T (f'_t g_t) with g_t a product of scalars
    per unit, summed here with its exponents factored out (no code shared with the engine)."""
    steps, n = 3000, 4
    diag = np.array([0.9, 1.0, 0.7, 0.5])
    rng = np.random.default_rng(0)
    sc = Scenario("rnn", "sigmoid", W_hh=np.diag(diag), W_xh=rng.standard_normal((n, 2)), b_h=np.zeros(n),
                  h0=np.zeros(n), x=rng.standard_normal((steps, 2)))
    res = gradient_flow(sc)
    h = np.empty((steps, n))
    prev = np.zeros(n)
    for t in range(steps):
        prev = 1 / (1 + np.exp(-(diag * prev + sc.W_xh @ sc.x[t])))
        h[t] = prev
    slope = np.log10(h * (1 - h))  # log10 f'(z_t), per unit
    logd = np.log10(diag)[None, :] + slope
    suffix = np.concatenate([np.cumsum(logd[::-1][:-1], axis=0)[::-1], np.zeros((1, n))])  # log10 g_t[i]
    log_terms = suffix + slope  # log10 of f'_t[i] g_t[i] > 0
    peak = log_terms.max(axis=1)
    v = (10.0 ** (log_terms - peak[:, None])) @ sc.W_xh  # W_xh^T (f' g), scaled by 10**peak
    expected = peak + np.log10(np.linalg.norm(v, axis=1))
    assert res.log10_input_grad_norm[0] < -1000
    np.testing.assert_allclose(res.log10_input_grad_norm, expected, rtol=1e-9, atol=1e-9)


def test_comparison_shares_inputs_and_equals_each_model_alone():
    s = GeneratorSettings(hidden=8, input=3, steps=40, forget_bias=2.0, residual_scale=0.5, seed=6)
    cmp = compare_models(s)
    alone = {
        **compare_cells(s).results,
        "residual": gradient_flow(replace(s, cell="residual").build()),
        "attention": gradient_flow(replace(s, cell="attention").build()),
    }
    for m in MODELS:
        np.testing.assert_array_equal(cmp.log10_input_grad_norm[m], alone[m].log10_input_grad_norm)
        np.testing.assert_array_equal(cmp.results[m].log10_grad_norm, alone[m].log10_grad_norm)
    np.testing.assert_array_equal(cmp.results["attention"].network.x, s.build().x)
    np.testing.assert_array_equal(cmp.results["lstm"].network.x, s.build().x)
    np.testing.assert_array_equal(cmp.t, np.arange(1, 41))


def test_gradient_paths_describe_each_model_with_its_numbers():
    s = GeneratorSettings(hidden=8, steps=60, residual_scale=0.5, seed=2)
    cmp = compare_models(s)
    p = cmp.paths
    assert [p[m].kind for m in MODELS] == ["chain", "gated", "gated", "residual", "hop"]
    assert p["rnn"].steps_crossed == 59 and p["attention"].steps_crossed == 1
    assert "59 multiplications" in p["rnn"].summary
    for m in ("rnn", "lstm", "gru", "residual"):
        r = cmp.results[m]
        per_step = 10 ** ((r.log10_grad_norm[0] - r.log10_grad_norm[-1]) / 59)
        assert p[m].per_step == pytest.approx(per_step, rel=1e-12)
        assert f"×{per_step:.3g} per step" in p[m].summary
    for m in MODELS:
        logs = cmp.results[m].log10_input_grad_norm
        assert p[m].log10_input_drop == pytest.approx(logs[0] - logs[-1], rel=1e-12)
    att = cmp.results["attention"]
    np.testing.assert_array_equal(p["attention"].hop_weight, att.attention_last[0])
    assert f"a_T,1 = {att.attention_last[0, 0]:.3g}" in p["attention"].summary
    res = cmp.results["residual"]
    bound = 0.5 * np.linalg.norm(res.w_hh, 2)  # alpha * max tanh' * ||W_hh||
    assert res.correction_bound == pytest.approx(bound, rel=1e-9)
    assert f"= {bound:.3g}" in p["residual"].summary


def test_json_of_every_cell_has_the_input_gradient():
    for cell in MODELS:
        res = gradient_flow(GeneratorSettings(hidden=5, steps=12, cell=cell).build())
        doc = json.loads(json.dumps(res.to_json_dict(), allow_nan=False))
        assert doc["cell"] == cell and doc["t"] == list(range(1, 13))
        assert doc["log10_input_grad_norm"] == pytest.approx(list(res.log10_input_grad_norm))
        assert doc["input_grad_norm"] == pytest.approx(list(res.input_grad_norm), rel=1e-12)
        assert doc["verdict"]["kind"] in ("healthy", "vanishing", "exploding")
    doc = gradient_flow(GeneratorSettings(hidden=4, steps=6, cell="attention").build()).to_json_dict()
    assert len(doc["attention_last"]) == 1 and sum(doc["attention_last"][0]) == pytest.approx(1.0)
    assert doc["log10_input_bound"][-1] is None and doc["spectral_radius"] is None


def test_norms_beyond_float64_are_null_in_json():
    steps, n = 1200, 3
    sc = Scenario("rnn", "identity", W_hh=2.0 * np.eye(n), W_xh=np.ones((n, 1)), b_h=np.zeros(n),
                  h0=np.zeros(n), x=np.ones((steps, 1)))
    doc = json.loads(json.dumps(gradient_flow(sc).to_json_dict(), allow_nan=False))
    assert doc["grad_norm"][0] is None and doc["input_grad_norm"][0] is None
    assert doc["log10_grad_norm"][0] == pytest.approx((steps - 1) * np.log10(2) + 0.5 * np.log10(n))
    # dL/dx_1 = W_xh^T g_1 = 1^T (2^(T-1) 1): n 2^(T-1)
    assert doc["log10_input_grad_norm"][0] == pytest.approx((steps - 1) * np.log10(2) + np.log10(n), rel=1e-12)


# ---------------------------------------------------------------------------------------------------
# refusals and import hygiene


def test_bad_input_is_refused_with_one_line():
    net = build_attention(GeneratorSettings(hidden=4, input=2, steps=5))
    cases = [
        lambda: replace(net, heads=3),
        lambda: replace(net, heads=0),
        lambda: replace(net, x=np.ones((5, 3))),
        lambda: replace(net, in_proj_weight=np.ones((4, 4))),
        lambda: replace(net, positions=np.ones((4, 4))),
        lambda: replace(net, out_bias=np.array([np.nan] * 4)),
        lambda: residual_flow(GeneratorSettings(steps=3).build(), -1.0),
        lambda: GeneratorSettings(cell="residual", residual_scale=11.0).validated(),
        lambda: GeneratorSettings(cell="attention", activation="relu").validated(),
        lambda: GeneratorSettings(cell="lstm", activation="relu").validated(),
        lambda: gradient_flow(Scenario("attention", "tanh", np.eye(2), np.ones((2, 1)), np.zeros(2),
                                       np.zeros(2), np.ones((3, 1)))),
        lambda: compare_models(GeneratorSettings(steps=3), models=("transformer",)),
    ]
    for make in cases:
        with pytest.raises(InputError) as info:
            make()
        assert "\n" not in str(info.value)


def test_residual_accepts_any_activation():
    for act in ("tanh", "sigmoid", "relu", "identity"):
        assert GeneratorSettings(cell="residual", activation=act).validated().activation == act


def test_importing_additive_loads_neither_torch_nor_qt():
    """Also running the RNN, the residual RNN and attention (in a fresh interpreter: tests/engine/fresh_imports.py)."""
    assert probe("additive") == 3
