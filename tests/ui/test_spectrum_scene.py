"""The spectrum scene, driven through its real controls, against independent computations (NumPy
eigen/singular value solvers, closed forms and PyTorch float64 autograd), and what it says about them:
the prediction (Pascanu, Mikolov & Bengio, 2013) beside the measured verdict, never contradicting it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea

from gradsim.engine import GeneratorSettings, Scenario
from gradsim.engine.sweep import scenario_with_norm
from gradsim.formatting import format_number
from gradsim.lesson import load_builtin_lesson
from gradsim.presets import load_presets
from gradsim.states.spectrum import SEED_MATRIX, SpectrumState

from .conftest import settle, wait_idle

torch = pytest.importorskip("torch")
TORCH_ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "identity": lambda z: z}


@pytest.fixture
def start_scene():
    return "spectrum"  # each test starts on this scene (see conftest)


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


def readout(scene, key) -> str:
    return scene.readouts[key].text()


def subtitle(scene) -> str:
    return scene.header.text()


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
    assert f"<b>{format_number(radius)}</b>" in readout(scene, "radius")
    assert f"<b>{format_number(norm)}</b>" in readout(scene, "norm")


def test_default_plane_and_readouts(spectrum):
    assert_plane_shows(spectrum)
    assert len(spectrum.eig_points.getData()[0]) == 64
    ux, uy = spectrum.unit_circle.getData()
    np.testing.assert_allclose(np.hypot(ux, uy), 1.0)
    # orthogonal × 0.9 with tanh: σ_max·γ = 0.9 < 1, so the subtitle promises shrinking, while the badge
    # (rightly) says the gradient stayed above 10⁻⁶ over these 100 steps: the words never clash
    assert spectrum.badge.text().startswith("HEALTHY")
    assert "σ_max·γ = 0.9 &lt; 1: shrinking guaranteed" in subtitle(spectrum)
    assert not spectrum.gamma_circle.isVisible()


@pytest.mark.parametrize("control, value", [("scale", 1.3), ("hidden", 9), ("seed", 4)])
def test_eigenvalues_move_with_the_controls(spectrum, main_window, qtbot, control, value):
    before = plotted_eigenvalues(spectrum)
    widget = getattr(spectrum, control)
    if control != "seed":
        widget.slider.setValue(widget.slider.value() + 3)
    widget.setValue(value)
    wait_idle(qtbot, main_window)
    assert getattr(spectrum.state, control) == pytest.approx(value)
    assert_plane_shows(spectrum)
    assert before.shape != plotted_eigenvalues(spectrum).shape or not np.allclose(before, plotted_eigenvalues(spectrum))
    if control == "scale":  # orthogonal × gain: every eigenvalue on the circle of radius = gain
        np.testing.assert_allclose(np.abs(plotted_eigenvalues(spectrum)), 1.3, rtol=1e-9)
        assert "σ_max·γ = 1.3 ≥ 1: no guarantee" in subtitle(spectrum)


def test_initialiser_choice(spectrum, main_window, qtbot):
    for init in ("gaussian", "identity", "pytorch_default"):  # one window setup for the three
        spectrum.init.set_value(init)
        wait_idle(qtbot, main_window)
        assert spectrum.state.init == init
        assert_plane_shows(spectrum)


def test_memory_horizon_and_rate_readouts(spectrum, main_window, qtbot):
    spectrum.apply_settings({"init": "gaussian", "scale": 0.8, "hidden": 10, "steps": 60, "activation": "tanh"})
    wait_idle(qtbot, main_window)
    sc = spectrum.generator_settings().build()
    logs = np.log10(torch_grad_norms(sc))
    slope = np.polyfit(np.arange(59, -1, -1, dtype=float), logs, 1)[0]  # log10 change per step travelled back
    horizon = math.log10(1e-6) / slope
    assert slope < 0
    assert f"≈ {horizon:.0f} steps" in readout(spectrum, "horizon")
    assert f"× {format_number(10 ** slope)}" in readout(spectrum, "rate")
    assert spectrum.network.network.log10_rate == pytest.approx(slope, abs=1e-9)
    # the badge is the verdict of the same curve against 10⁻⁶ / 10³, and says so
    below = np.nonzero(logs < -6)[0]
    if below.size:
        assert spectrum.badge.text() == f"VANISHING\nbelow 10⁻⁶ from t = {below.max() + 1}"
    else:
        assert spectrum.badge.text() == "HEALTHY\nwithin 10⁻⁶…10³ over T = 60"


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
    assert spectrum.sv_norm_line.value() == pytest.approx(norm)  # σ_max·γ with γ = 1
    assert np.all(np.asarray(largest) <= norm + 1e-12)  # saturation only ever shrinks a step


def test_sigmoid_bound_line_and_circle(spectrum, main_window, qtbot):
    spectrum.apply_preset("sigmoid2")
    wait_idle(qtbot, main_window)
    assert spectrum.sv_norm_line.value() == pytest.approx(2.0 * 0.25)
    gx, gy = spectrum.gamma_circle.getData()
    np.testing.assert_allclose(np.hypot(gx, gy), 4.0)  # ‖W_hh‖₂ = 1/γ
    assert spectrum.gamma_circle.isVisible()
    assert "σ_max·γ = 2 × 0.25 = 0.5 &lt; 1: shrinking guaranteed" in subtitle(spectrum)
    assert spectrum.badge.text().startswith("VANISHING")
    np.testing.assert_allclose(np.abs(plotted_eigenvalues(spectrum)), 2.0, rtol=1e-9)  # all outside |λ| = 1


def test_seeds_matrix_exercise(spectrum, main_window, qtbot):
    spectrum.apply_settings({"matrix": [[0.5, 0.3], [0.2, 0.4]], "activation": "tanh", "steps": 50, "view": "matrix"})
    wait_idle(qtbot, main_window)
    # closed form: λ² − 0.9λ + 0.14 = 0 -> 0.7 and 0.2
    assert "λ: 0.7, 0.2" in spectrum.matrix_label.text()
    mx, my = spectrum.matrix_eig.getData()
    np.testing.assert_allclose(sorted(mx), [0.2, 0.7], atol=1e-12)
    np.testing.assert_allclose(my, 0.0, atol=1e-12)
    w = np.array([[0.5, 0.3], [0.2, 0.4]])
    sigma = float(np.linalg.svd(w, compute_uv=False)[0])
    # the header speaks of this matrix now: its figures, the theorem, the measured verdict
    assert f"<b>{format_number(0.7)}</b>" in readout(spectrum, "radius")
    assert f"<b>{format_number(sigma)}</b>" in readout(spectrum, "norm")
    assert f"σ_max·γ = {format_number(sigma)} &lt; 1: shrinking guaranteed" in subtitle(spectrum)
    assert spectrum.badge.text().startswith("VANISHING")
    steps = 50
    closed = [np.linalg.norm(np.linalg.matrix_power(w.T, steps - t) @ np.ones(2)) for t in range(1, steps + 1)]
    x, y = spectrum.matrix_measured.getData()
    np.testing.assert_allclose(10.0 ** y, closed, rtol=1e-9)
    _, bound = spectrum.matrix_bound.getData()
    np.testing.assert_allclose(bound, math.log10(closed[-1]) + (steps - x) * math.log10(sigma), atol=1e-9)
    assert np.all(y <= bound + 1e-9)
    _, long_run = spectrum.matrix_long_run.getData()
    np.testing.assert_allclose(long_run, math.log10(closed[-1]) + (steps - x) * math.log10(0.7), atol=1e-9)


def test_your_matrix_header_is_the_edited_matrix_not_the_network(spectrum, main_window, qtbot):
    spectrum.apply_settings({"view": "matrix", "scale": 1.4})  # the network: ρ = 1.4, no guarantee
    wait_idle(qtbot, main_window)
    assert "<b>0.7</b>" in readout(spectrum, "radius") and "shrinking guaranteed" in subtitle(spectrum)
    spectrum.tabs.setCurrentIndex(0)
    wait_idle(qtbot, main_window)
    assert "<b>1.4</b>" in readout(spectrum, "radius") and "no guarantee" in subtitle(spectrum)
    assert spectrum.state.view == "eigenvalues"


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
    assert spectrum.matrix() == entries and [list(r) for r in spectrum.state.matrix] == entries
    w = np.array(entries)
    sc = Scenario("rnn", "sigmoid", w, np.zeros((3, 1)), np.zeros(3), np.zeros(3), np.zeros((30, 1)))
    ref = torch_grad_norms(sc)
    np.testing.assert_allclose(10.0 ** spectrum.matrix_measured.getData()[1], ref, rtol=1e-9)
    sigma = float(np.linalg.svd(w, compute_uv=False)[0])
    words = "shrinking guaranteed" if sigma * 0.25 < 1 else "no guarantee"
    assert f"σ_max·γ = {format_number(sigma)} × 0.25 = {format_number(sigma * 0.25)}" in subtitle(spectrum)
    assert words in subtitle(spectrum)
    assert not spectrum.matrix_long_run.isVisible()  # sigmoid's state leaves 0: no linear map to follow
    eig = np.linalg.eigvals(w)
    jx, jy = spectrum.matrix_eig.getData()
    np.testing.assert_allclose(np.sort_complex(np.asarray(jx) + 1j * np.asarray(jy)), np.sort_complex(eig),
                               atol=1e-12)


def test_matrix_editor_refuses_a_bad_entry(spectrum, main_window, qtbot):
    spectrum.apply_settings({"view": "matrix"})
    wait_idle(qtbot, main_window)
    before = spectrum.state
    spectrum.matrix_table.item(0, 1).setText("lots")
    assert spectrum.state == before and spectrum.matrix() == [[0.5, 0.3], [0.2, 0.4]]
    assert spectrum.matrix_table.item(0, 1).text() == "0.3"
    assert main_window.message_bar.isVisible()
    spectrum.matrix_table.item(0, 1).setText("500")  # beyond ±100
    assert spectrum.state == before


def test_matrix_size_and_edits_are_undo_steps(spectrum, main_window, qtbot):
    spectrum.apply_settings({"view": "matrix"})
    wait_idle(qtbot, main_window)
    main_window.undo_stack.clear()
    spectrum.matrix_size.setValue(3)
    wait_idle(qtbot, main_window)
    assert spectrum.state.matrix == ((0.5, 0.3, 0.0), (0.2, 0.4, 0.0), (0.0, 0.0, 0.5))
    spectrum.matrix_table.item(2, 0).setText("−1,5")  # a typographic minus and a decimal comma
    wait_idle(qtbot, main_window)
    assert spectrum.state.matrix[2][0] == -1.5
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert spectrum.state.matrix[2][0] == 0.0 and spectrum.matrix_table.item(2, 0).text() == "0"
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert spectrum.state.matrix == SEED_MATRIX and spectrum.matrix_table.rowCount() == 2
    assert spectrum.matrix_size.value() == 2
    spectrum.example_button.click()  # already the seeds' matrix: nothing to undo
    assert spectrum.state.matrix == SEED_MATRIX


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
    # the header names the three marked medians; the badge says over what the sweep ran
    from gradsim.formatting import format_log10

    for key, norm, value in zip(("radius", "norm", "rate"), (0.8, 1.0, 1.2), marked, strict=True):
        assert f"{norm:.1f} →" in readout(spectrum, key) and f"<b>{format_log10(value)}</b>" in readout(spectrum, key)
    assert spectrum.badge.text() == "T = 12\n3 seeds"
    assert "Shrinking guaranteed for ‖W_hh‖₂ &lt; 1/γ = 1" in subtitle(spectrum)
    assert spectrum.sweep_one.isVisible() and spectrum.sweep_one.value() == 1.0


def test_sweep_is_not_recomputed_for_scale_changes(spectrum, main_window, qtbot):
    sweep = spectrum.sweep
    spectrum.scale.setValue(1.4)
    wait_idle(qtbot, main_window)
    assert spectrum.sweep is sweep
    spectrum.sweep_steps.setValue(20)
    wait_idle(qtbot, main_window)
    assert spectrum.sweep is not sweep and spectrum.sweep.sweep.steps == 20


def test_presets_apply_undo_and_redo(spectrum, main_window, qtbot):
    spectrum.preset_choice.set_value("nonnormal")
    wait_idle(qtbot, main_window)
    assert spectrum.state.preset == "nonnormal" and spectrum.tabs.currentIndex() == 2
    assert spectrum.matrix_table.rowCount() == 4
    assert spectrum.badge.text().startswith("EXPLODING") and "no guarantee" in subtitle(spectrum)
    assert "<b>0.9</b>" in readout(spectrum, "radius")  # every eigenvalue 0.9, and yet
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert spectrum.state == SpectrumState() and spectrum.preset_choice.value() == "custom"
    assert spectrum.matrix_table.rowCount() == 2 and spectrum.tabs.currentIndex() == 0
    main_window.redo()
    wait_idle(qtbot, main_window)
    assert spectrum.state.preset == "nonnormal" and spectrum.badge.text().startswith("EXPLODING")


def test_a_slider_drag_is_one_undo_step(spectrum, main_window, qtbot):
    start = spectrum.state
    for position in (95, 100, 110, 120):  # one drag of the scale: 0.95 ... 1.2
        spectrum.scale.slider.setValue(position)
    wait_idle(qtbot, main_window)
    assert spectrum.state.scale == pytest.approx(1.2)
    np.testing.assert_allclose(np.abs(plotted_eigenvalues(spectrum)), 1.2, rtol=1e-9)
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert spectrum.state == start
    np.testing.assert_allclose(np.abs(plotted_eigenvalues(spectrum)), 0.9, rtol=1e-9)


def _claimed_states():
    states = [("preset " + p.preset_id, {"preset": p.preset_id}) for p in load_presets("spectrum")]
    states += [(f"lesson step {i}", s.settings) for i, s in enumerate(load_builtin_lesson().steps, start=1)
               if s.scene == "spectrum"]
    return states + [("relu", {"activation": "relu", "view": "matrix"}),
                     ("identity 1.05", {"activation": "identity", "scale": 1.05}),
                     ("gaussian 1.5", {"init": "gaussian", "scale": 1.5, "input_scale": 1.0})]


# the default run's share of the sweep below: the non-normal counterexample, the seeds' matrix, the
# lesson's steps and the hand-picked states; every preset with the slow tests
QUICK_CLAIMS = ("preset nonnormal", "preset seeds2x2", "lesson step", "relu", "identity 1.05", "gaussian 1.5")


@pytest.mark.parametrize("every", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["quick", "every"])
def test_prediction_and_badge_never_contradict(spectrum, main_window, qtbot, every):
    """Words the theorem does not allow never appear: no predicted explosion, no "vanishing" promised
    beside a HEALTHY badge, no guaranteed shrinking beside a measured explosion."""
    for what, settings in _claimed_states():
        if not every and not what.startswith(QUICK_CLAIMS):
            continue
        spectrum.apply_settings(settings)
        wait_idle(qtbot, main_window)
        text, badge = subtitle(spectrum), spectrum.badge.text()
        assert "explode" not in text.lower() and "vanish" not in text.lower(), what
        if "shrinking guaranteed" in text and spectrum.state.view != "sweep":
            assert not badge.startswith("EXPLODING"), what
            result = spectrum.study if spectrum.state.view == "matrix" else spectrum.network
            assert result.prediction.vanishing_guaranteed, what


@pytest.mark.parametrize("size", [(1024, 768), pytest.param((800, 600), marks=pytest.mark.slow)],
                         ids=["1024x768", "800x600"])
def test_the_matrix_view_fits_a_projector_without_scrolling(main_window, qtbot, size):
    window = main_window  # the module's window, put back to 1280x800 normal before the next test
    window.toggle_projector()
    window.resize(*size)
    window._follow_size()
    scene = window.show_scene("spectrum")
    scene.apply_settings({"view": "matrix", "matrix": [[0.9, 5, 0, 0], [0, 0.9, 5, 0], [0, 0, 0.9, 5], [0, 0, 0, 0.9]]})
    wait_idle(qtbot, window)
    page = scene.tabs.currentWidget()
    assert not page.findChildren(QScrollArea)
    for widget in (scene.matrix_table, scene.example_button, scene.matrix_plane, scene.matrix_label,
                   scene.matrix_chart):
        bottom = widget.mapTo(page, widget.rect().bottomLeft()).y()
        assert widget.isVisible() and bottom <= page.height(), widget
    assert scene.matrix_chart.height() >= 0.6 * page.height()
    table = scene.matrix_table  # every entry of the 4 × 4 matrix whole, inside the editor's column
    for i in range(4):
        for j in range(4):
            assert table.fontMetrics().horizontalAdvance(table.item(i, j).text()) <= table.columnWidth(j)
    right = table.mapTo(page, table.rect().topRight()).x()
    assert right <= scene.matrix_left.mapTo(page, scene.matrix_left.rect().topRight()).x() + 1
    assert table.viewport().width() >= sum(table.columnWidth(j) for j in range(4))


def test_settings_round_trip_and_refusals(spectrum, main_window, qtbot):
    wanted = {"activation": "relu", "init": "gaussian", "scale": 1.1, "hidden": 12, "seed": 3, "input_scale": 0.4,
              "steps": 40, "matrix": [[0.9, 0.0, 0.1], [0.2, 0.3, 0.0], [0.0, 0.0, 1.5]], "sweep_steps": 30,
              "sweep_seeds": 2, "view": "sweep"}
    spectrum.apply_settings(wanted)
    wait_idle(qtbot, main_window)
    assert spectrum.settings() == {**wanted, "preset": "custom"}
    assert spectrum.matrix() == wanted["matrix"] and spectrum.activation.value() == "relu"
    for partial in ({"matrix": [[0.5, 0.3], [0.2, 0.4]]}, {"scale": 1.0, "init": "orthogonal"}, {"sweep_steps": 50}):
        spectrum.apply_settings(partial)  # what lessons and "show me" buttons send: on the defaults
        wait_idle(qtbot, main_window)
        assert spectrum.state == SpectrumState.from_dict(partial)
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
    assert spectrum.settings() == SpectrumState().to_dict()


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
    np.testing.assert_array_equal(cols["log10_grad_h1_median"], spectrum.sweep.sweep.median)
    spectrum.apply_settings({"view": "eigenvalues"})
    cols = spectrum.export_columns()
    eig = np.linalg.eigvals(current_w(spectrum))
    np.testing.assert_allclose(np.sort(np.asarray(cols["eigenvalue_real"])), np.sort(eig.real), atol=1e-9)
    spectrum.apply_settings({"view": "matrix"})
    wait_idle(qtbot, main_window)
    cols = spectrum.export_columns()
    np.testing.assert_array_equal(cols["log10_grad_norm"], spectrum.study.study.flow.log10_grad_norm)
    assert spectrum.matrix_table.item(0, 0).data(Qt.ItemDataRole.UserRole) == 0.5


def test_every_shipped_show_me_is_accepted(spectrum, main_window, qtbot):
    from ..engine.test_scalar_state import shipped_settings

    shipped = shipped_settings("spectrum")
    assert shipped  # the lessons, quiz and exercises do send settings here
    for settings in shipped:
        spectrum.apply_settings(settings)
        wait_idle(qtbot, main_window)
        for key, value in settings.items():
            assert spectrum.settings()[key] == value


def test_a_quick_undo_draws_the_state_it_returns_to(spectrum, main_window, qtbot):
    spectrum.apply_settings({"view": "matrix"})
    wait_idle(qtbot, main_window)
    before = spectrum.state
    spectrum.matrix_table.item(0, 0).setText("3")
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert spectrum.state == before
    assert np.array_equal(spectrum.study.study.w_hh, np.array(SEED_MATRIX))
    assert spectrum.badge.text().startswith("VANISHING")


def test_sweep_subtitle_is_one_line_on_a_projector(new_window, qtbot):
    """The sweep's subtitle fits beside its badge on a 1024x768 projector: it once wrapped and left
    '= 1' alone on a second line."""
    import html as html_module
    import re

    from PySide6.QtGui import QFontMetrics

    from gradsim.presets import get_preset

    window = new_window(True)
    window.resize(1024, 768)
    window._follow_size()
    scene = window.show_scene("spectrum")
    scene.apply_settings(get_preset("spectrum", "sweep80").settings)
    wait_idle(qtbot, window, timeout=60000)
    settle()
    assert "1/γ" in scene.summary
    plain = html_module.unescape(re.sub(r"<[^>]+>", "", scene.summary))
    assert QFontMetrics(scene.header.font()).horizontalAdvance(plain) <= scene.header.contentsRect().width()


def test_the_norm_circle_says_when_it_lies_under_the_radius_circle(spectrum, main_window, qtbot):
    """An orthogonal W_hh (the default) has ‖W_hh‖₂ = ρ: its dashed circle is hidden under the radius
    circle, so its legend entry says "(= ρ here)"; a Gaussian one's norm circle is apart and drawn."""
    def legend() -> list[str]:
        return [label.text for _sample, label in spectrum.plane.legend.items]

    def radius_and_norm() -> tuple[float, float]:
        w = current_w(spectrum)
        return float(np.max(np.abs(np.linalg.eigvals(w)))), float(np.linalg.svd(w, compute_uv=False)[0])

    radius, norm = radius_and_norm()
    assert spectrum.state.init == "orthogonal" and norm == pytest.approx(radius, rel=1e-9)
    assert "spectral norm σ_max = ‖W_hh‖₂ (= ρ here)" in legend()
    spectrum.apply_settings({"init": "gaussian"})
    wait_idle(qtbot, main_window)
    radius, norm = radius_and_norm()
    assert norm > 1.2 * radius  # a Gaussian matrix is far from normal
    assert "spectral norm σ_max = ‖W_hh‖₂" in legend()
