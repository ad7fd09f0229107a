"""The training lab engine: settings, models, per-timestep gradient capture, the generator's
pause/resume/reset semantics, non-finite stops, save/load, the sweep and the CLI function."""

import argparse
import copy
import json
import math

import numpy as np
import pytest
import torch

from gradsim.cli.train import add_train_arguments, cli_train, format_train_result
from gradsim.engine import tasks
from gradsim.engine.errors import InputError
from gradsim.engine.training import (
    RUN_FORMAT,
    RecurrentModel,
    TrainRun,
    TrainSettings,
    backward_capturing,
    load_run,
    make_batch,
    run_delay_sweep,
    run_to_end,
    save_run,
    task_loss,
    train,
    train_side_by_side,
)

SMALL = {"hidden": 12, "embedding": 5, "batch": 8, "eval_size": 32, "delay": 6}


def small(**kw) -> TrainSettings:
    return TrainSettings(**{**SMALL, **kw}).validate()


# ---------------------------------------------------------------------------------------------
# settings


def test_settings_json_round_trip():
    s = small(cell="gru", lr=0.01, clip=False, stop_accuracy=0.9, seed=11)
    again = TrainSettings.from_json(s.to_json())
    assert again == s
    assert json.loads(s.to_json())["format"] == "gradsim.train/1"


@pytest.mark.parametrize(
    "field,value",
    [
        ("cell", "mamba"),
        ("task", "parity"),
        ("activation", "softplus"),
        ("init", "xavier"),
        ("hidden", 0),
        ("hidden", 2.5),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("batch", -3),
        ("delay", -1),
        ("steps", True),
        ("clip_threshold", 0.0),
        ("scale", float("inf")),
        ("categories", 1),
        ("clip", "yes"),
        ("stop_accuracy", 1.5),
    ],
)
def test_bad_settings_raise_input_error(field, value):
    with pytest.raises(InputError) as err:
        TrainSettings(**{field: value}).validate()
    assert "\n" not in str(err.value)


def test_settings_json_refusals():
    with pytest.raises(InputError, match="unknown training setting"):
        TrainSettings.from_dict({"hidden": 4, "dropout": 0.5})
    with pytest.raises(InputError, match="NaN"):
        TrainSettings.from_json('{"lr": NaN}')
    with pytest.raises(InputError, match="not valid JSON"):
        TrainSettings.from_json("{hidden: 3")
    with pytest.raises(InputError, match="format"):
        TrainSettings.from_dict({"format": "gradsim.train/9"})
    with pytest.raises(InputError, match="adding"):
        TrainSettings(task="adding", delay=1).validate()


# ---------------------------------------------------------------------------------------------
# the model equals PyTorch's own layers


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_model_matches_torch_nn_layers(cell):
    s = small(cell=cell, forget_bias=2.0)
    model = RecurrentModel(s, np.random.default_rng(0), dtype=torch.float64)
    batch = make_batch(s, np.random.default_rng(1), 5)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        s.embedding, s.hidden, batch_first=True, dtype=torch.float64
    )
    st = model.state_dict()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, f"{name}_l0").copy_(st[name])
        x = torch.nn.functional.embedding(torch.from_numpy(batch.inputs), st["embedding"])
        hs, _ = layer(x)
        expected = hs[:, batch.readout] @ st["head_weight"].T + st["head_bias"]
        ours, _ = model.forward(torch.from_numpy(batch.inputs), batch.readout)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        h = s.hidden
        assert torch.all(st["bias_ih"][h : 2 * h] + st["bias_hh"][h : 2 * h] == 2.0)


def test_vanilla_initialiser_and_scale_reach_w_hh():
    s = small(cell="rnn", init="gaussian", scale=0.7)
    w = RecurrentModel(s, np.random.default_rng(0)).recurrent_matrix()
    assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(0.7, rel=1e-5)
    s = small(cell="rnn", init="identity", scale=1.0)
    np.testing.assert_array_equal(RecurrentModel(s, np.random.default_rng(0)).recurrent_matrix(), np.eye(12))


# ---------------------------------------------------------------------------------------------
# per-timestep gradient capture equals autograd with retain_grad


_CELLS = {"lstm": torch.lstm_cell, "gru": torch.gru_cell}


