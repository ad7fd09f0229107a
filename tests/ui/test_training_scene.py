"""The training lab scene, driven through its real controls, with the real engine training behind it.

Every check compares what is plotted with the engine's own record of the run (``TrainRun.curves``)
or with an independent engine run of the same settings.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine.training import RUN_FORMAT, TrainSettings, run_delay_sweep, train_side_by_side

from .conftest import wait_idle

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"delay": 3, "hidden": 8, "embedding": 4, "batch": 8, "steps": 30}


def make_small(scene, **extra):
    """Set the small run through the real widgets (each change resets the run)."""
    values = {**SMALL, **extra}
    scene.delay.setValue(values["delay"])
    scene.hidden.setValue(values["hidden"])
    scene.embedding.setValue(values["embedding"])
    scene.batch.setValue(values["batch"])
    scene.steps.setValue(values["steps"])


def steps_done(scene) -> int:
    return min((tr.step[-1] if tr.step else 0) for tr in scene.traces) if scene.traces else 0


def show_tab(scene, index: int) -> None:
    scene.tabs.setCurrentIndex(index)
    scene._mark_dirty()
    scene._on_frame()


def assert_views_show_engine(scene) -> None:
    for i, tr in enumerate(scene.traces):
        c = tr.run.curves
        show_tab(scene, 0)
        x, y = scene.acc_curves[i].getData()
        np.testing.assert_array_equal(x, np.asarray(c.eval_step, dtype=float))
        np.testing.assert_allclose(y, 100.0 * np.asarray(c.accuracy), rtol=1e-12)
        x, y = scene.loss_curves[i].getData()
        np.testing.assert_array_equal(x, np.asarray(c.step, dtype=float))
        np.testing.assert_allclose(y, np.log10(c.loss), rtol=1e-12)
        show_tab(scene, 1)
        heat = c.heatmap()
        image = scene.heat_images[i].image
        lo, _hi = scene.color_bar.levels()
        np.testing.assert_allclose(image, np.where(np.isfinite(heat), heat, lo), rtol=1e-12)
        show_tab(scene, 3)
        _x, y = scene.grad_before[i].getData()
        np.testing.assert_allclose(y, np.log10(c.grad_norm_before), rtol=1e-12)
        _x, y = scene.grad_after[i].getData()
        np.testing.assert_allclose(y, np.log10(c.grad_norm_after), rtol=1e-12)
        if tr.settings.cell == "rnn":
            show_tab(scene, 2)
            x, y = scene.eig_current[i].getData()
            np.testing.assert_allclose(x, c.eigenvalues[-1].real, rtol=1e-12)
            np.testing.assert_allclose(y, c.eigenvalues[-1].imag, rtol=1e-12)
            x, _y = scene.eig_initial[i].getData()
            np.testing.assert_allclose(x, c.eigenvalues[0].real, rtol=1e-12)


def test_default_preset_is_the_comparison(lab):
    s = lab.settings()
    assert s["preset"] == "comparison" and s["delay"] == 40 and s["task"] == "copy"
    assert [m["cell"] for m in s["models"]] == ["rnn", "lstm"]
    assert s["models"][1]["forget_bias"] == 3.0
    assert [t.cell for t in lab.train_settings()] == ["rnn", "lstm"]
    assert not lab.slots[2].enabled()


def test_settings_round_trip(lab):
    lab.apply_settings({"delay": 17, "lr": 0.01, "clip": False, "seed": 9, "preset": "custom",
                        "models": [{"cell": "gru"}, {"cell": "rnn", "activation": "relu", "init": "identity"},
                                   {"cell": "lstm", "forget_bias": 1.5}],
                        "sweep": {"delays": [2, 4], "steps": 50, "cells": ["lstm"]}})
    s = lab.settings()
    lab.reset()
    assert lab.settings()["preset"] == "comparison"
    lab.apply_settings(s)
    assert lab.settings() == s
    assert [t.cell for t in lab.train_settings()] == ["gru", "rnn", "lstm"]
    assert lab.train_settings()[2].forget_bias == 1.5 and not lab.train_settings()[0].clip


@pytest.mark.parametrize("bad", [
    {"colour": "red"},
    {"delay": -1},
    {"delay": 5000},
    {"models": []},
    {"models": [{"cell": "transformer"}]},
    {"models": [{"cell": "rnn", "dropout": 0.1}]},
    {"preset": "nope"},
    {"sweep": {"delays": [1, "x"]}},
])
def test_apply_settings_refuses_bad_values(lab, bad):
    before = lab.settings()
    with pytest.raises(ValueError):
        lab.apply_settings(bad)
    assert lab.settings() == before


def test_step_button_trains_one_step(lab, main_window, qtbot):
    make_small(lab)
    qtbot.mouseClick(lab.step_button, qtbot_button())
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    qtbot.wait(100)
    assert steps_done(lab) == 1 and lab.state == "paused"
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 2, timeout=20000)
    assert_views_show_engine(lab)
    assert "step 2/30" in lab.status_labels[0].text()


def test_start_pause_resume_finish_equals_an_uninterrupted_run(lab, main_window, qtbot, tmp_path):
    make_small(lab, steps=40)
    settings = lab.train_settings()
    qtbot.mouseClick(lab.start_button, qtbot_button())
    assert lab.state == "training"
    qtbot.waitUntil(lambda: steps_done(lab) >= 3, timeout=20000)
    qtbot.mouseClick(lab.start_button, qtbot_button())  # pause
    assert lab.state == "paused"
    qtbot.wait(200)  # the step in flight, if any, arrives
    held = steps_done(lab)
    qtbot.wait(300)
    assert steps_done(lab) == held < 40
    qtbot.mouseClick(lab.start_button, qtbot_button())  # resume
    qtbot.waitUntil(lambda: lab.state == "finished", timeout=60000)
    assert steps_done(lab) == 40
    # pausing changed nothing: the same losses as an uninterrupted engine run of the same settings
    reference = list(train_side_by_side(settings))
    for i, tr in enumerate(lab.traces):
        assert tr.loss == [row[i].loss for row in reference]
    assert_views_show_engine(lab)
    # CSV export is the engine's curves
    show_tab(lab, 0)
    path = tmp_path / "curves.csv"
    assert main_window.export_to("csv", path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 40
    c = lab.traces[1].run.curves
    assert [float(r["B_loss"]) for r in rows] == c.loss
    assert [float(r["B_heldout_accuracy"]) for r in rows if r["B_heldout_accuracy"]] == c.accuracy
    for kind in ("png", "svg"):
        for tab in range(4):
            show_tab(lab, tab)
            out = tmp_path / f"chart{tab}.{kind}"
            assert main_window.export_to(kind, out) and out.stat().st_size > 0


def test_reset_forgets_the_run(lab, main_window, qtbot):
    make_small(lab)
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    qtbot.mouseClick(lab.reset_button, qtbot_button())
    assert lab.traces == [] and lab.state == "ready"
    show_tab(lab, 0)
    assert len(lab.loss_curves[0].getData()[0] or []) == 0
    assert lab.heat_images[0].image is None
    # a new run from the same seed repeats the first step exactly
    first = None
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    first = lab.traces[0].loss[0]
    assert first == next(train_side_by_side(lab.train_settings()))[0].loss


def test_nan_run_stops_with_the_engines_explanation(lab, main_window, qtbot):
    lab.apply_settings({**SMALL, "delay": 120, "clip": False, "preset": "custom",
                        "models": [{"cell": "rnn", "activation": "identity", "init": "identity", "scale": 2.5}]})
    qtbot.mouseClick(lab.start_button, qtbot_button())
    qtbot.waitUntil(lambda: lab.state == "stopped", timeout=20000)
    last = lab.traces[0].last
    assert last.stopped and not math.isfinite(last.loss)
    assert "the loss became" in last.stop_reason
    assert "the loss became" in lab.status_labels[0].text()
    assert "the loss became" in main_window.message_bar.label.text()
    assert lab.badge.text() == "STOPPED"


def test_save_and_load_run(lab, main_window, qtbot, tmp_path):
    make_small(lab, steps=12)
    for n in range(1, 6):
        lab.step(1)
        qtbot.waitUntil(lambda n=n: steps_done(lab) == n, timeout=20000)
    path = tmp_path / "lab.gradsim-run.pt"
    assert lab.save_run_to(path)
    saved = [list(tr.loss) for tr in lab.traces]
    lab.reset()
    assert lab.traces == []
    assert lab.load_run_from(path)
    assert [tr.loss for tr in lab.traces] == saved
    assert lab.settings()["delay"] == SMALL["delay"] and lab.state == "paused"
    assert_views_show_engine(lab)
    # training the loaded run further ends where an uninterrupted run ends
    lab.play_pause()
    qtbot.waitUntil(lambda: lab.state == "finished", timeout=60000)
    reference = list(train_side_by_side(lab.train_settings()))
    assert [tr.loss for tr in lab.traces] == [[row[i].loss for row in reference] for i in range(2)]


def test_malicious_run_file_is_refused(lab, main_window, tmp_path):
    import torch

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"format": RUN_FORMAT, "runs": [Payload()]}, str(path))
    before = lab.settings()
    assert not lab.load_run_from(path)
    assert "refused" in main_window.message_bar.label.text()
    assert not marker.exists() and lab.settings() == before


def test_delay_sweep_plots_the_engines_points(lab, main_window, qtbot):
    make_small(lab)
    lab.sweep_delays.setText("1, 2")
    lab.sweep_steps.setValue(10)
    lab.sweep_cells["lstm"].setChecked(False)
    lab.sweep_cells["gru"].setChecked(True)
    qtbot.mouseClick(lab.sweep_button, qtbot_button())
    qtbot.waitUntil(lambda: lab._sweep_task is None, timeout=60000)
    points = lab.sweep_points
    assert [(p.cell, p.delay) for p in points] == [("rnn", 1), ("rnn", 2), ("gru", 1), ("gru", 2)]
    expected = run_delay_sweep(lab.sweep_base(), [1, 2], ["rnn", "gru"])
    assert [p.accuracy for p in points] == [p.accuracy for p in expected]
    x, y = lab.sweep_curves["gru"].getData()
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_allclose(y, [100 * p.accuracy for p in expected if p.cell == "gru"])
    assert lab.sweep_chance.value() == pytest.approx(12.5)


def test_changing_a_control_resets_the_run(lab, main_window, qtbot):
    make_small(lab)
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    lab.slots[1].forget_bias.setValue(0.0)
    assert lab.traces == [] and lab.state == "ready"
    assert lab.settings()["preset"] == "custom"
    assert lab.train_settings()[1].forget_bias == 0.0


def test_both_colour_profiles(lab, main_window, qtbot):
    make_small(lab)
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    for _ in range(2):
        main_window.toggle_projector()
        theme = main_window.theme
        for tab in range(5):
            show_tab(lab, tab)
        assert lab.acc_curves[0].opts["pen"].color().name().lower() == theme.series[0].lower()
        assert_views_show_engine(lab)


def test_preset_applies_engine_settings(lab, main_window, qtbot):
    lab.preset.set_value("forget")
    wait_idle(qtbot, main_window)
    cells = [(t.cell, t.forget_bias) for t in lab.train_settings()]
    assert cells == [("lstm", 0.0), ("lstm", 3.0)]
    assert TrainSettings(**{k: lab.settings()[k] for k in ("delay", "hidden", "lr", "batch", "steps")}).delay == 40


@pytest.mark.slow
def test_screenshot_option(tmp_path):
    out = tmp_path / "training.png"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "training", "--screenshot", str(out),
                           "--size", "1024x768"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10_000


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
