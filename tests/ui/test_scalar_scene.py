"""The scalar scene, driven through its real controls, against independent computations (closed forms,
PyTorch float64 autograd and the seeds' published table)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsTextItem

from gradsim.states.scalar import ScalarState

from .conftest import wait_idle

torch = pytest.importorskip("torch")

PUBLISHED_T20 = {0.5: 9.5e-7, 0.7: 7.9e-4, 0.9: 1.2e-1, 1.0: 1.0, 1.1: 6.7, 1.5: 3325, 2.0: 1_048_576}


@pytest.fixture
def start_scene():
    return "scalar"  # each test starts on this scene (see conftest)


@pytest.fixture
def scalar(main_window, qtbot):
    scene = main_window.show_scene("scalar")
    wait_idle(qtbot, main_window)
    assert scene.result is not None
    return scene


def cell_value(table, row, col):
    return table.item(row, col).data(Qt.ItemDataRole.UserRole)


def torch_trace(w, steps, h0):
    """hₜ and dhₜ/dh₀ by autograd."""
    start = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    h, hs, grads = start, [], []
    for _ in range(steps):
        h = torch.tanh(w * h)
        hs.append(h)
    for s in hs:
        (g,) = torch.autograd.grad(s, start, retain_graph=True)
        grads.append(g.item())
    return np.array([s.item() for s in hs]), np.array(grads)


def shown_rows(scene):
    """(w, log10 wᵀ, the wᵀ text, the reading text) of every part of the table, from the cells."""
    out = []
    for table in scene.power_tables:  # the parts in use; the others have no rows
        for i in range(table.rowCount()):
            out.append((cell_value(table, i, 0), cell_value(table, i, 1), table.item(i, 1).text(),
                        table.item(i, 2).text()))
    return out


def highlighted_power_rows(scene):
    colour = QColor(scene.theme.highlight)
    return [cell_value(table, i, 0) for table in scene.power_tables for i in range(table.rowCount())
            if table.item(i, 0).background().color() == colour]


def test_default_table_shows_the_seeds_numbers(scalar):
    rows = shown_rows(scalar)
    assert [r[0] for r in rows] == [0.5, 0.7, 0.9, 1.0, 1.1, 1.5, 2.0]  # the user's 0.5 is already a row
    for w, log10_value, _text, reading in rows:
        assert 10 ** log10_value == pytest.approx(PUBLISHED_T20[w], rel=0.02)
        assert 10 ** log10_value == pytest.approx(w ** 20, rel=1e-12)
        assert reading
    texts = {r[0]: r[2] for r in rows}
    assert texts[0.5] == "9.54 × 10⁻⁷" and texts[1.5] == "3,325" and texts[2.0] == "1.05 × 10⁶"
    assert highlighted_power_rows(scalar) == [0.5]
    assert scalar.badge.text() == "VANISHING · wᵀ = 9.54 × 10⁻⁷ < 10⁻⁶"


def test_w_slider_adds_the_users_row_and_curve(scalar, main_window, qtbot):
    scalar.w.slider.setValue(scalar.w.slider.value() + 30)  # drag the real slider: 0.5 -> 0.8
    wait_idle(qtbot, main_window)
    assert scalar.state.w == pytest.approx(0.8)
    rows = shown_rows(scalar)
    assert len(rows) == 8
    assert [r[0] for r in rows] == sorted([0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0])
    user = [r for r in rows if r[0] == pytest.approx(0.8)]
    assert len(user) == 1 and user[0][1] == pytest.approx(20 * math.log10(0.8))
    assert highlighted_power_rows(scalar) == [pytest.approx(0.8)]
    # each curve is log10 wᵗ for its row's w
    for item, row in zip(scalar.power_items, rows, strict=False):
        x, y = item.getData()
        np.testing.assert_array_equal(x, np.arange(21.0))
        np.testing.assert_allclose(10.0 ** y, np.power(row[0], x), rtol=1e-12)
    # 0.8²⁰ = 0.0115: healthy, on its way down
    assert scalar.badge.text() == "HEALTHY · wᵀ = 0.0115 ≥ 10⁻⁶"


def test_steps_change_the_exponent_beyond_float64(scalar, main_window, qtbot):
    scalar.apply_settings({"w": 3.0, "steps": 200})
    wait_idle(qtbot, main_window)
    rows = {r[0]: r[1] for r in shown_rows(scalar)}
    assert rows[3.0] == pytest.approx(200 * math.log10(3.0))
    assert rows[0.5] == pytest.approx(200 * math.log10(0.5))
    assert scalar.badge.text() == "EXPLODING · wᵀ = 2.66 × 10⁹⁵ > 10³"


def test_threshold_names_sit_in_the_margin_not_on_curves(scalar):
    """The chart's only words about the thresholds are right-axis ticks at their heights."""
    plot = scalar.power_chart.getPlotItem()
    ticks = plot.getAxis("right")._tickLevels[0]
    assert [(v, text) for v, text in ticks] == [(-6.0, "10⁻⁶ vanishing"), (3.0, "10³ exploding")]
    view_rect = plot.vb.sceneBoundingRect()
    for item in scalar.power_chart.scene().items():
        if isinstance(item, QGraphicsTextItem) and item.isVisible() and item.toPlainText().strip():
            assert not view_rect.intersects(item.sceneBoundingRect()), item.toPlainText()


