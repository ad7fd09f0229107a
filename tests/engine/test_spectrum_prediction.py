"""The prediction of Pascanu, Mikolov & Bengio (2013), checked against the engine's exact flow.

sigma_max(W_hh) * gamma < 1 is sufficient for vanishing (each backward step multiplies ||dL/dh_t|| by
at most that product); above 1 it is only necessary for exploding. The two counterexamples of issue
15 are here, and hypothesis draws matrices and activations nobody picked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradsim.engine import GeneratorSettings, Scenario, gradient_flow
from gradsim.engine.activations import ACTIVATIONS, get_activation
from gradsim.engine.spectrum import (
    PREDICTION_NONE,
    PREDICTION_VANISH,
    lyapunov_log10_rate,
    spectrum_report,
    theorem_prediction,
)


def _cli(run_cli, *args: str) -> dict:
    """``gradsim spectrum ARGS`` in this process (the verb runs in a process of its own in
    tests/cli/test_cli.py): its JSON."""
    proc = run_cli("spectrum", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _non_normal(n: int = 3, radius: float = 0.9, sigma: float = 30.5) -> np.ndarray:
    """``radius * I`` plus a superdiagonal ``a`` chosen by bisection so that ``||W||_2 = sigma``:
    every eigenvalue is ``radius``, yet powers of W grow for a while before they shrink."""
    shift = np.eye(n, k=1)
    lo, hi = 0.0, 10.0 * sigma
    for _ in range(200):
        a = 0.5 * (lo + hi)
        lo, hi = (a, hi) if np.linalg.norm(radius * np.eye(n) + a * shift, 2) < sigma else (lo, a)
    return radius * np.eye(n) + a * shift


def _zero_input(w: np.ndarray, activation: str, steps: int = 50) -> Scenario:
    n = w.shape[0]
    return Scenario("rnn", activation, w, np.zeros((n, 1)), np.zeros(n), np.zeros(n), np.zeros((steps, 1)))


def test_gamma_is_the_largest_slope_of_each_activation():
    """gamma = max |f'|: tanh 1, sigmoid 1/4, ReLU 1, identity 1 (checked by finite differences)."""
    expected = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "identity": 1.0}
    z = np.linspace(-6, 6, 120_001)
    w = np.eye(2)
    for name in ACTIVATIONS:
        f = get_activation(name).f
        slope = np.abs(np.diff(f(z)) / np.diff(z)).max()
        pred = theorem_prediction(w, name)
        assert pred.gamma == expected[name]
        assert slope == pytest.approx(pred.gamma, rel=1e-6)


def test_issue_counterexample_sigmoid_orthogonal_norm_two_vanishes_guaranteed(run_cli):
    """Orthogonal ||W||_2 = 2 with sigmoid: sigma * gamma = 0.5 < 1, so vanishing is guaranteed
    (rho = 2 is irrelevant here); the old rule said "explode"."""
    settings_ = GeneratorSettings(hidden=16, steps=50, activation="sigmoid", init="orthogonal", scale=2.0)
    scenario = settings_.build()
    pred = theorem_prediction(scenario.W_hh, "sigmoid")
    assert pred.sigma_max == pytest.approx(2.0) and pred.bound_per_step == pytest.approx(0.5)
    assert pred.spectral_radius == pytest.approx(2.0)
    assert pred.vanishing_guaranteed and pred.prediction == PREDICTION_VANISH
    assert "sufficient" in pred.explanation and "explode" not in pred.explanation
    assert pred.badge() == ("VANISHING GUARANTEED", "σ_max·γ = 0.5 < 1")
    flow = gradient_flow(scenario)
    assert flow.verdict.kind == "vanishing"
    assert flow.log10_grad_norm[0] - flow.log10_grad_norm[-1] <= pred.log10_bound(49) + 1e-9
    out = _cli(run_cli, "--hidden", "16", "--steps", "50", "--activation", "sigmoid", "--init", "orthogonal", "--scale", "2")
    assert "vanish" in out["prediction"] and "explo" not in out["prediction"]
    assert out["vanishing_guaranteed"] is True and out["verdict"] == "vanishing"
    assert out["sigma_max_times_gamma"] == pytest.approx(0.5)


