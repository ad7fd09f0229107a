"""The gradient monitor, run logs and saved-model files (issue 8).

The per-timestep figures are checked against an independent computation: the same weights run
through a hand-written, unrolled float64 loop in which every ``h_t`` calls ``retain_grad()``, so
PyTorch's autograd supplies the reference total derivatives ``dL/dh_t``.
"""

from __future__ import annotations

import copy
import json
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradsim.engine.errors import InputError  # noqa: E402
from gradsim.monitor import (  # noqa: E402
    Monitor,
    RunLogFollower,
    core,  # noqa: E402
    gradient_flow_on_inputs,
    inspect_state_dict,
    load_input_sequence,
    load_model_file,
    make_inputs,
    read_run_log,
    read_safetensors,
)

from .fresh_imports import probe  # noqa: E402

torch.set_num_threads(1)


# -- an independent reference: unrolled cells, retain_grad on every h_t ----------------------------
def _cell_step(cell, nonlinearity, x, h, c, w_ih, w_hh, b_ih, b_hh):
    gi = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = h @ w_hh.T + (b_hh if b_hh is not None else 0)
    if cell == "rnn":
        z = gi + gh
        return (torch.relu(z) if nonlinearity == "relu" else torch.tanh(z)), None
    if cell == "lstm":
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    ir, iz, in_ = gi.chunk(3, 1)
    hr, hz, hn = gh.chunk(3, 1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(in_ + r * hn)
    return (1 - z) * n + z * h, None


def reference_norms(module, x, h0, c0, loss_fn, between=None):
    """``||dL/dh_t||`` per (layer, direction) from autograd on an unrolled copy of ``module``;
    ``between[k]`` (optional) multiplies the output of layer ``k`` (a dropout mask)."""
    cell = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}[module.mode]
    nl = "relu" if module.mode == "RNN_RELU" else "tanh"
    directions = 2 if module.bidirectional else 1
    params = {k: v.detach().clone().requires_grad_(True) for k, v in module.named_parameters()}
    seq = x.detach().transpose(0, 1) if module.batch_first else x.detach()
    steps = seq.shape[0]
    kept, finals_h, finals_c = {}, [], []
    for layer in range(module.num_layers):
        outs = []
        for d in range(directions):
            s = f"_l{layer}" + ("_reverse" if d else "")
            h, c = h0[layer * directions + d], None if c0 is None else c0[layer * directions + d]
            hs = [None] * steps
            order = range(steps) if d == 0 else range(steps - 1, -1, -1)
            for t in order:
                h, c = _cell_step(
                    cell, nl, seq[t], h, c, params["weight_ih" + s], params["weight_hh" + s],
                    params.get("bias_ih" + s), params.get("bias_hh" + s),
                )
                h.retain_grad()
                hs[t] = h
            kept[(layer, d)] = hs
            finals_h.append(h)
            finals_c.append(c)
            outs.append(torch.stack(hs))
        seq = torch.cat(outs, -1)
        if between is not None and layer < module.num_layers - 1:
            seq = seq * between[layer]
    out = seq.transpose(0, 1) if module.batch_first else seq
    h_n = torch.stack(finals_h)
    c_n = torch.stack(finals_c) if c0 is not None else None
    loss_fn(out, h_n, c_n).backward()
    return {
        key: np.array([float(h.grad.norm()) for h in hs]) for key, hs in kept.items()
    }


def _loss(out, h_n, c_n):
    """Uses every output step and the final states, nonlinearly, so every gradient path is live."""
    gen = torch.Generator().manual_seed(3)
    weights = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype)
    loss = (out * weights).sum() + (h_n**2).sum() + 0.5 * h_n.sum()
    if c_n is not None:
        loss = loss + (c_n * 0.3).sum()
    return loss


CASES = [
    # mode, layers, bidirectional, batch_first, bias
    ("RNN_TANH", 1, False, True, True),
    ("RNN_TANH", 2, True, True, True),
    ("RNN_RELU", 2, False, False, True),
    ("LSTM", 1, False, True, True),
    ("LSTM", 2, True, True, True),
    ("LSTM", 2, False, False, False),
    ("GRU", 1, False, False, True),
    ("GRU", 2, True, True, True),
    ("GRU", 3, False, True, False),
]