@pytest.mark.parametrize("w, h0", [(0.5, 0.1), (1.3, 0.4), (2.0, -0.7)])
def test_trace_table_equals_autograd(scalar, main_window, qtbot, w, h0):
    scalar.w.setValue(w)
    scalar.h0.setValue(h0)
    scalar.steps.setValue(30)
    wait_idle(qtbot, main_window)
    h_ref, grad_ref = torch_trace(w, 30, h0)
    table = scalar.trace_table
    assert table.rowCount() == 30
    for i in range(30):
        assert cell_value(table, i, 0) == i + 1
        assert cell_value(table, i, 1) == pytest.approx(h_ref[i], rel=1e-12, abs=1e-300)
        assert cell_value(table, i, 2) == pytest.approx(w * (1 - h_ref[i] ** 2), rel=1e-12)
        assert cell_value(table, i, 3) == pytest.approx(grad_ref[i], rel=1e-9)
    x, y = scalar.trace_curve.getData()
    np.testing.assert_allclose(10.0 ** y, np.abs(grad_ref), rtol=1e-9)


def test_trace_matches_the_seeds_printout(scalar, main_window, qtbot):
    scalar.apply_preset("trace")
    wait_idle(qtbot, main_window)
    assert scalar.tabs.currentIndex() == 1
    table = scalar.trace_table
    # published: t=1 h=0.04996 local=0.49875 cumprod=4.988e-01 ... t=10 cumprod=9.733e-04
    assert table.item(0, 1).text() == "0.04996"
    assert cell_value(table, 0, 2) == pytest.approx(0.49875, abs=5e-6)
    assert cell_value(table, 9, 3) == pytest.approx(9.733e-4, rel=1e-3)
    assert table.item(9, 3).text() == "9.73 × 10⁻⁴"


def highlighted_rows(scene):
    table = scene.trace_table
    colour = QColor(scene.theme.highlight)
    return [i for i in range(table.rowCount()) if table.item(i, 0).background().color() == colour]


def test_animation_steps_plays_and_rewinds(scalar, main_window, qtbot):
    scalar.apply_settings({"steps": 12, "view": "trace"})
    wait_idle(qtbot, main_window)
    assert highlighted_rows(scalar) == [0]
    scalar.fwd_button.click()
    scalar.fwd_button.click()
    assert scalar.current_row == 2 and highlighted_rows(scalar) == [2]
    assert scalar.trace_cursor.value() == 3.0
    scalar.back_button.click()
    assert highlighted_rows(scalar) == [1]
    scalar.speed.setValue(20)
    scalar.play_button.click()
    assert scalar.playing
    qtbot.waitUntil(lambda: scalar.current_row == 11, timeout=5000)
    qtbot.waitUntil(lambda: not scalar.playing, timeout=2000)  # stops at the last row
    assert highlighted_rows(scalar) == [11]
    scalar.rewind_button.click()
    assert scalar.current_row == 0 and highlighted_rows(scalar) == [0]


