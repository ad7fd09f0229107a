"""The spectrum scene, driven through its real controls, against independent computations (NumPy
eigen/singular value solvers, closed forms and PyTorch float64 autograd)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gradsim.engine import GeneratorSettings, Scenario
from gradsim.engine.sweep import scenario_with_norm

from .conftest import wait_idle

torch = pytest.importorskip("torch")
TORCH_ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "identity": lambda z: z}


@pytest.fixture
def spectrum(main_window, qtbot):
    scene = main_window.show_scene("spectrum")
    wait_idle(qtbot, main_window, timeout=30000)
    assert scene.network is not None and scene.sweep is not None and scene.study is not None
    return scene


def torch_grad_norms(scenario) -> np.ndarray:
    f = TORCH_ACT[scenario.activation]
    w = torch.tensor(scenario.W_hh, dtype=torch.float64)
    u = torch.tensor(scenario.W_xh, dtype=torch.float64)
    x = torch.tensor(scenario.x, dtype=torch.float64)
    h = torch.tensor(scenario.h0, dtype=torch.float64, requires_grad=True)
    states = []
    for t in range(x.shape[0]):
        h = f(w @ h + u @ x[t])
        h.retain_grad()
        states.append(h)
    h.sum().backward()
    return np.array([s.grad.norm().item() for s in states])


def current_w(scene) -> np.ndarray:
    return scene.generator_settings().build().W_hh


def plotted_eigenvalues(scene) -> np.ndarray:
    x, y = scene.eig_points.getData()
    return np.sort_complex(np.asarray(x) + 1j * np.asarray(y))


def assert_plane_shows(scene):
    w = current_w(scene)
    eig = np.sort_complex(np.linalg.eigvals(w))
    np.testing.assert_allclose(plotted_eigenvalues(scene), eig, atol=1e-9)
    radius = float(np.max(np.abs(eig)))
    norm = float(np.linalg.svd(w, compute_uv=False)[0])
    rx, ry = scene.radius_circle.getData()
    np.testing.assert_allclose(np.hypot(rx, ry), radius, rtol=1e-9)
    nx, ny = scene.norm_circle.getData()
    np.testing.assert_allclose(np.hypot(nx, ny), norm, rtol=1e-9)
    assert f"{radius:.4g}" in scene.readouts["radius"].text()
    assert f"{norm:.4g}" in scene.readouts["norm"].text()


def test_default_plane_and_readouts(spectrum):
    assert_plane_shows(spectrum)
    assert len(spectrum.eig_points.getData()[0]) == 64
    ux, uy = spectrum.unit_circle.getData()
    np.testing.assert_allclose(np.hypot(ux, uy), 1.0)


@pytest.mark.parametrize("control, value", [("scale", 1.3), ("hidden", 9), ("seed", 4)])
def test_eigenvalues_move_with_the_controls(spectrum, main_window, qtbot, control, value):
    before = plotted_eigenvalues(spectrum)
    widget = getattr(spectrum, control)
    if control != "seed":
        widget.slider.setValue(widget.slider.value() + 3)
    widget.setValue(value)
    wait_idle(qtbot, main_window)
    assert_plane_shows(spectrum)
    assert before.shape != plotted_eigenvalues(spectrum).shape or not np.allclose(before, plotted_eigenvalues(spectrum))
    if control == "scale":  # orthogonal x gain: every eigenvalue on the circle of radius = gain
        np.testing.assert_allclose(np.abs(plotted_eigenvalues(spectrum)), 1.3, rtol=1e-9)


@pytest.mark.parametrize("init", ["gaussian", "identity", "pytorch_default"])
def test_initialiser_choice(spectrum, main_window, qtbot, init):
    spectrum.init.set_value(init)
    wait_idle(qtbot, main_window)
    assert_plane_shows(spectrum)


def test_memory_horizon_and_rate_readouts(spectrum, main_window, qtbot):
    spectrum.apply_settings({"init": "gaussian", "scale": 0.8, "hidden": 10, "steps": 60, "activation": "tanh"})
    wait_idle(qtbot, main_window)
    sc = spectrum.generator_settings().build()
    logs = np.log10(torch_grad_norms(sc))
    slope = np.polyfit(np.arange(59, -1, -1, dtype=float), logs, 1)[0]  # log10 growth per step travelled back
    horizon = math.log10(1e-6) / slope
    assert slope < 0
    assert f"≈ {horizon:.0f} steps" in spectrum.readouts["horizon"].text()
    assert spectrum.network.log10_rate == pytest.approx(slope, abs=1e-9)
    # the badge is the verdict of the same curve against 1e-6 / 1e3
    below = logs < -6
    word = "VANISHING" if below.any() else "HEALTHY"
    assert spectrum.badge.text().startswith(word)


def test_step_jacobian_singular_values_equal_autograd(spectrum, main_window, qtbot):
    spectrum.apply_settings({"init": "gaussian", "scale": 1.2, "hidden": 5, "steps": 20, "input_scale": 2.0,
                             "view": "jacobians"})
    wait_idle(qtbot, main_window)
    sc = spectrum.generator_settings().build()
    w, u, x = (torch.tensor(a) for a in (sc.W_hh, sc.W_xh, sc.x))
    h = torch.zeros(5, dtype=torch.float64)
    largest, smallest = [], []
    for t in range(20):
        jac = torch.autograd.functional.jacobian(lambda prev, t=t: torch.tanh(w @ prev + u @ x[t]), h).numpy()
        sv = np.linalg.svd(jac, compute_uv=False)
        largest.append(sv[0])
        smallest.append(sv[-1])
        h = torch.tanh(w @ h + u @ x[t])
    xs, top = spectrum.sv_max.getData()
    np.testing.assert_array_equal(xs, np.arange(1.0, 21.0))
    np.testing.assert_allclose(top, largest, rtol=1e-9)
    np.testing.assert_allclose(spectrum.sv_min.getData()[1], smallest, rtol=1e-9, atol=1e-15)
    norm = np.linalg.svd(sc.W_hh, compute_uv=False)[0]
    assert spectrum.sv_norm_line.value() == pytest.approx(norm)
    assert np.all(np.asarray(largest) <= norm + 1e-12)  # saturation only ever shrinks a step


def test_seeds_matrix_exercise(spectrum, main_window, qtbot):
    spectrum.apply_settings({"matrix": [[0.5, 0.3], [0.2, 0.4]], "activation": "tanh", "steps": 50, "view": "matrix"})
    wait_idle(qtbot, main_window)
    text = spectrum.matrix_label.text()
    # closed form: l^2 - 0.9 l + 0.14 = 0 -> 0.7 and 0.2; tanh'(0) = 1 so J0 = W
    assert "λ(W_hh):</span> 0.7, 0.2" in text
    assert "J₀ = W_hh, since f′(0) = 1" in text
    mx, my = spectrum.matrix_eig.getData()
    np.testing.assert_allclose(sorted(mx), [0.2, 0.7], atol=1e-12)
    np.testing.assert_allclose(my, 0.0, atol=1e-12)
    assert "predicts</span> <b>vanish</b>" in text and ">vanishing</b>" in text
    steps = 50
    closed = [np.linalg.norm(np.linalg.matrix_power(np.array([[0.5, 0.3], [0.2, 0.4]]).T, steps - t) @ np.ones(2))
              for t in range(1, steps + 1)]
    x, y = spectrum.matrix_measured.getData()
    np.testing.assert_allclose(10.0 ** y, closed, rtol=1e-9)
    _, pred = spectrum.matrix_predicted.getData()
    np.testing.assert_allclose(pred, math.log10(closed[-1]) + (steps - x) * math.log10(0.7), atol=1e-9)


def test_matrix_editor_typing_and_sigmoid(spectrum, main_window, qtbot):
    spectrum.apply_settings({"view": "matrix", "steps": 30})
    spectrum.matrix_size.setValue(3)
    table = spectrum.matrix_table
    assert table.rowCount() == 3
    entries = [[1.2, 0.1, -0.4], [0.0, 0.9, 0.3], [0.5, -0.2, 1.1]]
    for i in range(3):
        for j in range(3):
            table.item(i, j).setText(str(entries[i][j]))  # what typing into a cell does
    spectrum.activation.set_value("sigmoid")
    wait_idle(qtbot, main_window)
    assert spectrum.matrix() == entries
    w = np.array(entries)
    sc = Scenario("rnn", "sigmoid", w, np.zeros((3, 1)), np.zeros(3), np.zeros(3), np.zeros((30, 1)))
    ref = torch_grad_norms(sc)
    np.testing.assert_allclose(10.0 ** spectrum.matrix_measured.getData()[1], ref, rtol=1e-9)
    jac = torch.autograd.functional.jacobian(lambda h: torch.sigmoid(torch.tensor(w) @ h),
                                             torch.zeros(3, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(spectrum.study.jacobian, jac, atol=1e-15)  # 0.25 W
    text = spectrum.matrix_label.text()
    assert "f′(0) = 0.25" in text
    rows = "<br>".join("[" + ", ".join(f"{v:.3g}" for v in row) + "]" for row in 0.25 * w)
    assert rows in text
    jx, jy = spectrum.matrix_jeig.getData()
    np.testing.assert_allclose(np.sort_complex(np.asarray(jx) + 1j * np.asarray(jy)),
                               np.sort_complex(np.linalg.eigvals(jac)), atol=1e-12)
    rho = float(np.max(np.abs(np.linalg.eigvals(jac))))
    assert f"ρ(J₀) = {rho:.3g}" in text


def test_matrix_editor_refuses_a_bad_entry(spectrum, main_window, qtbot):
    before = spectrum.matrix()
    spectrum.matrix_table.item(0, 1).setText("lots")
    assert spectrum.matrix() == before
    assert spectrum.matrix_table.item(0, 1).text() == "0.3"
    assert main_window.message_bar.isVisible()


def test_sweep_equals_autograd(spectrum, main_window, qtbot):
    spectrum.apply_settings({"hidden": 6, "sweep_steps": 12, "sweep_seeds": 3, "seed": 2, "init": "gaussian",
                             "input_scale": 0.5, "view": "sweep"})
    wait_idle(qtbot, main_window)
    base = GeneratorSettings(hidden=6, input=4, steps=12, init="gaussian", input_scale=0.5, seed=2)
    norms = np.linspace(0.5, 1.5, 20)
    per_seed = np.array([[math.log10(torch_grad_norms(scenario_with_norm(base, s, seed))[0]) for seed in (2, 3, 4)]
                         for s in norms])
    x, median = spectrum.sweep_median.getData()
    np.testing.assert_allclose(x, norms)
    np.testing.assert_allclose(median, np.median(per_seed, axis=1), atol=1e-9)
    np.testing.assert_allclose(spectrum.sweep_low.getData()[1], per_seed.min(axis=1), atol=1e-9)
    np.testing.assert_allclose(spectrum.sweep_high.getData()[1], per_seed.max(axis=1), atol=1e-9)
    mx, my = spectrum.sweep_marks.getData()
    np.testing.assert_allclose(mx, [0.8, 1.0, 1.2])
    marked = [np.median([math.log10(torch_grad_norms(scenario_with_norm(base, s, seed))[0]) for seed in (2, 3, 4)])
              for s in (0.8, 1.0, 1.2)]
    np.testing.assert_allclose(my, marked, atol=1e-9)
    assert "T = 12 steps, 3 seeds" in spectrum.sweep_label.text()


def test_sweep_is_not_recomputed_for_scale_changes(spectrum, main_window, qtbot):
    sweep = spectrum.sweep
    spectrum.scale.setValue(1.4)
    wait_idle(qtbot, main_window)
    assert spectrum.sweep is sweep
    spectrum.sweep_steps.setValue(20)
    wait_idle(qtbot, main_window)
    assert spectrum.sweep is not sweep and spectrum.sweep.steps == 20


def test_settings_round_trip_and_refusals(spectrum, main_window, qtbot):
    wanted = {"activation": "relu", "init": "gaussian", "scale": 1.1, "hidden": 12, "seed": 3, "input_scale": 0.4,
              "steps": 40, "matrix": [[0.9, 0.0, 0.1], [0.2, 0.3, 0.0], [0.0, 0.0, 1.5]], "sweep_steps": 30,
              "sweep_seeds": 2, "view": "sweep"}
    spectrum.apply_settings(wanted)
    wait_idle(qtbot, main_window)
    assert spectrum.settings() == wanted
    for partial in ({"matrix": [[0.5, 0.3], [0.2, 0.4]]}, {"scale": 1.0, "init": "orthogonal"}, {"sweep_steps": 50}):
        spectrum.apply_settings(partial)  # what lessons and "show me" buttons send
        wait_idle(qtbot, main_window)
        for key, value in partial.items():
            assert spectrum.settings()[key] == value
    before = spectrum.settings()
    for bad in ({"scale": -1}, {"scale": "big"}, {"hidden": 0}, {"hidden": 500}, {"init": "xavier"},
                {"activation": "softplus"}, {"matrix": [[1, 2]]}, {"matrix": [[float("nan")]]},
                {"matrix": [[0.0] * 5] * 5}, {"sweep_steps": 0}, {"sweep_seeds": 11}, {"steps": 1.5},
                {"view": "nowhere"}, {"colour": "red"}):
        with pytest.raises(ValueError):
            spectrum.apply_settings(bad)
    assert spectrum.settings() == before
    spectrum.reset()
    wait_idle(qtbot, main_window)
    assert spectrum.settings()["matrix"] == [[0.5, 0.3], [0.2, 0.4]]
    assert spectrum.settings()["init"] == "orthogonal"


def test_projector_theme_keeps_the_numbers(spectrum, main_window, qtbot):
    before = plotted_eigenvalues(spectrum)
    median = spectrum.sweep_median.getData()[1].copy()
    main_window.toggle_projector()
    wait_idle(qtbot, main_window)
    np.testing.assert_array_equal(plotted_eigenvalues(spectrum), before)
    np.testing.assert_array_equal(spectrum.sweep_median.getData()[1], median)


def test_export_columns(spectrum, main_window, qtbot):
    spectrum.apply_settings({"view": "sweep"})
    wait_idle(qtbot, main_window)
    cols = spectrum.export_columns()
    np.testing.assert_array_equal(cols["log10_grad_h1_median"], spectrum.sweep.median)
    spectrum.apply_settings({"view": "eigenvalues"})
    cols = spectrum.export_columns()
    eig = np.linalg.eigvals(current_w(spectrum))
    np.testing.assert_allclose(np.sort(np.asarray(cols["eigenvalue_real"])), np.sort(eig.real), atol=1e-9)
    assert spectrum.matrix_table.item(0, 0).data(Qt.ItemDataRole.UserRole) == 0.5


def test_every_shipped_show_me_is_accepted(spectrum, main_window, qtbot):
    from .test_scalar_scene import _shipped_settings

    shipped = _shipped_settings("spectrum")
    assert shipped  # the lessons, quiz and exercises do send settings here
    for settings in shipped:
        spectrum.apply_settings(settings)
        wait_idle(qtbot, main_window)
        for key, value in settings.items():
            assert spectrum.settings()[key] == value
