"""The gates scene driven through its real controls, with the real engine behind it: every curve,
lane, badge and diagram edge is checked against ``compare_cells`` computed independently here."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine.cells import compare_cells
from gradsim.ui.plots import format_power

from .conftest import wait_idle

ROOT = Path(__file__).resolve().parents[2]
CURVE_SOURCES = {"rnn": ("rnn", "log10_grad_norm"), "lstm": ("lstm", "log10_grad_norm"),
                 "gru": ("gru", "log10_grad_norm"), "lstm_c": ("lstm", "log10_cell_grad_norm")}


@pytest.fixture
def gates(main_window, qtbot):
    scene = main_window.show_scene("gates")
    wait_idle(qtbot, main_window)
    assert scene.result is not None
    return scene


def expected(scene):
    vanish, explode = scene.thresholds()
    return compare_cells(scene.generator_settings(), vanish, explode)


def assert_shows_engine(scene):
    ref = expected(scene)
    for key, (cell, attr) in CURVE_SOURCES.items():
        x, y = (np.asarray(v) for v in scene.curves[key].getData())
        want = getattr(ref.results[cell], attr)
        np.testing.assert_array_equal(x, np.arange(1, want.size + 1, dtype=float))
        finite = np.isfinite(want)
        np.testing.assert_allclose(y[finite], want[finite], rtol=1e-12, atol=1e-12)
    for cell in ("rnn", "lstm", "gru"):
        verdict = ref.results[cell].verdict
        assert scene.badges[cell].text().split("\n")[0].endswith(verdict.kind)
        if verdict.first_t is not None:
            assert f"t = {verdict.first_t}" in scene.badges[cell].text()
    lanes = scene.lanes.logs
    for lane, (cell, attr) in zip(lanes, [CURVE_SOURCES[k] for k in ("rnn", "gru", "lstm", "lstm_c")], strict=True):
        np.testing.assert_array_equal(lane, getattr(ref.results[cell], attr))
    for cell, edges in ref.edges.items():
        for edge in edges:
            if edge.kind == "step":
                continue
            parts = scene.diagrams.edge_items[(cell, edge.key)]
            assert parts["factor"] == pytest.approx(edge.factor, rel=1e-12)
            assert f"{edge.factor:.2f}" in parts["text"].toPlainText()
    return ref


def test_opens_with_engine_values(gates):
    ref = assert_shows_engine(gates)
    # defaults: forget bias 1, T = 200: all three vanish, the LSTM the least
    assert gates.generator_settings().forget_bias == 1.0 and ref.rnn.steps == 200
    assert ref.lstm.log10_grad_norm[0] > ref.rnn.log10_grad_norm[0]


def test_forget_bias_slider_opens_the_highway(gates, main_window, qtbot):
    slider = gates.forget_bias.slider
    slider.setValue(slider.value() + 5)  # drag the real slider
    wait_idle(qtbot, main_window)
    gates.forget_bias.spin.setValue(3.0)  # and type the lesson's value
    wait_idle(qtbot, main_window)
    assert gates.generator_settings().forget_bias == pytest.approx(3.0)
    ref = assert_shows_engine(gates)
    assert ref.lstm.grad_norm[0] > 1e-6 > ref.rnn.grad_norm[0]
    assert gates.badges["lstm"].text().startswith("LSTM: healthy")
    assert gates.badges["rnn"].text().startswith("RNN: vanishing")
    forget = gates.diagrams.edge_items[("lstm", "forget")]
    assert forget["factor"] > 0.9 and forget["halo"].getData()[0].size == 2  # the highlighted additive path


@pytest.mark.parametrize(("control", "value"), [
    ("steps", 57), ("hidden", 9), ("input_scale", 0.35), ("scale", 1.4),
])
def test_each_slider_redraws_engine_values(gates, main_window, qtbot, control, value):
    widget = getattr(gates, control)
    before = np.asarray(gates.curves["lstm"].getData()[1]).copy()
    widget.slider.setValue(widget.slider.value() + 2)
    widget.setValue(value)
    wait_idle(qtbot, main_window)
    assert getattr(gates.generator_settings(), control) == pytest.approx(value)
    assert_shows_engine(gates)
    after = np.asarray(gates.curves["lstm"].getData()[1])
    assert before.shape != after.shape or not np.array_equal(before, after)


@pytest.mark.parametrize("init", ["orthogonal", "identity", "pytorch_default"])
def test_initialiser_choice(gates, main_window, qtbot, init):
    gates.init.set_value(init)
    wait_idle(qtbot, main_window)
    assert gates.generator_settings().init == init
    assert_shows_engine(gates)


def test_seed_and_thresholds(gates, main_window, qtbot):
    gates.seed.setValue(12)
    gates.vanish_exp.setValue(-12)
    gates.explode_exp.setValue(2)
    wait_idle(qtbot, main_window)
    ref = assert_shows_engine(gates)
    assert ref.rnn.verdict.vanish_threshold == pytest.approx(1e-12)
    assert gates.vanish_line.value() == pytest.approx(-12)
    assert gates.explode_line.value() == pytest.approx(2)


def test_diagram_colours_follow_the_colour_bar(gates):
    from pyqtgraph import colormap

    cmap = colormap.get(gates.theme.colormap)
    lo, hi = -1.5, 0.5
    for (cell, key), parts in gates.diagrams.edge_items.items():
        factor = parts["factor"]
        position = (min(max(math.log10(factor), lo), hi) - lo) / (hi - lo)
        want = cmap.map(position, mode="qcolor")
        assert parts["line"].opts["pen"].color().name() == want.name(), (cell, key)
    # the titles carry the measured factor per step from the engine
    ref = expected(gates)
    assert f"{ref.lstm.edge('step_c').factor:.3f}" in gates.diagrams.titles["lstm"].text


def test_pulse_on_all_lanes(gates, main_window, qtbot):
    gates.apply_settings({"steps": 30})
    wait_idle(qtbot, main_window)
    ref = expected(gates)
    gates.rewind()
    assert gates.pulse.position == 31
    assert gates.lanes.unlit_steps == 30  # nothing lit before the pulse leaves L
    assert gates.lanes.unlit.rect().width() == 30 and gates.lanes.unlit.rect().height() == 4
    gates.step(1)
    assert gates.lanes.unlit_steps == 29 and gates.lanes.unlit.rect().right() == pytest.approx(29.5)
    assert gates.cursor.value() == 30
    gates.step(1)
    text = gates.pulse_label.text()
    assert text.startswith("t = 29")
    for value in (ref.rnn.log10_grad_norm[28], ref.gru.log10_grad_norm[28], ref.lstm.log10_grad_norm[28],
                  ref.lstm.log10_cell_grad_norm[28]):
        assert format_power(float(value), 2) in text
    gates.speed.setValue(200)
    gates.play_pause()
    assert gates.pulse.playing
    qtbot.waitUntil(lambda: not gates.pulse.playing, timeout=5000)
    assert gates.pulse.position == 1.0 and gates.lanes.unlit_steps == 0
    assert np.allclose(gates.lanes.pulse.getData()[0], 1.0)


def test_below_float64_is_marked_not_dropped(gates, main_window, qtbot):
    gates.apply_settings({"steps": 1000, "init": "pytorch_default", "scale": 1.0, "forget_bias": 0.0})
    wait_idle(qtbot, main_window)
    ref = assert_shows_engine(gates)
    beyond = int(ref.rnn.underflow.sum() + ref.gru.underflow.sum() + ref.lstm.underflow.sum()
                 + ref.lstm.cell_beyond_float.sum())
    assert beyond > 0
    assert len(gates.below_float.getData()[0]) == beyond
    for curve in gates.curves.values():
        assert np.all(np.isfinite(curve.getData()[1]))


def test_presets(gates, main_window, qtbot):
    gates.preset.set_value("fb3")
    wait_idle(qtbot, main_window)
    assert gates.generator_settings().forget_bias == 3.0
    assert_shows_engine(gates)
    gates.preset.set_value("long")
    wait_idle(qtbot, main_window)
    s = gates.generator_settings()
    assert (s.steps, s.forget_bias) == (1000, 5.0)
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert gates.generator_settings().steps == 200


def test_settings_round_trip_and_refusals(gates):
    gates.apply_settings({"forget_bias": 2.5, "steps": 80, "init": "orthogonal", "seed": 3, "vanish": 1e-4,
                          "speed": 50})
    state = gates.settings()
    gates.reset()
    assert gates.settings() != state
    gates.apply_settings(state)
    assert gates.settings() == state
    json.dumps(state)
    for bad in ({"forget_bias": 7}, {"forget_bias": -1}, {"steps": 0}, {"steps": 5000}, {"hidden": 1000},
                {"init": "xavier"}, {"colour": "red"}, {"vanish": 10}, {"preset": "nope"}, {"speed": 0},
                {"cell": "lstm"}):
        with pytest.raises(ValueError):
            gates.apply_settings(bad)
    assert gates.settings() == state  # refusals change nothing


def test_projector_on_a_small_screen_uses_tabs(gates, main_window, qtbot):
    main_window.resize(1024, 768)
    qtbot.wait(50)
    assert not gates.compact and gates.splitter.isVisible()
    main_window.toggle_projector()
    qtbot.waitUntil(lambda: gates.compact, timeout=3000)
    assert gates.tabs.isVisible() and not gates.splitter.isVisible()
    assert gates.diagrams.vertical
    assert_shows_engine(gates)
    main_window.toggle_projector()
    qtbot.waitUntil(lambda: not gates.compact, timeout=3000)
    assert not gates.diagrams.vertical and gates.splitter.isVisible()


def test_csv_export_is_engine_data(gates, main_window, tmp_path):
    path = tmp_path / "gates.csv"
    assert main_window.export_to("csv", path)
    rows = list(csv.DictReader(path.open()))
    ref = expected(gates)
    assert [int(r["t"]) for r in rows] == list(range(1, 201))
    np.testing.assert_array_equal([float(r["lstm_log10_cell_grad_norm"]) for r in rows], ref.lstm.log10_cell_grad_norm)
    np.testing.assert_array_equal([float(r["gru_log10_grad_norm"]) for r in rows], ref.gru.log10_grad_norm)


def test_scenario_save_and_reopen(gates, main_window, qtbot, tmp_path):
    gates.apply_settings({"forget_bias": 4.2, "steps": 120, "hidden": 12, "seed": 8})
    wait_idle(qtbot, main_window)
    before = np.asarray(gates.curves["lstm_c"].getData()[1]).copy()
    path = tmp_path / "lstm.gradsim.json"
    assert main_window.save_scenario_path(path)
    assert json.loads(path.read_text())["cell"] == "lstm"
    gates.reset()
    wait_idle(qtbot, main_window)
    assert main_window.open_scenario_path(path)
    wait_idle(qtbot, main_window)
    assert main_window.current_scene() is gates
    np.testing.assert_array_equal(np.asarray(gates.curves["lstm_c"].getData()[1]), before)


def test_worker_function_directly():
    from gradsim.engine import GeneratorSettings
    from gradsim.ui.scenes.gates import GatesJob, compute_gates

    settings = GeneratorSettings(hidden=5, steps=25, cell="lstm", forget_bias=2.0)
    got = compute_gates(GatesJob(settings, 1e-6, 1e3))
    want = compare_cells(settings)
    for cell in ("rnn", "lstm", "gru"):
        np.testing.assert_array_equal(got.results[cell].log10_grad_norm, want.results[cell].log10_grad_norm)


def test_screenshot_option(tmp_path):
    out = tmp_path / "gates.png"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "gates", "--screenshot", str(out),
                           "--size", "1024x768"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