def reference_step(s: TrainSettings, state: dict, batch: tasks.TaskBatch, dtype):
    """An independent forward/backward with ATen's own cell functions and retain_grad on every h_t."""
    leaves = {k: v.detach().to(dtype).clone().requires_grad_(True) for k, v in state.items()}
    if s.task == "copy":
        x = torch.nn.functional.embedding(torch.from_numpy(batch.inputs), leaves["embedding"])
    else:
        x = torch.from_numpy(batch.inputs).to(dtype)
    w = (leaves["weight_ih"], leaves["weight_hh"], leaves["bias_ih"], leaves["bias_hh"])
    h = torch.zeros(x.shape[0], s.hidden, dtype=dtype)
    c = torch.zeros_like(h)
    hs = []
    for t in range(x.shape[1]):
        if s.cell == "lstm":
            h, c = torch.lstm_cell(x[:, t], (h, c), *w)
        elif s.cell == "gru":
            h = torch.gru_cell(x[:, t], h, *w)
        elif s.activation == "tanh":
            h = torch.rnn_tanh_cell(x[:, t], h, *w)
        elif s.activation == "relu":
            h = torch.rnn_relu_cell(x[:, t], h, *w)
        else:
            z = x[:, t] @ w[0].T + w[2] + h @ w[1].T + w[3]
            h = torch.sigmoid(z) if s.activation == "sigmoid" else z
        h.retain_grad()
        hs.append(h)
    out = torch.stack([hs[t] for t in batch.readout], 1) @ leaves["head_weight"].T + leaves["head_bias"]
    targets = torch.from_numpy(batch.targets)
    if s.task == "copy":
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), targets.reshape(-1))
    else:
        loss = ((out[..., 0] - targets.to(dtype)) ** 2).mean()
    loss.backward()
    norms = np.array([float(hh.grad.norm()) for hh in hs])
    total = math.sqrt(sum(float(v.grad.double().pow(2).sum()) for v in leaves.values()))
    return norms, total, float(loss.detach())


@pytest.mark.parametrize(
    "kw",
    [
        {"cell": "rnn", "activation": "tanh", "init": "orthogonal", "scale": 0.8},
        {"cell": "rnn", "activation": "relu"},
        {"cell": "rnn", "activation": "sigmoid", "init": "gaussian", "scale": 2.0},
        {"cell": "rnn", "activation": "identity", "init": "orthogonal", "scale": 0.9},
        {"cell": "lstm", "symbols": 2},
        {"cell": "gru", "symbols": 3, "categories": 4},
        {"cell": "lstm", "task": "adding", "delay": 9},
    ],
)
def test_capture_equals_retain_grad_autograd_float64(kw):
    s = small(**kw)
    model = RecurrentModel(s, np.random.default_rng(5), dtype=torch.float64)
    batch = make_batch(s, np.random.default_rng(6), 7)
    inputs, targets = torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)
    out, states = model.forward(inputs, batch.readout, capture=True)
    loss = task_loss(s, out, targets.to(torch.float64) if s.task == "adding" else targets)
    ours = backward_capturing(loss, model.parameters(), states)
    expected, total, _ = reference_step(s, model.state_dict(), batch, torch.float64)
    assert len(ours) == batch.length
    np.testing.assert_allclose(ours, expected, rtol=1e-10)
    grads = [p.grad for p in model.parameters()]
    assert math.sqrt(sum(float(g.pow(2).sum()) for g in grads)) == pytest.approx(total, rel=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_training_step_snapshot_against_autograd(cell):
    """The production step (float32): its heatmap column, gradient norms and eigenvalues."""
    s = small(cell=cell, delay=10, symbols=2, clip_threshold=0.05)
    run = TrainRun(s)
    state = run.model.state_dict()
    batch = make_batch(s, copy.deepcopy(run.train_rng), s.batch)
    snap = run.step()
    expected, total, loss = reference_step(s, state, batch, torch.float64)
    np.testing.assert_allclose(10.0**snap.log10_grad_h, expected, rtol=2e-4)
    assert snap.loss == pytest.approx(loss, rel=1e-5)
    assert snap.grad_norm_before == pytest.approx(total, rel=1e-4)
    assert snap.grad_norm_after == pytest.approx(min(total, 0.05), rel=1e-4)
    if cell == "rnn":
        w = run.model.params["weight_hh"].detach().double()
        ev = torch.linalg.eigvals(w).numpy()
        np.testing.assert_allclose(np.sort_complex(snap.eigenvalues), np.sort_complex(ev), atol=1e-9)
        assert len(run.curves.eigenvalues) == 1
    else:
        assert snap.eigenvalues is None
    assert snap.step == 1 and snap.accuracy is not None and snap.chance == 1 / 8


def test_no_clipping_leaves_the_gradient_alone():
    run = TrainRun(small(clip=False))
    snap = run.step()
    assert snap.grad_norm_after == snap.grad_norm_before


# ---------------------------------------------------------------------------------------------
# generator semantics: pause, resume, single step, reset


def _losses(gen, n):
    return [next(gen).loss for _ in range(n)]


def test_reset_replays_the_same_run():
    s = small(cell="lstm")
    assert _losses(train(s), 6) == _losses(train(s), 6)
    other = small(cell="lstm", seed=s.seed + 1)
    assert _losses(train(other), 3) != _losses(train(s), 3)


def test_pause_and_resume_do_not_change_the_run():
    s = small(cell="rnn")
    straight = _losses(train(s), 8)
    paused = train(s)
    first = _losses(paused, 3)
    # while this run is paused, other runs train (they share no random state with it)
    _losses(train(small(cell="rnn", seed=99)), 4)
    torch.manual_seed(1234)
    np.random.seed(4321)
    rest = _losses(paused, 5)
    assert first + rest == straight


def test_generator_ends_after_steps_and_can_be_closed():
    s = small(steps=7, eval_every=3)
    snaps = list(train(s))
    assert [sn.step for sn in snaps] == list(range(1, 8))
    assert [sn.step for sn in snaps if sn.accuracy is not None] == [1, 3, 6, 7]
    assert snaps[-1].finished and not snaps[-2].finished
    with pytest.raises(InputError, match="finished"):
        snaps[-1].run.step()
    gen = train(s)
    next(gen)
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)