def _module(mode, layers, bidirectional, batch_first, bias, hidden=5, inputs=3, dtype=torch.float64):
    torch.manual_seed(11)
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias, dtype=dtype)
    if mode.startswith("RNN"):
        return torch.nn.RNN(inputs, hidden, nonlinearity=mode[4:].lower(), **kwargs)
    return getattr(torch.nn, mode)(inputs, hidden, **kwargs)


@pytest.fixture(params=["step nodes", "recurrence"])
def capture_path(request, monkeypatch):
    """Both ways the monitor reads the totals: pre-hooks on the unfused kernels' step nodes, and the
    rebuilt recurrence that fused kernels (oneDNN LSTM, cuDNN) need, forced here on every cell."""
    monkeypatch.setattr(core, "_STEP_NODES_ENABLED", request.param == "step nodes")
    return request.param


@pytest.mark.parametrize("mode,layers,bidirectional,batch_first,bias", CASES)
def test_per_timestep_norms_equal_retain_grad_autograd(mode, layers, bidirectional, batch_first, bias,
                                                       capture_path):
    module = _module(mode, layers, bidirectional, batch_first, bias)
    batch, steps = 4, 7
    gen = torch.Generator().manual_seed(5)
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    state_shape = (layers * (2 if bidirectional else 1), batch, 5)
    h0 = 0.5 * torch.randn(state_shape, generator=gen, dtype=torch.float64)
    c0 = 0.5 * torch.randn(state_shape, generator=gen, dtype=torch.float64) if mode == "LSTM" else None

    expected = reference_norms(module, x, h0, c0, _loss)

    with Monitor(module, warn=False, budget=None) as mon:
        out, state = module(x, (h0, c0) if mode == "LSTM" else h0)
        h_n, c_n = state if mode == "LSTM" else (state, None)
        _loss(out, h_n, c_n).backward()
    assert len(mon.records) == 1
    layers_got = mon.records[0].layers
    name = mode.split("_")[0].lower()
    assert set(layers_got) == {f"{name}/l{ly}" + ("/reverse" if d else "") for ly, d in expected}
    for (layer, d), ref in expected.items():
        got = 10.0 ** layers_got[f"{name}/l{layer}" + ("/reverse" if d else "")]
        np.testing.assert_allclose(got, ref, rtol=1e-9, err_msg=f"layer {layer} direction {d}")


def test_float32_model_matches_float64_reference_closely():
    module = _module("LSTM", 2, True, True, True, dtype=torch.float32)
    x = torch.randn(3, 9, 3, generator=torch.Generator().manual_seed(1))
    ref_module = copy.deepcopy(module).double()
    zeros = torch.zeros(4, 3, 5, dtype=torch.float64)
    expected = reference_norms(ref_module, x.double(), zeros, zeros, _loss)
    with Monitor(module, warn=False, budget=None) as mon:
        out, (h_n, c_n) = module(x)
        _loss(out, h_n, c_n).backward()
    for (layer, d), ref in expected.items():
        got = 10.0 ** mon.records[0].layers[f"lstm/l{layer}" + ("/reverse" if d else "")]
        np.testing.assert_allclose(got, ref, rtol=2e-4)


def test_unbatched_input_and_submodule_names():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.GRU(3, 4, dtype=torch.float64)
            self.head = torch.nn.Linear(4, 1, dtype=torch.float64)

        def forward(self, x):
            out, _ = self.encoder(x)
            return self.head(out[-1])

    net = Net()
    x = torch.randn(6, 3, dtype=torch.float64)  # unbatched: T x input
    with Monitor(net, warn=False, budget=None) as mon:
        net(x).sum().backward()
    rec = mon.records[0]
    assert list(rec.layers) == ["encoder/l0"]
    assert rec.layers["encoder/l0"].shape == (6,)
    assert set(rec.params) == {"encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0",
                               "encoder.bias_hh_l0", "head.weight", "head.bias"}
    # Parameter gradient norms are the norms of what autograd put in .grad.
    for name, p in net.named_parameters():
        assert rec.params[name] == pytest.approx(np.log10(float(p.grad.norm())), abs=1e-12)
    # Only the last output feeds the loss: earlier gradients arrive through the recurrence alone.
    ref = reference_norms(net.encoder, x[:, None], torch.zeros(1, 1, 4, dtype=torch.float64), None,
                          lambda out, h_n, c_n: net.head(out[-1, 0]).sum())
    np.testing.assert_allclose(10 ** rec.layers["encoder/l0"], ref[(0, 0)], rtol=1e-9)


