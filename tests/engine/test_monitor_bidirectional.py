"""Bidirectional models: each direction's ``||dL/dh_t||`` and verdict, judged the way it carries the gradient.

The forward direction's recurrence runs t = 1 .. T, so its gradient travels from T down to 1 and its
verdict's ``first_t`` is the largest t past a threshold. The reverse direction reads the sequence
backwards: its final state is its h_1, its gradient travels from t = 1 up to T, and its ``first_t`` is
the smallest t past a threshold. (The monitor once counted both back from T and told a bidirectional
LSTM it was "vanishing from t = 100".)

The reference is independent of gradsim's code: PyTorch's own ``nn.RNNCell`` / ``nn.LSTMCell`` /
``nn.GRUCell`` holding each layer's and direction's weights, unrolled in float64 (the reverse one
from t = T down to 1) with ``retain_grad`` on every h_t; the verdict is worked out from those
autograd norms by the rule above, written out here. Weights and inputs come from seeds drawn in the
test (printed with any failure).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradsim.monitor import Monitor, core, gradient_flow_on_inputs, inspect_state_dict, read_run_log  # noqa: E402
from gradsim.monitor.runlog import Alert  # noqa: E402
from gradsim.states.model_view import verdict_text, worst_verdict  # noqa: E402
from gradsim.states.run_view import poll_run_job, summarise_alerts  # noqa: E402

torch.set_num_threads(1)
VANISH, EXPLODE = 1e-6, 1e3
HIDDEN, INPUTS, STEPS = 5, 3, 60


def draw_seed() -> int:
    return int(np.random.default_rng().integers(0, 2**31 - 1))


def build_module(cell: str, seed: int, scale: float, nonlinearity: str = "tanh", layers: int = 2,
                 spectral_norm: float | None = None):
    """A bidirectional float64 module, PyTorch's init for everything but ``W_hh``: Gaussian of
    spectral scale ``scale`` (or every gate block rescaled to exactly ``spectral_norm``)."""
    torch.manual_seed(seed)
    kwargs = dict(num_layers=layers, bidirectional=True, batch_first=True, dtype=torch.float64)
    if cell == "rnn":
        module = torch.nn.RNN(INPUTS, HIDDEN, nonlinearity=nonlinearity, **kwargs)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](INPUTS, HIDDEN, **kwargs)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("weight_hh"):
                w = scale * torch.randn(p.shape, generator=gen, dtype=torch.float64) / np.sqrt(HIDDEN)
                if spectral_norm is not None:
                    blocks = w.split(HIDDEN)
                    w = torch.cat([spectral_norm * b / torch.linalg.matrix_norm(b, 2) for b in blocks])
                p.copy_(w)
    return module


def torch_cell(module, layer: int, reverse: bool):
    """PyTorch's own cell for one layer and direction of ``module``, holding its weights."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    in_size = module.input_size if layer == 0 else 2 * module.hidden_size
    if module.mode.startswith("RNN"):
        cell = torch.nn.RNNCell(in_size, module.hidden_size, nonlinearity=module.nonlinearity, dtype=torch.float64)
    else:
        cell = {"LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell}[module.mode](
            in_size, module.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(module, name + suffix))
    return cell


def autograd_norms(module, x, loss_fn):
    """``{(layer, direction): ||dL/dh_t|| for t = 1..T}`` by autograd on cells unrolled in float64.

    ``x`` is ``1 x T x inputs``; ``loss_fn(top_outputs, finals)`` gets the top layer's output sequence
    (T x 2H) and its final states (forward h_T, reverse h_1)."""
    steps = x.shape[1]
    seq = [x[0, t : t + 1] for t in range(steps)]
    kept = {}
    for layer in range(module.num_layers):
        outs = []
        finals = []
        for d in (0, 1):
            cell = torch_cell(module, layer, d == 1)
            h = torch.zeros(1, module.hidden_size, dtype=torch.float64)
            c = torch.zeros_like(h)
            hs = [None] * steps
            for t in (range(steps) if d == 0 else range(steps - 1, -1, -1)):
                if module.mode == "LSTM":
                    h, c = cell(seq[t], (h, c))
                else:
                    h = cell(seq[t], h)
                h.retain_grad()
                hs[t] = h
            kept[(layer, d)] = hs
            finals.append(h)
            outs.append(hs)
        seq = [torch.cat([outs[0][t], outs[1][t]], 1) for t in range(steps)]
    loss_fn(torch.cat(seq, 0), finals).backward()
    return {key: np.array([float(h.grad.norm()) if h.grad is not None else 0.0 for h in hs])
            for key, hs in kept.items()}


def sum_last(top, finals):
    """The flow view's loss: the sum of the top layer's final states, one per direction."""
    return finals[0].sum() + finals[1].sum()