def test_side_by_side_advances_runs_in_lock_step():
    a, b = small(cell="rnn", steps=4), small(cell="lstm", steps=2)
    rows = list(train_side_by_side([a, b]))
    assert len(rows) == 4
    assert [r[1] is None for r in rows] == [False, False, True, True]
    assert [r[0].loss for r in rows] == _losses(train(a), 4)


def test_stop_accuracy_ends_the_run_early():
    s = small(cell="lstm", delay=1, steps=400, eval_every=5, stop_accuracy=0.3, lr=0.02)
    snaps = list(train(s))
    assert snaps[-1].stopped and snaps[-1].accuracy >= 0.3
    assert "target held-out accuracy" in snaps[-1].stop_reason
    assert len(snaps) < 400


# ---------------------------------------------------------------------------------------------
# vanishing / exploding alerts and the non-finite stop


def test_vanishing_alert_for_a_contracting_rnn():
    s = small(cell="rnn", delay=40, init="orthogonal", scale=0.5)
    snap = next(train(s))
    relative = snap.log10_grad_h - snap.log10_grad_h[-1]
    assert relative[0] < -6  # 0.5 ** 40 is about 1e-12
    assert snap.verdict.kind == "vanishing"
    assert snap.verdict.first_t == int(np.nonzero(relative < -6)[0].max()) + 1
    assert any(a.startswith("vanishing gradient") for a in snap.alerts)


def test_exploding_alert_and_clipping_for_a_linear_rnn():
    s = small(cell="rnn", delay=25, activation="identity", init="orthogonal", scale=1.5, clip_threshold=1.0)
    snap = next(train(s))
    assert math.isfinite(snap.loss)
    assert snap.verdict.kind == "exploding"
    assert snap.grad_norm_before > 1e3
    assert snap.grad_norm_after == pytest.approx(1.0, rel=1e-4)
    assert any("exploding" in a for a in snap.alerts)


def test_nan_loss_stops_the_run_with_an_explanation():
    s = small(cell="rnn", delay=60, activation="identity", init="identity", scale=20.0, steps=50)
    before = TrainRun(s).model.state_dict()
    snaps = list(train(s))
    assert len(snaps) == 1
    last = snaps[-1]
    assert last.stopped and last.finished and not math.isfinite(last.loss)
    assert last.stop_reason.startswith("training stopped: the loss became")
    assert "overflowed" in last.stop_reason and "\n" not in last.stop_reason
    assert last.verdict.kind == "exploding"
    assert any(a.startswith("stopped:") for a in last.alerts)
    # the failed step did not touch the weights
    for name, value in last.run.model.state_dict().items():
        torch.testing.assert_close(value, before[name])