def _hook_state(model):
    state = []
    for m in model.modules():
        state.append((len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                      len(m._forward_hooks_with_kwargs)))
    for p in model.parameters():
        state.append(len(p._backward_hooks or {}))
    return state


def test_remove_leaves_no_hooks_and_training_is_unchanged():
    model = _module("LSTM", 2, False, True, True, dtype=torch.float32)
    before = _hook_state(model)
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    out_plain, _ = model(x)
    out_plain.sum().backward()
    grads_plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    mon = Monitor(model, warn=False, budget=None)
    assert _hook_state(model) != before
    out_mon, _ = model(x)
    out_mon.sum().backward()
    # The monitor changes nothing the model computes: same outputs and gradients, bit for bit.
    assert torch.equal(out_mon, out_plain)
    for p, g in zip(model.parameters(), grads_plain, strict=True):
        assert torch.equal(p.grad, g)
    mon.remove()
    assert _hook_state(model) == before
    model(x)[0].sum().backward()
    assert len(mon.records) == 1  # nothing recorded once removed


def test_every_records_one_step_in_k_and_no_grad_forwards_do_not_count():
    model = _module("GRU", 1, False, True, True)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    with Monitor(model, every=3, warn=False, budget=None) as mon:
        for _ in range(7):
            with torch.no_grad():
                model(x)  # evaluation: not a training step
            model(x)[0].sum().backward()
    assert [r.step for r in mon.records] == [1, 4, 7]


def test_budget_skips_steps_once_recording_has_used_its_share():
    model = _module("GRU", 1, False, True, True)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    with Monitor(model, budget=1e-12, warn=False) as mon:
        for _ in range(5):
            model(x)[0].sum().backward()
    # The first step is always recorded; after it the recording time exceeds a 1e-12 share.
    assert [r.step for r in mon.records] == [1]
    with pytest.raises(InputError, match="budget"):
        Monitor(model, budget=0)


