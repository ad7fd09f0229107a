"""One set of defaults for the command line and the app, and `gradsim flow --save-scenario`.

`--save-scenario` writes its file in a process of its own once, and refuses a path it cannot write
to in one (a refusal class); the other checks run the command line in this process (``run_cli``:
the same exit status, output and files; `gradsim flow` runs end to end in tests/cli/test_cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from gradsim.cli import build_parser
from gradsim.engine.scenario import GeneratorSettings, load_scenario

ROOT = Path(__file__).resolve().parents[2]
APP_START = {"hidden": 32, "input": 4, "steps": 100, "scale": 0.9, "input_scale": 0.5, "seed": 0, "forget_bias": 3.0}


def gradsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradsim", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_generator_defaults_are_what_the_app_starts_from():
    defaults = asdict(GeneratorSettings())
    assert {k: defaults[k] for k in APP_START} == APP_START
    assert (defaults["activation"], defaults["init"], defaults["cell"]) == ("tanh", "gaussian", "rnn")


@pytest.mark.parametrize("verb", ["flow", "spectrum"])
def test_cli_generator_options_default_to_generator_settings(verb):
    args = build_parser().parse_args([verb])
    for key, value in asdict(GeneratorSettings()).items():
        if key != "loss":
            assert getattr(args, key) == value, key


def test_train_and_flow_share_the_forget_bias():
    parser = build_parser()
    train = parser.parse_args(["train", "--cell", "lstm", "--delay", "40"])
    assert train.forget_bias == parser.parse_args(["flow"]).forget_bias == 3.0


def test_flow_scene_starts_from_the_same_settings():
    from gradsim.states.flow import DEFAULTS

    assert GeneratorSettings() == DEFAULTS


def test_flow_without_options_is_the_default_scenario(run_cli):
    """What `gradsim flow` prints is the gradient flow of GeneratorSettings() (the engine's result)."""
    from gradsim.engine.flow import gradient_flow

    proc = run_cli("flow")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    expected = gradient_flow(GeneratorSettings().build())
    assert out["t"] == list(range(1, 101))
    np.testing.assert_allclose(out["log10_grad_norm"], expected.log10_grad_norm, rtol=1e-12)


def test_save_scenario_writes_the_generated_form_that_reopens_to_the_same_numbers(tmp_path, run_cli):
    path = tmp_path / "mine.gradsim.json"
    options = ["--activation", "sigmoid", "--steps", "60", "--hidden", "12", "--scale", "1.3", "--seed", "7"]
    first = gradsim("flow", *options, "--save-scenario", str(path))
    assert first.returncode == 0, first.stderr
    doc = json.loads(path.read_text())
    assert doc["format"] == "gradsim.scenario/1" and "W_hh" not in doc
    assert (doc["activation"], doc["steps"], doc["hidden"], doc["scale"], doc["seed"]) == ("sigmoid", 60, 12, 1.3, 7)
    assert doc["input_scale"] == 0.5  # the defaults are written out too, so the file does not depend on them
    again = run_cli("flow", "--scenario", str(path))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert load_scenario(path).generator == GeneratorSettings(hidden=12, steps=60, activation="sigmoid", scale=1.3,
                                                              seed=7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.gradsim.json"]  # no temporary file left


def test_save_scenario_keeps_an_explicit_scenario_explicit(tmp_path, run_cli):
    rng = np.random.default_rng(5)
    src = tmp_path / "explicit.gradsim.json"
    src.write_text(json.dumps({"format": "gradsim.scenario/1", "activation": "tanh",
                               "W_hh": (0.5 * rng.standard_normal((3, 3))).tolist(),
                               "W_xh": rng.standard_normal((3, 2)).tolist(), "x": rng.standard_normal((9, 2)).tolist()}))
    copy = tmp_path / "copy.gradsim.json"
    proc = run_cli("flow", "--scenario", str(src), "--save-scenario", str(copy))
    assert proc.returncode == 0, proc.stderr
    a, b = load_scenario(src), load_scenario(copy)
    for key in ("W_hh", "W_xh", "b_h", "h0", "x"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert json.loads(run_cli("flow", "--scenario", str(copy)).stdout) == json.loads(proc.stdout)


def test_save_scenario_replaces_an_existing_file_whole(tmp_path, run_cli):
    path = tmp_path / "s.gradsim.json"
    path.write_text("x" * 100_000)
    proc = run_cli("flow", "--steps", "5", "--save-scenario", str(path))
    assert proc.returncode == 0, proc.stderr
    assert load_scenario(path).steps == 5


def test_save_scenario_where_it_cannot_write_is_one_line_exit_2(tmp_path):
    target = tmp_path / "no-such-folder" / "s.gradsim.json"
    proc = gradsim("flow", "--save-scenario", str(target))
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0] and "Traceback" not in proc.stderr
