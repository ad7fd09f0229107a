"""The command line end to end, in a subprocess, as a user or a script would call it.

The refusal sweeps (every bad scenario file, every bad argument) run in this process by default
(``run_cli``: same exit status and output, no interpreter to start) and each case again in a
process of its own with the slow tests; one case of each runs in a process by default too."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ..engine.fresh_imports import probe

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "bad_scenarios"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradsim", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_flow_json_from_scenario_equals_torch(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(42)
    n, m, steps = 5, 2, 30
    doc = {"format": "gradsim.scenario/1", "cell": "rnn", "activation": "tanh",
           "W_hh": (rng.standard_normal((n, n)) * 0.4).tolist(), "W_xh": rng.standard_normal((n, m)).tolist(),
           "b_h": (rng.standard_normal(n) * 0.1).tolist(), "x": rng.standard_normal((steps, m)).tolist()}
    path = tmp_path / "unseen.gradsim.json"
    path.write_text(json.dumps(doc))
    proc = run("flow", "--scenario", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    w, u, b, x = (torch.tensor(doc[k], dtype=torch.float64) for k in ("W_hh", "W_xh", "b_h", "x"))
    h = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    states = []
    for t in range(steps):
        h = torch.tanh(w @ h + u @ x[t] + b)
        h.retain_grad()
        states.append(h)
    h.sum().backward()
    ref = np.array([s.grad.norm().item() for s in states])
    assert out["t"] == list(range(1, steps + 1))
    np.testing.assert_allclose(out["grad_norm"], ref, rtol=1e-6)
    np.testing.assert_allclose(out["log10_grad_norm"], np.log10(ref), rtol=1e-9)


def test_flow_csv_and_generator_options(run_cli):  # flow runs in a process above
    proc = run_cli("flow", "--hidden", "8", "--steps", "15", "--activation", "sigmoid", "--scale", "1.0", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 15 and rows[0]["t"] == "1"
    assert float(rows[-1]["grad_norm"]) == pytest.approx(np.sqrt(8))


def test_flow_json_underflow_gives_zero_and_exact_log(run_cli):
    proc = run_cli("flow", "--hidden", "4", "--steps", "2000", "--activation", "sigmoid")
    out = json.loads(proc.stdout)
    assert out["grad_norm"][0] == 0.0
    assert out["log10_grad_norm"][0] < -400


def test_scalar_json_matches_seed():
    proc = run("scalar", "--w", "0.5", "--steps", "10")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["t"] == list(range(1, 11))
    assert out["cumprod"][9] == pytest.approx(9.733e-4, rel=1e-3)
    assert out["local"][0] == pytest.approx(0.5 * (1 - out["h"][0] ** 2))


def test_scalar_csv(run_cli):  # scalar runs in a process above
    proc = run_cli("scalar", "--w", "1.5", "--steps", "3", "--format", "csv")
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "t,h,local,cumprod" and len(lines) == 4


def test_spectrum_json():
    proc = run("spectrum", "--hidden", "6", "--scale", "1.2", "--init", "orthogonal", "--activation", "identity")
    out = json.loads(proc.stdout)
    assert out["spectral_radius"] == pytest.approx(1.2)
    # sigma_max * gamma = 1.2 >= 1: the theorem guarantees nothing and never promises an explosion,
    # while the measured verdict beside it is exploding
    assert out["prediction"] == "no guarantee" and out["verdict"] == "exploding"
    assert out["sigma_max_times_gamma"] == pytest.approx(1.2) and out["long_run_rate_per_step"] == pytest.approx(1.2)
    assert out["log10_measured_first_to_last"] <= out["log10_bound_first_to_last"] + 1e-9


BAD_NAMES = sorted(p.name for p in BAD.glob("*.gradsim.json"))
BAD_ARGUMENTS = [
    ["flow", "--steps", "0"],
    ["flow", "--steps", "abc"],
    ["flow", "--scale", "nan"],
    ["flow", "--activation", "softplus"],
    ["flow", "--vanish", "10", "--explode", "1"],
    ["scalar", "--steps", "5"],
    ["scalar", "--w", "inf", "--steps", "5"],
    ["nonsense-verb"],
    ["gui", "--scene", "nope"],
]


def _one_in_a_process_by_default(cases, representative):
    """Each case as a parameter; all but ``representative`` only with the slow tests."""
    return [pytest.param(c, marks=() if c == representative else pytest.mark.slow) for c in cases]


def assert_bad_scenario_refused(proc, name):
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert name in lines[0] and "Traceback" not in proc.stderr


def assert_bad_arguments_refused(proc):
    assert proc.returncode == 2, proc.stdout
    assert "Traceback" not in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("usage")]) == 1


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_scenarios_exit_2_one_line(name, run_cli):
    assert_bad_scenario_refused(run_cli("flow", "--scenario", str(BAD / name)), name)


@pytest.mark.parametrize("name", _one_in_a_process_by_default(BAD_NAMES, "pickle_payload.gradsim.json"))
def test_bad_scenarios_exit_2_one_line_in_a_process(name):
    assert_bad_scenario_refused(run("flow", "--scenario", str(BAD / name)), name)


@pytest.mark.parametrize("args", BAD_ARGUMENTS)
def test_bad_arguments_exit_2_one_line(args, run_cli):
    assert_bad_arguments_refused(run_cli(*args))


@pytest.mark.parametrize("args", _one_in_a_process_by_default(BAD_ARGUMENTS, ["flow", "--scale", "nan"]))
def test_bad_arguments_exit_2_one_line_in_a_process(args):
    assert_bad_arguments_refused(run(*args))


def test_import_hygiene():
    """gradsim, gradsim.engine and gradsim.cli load neither torch nor Qt (in a fresh interpreter:
    tests/engine/fresh_imports.py)."""
    probe("command line")


def test_flow_lstm_and_gru(run_cli):  # in this process: a process of its own would import torch again
    proc = run_cli("flow", "--cell", "lstm", "--forget-bias", "3", "--steps", "200")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cell"] == "lstm" and doc["grad_norm"][0] > 1e-6 and len(doc["log10_cell_grad_norm"]) == 200
    bad = run_cli("flow", "--cell", "gru", "--activation", "relu")
    assert bad.returncode == 2 and "activation" in bad.stderr and "Traceback" not in bad.stderr


def test_spectrum_sweep_option(run_cli):  # spectrum runs in a process above
    proc = run_cli("spectrum", "--hidden", "16", "--steps", "30", "--init", "orthogonal", "--sweep")
    assert proc.returncode == 0, proc.stderr
    sweep = json.loads(proc.stdout)["sweep"]
    assert len(sweep["spectral_norms"]) == 20 and len(sweep["log10_grad_norm_h1"]) == 20


def test_train_needs_no_task_setting_and_prints_strict_json(run_cli):
    """``--cell`` alone runs the demo's task (here cut to 2 steps); JSON holds the contract's fields."""
    proc = run("train", "--cell", "rnn", "--steps", "2", "--eval-size", "32")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    for key in ("accuracy", "chance", "loss", "steps", "seconds", "learned", "accuracy_above_chance",
                "last_batch_gradient"):
        assert key in doc
    assert doc["steps"] == 2 and doc["settings"]["delay"] == doc["delay"]
    missing = run_cli("train")  # bad arguments are refused in a process: test_bad_arguments_..._in_a_process
    assert missing.returncode == 2 and "--cell" in missing.stderr and "Traceback" not in missing.stderr
