"""The additive path: a residual RNN and a causal self-attention layer beside the RNN, LSTM and GRU.

A vanilla RNN's gradient reaches step 1 only through ``T - 1`` multiplications by
``diag(f'(z_t)) W_hh``. The models here give it a path without them:

- **residual RNN**, ``h_t = h_{t-1} + alpha f(W_hh h_{t-1} + W_xh x_t + b)``: each backward step is
  ``g_{t-1} = g_t + alpha W_hh^T (f'(z_t) g_t)``, the identity plus a correction. ``alpha`` is
  ``GeneratorSettings.residual_scale`` (default 1). The backward pass is the vanilla RNN's, in the
  same log-space form (:func:`gradsim.engine.flow.backward_chain` with the identity added), so its
  log10 norms stay exact far outside float64.
- **causal self-attention** with a residual connection, one layer: the input at step ``t`` is
  embedded as ``e_t = W_xh x_t + b + p_t`` (``p_t`` the sinusoidal position code of Vaswani et al.,
  2017), and the output at the last position is ``y_T = e_T + W_o softmax(q_T K^T / sqrt(d)) V + b_o``
  (``H`` heads of width ``d = n / H``, PyTorch's ``nn.MultiheadAttention`` equations and parameter
  layout). The loss is ``L = sum(y_T)``, as elsewhere. There is no recurrence: the gradient reaches
  every ``e_t`` in one hop, and for ``t < T`` every term of that hop carries the factor
  ``a_{T,t}``, the attention the last position pays to step ``t``. That hop is computed in float64
  with the attention probabilities kept as exact logs, so even an attention weight of 1e-400 gives an
  exact log10 gradient. Only the last position's outputs reach the loss of one layer, so only its
  query is formed: the cost is ``O(T n^2)``, not ``O(T^2 n)``.

Both use the vanilla RNN's numbers of the same settings (``W_hh``, ``W_xh``, ``b``, ``x``: the gates
scene's inputs); the attention's projections come from a further stream of the seed (child 5 of its
``SeedSequence``; 0..2 are the RNN's, 3..4 the gated cells'), drawn as PyTorch initialises
``nn.MultiheadAttention`` (Xavier-uniform in-projection, ``U(-1/sqrt(n), 1/sqrt(n))`` out-projection,
zero biases).

For every model the common measure is ``||dL/dx_t||``, the gradient reaching the input at step ``t``
(``log10_input_grad_norm`` on each result); :func:`compare_models` runs all five on the same inputs.
This module is NumPy only (the LSTM and GRU of the comparison import torch, inside functions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .activations import get_activation
from .cells import Edge, rnn_edges
from .errors import InputError
from .flow import (
    FlowResult,
    assemble_result,
    backward_chain,
    derivative_from_output,
    geometric_step,
    json_finite,
    mean_over_backward_steps,
    row_log10_norms,
    verdict_json,
)
from .scenario import GeneratorSettings, Scenario, float64_state_dict, float_array
from .thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD

MODELS = ("rnn", "lstm", "gru", "residual", "attention")
MODEL_LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU", "residual": "residual RNN",
                "attention": "self-attention"}
ATTENTION_HEADS = 1  # the generator's layer: one head, so the hop's weight is one number per step
POSITION_BASE = 10000.0  # the sinusoidal code's base wavelength, as in Vaswani et al. (2017)
ATTENTION_STREAM = 5  # child of the seed's SeedSequence that draws the attention's projections
_LN10 = math.log(10.0)


# ---------------------------------------------------------------------------------------------------
# residual RNN


@dataclass
class ResidualFlowResult(FlowResult):
    """A :class:`FlowResult` of ``h_t = h_{t-1} + alpha f(W_hh h_{t-1} + W_xh x_t + b)``.

    ``log10_grad_norm`` is ``log10 ||dL/dh_t||`` (exact), ``dfdz`` holds ``f'(z_t)`` (without
    ``alpha``). Each backward step is ``I + alpha diag(f') W_hh`` (transposed), so it stretches the
    gradient by at most ``1 + alpha c ||W_hh||`` and shrinks it by at most ``1 - alpha c ||W_hh||``
    (``c = max f'``): :attr:`log10_bound` and :attr:`log10_lower_bound`.
    """

    residual_scale: float = 1.0

    @property
    def correction_bound(self) -> float:
        """``alpha c ||W_hh||_2``: the largest norm the correction term can have, per unit gradient."""
        return self.residual_scale * get_activation(self.activation).max_derivative * self.spectral_norm

    def _bound(self, per_step: float) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_step = math.log10(per_step) if per_step > 0 else -np.inf
            bound = self.log10_grad_norm[-1] + (self.steps - self.t) * log_step
        bound[-1] = self.log10_grad_norm[-1]
        return bound

    @property
    def log10_bound(self) -> np.ndarray:
        """log10 of ``||g_T|| (1 + alpha c ||W_hh||)^(T-t)``, above the curve."""
        if "log10_bound" not in self.extra:
            self.extra["log10_bound"] = self._bound(1.0 + self.correction_bound)
        return self.extra["log10_bound"]

    @property
    def log10_lower_bound(self) -> np.ndarray:
        """log10 of ``||g_T|| (1 - alpha c ||W_hh||)^(T-t)``, below the curve; all NaN when the
        correction can cancel the identity (``alpha c ||W_hh|| >= 1``)."""
        floor = 1.0 - self.correction_bound
        if floor <= 0:
            return np.full(self.steps, np.nan)
        return self._bound(floor)

    def to_json_dict(self) -> dict[str, Any]:
        doc = super().to_json_dict()
        doc["residual_scale"] = self.residual_scale
        doc["log10_lower_bound"] = json_finite(self.log10_lower_bound)
        return doc


def residual_forward(scenario: Scenario, residual_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``h_1..h_T`` and ``f(z_1)..f(z_T)`` (both T x n) of the residual RNN on the scenario's numbers."""
    act = get_activation(scenario.activation)
    w = np.ascontiguousarray(scenario.W_hh, dtype=np.float64)
    drive = scenario.x @ scenario.W_xh.T + scenario.b_h
    steps, n = drive.shape
    h = np.empty((steps, n))
    fz = np.empty((steps, n))
    prev = np.asarray(scenario.h0, dtype=np.float64)
    z = np.empty(n)
    alpha = float(residual_scale)
    tanh = act.name == "tanh"
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            np.dot(w, prev, out=z)
            z += drive[t]
            if tanh:
                np.tanh(z, out=fz[t])
            else:
                fz[t] = act.f(z)
            row = np.multiply(fz[t], alpha, out=h[t])
            row += prev
            prev = row
    return h, fz


def residual_flow(
    scenario: Scenario,
    residual_scale: float = 1.0,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> ResidualFlowResult:
    """``||dL/dh_t||`` and ``||dL/dx_t||`` of the residual RNN on the scenario's numbers, exact in log10.

    Backward: ``g_T = 1``, ``g_{t-1} = g_t + alpha W_hh^T (f'(z_t) g_t)``; the input receives
    ``dL/dx_t = alpha W_xh^T (f'(z_t) g_t)``. ``f'`` is taken from ``f(z_t)`` as PyTorch's backward
    does.
    """
    alpha = float(residual_scale)
    if not (math.isfinite(alpha) and alpha >= 0):
        raise InputError(f"residual_scale must be a finite number >= 0, got {residual_scale!r}")
    h, fz = residual_forward(scenario, alpha)
    dfdz = derivative_from_output(scenario.activation, fz)
    with np.errstate(invalid="ignore", over="ignore"):
        slopes = alpha * dfdz
    chain = backward_chain(scenario.W_hh, slopes, identity=True)
    return assemble_result(  # type: ignore[return-value]
        chain.log10_norm, h, dfdz, scenario.W_hh, vanish_threshold, explode_threshold, cls=ResidualFlowResult,
        cell="residual", activation=scenario.activation, residual_scale=alpha,
        log10_input_grad_norm=chain.input_log10_norms(scenario.W_xh),
    )


# ---------------------------------------------------------------------------------------------------
# causal self-attention


def sinusoidal_positions(steps: int, width: int, base: float = POSITION_BASE) -> np.ndarray:
    """``p_t`` for ``t = 1..T`` (row ``t-1`` codes position ``t-1``, counted from 0): entry ``2i`` is
    ``sin(pos / base^(2i/width))``, entry ``2i+1`` the cosine of the same angle."""
    pos = np.arange(steps, dtype=np.float64)[:, None]
    pair = np.arange(width) // 2
    angle = pos / np.power(base, 2.0 * pair / width)[None, :]
    out = np.empty((steps, width))
    out[:, 0::2] = np.sin(angle[:, 0::2])
    out[:, 1::2] = np.cos(angle[:, 1::2])
    return out


@dataclass
class AttentionNetwork:
    """Every number of one causal self-attention layer with a residual connection.

    ``w_in`` (n x m) and ``b_in`` (n) embed the input, ``x`` is T x m, ``positions`` T x n (the
    sinusoidal code by default). ``in_proj_weight`` is ``[W_q; W_k; W_v]`` (3n x n) and
    ``in_proj_bias`` its bias, ``out_weight`` / ``out_bias`` the output projection, in the layout of
    ``torch.nn.MultiheadAttention`` (see :meth:`state_dict`).
    """

    w_in: np.ndarray
    b_in: np.ndarray
    x: np.ndarray
    in_proj_weight: np.ndarray
    in_proj_bias: np.ndarray
    out_weight: np.ndarray
    out_bias: np.ndarray
    heads: int = 1
    positions: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.w_in = float_array(self.w_in, "w_in", 2)
        n, m = self.w_in.shape
        if n < 1 or m < 1:
            raise InputError(f"w_in must be n x m with n, m >= 1, got {n}x{m}")
        self.b_in = float_array(self.b_in, "b_in", 1)
        self.x = float_array(self.x, "x", 2)
        self.in_proj_weight = float_array(self.in_proj_weight, "in_proj_weight", 2)
        self.in_proj_bias = float_array(self.in_proj_bias, "in_proj_bias", 1)
        self.out_weight = float_array(self.out_weight, "out_weight", 2)
        self.out_bias = float_array(self.out_bias, "out_bias", 1)
        if self.b_in.shape != (n,):
            raise InputError(f"b_in has length {self.b_in.shape[0]}, expected {n}")
        if self.x.shape[0] < 1 or self.x.shape[1] != m:
            raise InputError(f"x must be T x {m} with T >= 1, got {self.x.shape[0]}x{self.x.shape[1]}")
        if self.in_proj_weight.shape != (3 * n, n):
            raise InputError(f"in_proj_weight must be {3 * n}x{n}, got {self.in_proj_weight.shape}")
        if self.in_proj_bias.shape != (3 * n,):
            raise InputError(f"in_proj_bias has length {self.in_proj_bias.shape[0]}, expected {3 * n}")
        if self.out_weight.shape != (n, n):
            raise InputError(f"out_weight must be {n}x{n}, got {self.out_weight.shape}")
        if self.out_bias.shape != (n,):
            raise InputError(f"out_bias has length {self.out_bias.shape[0]}, expected {n}")
        if isinstance(self.heads, bool) or not isinstance(self.heads, (int, np.integer)) or self.heads < 1 \
                or n % self.heads:
            raise InputError(f"heads must be a whole number >= 1 that divides the width {n}, got {self.heads!r}")
        self.heads = int(self.heads)
        if self.positions is None:
            self.positions = sinusoidal_positions(self.steps, n)
        else:
            self.positions = float_array(self.positions, "positions", 2)
            if self.positions.shape != (self.steps, n):
                raise InputError(f"positions must be {self.steps}x{n}, got {self.positions.shape}")

    @property
    def width(self) -> int:
        return int(self.w_in.shape[0])

    @property
    def steps(self) -> int:
        return int(self.x.shape[0])

    def projection(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of ``"q"``, ``"k"`` or ``"v"``."""
        k = "qkv".index(name)
        n = self.width
        return self.in_proj_weight[k * n : (k + 1) * n], self.in_proj_bias[k * n : (k + 1) * n]

    def embedded(self) -> np.ndarray:
        """``e_t = W_in x_t + b_in + p_t`` for every step (T x n): the layer's input, its residual stream."""
        return self.x @ self.w_in.T + self.b_in + self.positions

    def state_dict(self) -> dict[str, Any]:
        """float64 tensors under ``torch.nn.MultiheadAttention``'s names (``load_state_dict`` takes them)."""
        return float64_state_dict({"in_proj_weight": self.in_proj_weight, "in_proj_bias": self.in_proj_bias,
                                   "out_proj.weight": self.out_weight, "out_proj.bias": self.out_bias})


def build_attention(settings: GeneratorSettings, base: Scenario | None = None, heads: int = ATTENTION_HEADS) -> AttentionNetwork:
    """The attention layer of ``settings``: the vanilla RNN's ``W_xh``, ``b`` and ``x`` (pass that
    RNN's scenario as ``base`` when it is built already), projections from the seed's stream 5."""
    settings = replace(settings, cell="attention", activation="tanh").validated()
    if base is None:
        base = replace(settings, cell="rnn").build()
    n, m = settings.hidden, settings.input
    if base.W_xh.shape != (n, m) or base.x.shape != (settings.steps, m):
        raise InputError("build_attention: the base scenario does not match the settings")
    rng = np.random.default_rng(np.random.SeedSequence(settings.seed).spawn(ATTENTION_STREAM + 1)[ATTENTION_STREAM])
    xavier = math.sqrt(6.0 / (n + 3 * n))  # torch.nn.init.xavier_uniform_ on the 3n x n in-projection
    in_proj = rng.uniform(-xavier, xavier, size=(3 * n, n))
    bound = 1.0 / math.sqrt(n)  # nn.Linear's default for the out-projection
    out_w = rng.uniform(-bound, bound, size=(n, n))
    return AttentionNetwork(base.W_xh.copy(), base.b_h.copy(), base.x.copy(), in_proj, np.zeros(3 * n),
                            out_w, np.zeros(n), heads=heads)


@dataclass
class AttentionFlowResult(FlowResult):
    """The gradient of ``L = sum(y_T)`` through one causal self-attention layer.

    ``log10_grad_norm`` is ``log10 ||dL/de_t||``, ``e_t`` being the layer's input at position ``t``
    (the residual stream: the attention layer has no recurrent state ``h_t``); ``h`` holds the
    ``e_t``. ``log10_input_grad_norm`` is ``log10 ||dL/dx_t||``. ``attention_last`` (heads x T) is
    how much the last position attends to each step, ``log10_attention_last`` its exact log10 (still
    exact where the probability underflows). ``log10_input_bound`` is the bound the one hop obeys for
    ``t < T`` (NaN at ``t = T``, where the residual connection adds the identity):

        ||dL/dx_t|| <= ||W_in||_2  sum_h a^h_{T,t} (||c_h|| + max_s |u^h_s - u_bar^h| ||r_h||)

    with ``c_h = W_v,h^T w_h``, ``r_h = W_k,h^T q_h / sqrt(d)``, ``w = W_o^T 1``,
    ``u^h_s = w_h . v^h_s`` and ``u_bar^h = sum_s a^h_{T,s} u^h_s``: for ``t < T`` the gradient is
    exactly ``sum_h a^h_{T,t} (c_h + (u^h_t - u_bar^h) r_h)``, so it is proportional to the attention
    the last position pays to step ``t``, whatever the distance. ``w_hh`` holds ``W_o W_v``, the
    matrix of the hop's value path; ``dfdz`` the hop's weight ``a_{T,t}`` (mean over heads) for
    every unit.
    """

    network: AttentionNetwork | None = None
    attention_last: np.ndarray | None = None
    log10_attention_last: np.ndarray | None = None
    log10_input_bound: np.ndarray | None = None

    @property
    def heads(self) -> int:
        return 0 if self.attention_last is None else int(self.attention_last.shape[0])

    @property
    def hop_weight(self) -> np.ndarray:
        """``a_{T,t}`` for ``t = 1..T``, the attention the last position pays to each step, averaged
        over the heads: the weight of the one hop the gradient takes to ``x_t`` (every view and
        export of the hop reads it here)."""
        return self.attention_last.mean(axis=0)  # type: ignore[union-attr]

    @property
    def log10_bound(self) -> np.ndarray:
        """No chain, so no per-step bound on ``||dL/de_t||``: all NaN (see :attr:`log10_input_bound`)."""
        return np.full(self.steps, np.nan)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``gradsim flow --cell attention`` document: the common keys (``log10_bound`` and the
        spectral figures ``null``: there is no recurrent matrix), the attention of the last
        position per head and the bound on the input gradient."""
        return {
            "cell": self.cell,
            "activation": None,
            "t": [int(v) for v in self.t],
            "grad_norm": json_finite(self.grad_norm),
            "log10_grad_norm": json_finite(self.log10_grad_norm),
            "log10_local_factor": json_finite(self.log10_local_factor),
            "log10_bound": [None] * self.steps,
            "forward_overflow": [bool(v) for v in self.forward_overflow],
            "spectral_radius": None,
            "spectral_norm": None,
            "verdict": verdict_json(self.verdict),
            **self.input_json(),
            "heads": self.heads,
            "attention_last": [[float(v) for v in row] for row in self.attention_last],
            "log10_attention_last": [json_finite(row) for row in self.log10_attention_last],
            "log10_input_bound": json_finite(self.log10_input_bound),
        }


def attention_flow(
    net: AttentionNetwork,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> AttentionFlowResult:
    """``||dL/de_t||`` and ``||dL/dx_t||`` for ``t = 1..T`` through the layer, ``L = sum(y_T)``.

    With ``a^h = softmax(s^h)`` the last position's attention in head ``h``, the hop sends
    ``dL/de_t = sum_h a^h_t (c_h + (u^h_t - u_bar^h) r_h)`` to every step (value and key paths),
    plus ``1 + W_q^T dL/dq`` at ``t = T`` (the residual connection and the query). For ``t < T`` the
    factor ``a^h_t`` is taken out in log space (``log a = s - logsumexp(s)``), so the log10 norms are
    exact however small the attention is.
    """
    n, steps, heads = net.width, net.steps, net.heads
    d = n // heads
    root_d = math.sqrt(d)
    wq, bq = net.projection("q")
    wk, bk = net.projection("k")
    wv, bv = net.projection("v")
    with np.errstate(over="ignore", invalid="ignore"):
        e = net.embedded()
        q = wq @ e[-1] + bq
        keys = e @ wk.T + bk  # T x n
        values = e @ wv.T + bv
        qh = q.reshape(heads, d)
        scores = np.einsum("thd,hd->ht", keys.reshape(steps, heads, d), qh) / root_d  # H x T
        peak = np.max(scores, axis=1, keepdims=True)
        log_a = scores - (peak + np.log(np.sum(np.exp(scores - peak), axis=1, keepdims=True)))
        a = np.exp(log_a)
        w = net.out_weight.sum(axis=0)  # W_o^T 1
        wh = w.reshape(heads, d)
        u = np.einsum("thd,hd->ht", values.reshape(steps, heads, d), wh)  # dL/da^h_t
        u_bar = np.sum(a * u, axis=1, keepdims=True)
        c = np.einsum("hdn,hd->hn", wv.reshape(heads, d, n), wh)  # value path, per head
        r = np.einsum("hdn,hd->hn", wk.reshape(heads, d, n), qh) / root_d  # key path, per head
        # every step but the last: a^h_t factored out as exp(lam_t) with lam_t = max_h log a^h_t
        lam = np.max(log_a, axis=0)  # T
        a_rel = np.exp(log_a - lam[None, :])
        key_coef = a_rel * (u - u_bar)
        grad_rel = a_rel.T @ c + key_coef.T @ r  # T x n, dL/de_t / exp(lam_t)
        # the last step in plain float64: the hop, the query path and the residual connection
        d_scores = a * (u - u_bar)  # dL/ds^h_t
        dq = np.einsum("ht,thd->hd", d_scores, keys.reshape(steps, heads, d)).reshape(n) / root_d
        grad_rel[-1] = a[:, -1] @ c + d_scores[:, -1] @ r + 1.0 + wq.T @ dq
        offsets = lam / _LN10
        offsets[-1] = 0.0
        log_e = row_log10_norms(grad_rel, offsets)
        log_x = row_log10_norms(grad_rel, offsets, net.w_in)
        spread = np.max(np.abs(u - u_bar), axis=1)  # H
        per_head = np.linalg.norm(c, axis=1) + spread * np.linalg.norm(r, axis=1)
        w_in_norm = float(np.linalg.norm(net.w_in, 2))
        with np.errstate(divide="ignore"):
            bound = offsets + np.log10(a_rel.T @ per_head) + np.log10(w_in_norm)
        bound[-1] = np.nan
    hop = np.broadcast_to(a.mean(axis=0)[:, None], (steps, n))
    return assemble_result(  # type: ignore[return-value]
        log_e, e, hop, net.out_weight @ wv, vanish_threshold, explode_threshold, cls=AttentionFlowResult,
        cell="attention", activation="softmax", log10_input_grad_norm=log_x, network=net,
        attention_last=a, log10_attention_last=log_a / _LN10, log10_input_bound=bound,
    )


def attention_gradient_flow(
    settings: GeneratorSettings,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
    base: Scenario | None = None,
) -> AttentionFlowResult:
    """The attention layer that ``settings`` generates (its ``cell`` and ``activation`` are ignored)."""
    return attention_flow(build_attention(settings, base), vanish_threshold, explode_threshold)


def scenario_flow(
    scenario: Scenario,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> FlowResult:
    """:func:`gradsim.engine.flow.gradient_flow` for ``cell = "residual" | "attention"`` scenarios.
    The residual RNN runs on the scenario's own numbers (``alpha`` from its generator settings, 1
    without); the attention layer needs the generated form (its projections come from the seed)."""
    if scenario.cell == "residual":
        alpha = scenario.generator.residual_scale if scenario.generator is not None else 1.0
        return residual_flow(scenario, alpha, vanish_threshold, explode_threshold)
    if scenario.cell == "attention":
        if scenario.generator is None:
            raise InputError("attention scenarios need the generated form (the projections come from the seed)")
        return attention_gradient_flow(scenario.generator, vanish_threshold, explode_threshold, base=scenario)
    raise InputError(f"scenario_flow: cell {scenario.cell!r} is not residual or attention")


# ---------------------------------------------------------------------------------------------------
# the five models side by side


@dataclass(frozen=True)
class GradientPath:
    """How the gradient of one model gets from the loss back to the input at step 1, with this run's
    numbers (every figure comes from the result it describes).

    ``kind``: ``"chain"`` (the vanilla RNN: only the chain of ``diag(f') W_hh``), ``"gated"`` (LSTM,
    GRU: an element-wise gated path beside that chain), ``"residual"`` (the identity plus a
    correction) or ``"hop"`` (attention: one hop, weighted by the attention probability).
    ``steps_crossed`` is how many steps the path crosses to reach step 1 (``T - 1`` for the recurrent
    models, 1 for attention; 0 when ``T = 1``). ``per_step`` is the geometric mean factor of
    ``||dL/dh_t||`` per backward step (NaN for attention and when undefined).
    ``log10_input_drop`` is ``log10 ||dL/dx_1|| - log10 ||dL/dx_T||``. ``hop_weight`` is ``a_{T,t}``
    (mean over heads) for attention, ``None`` otherwise.
    """

    model: str
    label: str
    kind: str
    summary: str
    steps_crossed: int
    per_step: float
    log10_input_drop: float
    hop_weight: np.ndarray | None = field(default=None, compare=False)


def _drop(result: FlowResult) -> float:
    logs = result.log10_input_grad_norm
    with np.errstate(invalid="ignore"):
        return float(logs[0] - logs[-1])


def _fmt(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.3g}"


def gradient_path(model: str, result: FlowResult) -> GradientPath:
    """The :class:`GradientPath` of one model's result."""
    steps = result.steps
    crossed = steps - 1
    per_step = geometric_step(result.log10_grad_norm)
    drop = _drop(result)
    label = MODEL_LABELS[model]
    if model == "rnn":
        summary = (f"a chain of {crossed} multiplications by diag(f′(z_t)) W_hhᵀ: ‖W_hh‖ = {_fmt(result.spectral_norm)}, "
                   f"mean f′ = {_fmt(mean_over_backward_steps(result.dfdz))}, ×{_fmt(per_step)} per step")
        return GradientPath(model, label, "chain", summary, crossed, per_step, drop)
    if model in ("lstm", "gru"):
        gate, what = ("f", "forget gate") if model == "lstm" else ("z", "update gate")
        keep = mean_over_backward_steps(result.gates[gate])  # type: ignore[attr-defined]
        path = "the cell state c_t = f_t c_{t−1} + i_t g_t" if model == "lstm" else "h_t = z_t h_{t−1} + (1 − z_t) n_t"
        summary = (f"{path}: {crossed} element-wise multiplications by the {what} (mean {_fmt(keep)}) beside the "
                   f"W_hh chain, ×{_fmt(per_step)} per step")
        return GradientPath(model, label, "gated", summary, crossed, per_step, drop)
    if model == "residual":
        alpha, corr = result.residual_scale, result.correction_bound  # type: ignore[attr-defined]
        summary = (f"the identity plus a correction: dh_t/dh_{{t−1}} = I + α diag(f′) W_hh with α = {_fmt(alpha)}; "
                   f"the correction's norm is at most α·max f′·‖W_hh‖ = {_fmt(corr)}, ×{_fmt(per_step)} per step")
        return GradientPath(model, label, "residual", summary, crossed, per_step, drop)
    if model == "attention":
        weight = result.hop_weight  # type: ignore[attr-defined]
        summary = (f"one hop from the last position to every step, weighted by the attention it pays there: "
                   f"a_T,1 = {_fmt(float(weight[0]))} (1/T = {_fmt(1.0 / steps)}); no chain of steps")
        return GradientPath(model, label, "hop", summary, min(crossed, 1), float("nan"), drop, weight)
    raise InputError(f"unknown model {model!r} (expected one of: {', '.join(MODELS)})")


def residual_edges(result: ResidualFlowResult) -> tuple[Edge, ...]:
    """The residual RNN's diagram edges, defined as the cells' (:mod:`gradsim.engine.cells`): the
    identity (the additive path, factor 1), the correction's ``alpha f'`` (mean over units and the
    steps ``t = 2..T`` the backward pass crosses) and ``||W_hh||_2``, and the measured step."""
    return (
        # the identity: h_{t-1} is added to h_t unchanged, so dL/dh_t passes back to h_{t-1} as it is
        Edge("identity", "× 1", 1.0, "additive"),
        # mean alpha f'(z_t): the correction's slope
        Edge("act", "× α f′(z)", mean_over_backward_steps(result.residual_scale * result.dfdz), "gate"),
        # spectral norm of W_hh: h_{t-1} into the correction
        Edge("w_hh", "W_hh", result.spectral_norm, "matrix"),
        # geometric mean of ||dL/dh_{t-1}|| / ||dL/dh_t|| over the run
        Edge("step_h", "per step (h)", geometric_step(result.log10_grad_norm), "step"),
    )


def attention_middle(steps: int) -> int:
    """The step (1-based) the attention diagram shows between the first and the last: ``ceil(T / 2)``."""
    return (int(steps) + 1) // 2


def attention_edges(result: AttentionFlowResult) -> tuple[Edge, ...]:
    """The attention layer's diagram edges: one hop from the last position to step 1 and to the middle
    step (:func:`attention_middle`), each weighted by the attention ``a_{T,t}`` paid there (mean over
    heads; NaN where the sequence has no such step apart from the last), and the residual connection
    at the last position (factor 1). There is no per-step edge: nothing is crossed step by step."""
    weight = result.hop_weight
    steps = result.steps
    middle = attention_middle(steps)
    first = float(weight[0]) if steps > 1 else math.nan
    mid = float(weight[middle - 1]) if 1 < middle < steps else math.nan
    return (
        # the attention the last position pays to step 1: the one factor on the way to x_1, whatever T
        Edge("hop_first", "× a_T,1", first, "hop"),
        # the attention the last position pays to the middle step
        Edge("hop_middle", "× a_T,t", mid, "hop"),
        # the residual connection: y_T = e_T + attention, so e_T gets dL/dy_T as it is
        Edge("skip", "× 1", 1.0, "additive"),
    )


def model_edges(model: str, result: FlowResult) -> tuple[Edge, ...]:
    """The diagram edges of any of the five models' results (same definitions for all)."""
    if model == "rnn":
        return rnn_edges(result)
    if model in ("lstm", "gru"):
        return result.edges  # type: ignore[attr-defined]
    if model == "residual":
        return residual_edges(result)  # type: ignore[arg-type]
    if model == "attention":
        return attention_edges(result)  # type: ignore[arg-type]
    raise InputError(f"unknown model {model!r} (expected one of: {', '.join(MODELS)})")


@dataclass
class ModelComparison:
    """The five models of one set of settings on the same inputs (``W_xh``, ``x``, sizes, seed)."""

    settings: GeneratorSettings
    results: dict[str, FlowResult]
    paths: dict[str, GradientPath]
    _edges: dict[str, tuple[Edge, ...]] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def edges(self) -> dict[str, tuple[Edge, ...]]:
        """Each model's diagram edges (:func:`model_edges`), computed on first use."""
        if self._edges is None:
            self._edges = {m: model_edges(m, r) for m, r in self.results.items()}
        return self._edges

    @property
    def t(self) -> np.ndarray:
        return next(iter(self.results.values())).t

    @property
    def log10_input_grad_norm(self) -> dict[str, np.ndarray]:
        """``log10 ||dL/dx_t||`` per model, index 0 is ``t = 1``: the curves of the common chart."""
        return {m: r.log10_input_grad_norm for m, r in self.results.items()}  # type: ignore[misc]


def compare_models(
    settings: GeneratorSettings,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
    models: tuple[str, ...] = MODELS,
) -> ModelComparison:
    """Run each of ``models`` on ``settings`` (its ``cell`` is ignored), all on the vanilla RNN's inputs.

    The RNN and the residual RNN use the settings' activation, the gated cells their own, the
    attention layer none; ``residual_scale`` is the residual RNN's alpha. The RNN's scenario is
    drawn once for all of them.
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise InputError(f"unknown model {unknown[0]!r} (expected one of: {', '.join(MODELS)})")
    from .cells import compare_cells

    base = replace(settings, cell="rnn").validated().build()
    results: dict[str, FlowResult] = {}
    recurrent = tuple(m for m in models if m in ("rnn", "lstm", "gru"))
    if recurrent:
        results.update(compare_cells(settings, vanish_threshold, explode_threshold, cells=recurrent, base=base).results)
    if "residual" in models:
        results["residual"] = residual_flow(base, settings.residual_scale, vanish_threshold, explode_threshold)
    if "attention" in models:
        results["attention"] = attention_gradient_flow(settings, vanish_threshold, explode_threshold, base=base)
    ordered = {m: results[m] for m in models}
    return ModelComparison(settings, ordered, {m: gradient_path(m, r) for m, r in ordered.items()})