def test_alerts_flag_vanishing_from_the_right_step():
    module = torch.nn.RNN(2, 3, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        module.weight_hh_l0.copy_(0.05 * torch.eye(3))
    x = torch.zeros(1, 12, 2, dtype=torch.float64)
    with Monitor(module, warn=False, budget=None) as mon:
        _, h_n = module(x)
        h_n.sum().backward()
    logs = mon.records[0].layers["rnn/l0"]
    # dL/dh_t shrinks by |0.05 * tanh'| per step back; the latest t below 1e-6 is the alert's t.
    below = np.nonzero(logs < -6)[0]
    alert = [a for a in mon.alerts if a.where == "rnn/l0"][0]
    assert alert.kind == "vanishing" and alert.first_t == below.max() + 1


def test_refuses_models_without_recurrent_layers_and_bad_settings():
    with pytest.raises(InputError, match="no nn.RNN"):
        Monitor(torch.nn.Linear(2, 2))
    with pytest.raises(InputError, match="every"):
        Monitor(torch.nn.GRU(2, 2), every=0)
    with pytest.raises(InputError, match="thresholds"):
        Monitor(torch.nn.GRU(2, 2), vanish_threshold=10, explode_threshold=1)
    with pytest.raises(InputError, match="proj_size"):
        Monitor(torch.nn.LSTM(2, 4, proj_size=2))


def _dropout_masks(out):
    """The masks PyTorch applied between stacked layers, read back from the graph (top layer first)."""
    masks, seen, pending = [], set(), [out.grad_fn]
    while pending:
        node = pending.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if type(node).__name__ == "MulBackward0":
            masks.append(node._saved_other)
        pending += [fn for fn, _ in node.next_functions]
    return masks


def test_dropout_between_layers_is_exact_on_unfused_kernels():
    """The step-node pre-hooks see the gradient after dropout did its work, so every layer is exact:
    checked against the unrolled reference given the very masks PyTorch drew."""
    model = torch.nn.RNN(3, 4, num_layers=3, dropout=0.5, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    zeros = torch.zeros(3, 2, 4, dtype=torch.float64)
    with Monitor(model, warn=False, budget=None) as mon:
        out, h_n = model(x)
        masks = _dropout_masks(out)
        _loss(out, h_n, None).backward()
    assert len(masks) == 2 and all(set(m.unique().tolist()) <= {0.0, 2.0} for m in masks)
    expected = reference_norms(model, x, zeros, None, _loss, between=masks[::-1])
    assert set(mon.records[0].layers) == {"rnn/l0", "rnn/l1", "rnn/l2"}
    for (layer, _d), ref in expected.items():
        np.testing.assert_allclose(10 ** mon.records[0].layers[f"rnn/l{layer}"], ref, rtol=1e-9)


def test_dropout_between_layers_records_top_rnn_layer_only_when_rebuilt(monkeypatch):
    monkeypatch.setattr(core, "_STEP_NODES_ENABLED", False)
    model = torch.nn.RNN(3, 4, num_layers=2, dropout=0.5, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    with Monitor(model, warn=False, budget=None) as mon:
        model(x)[0].sum().backward()
        model.eval()
        model(x)[0].sum().backward()
    assert list(mon.records[0].layers) == ["rnn/l1"]
    assert set(mon.records[1].layers) == {"rnn/l0", "rnn/l1"}


def test_unfused_kernels_are_read_from_their_step_nodes_and_fused_ones_rebuilt():
    """Which path a float32 model takes on this CPU: GRU and vanilla RNN run one node per step (read
    directly, no identity function in the output's graph); the LSTM runs oneDNN's fused layer when
    available (an identity function taps its outputs for the rebuilt recurrence)."""
    x = torch.randn(2, 5, 3)
    for module in (torch.nn.GRU(3, 4, batch_first=True), torch.nn.RNN(3, 4, batch_first=True)):
        with Monitor(module, warn=False, budget=None) as mon:
            out, _ = module(x)
            assert type(out.grad_fn).__name__ != "_TapBackward"
            out.sum().backward()
        assert len(mon.records) == 1 and np.isfinite(mon.records[0].layers[f"{module.mode[:3].lower()}/l0"]).all()
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    plain, _ = lstm(x)
    fused = "Mkldnn" in type(plain.grad_fn.next_functions[0][0]).__name__
    with Monitor(lstm, warn=False, budget=None) as mon:
        out, _ = lstm(x)
        assert (type(out.grad_fn).__name__ == "_TapBackward") == fused
        out.sum().backward()
    assert np.isfinite(mon.records[0].layers["lstm/l0"]).all()


def test_hooks_of_a_graph_never_run_backward_are_disarmed_by_remove():
    model = torch.nn.GRU(3, 4, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    mon = Monitor(model, warn=False, budget=None)
    out, _ = model(x)  # forward in grad mode, then the monitor is removed before backward
    mon.remove()
    out.sum().backward()
    assert mon.records == [] and mon.errors == []


# -- run logs ---------------------------------------------------------------------------------------
def _train_logged(path, steps=3):
    model = _module("LSTM", 2, True, True, True, dtype=torch.float32)
    x = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(2))
    with Monitor(model, log=path, warn=False, budget=None) as mon:
        for _ in range(steps):
            model.zero_grad()
            out, _ = model(x)
            out[:, -1].sum().backward()
    return mon


def test_run_log_round_trip(tmp_path):
    path = tmp_path / "run.gradsim.jsonl"
    mon = _train_logged(path)
    log = read_run_log(path)
    assert log.finished and log.skipped_lines == 0 and not log.incomplete_tail
    assert log.series_keys() == mon.series_keys == ["lstm/l0", "lstm/l0/reverse", "lstm/l1", "lstm/l1/reverse"]
    assert [r.step for r in log.records] == [1, 2, 3]
    for a, b in zip(log.records, mon.records, strict=True):
        for key in b.layers:
            np.testing.assert_allclose(a.layers[key], b.layers[key], atol=1e-5)
    steps, matrix = log.heatmap("lstm/l0")
    assert steps.tolist() == [1.0, 2.0, 3.0] and matrix.shape == (3, 6)


def test_log_cut_off_mid_write_still_opens(tmp_path):
    path = tmp_path / "run.gradsim.jsonl"
    _train_logged(path, steps=3)
    lines = path.read_bytes().split(b"\n")
    # Keep the header and two steps, and half of the third step's line (a crash mid-write).
    cut = b"\n".join(lines[:3]) + b"\n" + lines[3][: len(lines[3]) // 2]
    path.write_bytes(cut)
    log = read_run_log(path)
    assert [r.step for r in log.records] == [1, 2]
    assert log.incomplete_tail and not log.finished


def test_follower_sees_a_growing_file_and_completes_half_lines(tmp_path):
    source = tmp_path / "full.jsonl"
    _train_logged(source, steps=2)
    data = source.read_bytes()
    path = tmp_path / "live.jsonl"
    follower = RunLogFollower(path)
    path.write_bytes(b"")
    assert follower.poll() == [] and follower.log is None
    first_newline = data.index(b"\n") + 1
    second = data.index(b"\n", first_newline) + 1
    with open(path, "ab") as f:
        f.write(data[: first_newline + 10])  # header plus a fragment of step 1
    assert follower.poll() == [] and follower.log is not None
    with open(path, "ab") as f:
        f.write(data[first_newline + 10 : second])
    assert [r.step for r in follower.poll()] == [1]
    with open(path, "ab") as f:
        f.write(data[second:])
    assert [r.step for r in follower.poll()] == [2]
    assert follower.log.finished
    path.write_bytes(data[:first_newline])  # a new run under the same name
    assert follower.poll() == [] and follower.reset


def test_damaged_middle_line_is_skipped_and_non_logs_are_refused(tmp_path):
    path = tmp_path / "run.jsonl"
    _train_logged(path, steps=2)
    lines = path.read_text().split("\n")
    lines.insert(2, '{"kind": "step", "step": "x"}')
    lines.insert(2, "garbage")
    path.write_text("\n".join(lines))
    log = read_run_log(path)
    assert [r.step for r in log.records] == [1, 2] and log.skipped_lines == 2
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(InputError, match="not a gradsim run log"):
        read_run_log(other)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"kind": "header", "format": "gradsim.runlog/9"}) + "\n")
    with pytest.raises(InputError, match="unsupported run-log format"):
        read_run_log(wrong)


# -- model files ------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this would create a file: the test checks that it never happens."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_carrying_code_is_refused_with_one_line(tmp_path):
    target = tmp_path / "pwned.txt"
    bad = tmp_path / "model.pt"
    torch.save({"weight_hh_l0": torch.zeros(2, 2), "payload": _Payload(str(target))}, bad)
    with pytest.raises(InputError) as info:
        load_model_file(bad)
    message = str(info.value)
    assert "refused" in message and "weights_only" in message and "\n" not in message
    assert not target.exists()
    # The legacy (non-zip) pickle format too.
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps(_Payload(str(target))))
    with pytest.raises(InputError, match="refused|cannot read"):
        load_model_file(legacy)
    assert not target.exists()


