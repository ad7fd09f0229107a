"""Scenario files: good ones round-trip, every bad one is refused in one line that names the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine import GeneratorSettings, InputError, gradient_flow, load_scenario, save_scenario
from gradsim.engine.scenario import scenario_from_dict

BAD = Path(__file__).resolve().parent.parent / "data" / "bad_scenarios"
EXPECTED = json.loads((BAD / "expected.json").read_text())

CONTRACT_EXAMPLE = {
    "format": "gradsim.scenario/1", "cell": "rnn", "activation": "tanh",
    "W_hh": [[0.5, 0.1], [0.0, 0.4]], "W_xh": [[1.0], [0.5]], "b_h": [0.0, 0.0], "h0": [0.0, 0.0],
    "x": [[0.1], [0.2], [0.3]], "loss": "sum_last",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_files_refused_in_one_line(name):
    with pytest.raises(InputError) as info:
        load_scenario(BAD / name)
    message = str(info.value)
    assert "\n" not in message
    assert name in message
    assert EXPECTED[name] in message
    assert isinstance(info.value, ValueError)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_scenario(tmp_path / "nope.gradsim.json")
    with pytest.raises(InputError, match="folder"):
        load_scenario(tmp_path)


def test_contract_example_loads(tmp_path):
    path = tmp_path / "example.gradsim.json"
    path.write_text(json.dumps(CONTRACT_EXAMPLE))
    sc = load_scenario(path)
    assert sc.W_hh.shape == (2, 2) and sc.x.shape == (3, 1) and sc.steps == 3
    res = gradient_flow(sc)
    assert res.grad_norm.shape == (3,) and res.grad_norm[-1] == pytest.approx(np.sqrt(2))


def test_optional_vectors_default_to_zero():
    doc = dict(CONTRACT_EXAMPLE)
    del doc["b_h"], doc["h0"]
    sc = scenario_from_dict(doc)
    assert np.all(sc.b_h == 0) and np.all(sc.h0 == 0)


def test_explicit_round_trip(tmp_path):
    sc = scenario_from_dict(CONTRACT_EXAMPLE)
    path = tmp_path / "a.gradsim.json"
    save_scenario(sc, path)
    again = load_scenario(path)
    for key in ("W_hh", "W_xh", "b_h", "h0", "x"):
        np.testing.assert_array_equal(getattr(sc, key), getattr(again, key))


def test_generated_round_trip_same_picture(tmp_path):
    settings = GeneratorSettings(hidden=24, input=3, steps=77, activation="relu", init="orthogonal", scale=1.1,
                                 input_scale=0.4, seed=1234)
    sc = settings.build()
    path = tmp_path / "g.gradsim.json"
    save_scenario(sc, path)
    doc = json.loads(path.read_text())
    assert "W_hh" not in doc and doc["hidden"] == 24
    again = load_scenario(path)
    assert again.generator == settings
    np.testing.assert_array_equal(gradient_flow(sc).log10_grad_norm, gradient_flow(again).log10_grad_norm)


def test_generated_weights_do_not_depend_on_length():
    a = GeneratorSettings(steps=10, seed=3).build()
    b = GeneratorSettings(steps=500, seed=3).build()
    np.testing.assert_array_equal(a.W_hh, b.W_hh)
    np.testing.assert_array_equal(a.x, b.x[:10])


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity"])
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_initialisers_hit_their_spectral_radius(init, scale):
    sc = GeneratorSettings(hidden=20, init=init, scale=scale, seed=9).build()
    assert np.max(np.abs(np.linalg.eigvals(sc.W_hh))) == pytest.approx(scale, rel=1e-9)


def test_orthogonal_is_orthogonal_and_pytorch_default_in_bounds():
    w = GeneratorSettings(hidden=16, init="orthogonal", scale=1.0).build().W_hh
    np.testing.assert_allclose(w @ w.T, np.eye(16), atol=1e-12)
    u = GeneratorSettings(hidden=16, init="pytorch_default", scale=1.0).build().W_hh
    assert np.all(np.abs(u) <= 1 / np.sqrt(16))


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    sc = GeneratorSettings().build()
    save_scenario(sc, tmp_path / "s.gradsim.json")
    assert [p.name for p in tmp_path.iterdir()] == ["s.gradsim.json"]


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity", "pytorch_default"])
@pytest.mark.parametrize("scale", [0.0, 0.37, 1.0, 2.4])
def test_cached_spectrum_equals_direct_computation(init, scale):
    settings = GeneratorSettings(hidden=17, init=init, scale=scale, seed=21)
    w = settings.build().W_hh
    radius, norm = settings.spectrum()
    assert radius == pytest.approx(np.max(np.abs(np.linalg.eigvals(w))), rel=1e-12, abs=1e-300)
    assert norm == pytest.approx(np.linalg.norm(w, 2), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity", "pytorch_default"])
def test_cached_draw_gives_the_initialisers_exact_numbers_at_every_scale(init):
    """build() draws W_hh once per (initialiser, size, seed) and rescales it; the numbers must be
    exactly those the initialiser gives when asked directly at that scale."""
    from gradsim.engine.init import recurrent_weights

    for scale in (0.9, 0.0, 1.37, 2.5, 0.9):
        built = GeneratorSettings(init=init, hidden=12, seed=5, scale=scale).build().W_hh
        rng_w = np.random.default_rng(np.random.SeedSequence(5).spawn(3)[0])
        np.testing.assert_array_equal(built, recurrent_weights(init, 12, scale, rng_w))
        built[0, 0] = 123.0  # a scenario's matrix is its own: the cached draw stays untouched
    again = GeneratorSettings(init=init, hidden=12, seed=5, scale=1.0).build().W_hh
    assert again[0, 0] != 123.0