def test_a_lesson_row_and_a_shorter_trace(scalar, main_window, qtbot):
    scalar.apply_settings({"steps": 30, "row": 20, "view": "trace"})
    wait_idle(qtbot, main_window)
    assert scalar.current_row == 19 and highlighted_rows(scalar) == [19]
    scalar.steps.setValue(10)  # the trace gets shorter than the row on show
    wait_idle(qtbot, main_window)
    assert scalar.state.row == 10 and scalar.current_row == 9 and highlighted_rows(scalar) == [9]


def test_play_from_another_view_shows_the_trace(scalar, main_window, qtbot):
    assert scalar.state.view == "powers"
    scalar.play_button.click()
    assert scalar.playing and scalar.state.view == "trace" and scalar.tabs.currentIndex() == 1
    scalar.play_button.click()
    assert not scalar.playing


def test_animation_as_a_function_of_time(scalar, main_window, qtbot):
    """What recording and handouts use: the trace's length at its speed, and the row at a time."""
    assert scalar.animation_length() is None  # the wᵀ view is a still
    scalar.apply_settings({"steps": 12, "speed": 4, "view": "trace"})
    wait_idle(qtbot, main_window)
    assert scalar.animation_length() == pytest.approx(11 / 4)
    scalar.seek_animation(1.0)
    assert scalar.current_row == 4 and highlighted_rows(scalar) == [4] and not scalar.playing
    scalar.seek_animation(99.0)
    assert scalar.current_row == 11


def test_keyboard_hooks_drive_the_animation(scalar, main_window, qtbot):
    scalar.apply_settings({"steps": 8, "view": "trace"})
    wait_idle(qtbot, main_window)
    actions = {a.shortcut().toString(): a for a in main_window.findChildren(type(main_window.undo_action))}
    actions["Right"].trigger()
    actions["Right"].trigger()
    assert scalar.current_row == 2
    actions["Left"].trigger()
    assert scalar.current_row == 1
    actions["Space"].trigger()
    assert scalar.playing
    actions["Space"].trigger()
    assert not scalar.playing
    actions["R"].trigger()
    assert scalar.current_row == 0


def test_activation_view_equals_autograd(scalar):
    fns = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "identity": lambda z: z}
    for name, item in scalar.act_items.items():
        x, y = item.getData()
        z = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        fns[name](z).sum().backward()
        np.testing.assert_allclose(y, z.grad.numpy(), atol=1e-15)
    table = scalar.act_table
    rows = {table.item(i, 0).text(): i for i in range(table.rowCount())}
    for name, f in fns.items():
        i = rows[name]
        z = torch.tensor([-1.0, 1.0], dtype=torch.float64, requires_grad=True)
        f(z).sum().backward()
        at_minus, at_plus = z.grad.tolist()
        closed_max = {"sigmoid": 0.25}.get(name, 1.0)
        assert cell_value(table, i, 1) == pytest.approx(closed_max, abs=1e-9)
        assert cell_value(table, i, 2) == pytest.approx(at_minus, rel=1e-12)
        assert cell_value(table, i, 3) == pytest.approx(at_plus, rel=1e-12)
        assert cell_value(table, i, 4) == pytest.approx(closed_max ** 10, rel=1e-8)
        assert cell_value(table, i, 5) == pytest.approx(closed_max ** 50, rel=1e-7)
    # ReLU: 0 at −1 and 1 at +1 (not their mean, 0.5, a slope ReLU never has)
    assert (table.item(rows["relu"], 2).text(), table.item(rows["relu"], 3).text()) == ("0", "1")
    # seeds: sigmoid's best case after 10 steps is about 1e-6, after 50 about 1e-30
    assert math.log10(cell_value(table, rows["sigmoid"], 4)) == pytest.approx(-6, abs=0.05)
    assert math.log10(cell_value(table, rows["sigmoid"], 5)) == pytest.approx(-30, abs=0.2)