def test_refusal_in_a_fresh_process_creates_nothing(tmp_path):
    """Same check with the payload class absent from the loading process (as for a stranger's file)."""
    target = tmp_path / "pwned2.txt"
    bad = tmp_path / "bad.pt"
    torch.save({"x": _Payload(str(target))}, bad)
    code = (
        "import sys\nfrom gradsim.monitor import load_model_file\n"
        "try:\n    load_model_file(sys.argv[1])\nexcept ValueError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=120)
    assert "refused" in out.stdout
    assert not target.exists()


def _write_safetensors_independently(path, tensors):
    """A writer of our own, sharing no code with the reader: header, then the data in key order."""
    codes = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        blob = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to a multiple of 8
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_safetensors_reader_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "weight_hh_l0": rng.standard_normal((12, 4)),
        "weight_ih_l0": rng.standard_normal((12, 2)).astype(np.float32),
        "bias_ih_l0": rng.standard_normal(12),
        "bias_hh_l0": rng.standard_normal(12),
        "steps": np.arange(3, dtype=np.int64),
        "empty": np.zeros((0, 3)),
    }
    path = tmp_path / "m.safetensors"
    _write_safetensors_independently(path, tensors)
    got, meta = read_safetensors(path)
    assert meta == {"format": "pt"}
    assert set(got) == set(tensors)
    for k, v in tensors.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v)
    info = load_model_file(path)
    assert [(m.cell, m.hidden_size, m.input_size, m.num_layers) for m in info.modules] == [("gru", 4, 2, 1)]


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda b: b[:5], "shorter"),
        (lambda b: struct.pack("<Q", 10**9) + b[8:], "does not fit"),
        (lambda b: b[:8] + b"[" + b[9:], "not JSON"),
        (lambda b: b[:-8], "outside the data|bytes for shape"),
        (lambda b: b + b"\0" * 8, "bytes after the last tensor"),
        (lambda b: b.replace(b'"F64"', b'"Q99"'), "unsupported dtype"),
    ],
)
def test_safetensors_reader_refuses_malformed_files(tmp_path, mutate, match):
    path = tmp_path / "m.safetensors"
    _write_safetensors_independently(path, {"a": np.ones((2, 2)), "b": np.zeros(3)})
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(InputError, match=match):
        read_safetensors(path)


