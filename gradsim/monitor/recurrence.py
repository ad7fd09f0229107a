"""Exact per-timestep gradients ``dL/dh_t`` of PyTorch's fused ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.

Why this module exists: the fused kernels never expose ``h_t`` of a lower layer, and the gradient
that arrives on the layer's output sequence at position ``t`` is only the *direct* part of
``dL/dh_t`` (what the layers above and the loss send down at that step). The quantity everyone means
by "the gradient at timestep t" is the *total* derivative, which also carries everything that flows
back through ``h_{t+1}, h_{t+2}, ...``: exactly what ``h_t.retain_grad()`` reports in an unrolled loop.

The choice made here: leave the user's forward pass untouched (training is bit-for-bit the same with
and without the monitor) and, when the backward pass reaches the layer, rebuild the totals from
the direct gradients with the cell's own backward recurrence. The equations and the local
derivatives are those of :mod:`gradsim.engine.equations` (PyTorch's, in its gate order); this is
their second form, batched over all timesteps and in place, for speed (the monitor's cost is a
share of the user's training step), and ``tests/engine/test_equations.py`` proves the two forms
agree. Every quantity that does not depend on the gradient (gate values, cell
states, local derivatives) is computed for all timesteps at once from the known hidden states, so
the sequential loop does one small matrix product and two or three elementwise operations per step.
The direct gradient of a lower layer is the input gradient of the layer above, which the same
recurrence yields as a by-product; lower layers' hidden sequences are recomputed with the fused
kernel, one layer at a time, from the same weights.

Everything is time-major here: tensors are ``(T, B, ...)``; callers transpose ``batch_first`` input.
torch is imported inside functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.equations import input_drive

CELL_OF_MODE = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}


@dataclass
class LayerWeights:
    """One direction of one layer, as PyTorch stores it (``weight_ih`` is ``gates*H x in``)."""

    w_ih: Any
    w_hh: Any
    b_ih: Any | None
    b_hh: Any | None


def layer_weights(module: Any, layer: int, reverse: bool) -> LayerWeights:
    """The weights of ``module``'s layer ``layer`` (direction ``reverse``), detached."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")

    def get(name: str) -> Any:
        value = getattr(module, name + suffix, None)
        return None if value is None else value.detach()

    return LayerWeights(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))