def test_feedforward_view_follows_its_controls(scalar, main_window, qtbot):
    scalar.apply_settings({"view": "feedforward", "w": 0.9, "steps": 40})
    scalar.spread.slider.setValue(scalar.spread.slider.value() + 20)  # 0.30 -> 0.50
    scalar.seed.setValue(7)
    wait_idle(qtbot, main_window)
    weights = scalar.layer_points.getData()[1]
    assert len(weights) == 40
    assert np.all((weights >= 0.4 - 1e-12) & (weights <= 1.4 + 1e-12))
    x, y = scalar.ff_curve.getData()
    np.testing.assert_allclose(10.0 ** y, np.abs(np.cumprod(weights)), rtol=1e-10)
    _, yr = scalar.rec_curve.getData()
    np.testing.assert_allclose(10.0 ** yr, 0.9 ** np.arange(1, 41), rtol=1e-12)
    before = weights.copy()
    scalar.seed.setValue(8)
    wait_idle(qtbot, main_window)
    assert not np.array_equal(before, scalar.layer_points.getData()[1])
    scalar.spread.setValue(0.0)
    wait_idle(qtbot, main_window)
    np.testing.assert_allclose(scalar.ff_curve.getData()[1], scalar.rec_curve.getData()[1], atol=1e-12)


def test_presets_apply_undo_and_redo(scalar, main_window, qtbot):
    scalar.preset_choice.set_value("explode15")
    wait_idle(qtbot, main_window)
    assert (scalar.state.w, scalar.state.steps, scalar.state.preset) == (1.5, 20, "explode15")
    assert scalar.w.value() == pytest.approx(1.5)
    assert scalar.badge.text() == "EXPLODING · wᵀ = 3,325 > 10³"
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert scalar.state == ScalarState() and scalar.preset_choice.value() == "custom"
    assert scalar.w.value() == pytest.approx(0.5) and scalar.badge.text().startswith("VANISHING")
    main_window.redo()
    wait_idle(qtbot, main_window)
    assert scalar.state.preset == "explode15" and scalar.badge.text().startswith("EXPLODING")
    scalar.tabs.setCurrentIndex(2)  # another view keeps the preset's claim
    assert scalar.state.preset == "explode15" and scalar.state.view == "activations"


def test_a_slider_drag_is_one_undo_step(scalar, main_window, qtbot):
    start = scalar.state
    for position in (55, 60, 70, 90):  # one drag: w 0.56, 0.61, 0.71, 0.91
        scalar.w.slider.setValue(position)
    wait_idle(qtbot, main_window)
    assert scalar.state.w == pytest.approx(0.91)
    assert any(r[0] == pytest.approx(0.91) for r in shown_rows(scalar))
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert scalar.state == start and scalar.w.value() == pytest.approx(0.5)
    assert len(shown_rows(scalar)) == 7


def test_settings_round_trip_and_refusals(scalar, main_window, qtbot):
    wanted = {"w": 1.25, "steps": 33, "h0": -0.3, "spread": 0.45, "seed": 12, "speed": 7, "row": 5,
              "view": "activations"}
    scalar.apply_settings(wanted)
    wait_idle(qtbot, main_window)
    got = scalar.settings()
    assert got == {**wanted, "preset": "custom"}
    assert scalar.tabs.currentIndex() == 2 and scalar.w.value() == pytest.approx(1.25)
    scalar.apply_settings({"w": 0.5, "steps": 20})  # what lessons and "show me" buttons send: on the defaults
    wait_idle(qtbot, main_window)
    assert scalar.settings() == ScalarState().to_dict()
    before = scalar.settings()
    for bad in ({"w": 0}, {"w": 5.0}, {"w": "big"}, {"steps": 0}, {"steps": 2.5}, {"steps": 1000},
                {"colour": "red"}, {"view": "nowhere"}, {"row": 30}, {"h0": float("nan")}, {"seed": True}):
        with pytest.raises(ValueError):
            scalar.apply_settings(bad)
    assert scalar.settings() == before


def test_projector_theme_redraws_same_numbers(scalar, main_window, qtbot):
    before = shown_rows(scalar)
    main_window.toggle_projector()
    wait_idle(qtbot, main_window)
    assert shown_rows(scalar) == before
    assert scalar.power_tables[0].font().pixelSize() == main_window.theme.small_px