def test_overlapping_tensors_are_refused(tmp_path):
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    text = json.dumps(header).encode()
    path = tmp_path / "o.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 12)
    with pytest.raises(InputError, match="overlaps"):
        read_safetensors(path)


def test_state_dict_inference_from_pt_with_prefix_and_checkpoint_wrapper(tmp_path):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Linear(3, 6)
            self.lstm = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True)
            self.rnn = torch.nn.RNN(3, 2, bias=False)

    net = Net()
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, path)
    info = load_model_file(path)
    specs = {m.name: m for m in info.modules}
    lstm = specs["lstm"]
    assert (lstm.cell, lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional, lstm.bias) == (
        "lstm", 6, 5, 2, True, True)
    rnn = specs["rnn"]
    assert (rnn.cell, rnn.hidden_size, rnn.bias) == ("rnn", 2, False)
    assert sorted(info.other_keys) == ["embed.bias", "embed.weight"]
    # Spectra: each gate block of W_hh, checked against NumPy directly.
    spectra = lstm.spectra()
    assert len(spectra) == 2 * 2 * 4
    w = net.lstm.weight_hh_l1_reverse.detach().double().numpy()
    forget = [s for s in spectra if s.key == "lstm/l1/reverse" and s.gate == "f"][0]
    np.testing.assert_allclose(sorted(np.abs(forget.eigenvalues)), sorted(np.abs(np.linalg.eigvals(w[5:10]))))
    assert forget.spectral_norm == pytest.approx(np.linalg.norm(w[5:10], 2))