def backward_direction(
    cell: str,
    nonlinearity: str,
    x: Any,
    h0: Any,
    c0: Any | None,
    hs: Any,
    w: LayerWeights,
    direct: Any,
    grad_h_last: Any | None,
    grad_c_last: Any | None,
    need_input_grad: bool,
) -> tuple[Any, Any | None]:
    """Total ``dL/dh_t`` of one direction, in the order the direction runs.

    ``x`` (T x B x in) is the layer's input, ``hs`` (T x B x H) the hidden states it produced,
    ``direct`` (T x B x H) the gradient arriving on each ``h_t`` from outside the recurrence and
    ``grad_h_last`` / ``grad_c_last`` the gradient on the final state (``h_n``, ``c_n``). Returns the
    totals (T x B x H) and, when asked, the gradient on ``x`` (what the layer below receives).
    """
    import torch

    steps, batch, hidden = hs.shape
    hs = hs.contiguous()
    direct = direct.contiguous()
    totals = torch.empty_like(hs)
    # The loop writes each total straight into ``totals`` (out=), so no step copies a vector twice.
    totals[-1] = direct[-1] if grad_h_last is None else direct[-1] + grad_h_last
    w_hh = w.w_hh

    if cell == "rnn":
        local = (hs > 0).to(hs.dtype) if nonlinearity == "relu" else torch.mul(hs, hs).neg_().add_(1)
        deltas = torch.empty_like(hs)
        for t in range(steps - 1, -1, -1):
            torch.mul(totals[t], local[t], out=deltas[t])
            if t:
                torch.addmm(direct[t - 1], deltas[t], w_hh, out=totals[t - 1])
        input_grad = None
        if need_input_grad:
            input_grad = (deltas.reshape(steps * batch, hidden) @ w.w_ih).reshape(steps, batch, -1)
        return totals, input_grad

    h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]], 0)
    # Gate pre-activations for all steps at once: the input's term, then + h_{t-1} W_hh^T (+ b_hh).
    drive = input_drive(cell, x, w.w_ih, w.b_ih, w.b_hh).reshape(steps * batch, -1)
    h_flat = h_prev.reshape(steps * batch, hidden)

    if cell == "lstm":
        pre = drive.addmm_(h_flat, w_hh.t()).reshape(steps, batch, 4, hidden)
        pre[:, :, :2].sigmoid_()
        pre[:, :, 3].sigmoid_()
        pre[:, :, 2].tanh_()
        i, f, g, o = pre.unbind(2)
        ig = i * g
        cs = torch.empty_like(hs)
        c = c0
        for t in range(steps):
            c = torch.addcmul(ig[t], f[t], c, out=cs[t])
        c_prev = torch.cat([c0.unsqueeze(0), cs[:-1]], 0)
        tc = cs.tanh_()  # the cell states themselves are needed no more, except as c_{t-1} above
        # Local factors: dh_t -> dc_t, dc_t -> the pre-activations of i, f, g, and dh_t -> that of o.
        one_minus_i, one_minus_f, one_minus_o = 1 - i, 1 - f, 1 - o
        from_c = torch.empty(steps, batch, 3, hidden, dtype=hs.dtype, device=hs.device)
        torch.mul(g * i, one_minus_i, out=from_c[:, :, 0])
        torch.mul(c_prev * f, one_minus_f, out=from_c[:, :, 1])
        torch.mul(g, g, out=from_c[:, :, 2]).neg_().add_(1).mul_(i)
        from_h = tc * o * one_minus_o
        through_c = tc.mul_(tc).neg_().add_(1).mul_(o)  # o (1 - tanh^2 c_t)
        b_t = grad_c_last if grad_c_last is not None else torch.zeros_like(totals[-1])
        deltas = torch.empty(steps, batch, 4, hidden, dtype=hs.dtype, device=hs.device)
        for t in range(steps - 1, -1, -1):
            a = totals[t]
            b_t = torch.addcmul(b_t, a, through_c[t])
            torch.mul(b_t.unsqueeze(1), from_c[t], out=deltas[t, :, :3])
            torch.mul(a, from_h[t], out=deltas[t, :, 3])
            if t:
                torch.addmm(direct[t - 1], deltas[t].reshape(batch, 4 * hidden), w_hh, out=totals[t - 1])
                b_t = b_t.mul_(f[t])
        input_grad = None
        if need_input_grad:
            input_grad = (deltas.reshape(steps * batch, 4 * hidden) @ w.w_ih).reshape(steps, batch, -1)
        return totals, input_grad

    if cell == "gru":
        gh = torch.addmm(w.b_hh, h_flat, w_hh.t()) if w.b_hh is not None else h_flat @ w_hh.t()
        gx = drive.reshape(steps, batch, 3, hidden)
        gh = gh.reshape(steps, batch, 3, hidden)
        rz = gx[:, :, :2].add_(gh[:, :, :2]).sigmoid_()
        r, z = rz.unbind(2)
        h_n = gh[:, :, 2]
        n = torch.addcmul(gx[:, :, 2], r, h_n).tanh_()
        through_n = (1 - z).mul_(n * n).neg_().add_(1 - z)  # (1 - z)(1 - n^2)
        # Gradient factors on the W_hh products (r, z, and the n block seen through r) ...
        to_hidden = torch.empty(steps, batch, 3, hidden, dtype=hs.dtype, device=hs.device)
        torch.mul(through_n * h_n, r * (1 - r), out=to_hidden[:, :, 0])
        torch.mul(h_prev - n, z * (1 - z), out=to_hidden[:, :, 1])
        torch.mul(through_n, r, out=to_hidden[:, :, 2])
        delta = torch.empty(batch, 3, hidden, dtype=hs.dtype, device=hs.device)
        flat_delta = delta.view(batch, 3 * hidden)
        for t in range(steps - 1, 0, -1):
            a = totals[t]
            torch.mul(a.unsqueeze(1), to_hidden[t], out=delta)
            torch.addmm(torch.addcmul(direct[t - 1], a, z[t]), flat_delta, w_hh, out=totals[t - 1])
        input_grad = None
        if need_input_grad:
            # ... and on the W_ih products (the n block without r).
            to_hidden[:, :, 2] = through_n
            deltas = totals.unsqueeze(2) * to_hidden
            input_grad = (deltas.reshape(steps * batch, 3 * hidden) @ w.w_ih).reshape(steps, batch, -1)
        return totals, input_grad

    raise ValueError(f"unknown cell {cell!r}")