def expected_verdict(norms: np.ndarray, reverse: bool) -> tuple[str, int | None]:
    """The verdict worked out from plain norms: exploding (above 1e3 or NaN) wins over vanishing
    (below 1e-6); ``first_t`` is the first step past the threshold the gradient meets on its way
    from the loss: the largest t forward, the smallest t in the reverse direction."""
    t = np.arange(1, norms.size + 1)
    for kind, past in (("exploding", np.isnan(norms) | (norms > EXPLODE)), ("vanishing", norms < VANISH)):
        if past.any():
            return kind, int(t[past].min() if reverse else t[past].max())
    return "healthy", None


def key_of(cell: str, layer: int, d: int) -> str:
    return f"{cell}/l{layer}" + ("/reverse" if d else "")


def spec_of(module):
    return inspect_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()}).modules[0]


# cell, W_hh scale, nonlinearity: vanishing LSTM / GRU / RNN, and an exploding ReLU RNN
CASES = [("lstm", 1.0, "tanh"), ("gru", 1.0, "tanh"), ("rnn", 0.6, "tanh"), ("rnn", 2.5, "relu")]


@pytest.mark.parametrize("cell,scale,nonlinearity", CASES, ids=[f"{c}-{s}-{n}" for c, s, n in CASES])
def test_model_file_flow_and_verdict_per_direction_equal_autograd(cell, scale, nonlinearity):
    seed = draw_seed()
    module = build_module(cell, seed, scale, nonlinearity)
    inputs = np.random.default_rng(seed).standard_normal((STEPS, INPUTS))
    flow = gradient_flow_on_inputs(spec_of(module), inputs, nonlinearity)
    expected = autograd_norms(module, torch.from_numpy(inputs)[None], sum_last)
    assert set(flow.series) == {key_of(cell, ly, d) for ly, d in expected}
    for (layer, d), ref in expected.items():
        key = key_of(cell, layer, d)
        where = f"seed {seed}, {key}"
        np.testing.assert_allclose(10.0 ** flow.series[key], ref, rtol=1e-6, err_msg=where)
        verdict = flow.verdicts[key]
        assert (verdict.kind, verdict.first_t) == expected_verdict(ref, reverse=d == 1), where
        assert verdict.reverse == (d == 1), where
        # the far-end readout: t = 1 forward, t = T in reverse
        t_far, value = flow.far_end(key)
        assert t_far == (STEPS if d else 1), where
        with np.errstate(divide="ignore"):  # a ReLU gradient may be exactly 0 there
            assert value == pytest.approx(np.log10(ref[t_far - 1]), abs=1e-9), where


def test_reverse_direction_counted_up_from_t1_on_every_seed():
    """With every gate block of ``W_hh`` at spectral norm 0.5 and tanh (|f'| <= 1), the top layer's
    reverse gradient, 1 on each unit of its h_1, is at most sqrt(5) * 0.5^(t-1): below 1e-6 by
    t = 23 on any seed. Counting back from T = 60, as the bug did, would say t = 60."""
    seed = draw_seed()
    module = build_module("rnn", seed, 1.0, layers=1, spectral_norm=0.5)
    inputs = np.random.default_rng(seed).standard_normal((STEPS, INPUTS))
    flow = gradient_flow_on_inputs(spec_of(module), inputs)
    ref = autograd_norms(module, torch.from_numpy(inputs)[None], sum_last)
    reverse, forward = flow.verdicts["rnn/l0/reverse"], flow.verdicts["rnn/l0"]
    assert (reverse.kind, reverse.first_t) == expected_verdict(ref[(0, 1)], reverse=True), f"seed {seed}"
    assert (forward.kind, forward.first_t) == expected_verdict(ref[(0, 0)], reverse=False), f"seed {seed}"
    assert reverse.kind == "vanishing" and reverse.first_t <= 23, f"seed {seed}"
    assert forward.kind == "vanishing" and forward.first_t >= STEPS - 22, f"seed {seed}"
    assert "counted up from t = 1" in reverse.describe() and "reverse" not in forward.describe()
    # The badge names the direction nearest its loss end, and counts its t the way it travels.
    kind, text, _where = worst_verdict(flow)
    travelled = {"rnn/l0": STEPS - forward.first_t, "rnn/l0/reverse": reverse.first_t - 1}
    nearest = min(travelled, key=lambda k: (travelled[k], k != "rnn/l0"))
    assert text == verdict_text(flow.verdicts[nearest], STEPS, nearest)
    assert text.startswith(f"vanishing from t = {flow.verdicts[nearest].first_t}\nlayer 0 ")
    assert text.endswith("counted up from t = 1" if nearest.endswith("reverse") else f"counted back from t = {STEPS}")