def test_inconsistent_state_dicts_are_refused():
    good = {k: v.detach().double().numpy() for k, v in torch.nn.GRU(2, 3, num_layers=2).state_dict().items()}
    bad = dict(good)
    bad["weight_ih_l1"] = np.zeros((9, 4))
    with pytest.raises(InputError, match="weight_ih_l1 has shape"):
        inspect_state_dict(bad)
    bad = dict(good)
    del bad["weight_hh_l1"]
    with pytest.raises(InputError, match="missing"):
        inspect_state_dict(bad)
    bad = dict(good)
    bad["weight_hh_l0"] = np.zeros((6, 3))
    with pytest.raises(InputError, match="gate blocks"):
        inspect_state_dict(bad)
    bad = dict(good)
    bad["bias_hh_l0"] = np.full(9, np.nan)
    with pytest.raises(InputError, match="NaN"):
        inspect_state_dict(bad)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradient_flow_on_inputs_matches_autograd(tmp_path, cell):
    torch.manual_seed(2)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        2, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    path = tmp_path / "m.pt"
    torch.save(module.state_dict(), path)
    spec = load_model_file(path).modules[0]
    inputs = make_inputs("noise", 9, 2, scale=0.7, seed=4)
    flow = gradient_flow_on_inputs(spec, inputs)
    x = torch.from_numpy(inputs)[None]
    zeros = torch.zeros(4, 1, 4, dtype=torch.float64)
    expected = reference_norms(module, x, zeros, zeros if cell == "lstm" else None,
                               lambda out, h_n, c_n: h_n[-2:].sum())
    for (layer, d), ref in expected.items():
        got = 10.0 ** flow.series[f"{cell}/l{layer}" + ("/reverse" if d else "")]
        np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_input_sequences_from_files_without_pickle(tmp_path):
    seq = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.save(tmp_path / "x.npy", seq)
    assert np.array_equal(load_input_sequence(tmp_path / "x.npy", 2), seq)
    np.savetxt(tmp_path / "x.csv", seq, delimiter=",")
    assert np.array_equal(load_input_sequence(tmp_path / "x.csv", 2), seq)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError):
        load_input_sequence(tmp_path / "obj.npy", 2)
    with pytest.raises(InputError, match="not T x 3"):
        load_input_sequence(tmp_path / "x.npy", 3)
    (tmp_path / "bad.csv").write_text("1,2\nfoo,3\n")
    with pytest.raises(InputError, match="not a numeric sequence"):
        load_input_sequence(tmp_path / "bad.csv", 2)
    assert np.array_equal(make_inputs("zeros", 3, 2), np.zeros((3, 2)))
    with pytest.raises(InputError):
        make_inputs("noise", 0, 2)


def test_the_public_entry_point_is_the_monitor_with_its_defaults():
    """``gradsim.monitor(model)`` (the README's entry point) takes Monitor's own options and defaults."""
    import gradsim

    module = torch.nn.GRU(3, 4, dtype=torch.float64)
    with gradsim.monitor(module, warn=False) as public, Monitor(module, warn=False) as direct:
        assert type(public) is Monitor
        assert (public.budget, public.every) == (direct.budget, direct.every) == (core.DEFAULT_BUDGET, 1)


def test_importing_the_monitor_loads_no_torch():
    assert probe("monitor") is True  # gradsim.monitor is callable; in a fresh interpreter: tests/engine/fresh_imports.py


def test_zip_of_wrong_kind_gives_one_line(tmp_path):
    path = tmp_path / "x.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(InputError) as info:
        load_model_file(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_per_timestep_norms_survive_extreme_magnitudes(dtype):
    """Norms are taken fast in the tensor's precision and again, scaled, where squaring could have
    underflowed or overflowed; checked against ``math.hypot`` (exact scaling) on the same values."""
    import math

    tiny = 1e-30 if dtype == torch.float32 else 1e-200
    huge = 1e30 if dtype == torch.float32 else 1e200
    rows = [[3.0, 4.0], [tiny, 2 * tiny], [huge, huge], [0.0, 0.0], [1e-3, 1e-40 if dtype == torch.float64 else 0.0]]
    x = torch.tensor(rows, dtype=dtype)[:, :, None]  # T x B x H with H = 1
    got = core._log10_norms(x)
    values = x.to(torch.float64).reshape(len(rows), -1).tolist()
    expected = [math.log10(math.hypot(*r)) if any(r) else -math.inf for r in values]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    special = torch.tensor([[math.inf, 1.0], [math.nan, 1.0]], dtype=dtype)[:, :, None]
    got = core._log10_norms(special)
    assert got[0] == math.inf and math.isnan(got[1])


def test_default_budget_and_every_step_on_request():
    module = torch.nn.GRU(3, 4, dtype=torch.float64)
    with Monitor(module, warn=False) as default:
        assert default.budget == core.DEFAULT_BUDGET == 0.2
    import gradsim

    with gradsim.monitor(module, warn=False) as public:  # the entry point the README shows
        assert public.budget == 0.2
    with Monitor(module, warn=False, budget=None) as mon:
        for _ in range(4):
            module(torch.randn(5, 2, 3, dtype=torch.float64))[0].sum().backward()
    assert [r.step for r in mon.records] == [1, 2, 3, 4]
