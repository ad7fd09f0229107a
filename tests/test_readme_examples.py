"""The README's Python API example runs as written and says what the engine computes.

The code block under "## Python API" is executed with "my.gradsim.json" pointing at the shipped
example scenario (the seeds' PyTorch example); its three lines' comments are then checked against an
independent float64 autograd of the same network."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "gradsim" / "resources" / "presets" / "pytorch_example.gradsim.json"


def _api_block() -> str:
    section = README.split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README: the Python API section has no python block"
    return match.group(1)


def test_python_api_example_runs_and_is_true():
    import torch

    code = _api_block()
    assert '"my.gradsim.json"' in code
    namespace: dict = {}
    exec(compile(code.replace('"my.gradsim.json"', repr(str(EXAMPLE))), "README.md", "exec"), namespace)  # noqa: S102
    result = namespace["result"]

    scenario = namespace["load_scenario"](EXAMPLE)
    w_hh, w_xh = (torch.tensor(np.asarray(m, dtype=np.float64)) for m in (scenario.W_hh, scenario.W_xh))
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "identity": lambda z: z}[scenario.activation]
    h = torch.tensor(np.asarray(scenario.h0, dtype=np.float64), requires_grad=True)
    b = torch.tensor(np.asarray(scenario.b_h, dtype=np.float64))
    states = []
    for x in torch.tensor(np.asarray(scenario.x, dtype=np.float64)):
        h = act(w_hh @ h + w_xh @ x + b)
        h.retain_grad()
        states.append(h)
    states[-1].sum().backward()
    reference = np.array([float(s.grad.norm()) for s in states])
    np.testing.assert_allclose(result.grad_norm, reference, rtol=1e-10)
    np.testing.assert_allclose(result.log10_grad_norm, np.log10(reference), atol=1e-10)
    assert result.verdict.kind in ("healthy", "vanishing", "exploding")


@pytest.mark.slow  # a fresh process importing torch and training: several seconds
def test_the_monitor_example_script_runs_and_its_log_opens(tmp_path):
    """``examples/train_with_monitor.py``, which the README points practitioners to, trains with the
    monitor on and writes a run log the app's reader opens, one record per training step (budget 0:
    every step)."""
    import subprocess
    import sys

    from gradsim.monitor.runlog import read_run_log

    log = tmp_path / "run.gradsim-log.jsonl"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train_with_monitor.py"), "--log", str(log),
                           "--cell", "gru", "--length", "12", "--hidden", "4", "--layers", "1", "--steps", "6",
                           "--budget", "0"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "6 steps recorded" in proc.stdout
    run = read_run_log(log)
    assert len(run.records) == 6 and [r.step for r in run.records] == [1, 2, 3, 4, 5, 6]
    for record in run.records:
        (series,) = record.layers.values()
        assert len(series) == 12 and np.all(np.isfinite(series))