def test_absurd_learning_rate_stops_cleanly():
    s = small(cell="rnn", activation="relu", optimizer="sgd", lr=1e6, clip=False, steps=200)
    snaps = list(train(s))
    assert snaps[-1].stopped and len(snaps) < 200
    assert "training stopped" in snaps[-1].stop_reason


# ---------------------------------------------------------------------------------------------
# save and load


def test_save_load_round_trip_and_resume(tmp_path):
    s = small(cell="rnn", steps=20, eval_every=4)
    gen = train(s)
    for _ in range(9):
        snap = next(gen)
    run = snap.run
    path = tmp_path / "run.pt"
    save_run(path, run)
    loaded = load_run(path)
    assert loaded.settings == run.settings and loaded.step_count == 9
    for name, value in run.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], value, rtol=0, atol=0)
    for name in ("step", "loss", "grad_norm_before", "grad_norm_after", "eval_step", "accuracy", "eval_loss"):
        assert getattr(loaded.curves, name) == getattr(run.curves, name)
    np.testing.assert_array_equal(loaded.curves.heatmap(), run.curves.heatmap())
    np.testing.assert_array_equal(np.array(loaded.curves.eigenvalues), np.array(run.curves.eigenvalues))
    # continuing the loaded run is the same as continuing the original
    assert [sn.loss for sn in train(loaded)] == [sn.loss for sn in gen]


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"format": RUN_FORMAT, "settings": "{}", "x": Payload()}, str(path))
    with pytest.raises(InputError) as err:
        load_run(path)
    message = str(err.value)
    assert "refused" in message and str(path) in message and "\n" not in message
    assert not marker.exists()


def test_other_bad_run_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_run(tmp_path / "missing.pt")
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a saved gradsim run"):
        load_run(text)
    other = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, str(other))
    with pytest.raises(InputError, match="not a saved gradsim run"):
        load_run(other)


# ---------------------------------------------------------------------------------------------
# sweep, CLI, outcome


def test_delay_sweep_points_equal_individual_runs():
    base = small(steps=15, eval_every=5)
    points = run_delay_sweep(base, [1, 3], ["rnn", "gru"], stop_accuracy=None, progress_every=5)
    assert [(p.cell, p.delay) for p in points] == [("rnn", 1), ("rnn", 3), ("gru", 1), ("gru", 3)]
    single = run_to_end(TrainSettings(**{**SMALL, "steps": 15, "eval_every": 5, "cell": "gru", "delay": 3}))
    assert points[3].accuracy == single.accuracy
    assert all(p.chance == 1 / 8 and p.steps == 15 for p in points)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="gradsim train")
    add_train_arguments(parser)
    return parser.parse_args(argv)


def test_cli_train_result(tmp_path):
    args = _parse(
        [
            "--cell",
            "gru",
            "--delay",
            "3",
            "--steps",
            "5",
            "--hidden",
            "8",
            "--batch",
            "4",
            "--clip",
            "off",
            "--save",
            str(tmp_path / "r.pt"),
            "--format",
            "json",
        ]
    )
    result = cli_train(args)
    json.dumps(result)
    assert result["steps"] == 5 and result["chance"] == 0.125 and result["clip"] is None
    assert 0.0 <= result["accuracy"] <= 1.0 and result["loss"] > 0 and result["seconds"] >= 0
    assert load_run(tmp_path / "r.pt").step_count == 5
    assert "held-out accuracy" in format_train_result(result)