def test_export_columns_come_from_the_engine(scalar, main_window, qtbot):
    scalar.apply_settings({"view": "trace", "w": 0.7, "steps": 15})
    wait_idle(qtbot, main_window)
    cols = scalar.export_columns()
    h_ref, grad_ref = torch_trace(0.7, 15, 0.1)
    np.testing.assert_allclose(cols["h"], h_ref, rtol=1e-12)
    np.testing.assert_allclose(cols["cumprod"], grad_ref, rtol=1e-9)


def test_every_shipped_show_me_is_accepted(scalar, main_window, qtbot):
    from ..engine.test_scalar_state import shipped_settings

    shipped = shipped_settings("scalar")
    assert shipped  # the lessons and the timeline do send settings here
    for settings in shipped:
        scalar.apply_settings(settings)
        wait_idle(qtbot, main_window)
        for key, value in settings.items():
            assert scalar.settings()[key] == value
        assert scalar.tabs.currentIndex() == ("powers", "trace", "activations", "feedforward").index(
            scalar.state.view)


def test_the_table_is_whole_on_a_projector(main_window, qtbot):
    """Every cell of the wᵀ table shows its whole text (the reading column was cut at 1024 pixels)."""
    window = main_window  # the module's window, put back to 1280x800 normal before the next test
    window.toggle_projector()
    window.resize(1024, 768)
    window._follow_size()
    scene = window.show_scene("scalar")
    scene.apply_settings({"w": 0.8})  # eight rows, the longest readings
    wait_idle(qtbot, window)
    assert window.width() == 1024
    assert [t.isVisible() for t in scene.power_tables] == [True, True, False, False]  # two parts of four rows
    for table in scene.power_tables[:2]:
        metrics = table.fontMetrics()
        for i in range(table.rowCount()):
            for j in range(table.columnCount()):
                item = table.item(i, j)
                need = metrics.horizontalAdvance(item.text()) + (table.iconSize().width() if j == 0 else 0)
                assert need <= table.columnWidth(j), (item.text(), need, table.columnWidth(j))
        right = table.mapTo(window, table.rect().topRight()).x()
        assert right <= window.width()


def test_a_quick_undo_draws_the_state_it_returns_to(scalar, main_window, qtbot):
    """An undo before the worker answers: the picture ends on the state shown, not the one left."""
    scalar.w.setValue(1.7)
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert scalar.state == ScalarState() and scalar.result.job == scalar.state.job()
    assert scalar.badge.text().startswith("VANISHING")


def test_lesson_activation_caption_numbers_are_in_the_table(scalar, main_window, qtbot):
    """The built-in lesson's step on the activations names numbers the class can find on the screen:
    every power its caption computes is a cell of the table that step shows (its caption once said
    0.25²⁰ while the table has the 10th and 50th powers only)."""
    from gradsim.lesson import load_builtin_lesson

    steps = [s for s in load_builtin_lesson().steps
             if s.scene == "scalar" and s.settings.get("view") == "activations"]
    assert steps
    for step in steps:
        scalar.apply_settings(step.settings)
        wait_idle(qtbot, main_window)
        table = scalar.act_table
        shown = {table.item(r, c).text() for r in range(table.rowCount()) for c in range(table.columnCount())
                 if table.item(r, c) is not None}
        numbers = re.findall(r"\d+(?:\.\d+)? × 10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+", step.rendered_caption)
        assert numbers
        for number in numbers:
            assert number in shown, (number, step.rendered_caption)


def test_axis_titles_fit_their_axes_on_a_projector(new_window, qtbot):
    """On a 1024x768 projector the feedforward view's lower chart is short: an axis title longer
    than its axis ran up into the legend above ("weight of layer k" did)."""
    from gradsim.presets import load_presets

    from .conftest import settle

    window = new_window(True)
    window.resize(1024, 768)
    window._follow_size()
    scene = window.show_scene("scalar")
    layers = next(p for p in load_presets("scalar") if p.settings.get("view") == "feedforward")
    scene.apply_settings(layers.settings)
    wait_idle(qtbot, window)
    settle()
    for chart in (scene.ff_chart, scene.layer_chart):
        axis = chart.getPlotItem().getAxis("left")
        title = axis.label.mapRectToScene(axis.label.boundingRect())
        assert title.height() <= axis.size().height() + 1, (axis.labelText, title.height(), axis.size().height())