@pytest.mark.parametrize("activation", ["tanh", "identity"])
def test_issue_counterexample_non_normal_matrix_explodes_and_is_not_called_vanishing(activation, tmp_path, run_cli):
    """rho = 0.9 but sigma_max = 30.5: the gradient peaks near 10^4.4 within 50 steps. The theorem
    guarantees nothing here (30.5 > 1), so the prediction must not say "vanish"."""
    w = _non_normal()
    pred = theorem_prediction(w, activation)
    assert pred.spectral_radius == pytest.approx(0.9) and pred.sigma_max == pytest.approx(30.5)
    assert not pred.vanishing_guaranteed and pred.prediction == PREDICTION_NONE
    assert "necessary" in pred.explanation and "sufficient" in pred.explanation
    headline, detail = pred.badge()
    assert headline == "NO GUARANTEE" and detail.startswith("σ_max·γ = 30.5 ≥ 1")
    assert "VANISH" not in headline and "EXPLO" not in headline
    flow = gradient_flow(_zero_input(w, activation))
    assert flow.verdict.kind == "exploding"
    assert flow.log10_grad_norm.max() == pytest.approx(4.41, abs=0.01)
    if activation == "identity":  # a linear map: rho is the long-run rate, stated but not as "vanish"
        assert pred.long_run_rate_per_step == pytest.approx(0.9)
    else:
        assert pred.long_run_rate_per_step is None
    path = tmp_path / "non_normal.gradsim.json"
    doc = {"format": "gradsim.scenario/1", "cell": "rnn", "activation": activation, "W_hh": w.tolist(),
           "W_xh": [[0.0]] * 3, "x": [[0.0]] * 50}
    path.write_text(json.dumps(doc))
    out = _cli(run_cli, "--scenario", str(path))
    assert "vanish" not in out["prediction"] and "explo" not in out["prediction"]
    assert out["verdict"] == "exploding" and out["vanishing_guaranteed"] is False


@pytest.mark.parametrize("cell, name, why", [("lstm", "LSTM", "forget gate"), ("gru", "GRU", "update gate"),
                                             ("residual", "residual RNN", "identity"),
                                             ("attention", "attention", "one hop")])
def test_other_cells_get_no_guarantee_and_say_why(cell, name, why, run_cli):
    """Even with a tiny W_hh (sigma_max 0.1): the extra path is not bounded by W_hh."""
    pred = theorem_prediction(np.eye(3) * 0.1, None, cell)
    assert pred.gamma is None and pred.bound_per_step is None and pred.log10_bound(5) is None
    assert not pred.vanishing_guaranteed and pred.prediction == PREDICTION_NONE
    assert why in pred.explanation and pred.badge() == ("NO GUARANTEE", f"the theorem does not cover the {name}")
    doc = spectrum_report(GeneratorSettings(hidden=4, steps=10, cell=cell).build())
    assert doc["prediction"] == PREDICTION_NONE and doc["gamma"] is None
    json.dumps(doc, allow_nan=False)
    proc = run_cli("spectrum", "--cell", cell, "--hidden", "4", "--steps", "10")  # in this process: no torch import per cell
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["prediction"] == PREDICTION_NONE and out["vanishing_guaranteed"] is False


def test_long_run_rate_of_a_linear_map_is_its_spectral_radius():
    """Identity activation, no input: g_t = (W^T)^(T-t) g_T, whose growth per step tends to rho."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        w = rng.standard_normal((5, 5)) * rng.uniform(0.1, 0.6)
        pred = theorem_prediction(w, "identity")
        flow = gradient_flow(_zero_input(w, "identity", steps=3000))
        rate = lyapunov_log10_rate(flow.log10_grad_norm[:-300])  # leave out the transient near T
        assert rate == pytest.approx(np.log10(pred.long_run_rate_per_step), abs=0.01)


@st.composite
def networks(draw):
    n = draw(st.integers(1, 6))
    steps = draw(st.integers(2, 60))
    seed = draw(st.integers(0, 2**31))
    gain = 10.0 ** draw(st.floats(-1.0, 0.8))
    input_scale = 10.0 ** draw(st.floats(-3.0, 1.0))
    activation = draw(st.sampled_from(ACTIVATIONS))
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, n)) * gain / np.sqrt(n)
    if draw(st.booleans()):  # non-normal: a strong upper triangle
        w = np.triu(w) + np.triu(rng.standard_normal((n, n)), 1) * gain * 3
    scenario = Scenario("rnn", activation, w, rng.standard_normal((n, 2)), rng.standard_normal(n) * 0.5,
                        rng.standard_normal(n) * 0.5, rng.standard_normal((steps, 2)) * input_scale)
    return scenario


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_whenever_it_says_vanish_every_k_steps_shrink_by_the_bound(scenario):
    """For every pair of steps t < s: ||dL/dh_t|| <= (sigma_max gamma)^(s - t) ||dL/dh_s||, measured
    by the engine's exact flow, whenever the prediction says vanishing is guaranteed."""
    pred = theorem_prediction(scenario.W_hh, scenario.activation)
    product = np.linalg.norm(scenario.W_hh, 2) * get_activation(scenario.activation).max_derivative
    assert pred.vanishing_guaranteed == (product < 1.0)
    assert ("vanish" in pred.prediction) == pred.vanishing_guaranteed
    assert "explode" not in pred.prediction and "explosion" not in pred.prediction
    assert ("VANISH" in pred.badge()[0]) == pred.vanishing_guaranteed and "EXPLO" not in pred.badge()[0]
    if not pred.vanishing_guaranteed:
        return
    logs = gradient_flow(scenario).log10_grad_norm
    k = np.arange(logs.size)[None, :] - np.arange(logs.size)[:, None]  # s - t for row t, column s
    upper = k > 0
    allowed = logs[None, :] + pred.log10_bound(np.where(upper, k, 0))  # log ||g_s|| + k log(sigma gamma)
    with np.errstate(invalid="ignore"):
        ok = (logs[:, None] <= allowed + 1e-9) | (logs[:, None] == -np.inf)
    assert ok[upper].all()
