"""``gradsim flow --list-presets`` and ``--preset ID [--seed S]`` (CONTRACTS section 3).

The list must be the scene's presets, the computed flow must be the one the flow scene draws for the
same preset and seed (the state's own job), and every preset must show the verdict it claims on a
seed drawn now (the claim holds on every seed, not on the ones the presets were written with).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from gradsim.cli import main
from gradsim.presets import load_presets
from gradsim.states.flow import FlowState, compute_flow

SEED = random.randrange(0, 999_999)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_presets_is_every_flow_preset_with_its_claim(capsys):
    code, out, err = run_cli(capsys, "flow", "--list-presets", "--format", "json")
    assert code == 0 and not err
    listed = json.loads(out)
    assert listed == [{"id": p.preset_id, "title": p.title, "expect": p.expect} for p in load_presets("flow")]
    assert all(item["expect"] in ("vanishing", "exploding", "healthy") for item in listed)


@pytest.mark.parametrize("preset_id", [p.preset_id for p in load_presets("flow")])
def test_a_preset_on_any_seed_shows_its_claim_and_the_scenes_numbers(capsys, preset_id):
    code, out, err = run_cli(capsys, "flow", "--preset", preset_id, "--seed", str(SEED), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    expect = next(p.expect for p in load_presets("flow") if p.preset_id == preset_id)
    assert doc["preset"]["id"] == preset_id
    assert doc["verdict"]["kind"] == expect, f"seed {SEED}"
    # the same network the scene builds for this preset and seed
    state = FlowState.from_settings({"preset": preset_id, "seed": SEED})
    scene = compute_flow(state.job())
    assert doc["t"] == list(range(1, scene.steps + 1))
    logs = np.array([np.nan if v is None else v for v in doc["log10_grad_norm"]], dtype=float)
    np.testing.assert_allclose(logs, scene.log10_grad_norm, rtol=1e-12, atol=1e-12)


def test_preset_refuses_other_network_options_and_unknown_ids(capsys):
    code, _, err = run_cli(capsys, "flow", "--preset", "tanh12", "--steps", "30")
    assert code == 2 and "drop --steps" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "flow", "--preset", "no-such-preset")
    assert code == 2 and "unknown flow preset 'no-such-preset'" in err and "sigmoid20" in err
    code, _, err = run_cli(capsys, "flow", "--preset", "tanh12", "--scenario", "x.gradsim.json")
    assert code == 2 and "not both" in err
