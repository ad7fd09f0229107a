"""The scalar scene, driven through its real controls, against independent computations (closed forms,
PyTorch float64 autograd and the seeds' published table)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from .conftest import wait_idle

torch = pytest.importorskip("torch")

PUBLISHED_T20 = {0.5: 9.5e-7, 0.7: 7.9e-4, 0.9: 1.2e-1, 1.0: 1.0, 1.1: 6.7, 1.5: 3325, 2.0: 1_048_576}


@pytest.fixture
def scalar(main_window, qtbot):
    scene = main_window.show_scene("scalar")
    wait_idle(qtbot, main_window)
    assert scene.result is not None
    return scene


def cell_value(table, row, col):
    return table.item(row, col).data(Qt.ItemDataRole.UserRole)


def power_table_rows(scene):
    table = scene.power_table
    return [(cell_value(table, i, 0), cell_value(table, i, 1), table.item(i, 1).text(), table.item(i, 2).text())
            for i in range(table.rowCount())]


def torch_trace(w, steps, h0):
    """h_t and dh_t/dh_0 by autograd."""
    start = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    h, hs, grads = start, [], []
    for _ in range(steps):
        h = torch.tanh(w * h)
        hs.append(h)
    for s in hs:
        (g,) = torch.autograd.grad(s, start, retain_graph=True)
        grads.append(g.item())
    return np.array([s.item() for s in hs]), np.array(grads)


def test_default_table_shows_the_seeds_numbers(scalar):
    rows = power_table_rows(scalar)
    assert [r[0] for r in rows] == [0.5, 0.7, 0.9, 1.0, 1.1, 1.5, 2.0]  # the user's 0.5 is already a row
    for w, log10_value, _text, reading in rows:
        assert 10 ** log10_value == pytest.approx(PUBLISHED_T20[w], rel=0.02)
        assert 10 ** log10_value == pytest.approx(w ** 20, rel=1e-12)
        assert reading
    texts = {r[0]: r[2] for r in rows}
    assert texts[0.5] == "9.54 × 10⁻⁷" and texts[1.5] == "3,325" and texts[2.0] == "1,048,576"
    assert scalar.badge.text().startswith("wᵀ = 9.54 × 10⁻⁷")


def test_w_slider_adds_the_users_row_and_curve(scalar, main_window, qtbot):
    scalar.w.slider.setValue(scalar.w.slider.value() + 30)  # drag the real slider: 0.5 -> 0.8
    wait_idle(qtbot, main_window)
    w = scalar.job().w
    assert w == pytest.approx(0.8)
    rows = power_table_rows(scalar)
    assert len(rows) == 8
    user = [r for r in rows if r[0] == pytest.approx(0.8)]
    assert len(user) == 1 and user[0][1] == pytest.approx(20 * math.log10(0.8))
    assert "yours" in scalar.power_table.item([r[0] for r in rows].index(user[0][0]), 0).text()
    # each curve is log10 w^t for its row's w
    for item, row in zip(scalar.power_items, rows, strict=False):
        x, y = item.getData()
        np.testing.assert_array_equal(x, np.arange(21.0))
        np.testing.assert_allclose(10.0 ** y, np.power(row[0], x), rtol=1e-12)


def test_steps_change_the_exponent_beyond_float64(scalar, main_window, qtbot):
    scalar.apply_settings({"w": 3.0, "steps": 200})
    wait_idle(qtbot, main_window)
    rows = dict((r[0], r[1]) for r in power_table_rows(scalar))
    assert rows[3.0] == pytest.approx(200 * math.log10(3.0))
    assert rows[0.5] == pytest.approx(200 * math.log10(0.5))
    assert scalar.badge.text().split("\n")[1] == "explodes"


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
    scalar.apply_settings({"w": 0.5, "steps": 10, "h0": 0.1, "view": "trace"})
    wait_idle(qtbot, main_window)
    table = scalar.trace_table
    # published: t=1 h=0.04996 local=0.49875 cumprod=4.988e-01 ... t=10 cumprod=9.733e-04
    assert table.item(0, 1).text() == "0.04996"
    assert cell_value(table, 0, 2) == pytest.approx(0.49875, abs=5e-6)
    assert cell_value(table, 9, 3) == pytest.approx(9.733e-4, rel=1e-3)


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
        typical = z.grad.mean().item()
        closed_max = {"sigmoid": 0.25}.get(name, 1.0)
        assert cell_value(table, i, 1) == pytest.approx(closed_max, abs=1e-9)
        assert cell_value(table, i, 2) == pytest.approx(typical, rel=1e-12)
        assert cell_value(table, i, 3) == pytest.approx(closed_max ** 10, rel=1e-8)
        assert cell_value(table, i, 4) == pytest.approx(closed_max ** 50, rel=1e-7)
    # seeds: sigmoid's best case after 10 steps is about 1e-6, after 50 about 1e-30
    assert math.log10(cell_value(table, rows["sigmoid"], 3)) == pytest.approx(-6, abs=0.05)
    assert math.log10(cell_value(table, rows["sigmoid"], 4)) == pytest.approx(-30, abs=0.2)


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


def test_settings_round_trip_and_refusals(scalar, main_window, qtbot):
    wanted = {"w": 1.25, "steps": 33, "h0": -0.3, "spread": 0.45, "seed": 12, "speed": 7, "row": 5,
              "view": "activations"}
    scalar.apply_settings(wanted)
    wait_idle(qtbot, main_window)
    got = scalar.settings()
    assert got == wanted
    scalar.apply_settings({"w": 0.5, "steps": 20})  # what lessons and "show me" buttons send
    wait_idle(qtbot, main_window)
    assert scalar.settings()["w"] == 0.5 and scalar.settings()["steps"] == 20
    before = scalar.settings()
    for bad in ({"w": 0}, {"w": 5.0}, {"w": "big"}, {"steps": 0}, {"steps": 2.5}, {"steps": 1000},
                {"colour": "red"}, {"view": "nowhere"}, {"row": 30}, {"h0": float("nan")}, {"seed": True}):
        with pytest.raises(ValueError):
            scalar.apply_settings(bad)
    assert scalar.settings() == before
    scalar.reset()
    wait_idle(qtbot, main_window)
    assert scalar.settings()["w"] == 0.5 and scalar.settings()["view"] == "powers"


def test_projector_theme_redraws_same_numbers(scalar, main_window, qtbot):
    before = power_table_rows(scalar)
    main_window.toggle_projector()
    wait_idle(qtbot, main_window)
    assert power_table_rows(scalar) == before
    assert highlighted_rows(scalar) == [0]


def test_export_columns_come_from_the_engine(scalar, main_window, qtbot):
    scalar.apply_settings({"view": "trace", "w": 0.7, "steps": 15})
    wait_idle(qtbot, main_window)
    cols = scalar.export_columns()
    h_ref, grad_ref = torch_trace(0.7, 15, 0.1)
    np.testing.assert_allclose(cols["h"], h_ref, rtol=1e-12)
    np.testing.assert_allclose(cols["cumprod"], grad_ref, rtol=1e-9)


def _shipped_settings(scene_id):
    """Every settings dict the shipped lessons, quiz, exercises and timeline send to this scene."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "gradsim" / "resources"
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("scene") == scene_id and isinstance(node.get("settings"), dict):
                found.append(node["settings"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(root.rglob("*.json")):
        try:
            walk(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
    return found


def test_every_shipped_show_me_is_accepted(scalar, main_window, qtbot):
    shipped = _shipped_settings("scalar")
    assert shipped  # the lessons and the timeline do send settings here
    for settings in shipped:
        scalar.apply_settings(settings)
        wait_idle(qtbot, main_window)
        for key, value in settings.items():
            assert scalar.settings()[key] == value