def run_layer(module: Any, layer: int, x: Any, h0: Any, c0: Any | None) -> Any:
    """The output sequence (T x B x D*H) of one layer of ``module`` on time-major ``x``, with the fused
    kernel and the module's own weights (no dropout: the lower layers' states are what they were
    before dropout was applied between layers)."""
    import torch

    directions = 2 if module.bidirectional else 1
    params = []
    for d in range(directions):
        w = layer_weights(module, layer, d == 1)
        params += [w.w_ih, w.w_hh] + ([w.b_ih, w.b_hh] if module.bias else [])
    has_bias = bool(module.bias)
    with torch.no_grad():
        if module.mode == "LSTM":
            out = torch.lstm(x, (h0, c0), params, has_bias, 1, 0.0, False, module.bidirectional, False)
        elif module.mode == "GRU":
            out = torch.gru(x, h0, params, has_bias, 1, 0.0, False, module.bidirectional, False)
        elif module.mode == "RNN_RELU":
            out = torch.rnn_relu(x, h0, params, has_bias, 1, 0.0, False, module.bidirectional, False)
        else:
            out = torch.rnn_tanh(x, h0, params, has_bias, 1, 0.0, False, module.bidirectional, False)
    return out[0]


def module_totals(
    module: Any,
    x: Any,
    h0: Any,
    c0: Any | None,
    top_output: Any,
    grad_output: Any,
    grad_h_n: Any,
    grad_c_n: Any | None,
    lower_layers: bool = True,
) -> dict[tuple[int, int], Any]:
    """Total ``dL/dh_t`` (T x B x H, time in input order) for every layer and direction of a fused
    recurrent module, keyed ``(layer, direction)`` with direction 0 forward and 1 reverse.

    ``x`` (T x B x in), ``top_output`` (T x B x D*H) and ``grad_output`` are time-major; ``h0``,
    ``c0``, ``grad_h_n`` and ``grad_c_n`` are ``(L*D) x B x H`` as PyTorch lays them out. With
    ``lower_layers`` false only the top layer is computed (used when dropout between layers makes the
    lower layers' direct gradients unknowable from outside).
    """
    cell = CELL_OF_MODE[module.mode]
    nonlinearity = "relu" if module.mode == "RNN_RELU" else "tanh"
    layers = module.num_layers
    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size

    # Inputs and outputs of every layer (lower layers recomputed with the same weights).
    inputs: dict[int, Any] = {}
    outputs: dict[int, Any] = {layers - 1: top_output}
    if lower_layers:
        inputs[0] = x
        for layer in range(layers - 1):
            sl = slice(layer * directions, (layer + 1) * directions)
            out = run_layer(module, layer, inputs[layer], h0[sl], None if c0 is None else c0[sl])
            outputs[layer] = inputs[layer + 1] = out
    elif layers == 1:
        inputs[0] = x
    elif cell != "rnn":
        # The top layer's input is the dropped-out output of the layer below, which cannot be known
        # from outside; a vanilla RNN does not need it (its local derivative comes from h_t alone).
        return {}
    first = 0 if lower_layers else layers - 1

    results: dict[tuple[int, int], Any] = {}
    direct = grad_output
    for layer in range(layers - 1, first - 1, -1):
        inp = inputs.get(layer)
        if inp is None:
            inp = top_output.new_zeros(top_output.shape[0], top_output.shape[1], 0)
        need_input = layer > first
        input_grad = None
        for d in range(directions):
            k = layer * directions + d
            hs = outputs[layer][..., d * hidden : (d + 1) * hidden]
            g = direct[..., d * hidden : (d + 1) * hidden]
            xs = inp
            if d == 1:
                hs, g, xs = hs.flip(0), g.flip(0), xs.flip(0)
            totals, in_grad = backward_direction(
                cell,
                nonlinearity,
                xs,
                h0[k],
                None if c0 is None else c0[k],
                hs,
                layer_weights(module, layer, d == 1),
                g,
                grad_h_n[k],
                None if grad_c_n is None else grad_c_n[k],
                need_input,
            )
            if d == 1:
                totals = totals.flip(0)
                in_grad = None if in_grad is None else in_grad.flip(0)
            results[(layer, d)] = totals
            if in_grad is not None:
                input_grad = in_grad if input_grad is None else input_grad + in_grad
        if need_input:
            direct = input_grad
    return results
