"""The scalar intuition against the numbers the seeds publish."""

import numpy as np
import pytest

from gradsim.engine.scalar import activation_table, power_table, scalar_trace
from gradsim.engine.spectrum import (
    lyapunov_log10_rate,
    matrix_spectrum,
    memory_horizon,
    step_jacobian_singular_values,
)


def test_trace_matches_seed_table():
    tr = scalar_trace(0.5, 10, h0=0.1)
    # published: t=1 h=0.04996 local=0.49875 cumprod=4.988e-01 ... t=10 cumprod=9.733e-04
    assert tr.h[0] == pytest.approx(0.04996, abs=5e-6)
    assert tr.local[0] == pytest.approx(0.49875, abs=5e-6)
    assert tr.cumprod[0] == pytest.approx(4.988e-01, rel=1e-3)
    assert tr.cumprod[9] == pytest.approx(9.733e-04, rel=1e-3)
    assert tr.h[9] == pytest.approx(0.00010, abs=5e-6)


@pytest.mark.parametrize("w", [0.5, 0.9, 1.3, 2.0])
def test_trace_cumprod_is_the_derivative(w):
    torch = pytest.importorskip("torch")
    steps = 25
    h0 = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    h, states = h0, []
    for _ in range(steps):
        h = torch.tanh(w * h)
        states.append(h)
    tr = scalar_trace(w, steps, 0.2)
    for t in (0, 9, steps - 1):
        (grad,) = torch.autograd.grad(states[t], h0, retain_graph=True)
        assert tr.cumprod[t] == pytest.approx(grad.item(), rel=1e-9)
        assert tr.h[t] == pytest.approx(states[t].item(), rel=1e-12)


def test_power_table_matches_seed_values():
    published = {0.5: 9.5e-7, 0.7: 7.9e-4, 0.9: 1.2e-1, 1.0: 1.0, 1.1: 6.7, 1.5: 3325, 2.0: 1_048_576}
    rows = power_table(20)
    assert [r[0] for r in rows] == list(published)
    for w, value, reading in rows:
        assert value == pytest.approx(published[w], rel=0.02)
        assert reading


def test_activation_table():
    rows = {r.name: r for r in activation_table()}
    assert rows["sigmoid"].max_derivative == pytest.approx(0.25, abs=1e-9)
    assert rows["tanh"].max_derivative == pytest.approx(1.0, abs=1e-9)
    assert rows["relu"].max_derivative == 1.0 and rows["identity"].max_derivative == 1.0
    # seeds: typical derivative near |z| = 1: sigmoid about 0.20, tanh about 0.42
    assert rows["sigmoid"].typical_derivative == pytest.approx(0.20, abs=0.005)
    assert rows["tanh"].typical_derivative == pytest.approx(0.42, abs=0.005)
    # seeds: sigmoid after 10 steps about 1e-6, after 50 about 1e-30
    assert np.log10(rows["sigmoid"].after_10) == pytest.approx(-6, abs=0.05)
    assert np.log10(rows["sigmoid"].after_50) == pytest.approx(-30, abs=0.2)


def test_activation_table_slopes_at_minus_and_plus_one_are_torch_autograds():
    """f'(-1) and f'(+1) as PyTorch float64 autograd computes them; ReLU is 0 and 1, never 0.5."""
    import torch

    funcs = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "identity": lambda z: z * 1.0}
    for row in activation_table():
        z = torch.tensor([-1.0, 1.0], dtype=torch.float64, requires_grad=True)
        funcs[row.name](z).sum().backward()
        assert row.derivative_at_minus_1 == pytest.approx(z.grad[0].item(), rel=1e-12, abs=0)
        assert row.derivative_at_plus_1 == pytest.approx(z.grad[1].item(), rel=1e-12, abs=0)
    relu = next(r for r in activation_table() if r.name == "relu")
    assert (relu.derivative_at_minus_1, relu.derivative_at_plus_1) == (0.0, 1.0)
    assert relu.near_one_text() == "1 at +1, 0 at −1" and "0.5" not in relu.near_one_text()
    tanh = next(r for r in activation_table() if r.name == "tanh")
    assert tanh.near_one_text() == f"{1 - np.tanh(1.0) ** 2:.2g}"



def test_seed_exercise_matrix_spectrum():
    spec = matrix_spectrum(np.array([[0.5, 0.3], [0.2, 0.4]]))
    # characteristic polynomial l^2 - 0.9 l + 0.14 = 0 -> l = 0.7, 0.2
    np.testing.assert_allclose(sorted(spec.eigenvalues.real), [0.2, 0.7], atol=1e-12)
    assert spec.spectral_radius == pytest.approx(0.7) and spec.prediction == "vanish"


def test_step_jacobian_singular_values():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 5))
    d = rng.uniform(0, 1, (7, 5))
    sv = step_jacobian_singular_values(w, d)
    for t in range(7):
        np.testing.assert_allclose(sv[t], np.linalg.svd(np.diag(d[t]) @ w, compute_uv=False))


def test_memory_horizon_of_a_pure_geometric_curve():
    logs = np.log10(0.5) * (np.arange(50)[::-1])  # ||g_t|| = 0.5^(T-t)
    rate = lyapunov_log10_rate(logs)
    assert rate == pytest.approx(np.log10(0.5))
    assert memory_horizon(rate, 1e-6) == pytest.approx(6 / np.log10(2))
    assert memory_horizon(0.1) == float("inf")
