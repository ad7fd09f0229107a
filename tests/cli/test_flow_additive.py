"""``gradsim flow --cell residual|attention`` and the input gradient of every cell, end to end in a
subprocess, against PyTorch float64 autograd. The sweeps over every cell and the refusals run the
command line in this process (``run_cli``: the LSTM and GRU would import torch in each process)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine import GeneratorSettings
from gradsim.engine.additive import MODELS, build_attention

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradsim", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def strict(text: str) -> dict:
    def refuse(token):
        raise AssertionError(f"non-strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def refused_with_one_line(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0]


def test_every_cell_reports_the_input_gradient(run_cli):
    for cell in MODELS:
        proc = run_cli("flow", "--cell", cell, "--hidden", "5", "--steps", "30", "--seed", "4")
        assert proc.returncode == 0, proc.stderr
        doc = strict(proc.stdout)
        assert doc["cell"] == cell and doc["t"] == list(range(1, 31)) and "kind" in doc["verdict"]
        assert len(doc["input_grad_norm"]) == 30 and len(doc["log10_input_grad_norm"]) == 30
        logs = np.array(doc["log10_input_grad_norm"], dtype=float)
        np.testing.assert_allclose(doc["input_grad_norm"], 10.0**logs, rtol=1e-12)


def test_residual_json_equals_autograd():
    torch = pytest.importorskip("torch")
    proc = run("flow", "--cell", "residual", "--residual-scale", "0.5", "--activation", "relu", "--hidden", "6",
               "--input", "3", "--steps", "40", "--seed", "9", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = strict(proc.stdout)
    assert doc["residual_scale"] == 0.5 and doc["activation"] == "relu"
    sc = GeneratorSettings(hidden=6, input=3, steps=40, seed=9, activation="relu").build()
    x = torch.tensor(sc.x, requires_grad=True)
    h = torch.zeros(6, dtype=torch.float64)
    states = []
    for t in range(40):
        h = h + 0.5 * torch.relu(torch.tensor(sc.W_hh) @ h + torch.tensor(sc.W_xh) @ x[t])
        h.retain_grad()
        states.append(h)
    h.sum().backward()
    np.testing.assert_allclose(doc["grad_norm"], [s.grad.norm().item() for s in states], rtol=1e-6)
    np.testing.assert_allclose(doc["input_grad_norm"], x.grad.norm(dim=1).numpy(), rtol=1e-6)


def test_attention_json_equals_multihead_attention():
    torch = pytest.importorskip("torch")
    proc = run("flow", "--cell", "attention", "--hidden", "8", "--input", "2", "--steps", "25", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    doc = strict(proc.stdout)
    net = build_attention(GeneratorSettings(hidden=8, input=2, steps=25, seed=3))
    mha = torch.nn.MultiheadAttention(8, 1, dtype=torch.float64)
    mha.load_state_dict(net.state_dict())
    x = torch.tensor(net.x, requires_grad=True)
    e = x @ torch.tensor(net.w_in).T + torch.tensor(net.positions)
    mask = torch.triu(torch.full((25, 25), float("-inf"), dtype=torch.float64), 1)
    out, weights = mha(e[:, None], e[:, None], e[:, None], attn_mask=mask)
    (e + out[:, 0])[-1].sum().backward()
    np.testing.assert_allclose(doc["input_grad_norm"], x.grad.norm(dim=1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(doc["attention_last"][0], weights[0, -1].detach().numpy(), rtol=1e-9)
    assert doc["heads"] == 1 and doc["spectral_radius"] is None and doc["log10_bound"] == [None] * 25


def test_csv_has_the_input_columns(run_cli):
    proc = run_cli("flow", "--cell", "gru", "--hidden", "4", "--steps", "6", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 6 and {"input_grad_norm", "log10_input_grad_norm"} <= set(rows[0])
    assert float(rows[0]["input_grad_norm"]) == pytest.approx(10 ** float(rows[0]["log10_input_grad_norm"]))


def test_scenario_files_take_the_new_cells(tmp_path, run_cli):  # the cells run in a process above
    for cell, extra in (("residual", {"residual_scale": 0.25, "activation": "sigmoid"}), ("attention", {})):
        path = tmp_path / f"{cell}.gradsim.json"
        path.write_text(json.dumps({"format": "gradsim.scenario/1", "cell": cell, "hidden": 5, "steps": 20,
                                    "seed": 2, **extra}))
        from_file = run_cli("flow", "--scenario", str(path))
        assert from_file.returncode == 0, from_file.stderr
        args = ["--residual-scale", "0.25", "--activation", "sigmoid"] if cell == "residual" else []
        from_args = run_cli("flow", "--cell", cell, "--hidden", "5", "--steps", "20", "--seed", "2", *args)
        assert strict(from_file.stdout) == strict(from_args.stdout)


def test_refusals_are_one_line(tmp_path, run_cli):
    refused_with_one_line(run_cli("flow", "--cell", "residual", "--residual-scale", "11"), "--residual-scale")
    refused_with_one_line(run_cli("flow", "--cell", "attention", "--activation", "relu"), "attention")
    refused_with_one_line(run_cli("flow", "--cell", "transformer"), "--cell")
    path = tmp_path / "bad.gradsim.json"
    path.write_text(json.dumps({"format": "gradsim.scenario/1", "cell": "residual", "W_hh": [[0.5]], "W_xh": [[1.0]],
                                "x": [[0.1], [0.2]]}))
    refused_with_one_line(run_cli("flow", "--scenario", str(path)), str(path), "generated form")
    path.write_text(json.dumps({"format": "gradsim.scenario/1", "cell": "residual", "residual_scale": -1}))
    refused_with_one_line(run_cli("flow", "--scenario", str(path)), str(path), "residual_scale")