def test_cli_bad_arguments():
    with pytest.raises(SystemExit) as exit_info:
        _parse(["--cell", "rnn", "--delay", "-2"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        _parse(["--cell", "rnn", "--delay", "3", "--lr", "nan"])
    with pytest.raises(InputError, match="delay"):
        cli_train(_parse(["--cell", "rnn", "--delay", "5000"]))


def test_lstm_learns_copy_at_a_short_delay():
    s = TrainSettings(cell="lstm", delay=5, hidden=32, embedding=8, steps=150, eval_every=50, lr=0.01, seed=0)
    last = run_to_end(s)
    assert last.accuracy >= 0.95 > last.chance


# ---------------------------------------------------------------------------------------------
# the optimiser: torch.optim's arithmetic and state dict, without its classes


class _TorchOptim:
    """torch.optim.Adam/SGD behind the engine's optimiser interface (the reference)."""

    def __init__(self, kind, params, lr):
        self.torch = (torch.optim.Adam if kind == "adam" else torch.optim.SGD)(params, lr=lr)

    def zero_grad(self):
        self.torch.zero_grad(set_to_none=True)

    def step(self):
        self.torch.step()

    def state_dict(self):
        return self.torch.state_dict()


def _same_state_dicts(a: dict, b: dict) -> bool:
    return (a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys()
            and all(a["state"][i].keys() == b["state"][i].keys() and all(
                torch.equal(a["state"][i][k], b["state"][i][k]) for k in a["state"][i]) for i in a["state"]))


@pytest.mark.parametrize(("cell", "kind", "clip"), [("lstm", "adam", True), ("rnn", "adam", False), ("gru", "sgd", True)])
def test_optimiser_is_torch_optim_bit_for_bit(cell, kind, clip):
    """The engine's Optimiser steps a run exactly as torch.optim.Adam/SGD would (every weight equal
    to the last bit after 25 steps), with the same state dict; each loads the other's state dict
    (runs saved before the engine had its own optimiser held torch.optim's), and training goes on
    equal."""
    settings = small(cell=cell, optimizer=kind, clip=clip, lr=0.02, steps=60, stop_accuracy=None,
                     seed=int(np.random.default_rng().integers(1000)))
    ours, ref = TrainRun(settings), TrainRun(settings)
    ref.optimizer = _TorchOptim(kind, list(ref.model.parameters()), settings.lr)
    for _ in range(25):
        ours._step()
        ref._step()
    assert all(torch.equal(a, b) for a, b in zip(ours.model.parameters(), ref.model.parameters(), strict=True))
    assert _same_state_dicts(ours.optimizer.state_dict(), ref.optimizer.state_dict())
    # each takes the other's state dict, then both train on equal
    again = TrainRun(settings)
    again.model.load_state_dict(ref.model.state_dict())
    again.optimizer.load_state_dict(copy.deepcopy(ref.optimizer.state_dict()))
    ref.optimizer.torch.load_state_dict(copy.deepcopy(ours.optimizer.state_dict()))  # as saved: copies
    again.train_rng, ref.train_rng = copy.deepcopy(ours.train_rng), copy.deepcopy(ours.train_rng)
    for run in (ours, again, ref):
        for _ in range(5):
            run._step()
    for run in (again, ref):
        assert all(torch.equal(a, b) for a, b in zip(ours.model.parameters(), run.model.parameters(), strict=True))


@pytest.mark.parametrize("damage", ["two groups", "params", "not adam", "not a tensor"])
def test_optimiser_refuses_a_state_dict_not_its_own(damage):
    run = TrainRun(small(steps=5))
    run._step()
    sd = copy.deepcopy(run.optimizer.state_dict())
    if damage == "two groups":
        sd["param_groups"].append(dict(sd["param_groups"][0]))
    elif damage == "params":
        sd["param_groups"][0]["params"] = sd["param_groups"][0]["params"][:-1]
    elif damage == "not adam":
        sd["state"][0]["momentum_buffer"] = sd["state"][0].pop("exp_avg")
    else:
        sd["state"][0]["exp_avg"] = [0.0]
    before = copy.deepcopy(run.optimizer.state_dict())
    with pytest.raises(ValueError):
        run.optimizer.load_state_dict(sd)
    assert _same_state_dicts(run.optimizer.state_dict(), before)  # nothing half-loaded


@pytest.mark.slow  # a fresh interpreter importing torch
def test_training_leaves_torch_dynamo_unimported():
    """torch.optim's classes import torch._dynamo (1.7 s CPU) on first use; the engine's training
    does not need it."""
    import subprocess
    import sys

    code = ("import sys; from gradsim.engine.training import TrainSettings, train; "
            "train(TrainSettings(cell='lstm', delay=3, hidden=8, embedding=4, batch=8, steps=3, eval_every=1, "
            "eval_size=8, seed=1)); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "False", out.stderr
