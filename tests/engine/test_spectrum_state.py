"""The spectrum scene's state without a window: its rules, the prediction it shows (Pascanu, Mikolov &
Bengio, 2013) against NumPy's singular values and the theorem's own promise, and the numbers its
presets and lesson steps quote, against closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradsim.engine.scenario import GeneratorSettings
from gradsim.lesson import load_builtin_lesson
from gradsim.presets import get_preset
from gradsim.states.spectrum import (
    SpectrumState,
    compute_matrix,
    compute_network,
    compute_sweep,
    outcome,
    predict,
)

from .test_scalar_state import shipped_settings

GAMMA = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "identity": 1.0}  # max |f′|, by hand


def test_rules_refuse_bad_settings_in_one_line():
    for bad in ({"scale": -1}, {"scale": "big"}, {"hidden": 0}, {"hidden": 500}, {"init": "xavier"},
                {"activation": "softplus"}, {"matrix": [[1, 2]]}, {"matrix": [[float("nan")]]},
                {"matrix": [[0.0] * 5] * 5}, {"matrix": [[101.0]]}, {"matrix": []}, {"sweep_steps": 0},
                {"sweep_seeds": 11}, {"steps": 1.5}, {"view": "nowhere"}, {"colour": "red"}):
        with pytest.raises(ValueError) as info:
            SpectrumState.from_settings(bad)
        assert "\n" not in str(info.value) and str(info.value).startswith("spectrum")


def test_round_trip_and_presets():
    state = SpectrumState.from_settings({"activation": "relu", "init": "gaussian", "scale": 1.1, "hidden": 12,
                                         "seed": 3, "input_scale": 0.4, "steps": 40,
                                         "matrix": [[0.9, 0.0, 0.1], [0.2, 0.3, 0.0], [0.0, 0.0, 1.5]],
                                         "sweep_steps": 30, "sweep_seeds": 2, "view": "sweep"})
    assert SpectrumState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert state.to_dict()["matrix"] == [[0.9, 0.0, 0.1], [0.2, 0.3, 0.0], [0.0, 0.0, 1.5]]
    preset = SpectrumState.from_settings({"preset": "sigmoid2", "seed": 4})
    assert (preset.activation, preset.scale, preset.seed) == ("sigmoid", 2.0, 4)
    assert preset.replace(view="sweep").preset == "sigmoid2"  # another tab: the same claim
    assert preset.replace(seed=5).preset == "sigmoid2"  # a claim holds on every seed
    assert preset.replace(scale=1.9).preset == "custom"


def test_every_shipped_show_me_is_a_state():
    shipped = shipped_settings("spectrum")
    assert shipped
    for settings_ in shipped:
        state = SpectrumState.from_settings(settings_)
        for key, value in settings_.items():
            assert state.to_dict()[key] == value


matrices = st.integers(1, 4).flatmap(
    lambda n: st.lists(st.lists(st.floats(-3.0, 3.0), min_size=n, max_size=n), min_size=n, max_size=n))


@settings(max_examples=60, deadline=None)
@given(w=matrices, activation=st.sampled_from(sorted(GAMMA)))
def test_prediction_is_the_theorem(w, activation):
    w = np.array(w)
    p = predict(w, activation)
    sigma = float(np.linalg.svd(w, compute_uv=False)[0])
    assert p.sigma_max == pytest.approx(sigma, rel=1e-12, abs=1e-15)
    assert p.gamma == GAMMA[activation]
    assert p.bound_per_step == pytest.approx(sigma * GAMMA[activation], rel=1e-12, abs=1e-15)
    assert p.spectral_radius == pytest.approx(float(np.max(np.abs(np.linalg.eigvals(w)))), rel=1e-9, abs=1e-12)
    if abs(sigma * GAMMA[activation] - 1) > 1e-9:
        assert p.vanishing_guaranteed == (sigma * GAMMA[activation] < 1)


@settings(max_examples=40, deadline=None)
@given(w=matrices, activation=st.sampled_from(sorted(GAMMA)), steps=st.integers(2, 120))
def test_the_drawn_bound_holds_for_the_measured_flow(w, activation, steps):
    """What the matrix view draws as the bound is σ_max·γ per step back, and the flow stays under it."""
    w = np.array(w)
    r = compute_matrix(SpectrumState.from_settings({"matrix": w.tolist(), "activation": activation,
                                                    "steps": steps}).matrix_job())
    sigma = float(np.linalg.svd(w, compute_uv=False)[0])
    logs = r.study.flow.log10_grad_norm
    back = steps - np.arange(1, steps + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_step = sigma * GAMMA[activation]  # 0 for a subnormal sigma such as 5e-324 times 1/4
        expected = logs[-1] + back * (math.log10(per_step) if per_step > 0 else -np.inf)
    expected[-1] = logs[-1]
    finite = np.isfinite(expected)
    np.testing.assert_allclose(r.log10_bound[finite], expected[finite], rtol=0, atol=1e-9)
    measured = np.isfinite(logs)
    assert np.all(logs[measured & finite] <= r.log10_bound[measured & finite] + 1e-9)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), init=st.sampled_from(["gaussian", "orthogonal", "pytorch_default"]),
       activation=st.sampled_from(sorted(GAMMA)), input_scale=st.floats(0.0, 2.0))
def test_a_guaranteed_network_vanishes_at_least_as_fast_as_promised(seed, init, activation, input_scale):
    """Whatever the inputs, a generated network with σ_max·γ < 1 shrinks by σ_max·γ per step or more."""
    probe = GeneratorSettings(hidden=16, input=4, steps=60, activation=activation, init=init, scale=1.0,
                              input_scale=input_scale, seed=seed)
    sigma = float(np.linalg.svd(probe.build().W_hh, compute_uv=False)[0])
    scale = 0.9 / (sigma * GAMMA[activation])  # scale is linear in W_hh: this puts σ_max·γ at 0.9
    if scale > 2.5:
        return
    state = SpectrumState.from_settings({"activation": activation, "init": init, "scale": round(scale, 6) or 0.01,
                                         "hidden": 16, "seed": seed, "input_scale": input_scale, "steps": 60})
    r = compute_network(state.generator())
    assert r.prediction.vanishing_guaranteed
    logs = r.network.flow.log10_grad_norm
    back = 59 - np.arange(60)
    bound = logs[-1] + back * math.log10(r.prediction.bound_per_step)
    finite = np.isfinite(logs)
    assert np.all(logs[finite] <= bound[finite] + 1e-9)


def test_the_issue_counterexamples():
    """Sigmoid with ‖W_hh‖₂ = 2 must vanish; a non-normal matrix with ρ = 0.9 explodes."""
    sig = SpectrumState.from_settings({"preset": "sigmoid2"})
    r = compute_network(sig.generator())
    assert r.prediction.spectral_radius == pytest.approx(2.0) and r.prediction.vanishing_guaranteed
    assert r.verdict.kind == "vanishing"
    nn = SpectrumState.from_settings({"preset": "nonnormal"})
    m = compute_matrix(nn.matrix_job())
    w = np.array(nn.matrix)
    assert float(np.max(np.abs(np.linalg.eigvals(w)))) == pytest.approx(0.9)
    assert not m.prediction.vanishing_guaranteed and m.verdict.kind == "exploding"
    # the note: σ_max ≈ 5.7, a peak past 10⁴ ...
    assert round(float(np.linalg.svd(w, compute_uv=False)[0]), 1) == 5.7
    assert 4 < float(np.max(m.study.flow.log10_grad_norm)) < 5
    # ... and in the long run it falls at the rate ρ: the last steps back shrink by about 0.9 each
    longer = compute_matrix(nn.replace(steps=1000).matrix_job()).study.flow.log10_grad_norm
    assert longer[0] - longer[1] == pytest.approx(math.log10(0.9), abs=0.01)


def test_the_seeds_matrix_figures_quoted_in_texts():
    w = np.array([[0.5, 0.3], [0.2, 0.4]])
    # closed form: λ² − 0.9λ + 0.14 = 0, so λ = 0.7 and 0.2
    assert sorted(np.linalg.eigvals(w).real) == pytest.approx([0.2, 0.7])
    sigma = float(np.linalg.svd(w, compute_uv=False)[0])
    assert f"{sigma:.2f}" == "0.71"
    texts = [get_preset("spectrum", "seeds2x2").note]
    texts += [s.rendered_caption for s in load_builtin_lesson().steps if s.scene == "spectrum" and "matrix" in s.settings]
    for text in texts:
        assert "0.71" in text and "0.7" in text
    step = next(s for s in load_builtin_lesson().steps if s.scene == "spectrum" and "matrix" in s.settings)
    assert "0.7 and 0.2" in step.rendered_caption


def test_linear_sweep_marks_are_the_closed_form():
    """Orthogonal W_hh scaled to norm c, identity activation: ‖dL/dh₁‖ = c^(T−1) √n exactly."""
    state = SpectrumState.from_settings({"preset": "linsweep80"})
    out = outcome(state)
    sweep = compute_sweep(state.sweep_job())
    n, steps = state.hidden, state.sweep_steps
    for norm, value in zip(sweep.sweep.marked_norms, sweep.sweep.marked_median, strict=True):
        assert value == pytest.approx((steps - 1) * math.log10(norm) + 0.5 * math.log10(n), abs=1e-9)
    # the note: 0.8⁷⁹ below 10⁻⁶, 1.2⁷⁹ above 10³
    assert 79 * math.log10(0.8) < -6 and 79 * math.log10(1.2) > 3
    assert (out["norm 0.8"].kind, out["norm 1.2"].kind) == ("vanishing", "exploding")


@pytest.mark.parametrize("seed", [7, 4242])
def test_a_linear_orthogonal_network_multiplies_by_its_gain_exactly(seed):
    """The linear11 preset's note: without a nonlinearity every step back multiplies by exactly 1.1."""
    state = SpectrumState.from_settings({"preset": "linear11", "seed": seed})
    r = compute_network(state.generator())
    np.testing.assert_allclose(np.diff(r.network.flow.log10_grad_norm), -math.log10(1.1), atol=1e-9)
    assert r.prediction.long_run_rate_per_step == pytest.approx(1.1)  # ρ, given for a linear map only
