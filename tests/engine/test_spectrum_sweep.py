"""gradsim.engine.sweep against independent computations: PyTorch float64 autograd, closed forms and
the values the seeds publish."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradsim.engine import GeneratorSettings, InputError
from gradsim.engine.sweep import (
    MARKED_NORMS,
    SWEEP_NORMS,
    activation_curves,
    check_matrix,
    feedforward_vs_recurrent,
    jacobian_at_zero,
    matrix_study,
    network_spectrum,
    power_curves,
    power_rows,
    rescale_to_norm,
    scenario_with_norm,
    spectral_norm_sweep,
)

torch = pytest.importorskip("torch")

SEED_MATRIX = [[0.5, 0.3], [0.2, 0.4]]
TORCH_ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "identity": lambda z: z}


def torch_grad_norms(scenario) -> np.ndarray:
    """||dL/dh_t|| for t = 1..T by autograd with retain_grad on every h_t (L = sum h_T)."""
    f = TORCH_ACT[scenario.activation]
    w = torch.tensor(scenario.W_hh, dtype=torch.float64)
    u = torch.tensor(scenario.W_xh, dtype=torch.float64)
    b = torch.tensor(scenario.b_h, dtype=torch.float64)
    x = torch.tensor(scenario.x, dtype=torch.float64)
    h = torch.tensor(scenario.h0, dtype=torch.float64, requires_grad=True)
    states = []
    for t in range(x.shape[0]):
        h = f(w @ h + u @ x[t] + b)
        h.retain_grad()
        states.append(h)
    h.sum().backward()
    return np.array([s.grad.norm().item() for s in states])


# -- rescaling -----------------------------------------------------------------------------------------

def test_rescale_to_norm_hits_the_target_and_keeps_the_direction():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 6))
    for target in (0.5, 1.0, 1.37):
        scaled = rescale_to_norm(w, target)
        assert np.linalg.svd(scaled, compute_uv=False)[0] == pytest.approx(target, rel=1e-12)
        ratio = scaled / w
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-12)
    with pytest.raises(InputError):
        rescale_to_norm(np.zeros((3, 3)), 1.0)
    with pytest.raises(InputError):
        rescale_to_norm(w, float("nan"))


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity", "pytorch_default"])
def test_scenario_with_norm_sets_the_spectral_norm_not_the_radius(init):
    settings = GeneratorSettings(hidden=10, steps=5, init=init, seed=4)
    sc = scenario_with_norm(settings, 1.2)
    assert np.linalg.norm(sc.W_hh, 2) == pytest.approx(1.2, rel=1e-12)
    radius = np.max(np.abs(np.linalg.eigvals(sc.W_hh)))
    assert radius <= 1.2 + 1e-9
    if init == "gaussian":
        assert radius < 0.9 * 1.2  # a non-normal matrix: the radius sits well below the norm


# -- the sweep -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_sweep_equals_torch_autograd(activation):
    settings = GeneratorSettings(hidden=8, steps=15, activation=activation, init="gaussian", input_scale=0.7, seed=11)
    norms = (0.6, 1.0, 1.4)
    seeds = (11, 12)
    sweep = spectral_norm_sweep(settings, norms, seeds, marked=(0.8,))
    assert sweep.log10_grad_h1.shape == (3, 2)
    for i, norm in enumerate(norms + (0.8,)):
        for j, seed in enumerate(seeds):
            ref = torch_grad_norms(scenario_with_norm(settings, norm, seed))[0]
            got = sweep.log10_grad_h1[i, j] if i < 3 else sweep.marked_log10[0, j]
            if ref == 0.0:
                assert got == -math.inf
            else:
                assert got == pytest.approx(math.log10(ref), abs=1e-9)


@pytest.mark.parametrize(("activation", "steps", "input_scale", "norms"), [
    ("tanh", 30, 2.0, (0.0, 0.5, 1.0, 1.5, 2.5)),  # norm 0: no path back at all
    ("sigmoid", 800, 0.5, (0.3, 1.0)),  # far below float64 (0.25^799 and lower): exact in log space
    ("relu", 40, 1.0, (0.2, 0.9, 1.4)),  # dead units: exact zeros on some seeds
    ("identity", 60, 0.3, (0.5, 1.0, 1.5)),
    ("tanh", 1, 1.0, (0.7, 1.2)),  # T = 1: dL/dh_1 is all ones
])
def test_batched_sweep_equals_one_gradient_flow_per_run(activation, steps, input_scale, norms):
    """The sweep runs all norms of a seed through the recurrence at once (one matrix product a step):
    each of its figures equals ``gradient_flow`` run on that norm alone, also far below float64 and
    where the gradient is exactly 0. The columns are cached, so the cache is cleared first."""
    from gradsim.engine import gradient_flow
    from gradsim.engine.sweep import _seed_column

    _seed_column.cache_clear()
    settings = GeneratorSettings(hidden=7, input=3, steps=steps, activation=activation, init="gaussian",
                                 input_scale=input_scale, seed=5)
    seeds = (5, 6, 7, 8)
    sweep = spectral_norm_sweep(settings, norms, seeds, marked=())
    zeros = 0
    for i, norm in enumerate(norms):
        for j, seed in enumerate(seeds):
            ref = gradient_flow(scenario_with_norm(settings, norm, seed)).log10_grad_norm[0]
            got = sweep.log10_grad_h1[i, j]
            if ref == -math.inf:
                zeros += 1
                assert got == -math.inf
            else:
                assert got == pytest.approx(ref, abs=1e-9)
    assert zeros >= (len(seeds) if 0.0 in norms else 0) + (activation == "relu")  # the cases above were met
    if activation == "sigmoid":
        assert np.all(sweep.log10_grad_h1 < -400)
    # a second sweep sharing three of the four seeds takes those columns from the cache: the same numbers
    again = spectral_norm_sweep(settings, norms, (6, 7, 8, 9), marked=())
    np.testing.assert_array_equal(again.log10_grad_h1[:, :3], sweep.log10_grad_h1[:, 1:])


def test_sweep_closed_form_for_linear_orthogonal():
    # identity activation and an orthogonal W with ||W|| = s: ||dL/dh_1|| = s^(T-1) sqrt(n) exactly
    n, steps = 12, 40
    settings = GeneratorSettings(hidden=n, steps=steps, activation="identity", init="orthogonal")
    sweep = spectral_norm_sweep(settings, SWEEP_NORMS, (0, 1, 2))
    expected = (steps - 1) * np.log10(np.asarray(SWEEP_NORMS)) + 0.5 * np.log10(n)
    for j in range(3):
        np.testing.assert_allclose(sweep.log10_grad_h1[:, j], expected, atol=1e-9)
    np.testing.assert_allclose(sweep.marked_median, (steps - 1) * np.log10(MARKED_NORMS) + 0.5 * np.log10(n),
                               atol=1e-9)
    np.testing.assert_allclose(sweep.radius_over_norm, 1.0, atol=1e-9)


def test_sweep_default_grid_band_and_ratio():
    settings = GeneratorSettings(hidden=16, steps=20, init="gaussian", input_scale=0.1)
    sweep = spectral_norm_sweep(settings, seeds=(0, 1, 2, 3, 4))
    np.testing.assert_allclose(sweep.norms, np.linspace(0.5, 1.5, 20))
    assert tuple(sweep.marked_norms) == (0.8, 1.0, 1.2)
    np.testing.assert_array_equal(sweep.low, sweep.log10_grad_h1.min(axis=1))
    np.testing.assert_array_equal(sweep.high, sweep.log10_grad_h1.max(axis=1))
    np.testing.assert_array_equal(sweep.median, np.median(sweep.log10_grad_h1, axis=1))
    for j, seed in enumerate(sweep.seeds):
        w = scenario_with_norm(settings, 1.0, seed).W_hh
        assert sweep.radius_over_norm[j] == pytest.approx(np.max(np.abs(np.linalg.eigvals(w))), rel=1e-9)
    # a larger norm never lets less gradient through in the linear-ish regime of small inputs
    assert np.all(np.diff(sweep.median) > 0)
    doc = sweep.to_json_dict()
    assert len(doc["spectral_norms"]) == 20 and len(doc["log10_grad_norm_h1"][0]) == 5


def test_sweep_refuses_bad_input():
    with pytest.raises(InputError):
        spectral_norm_sweep(GeneratorSettings(cell="lstm"))
    with pytest.raises(InputError):
        spectral_norm_sweep(GeneratorSettings(), seeds=())
    with pytest.raises(InputError):
        spectral_norm_sweep(GeneratorSettings(hidden=0))
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="spectral norm"):
            spectral_norm_sweep(GeneratorSettings(hidden=3, steps=4), norms=(1.0, bad))


# -- the matrix editor's study ---------------------------------------------------------------------------

def test_seeds_exercise_eigenvalues_and_prediction():
    study = matrix_study(SEED_MATRIX, "tanh", 50)  # 0.7^49 is about 2.6e-8: below 1e-6
    # characteristic polynomial: l^2 - 0.9 l + 0.14 = 0  ->  l = (0.9 +- 0.5) / 2
    roots = sorted([(0.9 + 0.5) / 2, (0.9 - 0.5) / 2], reverse=True)
    np.testing.assert_allclose(study.spectrum.eigenvalues.real, roots, atol=1e-12)
    np.testing.assert_allclose(study.spectrum.eigenvalues.imag, 0.0, atol=1e-12)
    np.testing.assert_array_equal(study.jacobian_spectrum.eigenvalues, study.spectrum.eigenvalues)  # tanh'(0) = 1: J = W
    assert study.prediction == "vanish"
    assert study.measured == "vanishing"


@pytest.mark.parametrize("activation, slope", [("tanh", 1.0), ("sigmoid", 0.25), ("relu", 0.0), ("identity", 1.0)])
def test_jacobian_at_zero_equals_autograd(activation, slope):
    w = np.array(SEED_MATRIX)
    f = TORCH_ACT[activation]
    wt = torch.tensor(w, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda h: f(wt @ h), torch.zeros(2, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(jacobian_at_zero(w, activation), jac, atol=1e-15)
    np.testing.assert_allclose(jacobian_at_zero(w, activation), slope * w, atol=1e-15)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "identity"])
def test_matrix_study_flow_equals_autograd_and_closed_form(activation):
    w = np.array([[0.9, -0.4, 0.1], [0.3, 1.1, 0.0], [0.2, 0.5, 0.7]])
    steps = 25
    study = matrix_study(w.tolist(), activation, steps)
    sc_flow = study.flow
    from gradsim.engine import Scenario

    sc = Scenario("rnn", activation, w, np.zeros((3, 1)), np.zeros(3), np.zeros(3), np.zeros((steps, 1)))
    ref = torch_grad_norms(sc)
    np.testing.assert_allclose(sc_flow.grad_norm, ref, rtol=1e-9)
    if activation in ("tanh", "identity"):
        # h stays at 0, so dL/dh_t = (W^T)^(T-t) 1 exactly
        closed = [np.linalg.norm(np.linalg.matrix_power(w.T, steps - t) @ np.ones(3)) for t in range(1, steps + 1)]
        np.testing.assert_allclose(sc_flow.grad_norm, closed, rtol=1e-9)


def test_measured_rate_approaches_the_spectral_radius():
    study = matrix_study(SEED_MATRIX, "tanh", 200)
    logs = study.flow.log10_grad_norm
    assert logs[0] - logs[1] == pytest.approx(math.log10(0.7), abs=1e-6)


@pytest.mark.parametrize("bad", [[[1, 2]], [[1, 2], [3]], [[float("nan")]], [[True]], [["a"]], [[200.0]],
                                 [[0.0] * 5] * 5, [], "matrix", [[1, 2], [3, 4], [5, 6]]])
def test_check_matrix_refuses(bad):
    with pytest.raises(InputError):
        check_matrix(bad)


def test_matrix_study_refuses_bad_activation_and_steps():
    with pytest.raises(InputError):
        matrix_study(SEED_MATRIX, "softplus")
    with pytest.raises(InputError):
        matrix_study(SEED_MATRIX, "tanh", 0)


# -- the generated network -------------------------------------------------------------------------------

def test_network_spectrum_step_jacobians_equal_autograd():
    settings = GeneratorSettings(hidden=6, input=3, steps=12, activation="tanh", init="gaussian", scale=1.3,
                                 input_scale=1.5, seed=2)
    ns = network_spectrum(settings)
    sc = settings.build()
    w = torch.tensor(sc.W_hh)
    u = torch.tensor(sc.W_xh)
    x = torch.tensor(sc.x)
    h = torch.zeros(6, dtype=torch.float64)
    for t in range(12):
        jac = torch.autograd.functional.jacobian(lambda prev, t=t: torch.tanh(w @ prev + u @ x[t]), h).numpy()
        np.testing.assert_allclose(ns.step_singular_values[t], np.linalg.svd(jac, compute_uv=False), rtol=1e-9,
                                   atol=1e-14)
        h = torch.tanh(w @ h + u @ x[t])
    np.testing.assert_allclose(ns.step_singular_median, np.median(ns.step_singular_values, axis=1))
    eig = np.linalg.eigvals(sc.W_hh)
    assert ns.spectrum.spectral_radius == pytest.approx(1.3, rel=1e-9)
    assert sorted(np.abs(ns.spectrum.eigenvalues)) == pytest.approx(sorted(np.abs(eig)), rel=1e-9)
    # the rate is the least-squares slope of log10 ||dL/dh_t|| against the steps travelled back
    ref = np.log10(torch_grad_norms(sc))
    slope = np.polyfit(np.arange(11, -1, -1, dtype=float), ref, 1)[0]
    assert ns.log10_rate == pytest.approx(slope, abs=1e-9)
    if slope < 0:
        assert ns.memory_horizon * ns.log10_rate == pytest.approx(-6.0)


# -- scalar figures -------------------------------------------------------------------------------------

def test_power_rows_match_the_seeds_table_and_mark_the_users_w():
    published = {0.5: 9.5e-7, 0.7: 7.9e-4, 0.9: 1.2e-1, 1.0: 1.0, 1.1: 6.7, 1.5: 3325, 2.0: 1_048_576}
    rows = power_rows(0.8, 20)
    assert [r.w for r in rows] == [0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0]
    assert [r.user for r in rows] == [w == 0.8 for w in (0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0)]
    for r in rows:
        assert 10 ** r.log10_value == pytest.approx(r.w ** 20, rel=1e-12)
        if r.w in published:
            assert 10 ** r.log10_value == pytest.approx(published[r.w], rel=0.02)
    assert [r.user for r in power_rows(0.5, 20)].count(True) == 1  # the user's w already in the table
    far = power_rows(3.0, 1000)
    assert far[-1].log10_value == pytest.approx(1000 * math.log10(3.0))  # 3^1000 is beyond float64, still exact
    assert far[-1].reading.startswith("explodes")
    with pytest.raises(InputError):
        power_rows(0.0, 10)


def test_power_curves_equal_powers():
    t, logs = power_curves((0.5, 1.0, 1.7), 30)
    np.testing.assert_array_equal(t, np.arange(31.0))
    for k, w in enumerate((0.5, 1.0, 1.7)):
        np.testing.assert_allclose(10.0 ** logs[k], np.power(w, np.arange(31.0)), rtol=1e-12)


def test_activation_curves_equal_autograd():
    z = np.linspace(-4, 4, 81)  # contains 0 exactly: ReLU'(0) = 0 as in PyTorch
    curves = activation_curves(z)
    for name, f in TORCH_ACT.items():
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        f(zt).sum().backward()
        np.testing.assert_allclose(curves[name], zt.grad.numpy(), atol=1e-15)


def test_feedforward_vs_recurrent():
    ff = feedforward_vs_recurrent(0.9, 0.4, 30, seed=5)
    assert np.all((ff.layer_weights >= 0.5) & (ff.layer_weights <= 1.3))
    np.testing.assert_allclose(10.0 ** ff.log10_feedforward, np.abs(np.cumprod(ff.layer_weights)), rtol=1e-12)
    np.testing.assert_allclose(10.0 ** ff.log10_recurrent, 0.9 ** np.arange(1, 31), rtol=1e-12)
    again = feedforward_vs_recurrent(0.9, 0.4, 30, seed=5)
    np.testing.assert_array_equal(again.layer_weights, ff.layer_weights)
    assert not np.array_equal(feedforward_vs_recurrent(0.9, 0.4, 30, seed=6).layer_weights, ff.layer_weights)
    flat = feedforward_vs_recurrent(1.2, 0.0, 10)
    np.testing.assert_allclose(flat.log10_feedforward, flat.log10_recurrent, atol=1e-12)
    with pytest.raises(InputError):
        feedforward_vs_recurrent(0.9, -0.1, 10)