def _training_loss(top, finals):
    """A bidirectional classifier's loss: a score read from both ends of the top layer's output (the
    forward half at t = T, the reverse half at t = 1), squared, plus a term on the final states."""
    hidden = top.shape[1] // 2
    weights = torch.randn(2, hidden, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    score = (top[-1, :hidden] * weights[0]).sum() + (top[0, hidden:] * weights[1]).sum()
    return score**2 + 0.5 * score + (finals[0] ** 2).sum() + 0.3 * finals[1].sum()


@pytest.fixture(params=["step nodes", "recurrence"])
def capture_path(request, monkeypatch):
    """Both ways the monitor reads the totals (see test_monitor.py)."""
    monkeypatch.setattr(core, "_STEP_NODES_ENABLED", request.param == "step nodes")
    return request.param


@pytest.mark.parametrize("cell,scale,nonlinearity", CASES, ids=[f"{c}-{s}-{n}" for c, s, n in CASES])
def test_monitor_alerts_and_run_log_per_direction(cell, scale, nonlinearity, capture_path, tmp_path):
    seed = draw_seed()
    module = build_module(cell, seed, scale, nonlinearity)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((1, STEPS, INPUTS)))
    expected = autograd_norms(module, x, _training_loss)
    path = tmp_path / "run.jsonl"
    with Monitor(module, log=path, warn=False, budget=None) as mon:
        out, state = module(x)
        h_n = state[0] if cell == "lstm" else state
        _training_loss(out[0], [h_n[-2], h_n[-1]]).backward()
    record = mon.records[0]
    alerts = {a.where: a for a in mon.alerts}
    for (layer, d), ref in expected.items():
        key = key_of(cell, layer, d)
        where = f"seed {seed}, {key}, {capture_path}"
        np.testing.assert_allclose(10.0 ** record.layers[key], ref, rtol=1e-6, err_msg=where)
        kind, first_t = expected_verdict(ref, reverse=d == 1)
        if kind == "healthy":
            assert key not in alerts, where
            continue
        alert = alerts[key]
        assert (alert.kind, alert.first_t, alert.reverse) == (kind, first_t, d == 1), where
        with np.errstate(divide="ignore", invalid="ignore"):
            np.testing.assert_allclose(alert.log10_value, np.log10(ref[first_t - 1]), atol=1e-9, err_msg=where)
        assert alert.message().endswith(f"{kind} from t = {first_t}" + (
            " (reverse direction: counted up from t = 1)" if d else "")), where

    # The run log keeps them, and the run window's badge and alert lines say the same.
    log = read_run_log(path)
    assert [(a.where, a.kind, a.first_t, a.reverse) for a in log.alerts()] == [
        (a.where, a.kind, a.first_t, a.reverse) for a in mon.alerts]
    for line in summarise_alerts(log.alerts()):
        assert line.endswith("(counted up from t = 1)") == line.split(":")[0].endswith("/reverse"), line
    from gradsim.monitor import RunLogFollower

    for (layer, d), ref in expected.items():
        key = key_of(cell, layer, d)
        snap = poll_run_job(RunLogFollower(path), key)
        kind, first_t = expected_verdict(ref, reverse=d == 1)
        assert (snap.verdict.kind, snap.verdict.first_t) == (kind, first_t), f"seed {seed}, {key}"
        if kind == "healthy":
            assert snap.badge == "healthy"
        else:
            counted = "counted up from t = 1" if d else f"counted back from t = {STEPS}"
            arrow = "←" if d else "→"
            assert snap.badge == f"{kind} from t = {first_t}\nlayer {layer} {arrow}, {counted}", f"seed {seed}"


def test_older_logs_reverse_alerts_are_counted_again_when_read(tmp_path):
    """A log written before alerts said ``reverse`` counted a reverse series back from T; reading it
    works its ``first_t`` out again from the recorded series."""
    seed = draw_seed()
    module = build_module("rnn", seed, 1.0, layers=1, spectral_norm=0.5)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((1, STEPS, INPUTS)))
    path = tmp_path / "new.jsonl"
    with Monitor(module, log=path, warn=False, budget=None) as mon:
        module(x)[1].sum().backward()
    new = {a.where: a for a in mon.alerts}
    assert new["rnn/l0/reverse"].reverse and new["rnn/l0/reverse"].first_t <= 23
    lines = path.read_text().splitlines()
    step = json.loads(lines[1])
    for alert in step["alerts"]:  # as the older monitor wrote it
        del alert["reverse"]
        logs = np.array([-np.inf if v is None else float(v) for v in step["layers"][alert["where"]]])
        alert["first_t"] = int(np.flatnonzero(logs < -6).max() + 1)
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join([lines[0], json.dumps(step), *lines[2:]]) + "\n")
    assert step["alerts"][[a["where"] for a in step["alerts"]].index("rnn/l0/reverse")]["first_t"] == STEPS
    read = {a.where: a for a in read_run_log(old).alerts()}
    for where, alert in new.items():
        assert (read[where].first_t, read[where].reverse) == (alert.first_t, alert.reverse), where
    # without the series to count from, an old alert stays as it was written (counted back from T)
    del step["layers"]["rnn/l0/reverse"]
    old.write_text("\n".join([lines[0], json.dumps(step), *lines[2:]]) + "\n")
    kept = {a.where: a for a in read_run_log(old).alerts()}["rnn/l0/reverse"]
    assert (kept.first_t, kept.reverse) == (STEPS, False)
    assert Alert(1, "rnn/l0/reverse", "vanishing", -7.0, 5, True).to_json()["reverse"] is True
