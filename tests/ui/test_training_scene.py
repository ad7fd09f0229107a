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
from PySide6.QtCore import Qt

from gradsim.engine.training import RUN_FORMAT, TrainSettings, run_delay_sweep, train_side_by_side
from gradsim.states.training import VIEWS, TrainingState

from .conftest import wait_idle

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"delay": 3, "hidden": 8, "embedding": 4, "batch": 8, "steps": 30}


def make_small(scene, **extra):
    """Set the small run through the real widgets (each change is a new state and resets the run)."""
    values = {**SMALL, **extra}
    for name in ("delay", "hidden", "embedding", "batch", "steps"):
        getattr(scene, name).setValue(values[name])
    assert scene.state.delay == values["delay"] and scene.state.steps == values["steps"]


def steps_done(scene) -> int:
    return min(tr.steps_done for tr in scene.traces) if scene.traces else 0


def show_tab(scene, index: int) -> None:
    """Click the view's tab (a state change; the view is drawn at once)."""
    bar = scene.tabs.tabBar()
    from PySide6.QtTest import QTest

    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert scene.tabs.currentIndex() == index and scene.state.view == VIEWS[index]
    scene.draw_now()  # what the frame timer does next (a click on the view on show draws nothing new)


def assert_views_show_engine(scene) -> None:
    for i, tr in enumerate(scene.traces):
        c = tr.run.curves
        show_tab(scene, 0)
        x, y = scene.curves_view.acc_curves[i].getData()
        np.testing.assert_array_equal(x, np.asarray(c.eval_step, dtype=float))
        np.testing.assert_allclose(y, 100.0 * np.asarray(c.accuracy), rtol=1e-12)
        x, y = scene.curves_view.loss_curves[i].getData()
        np.testing.assert_array_equal(x, np.asarray(c.step, dtype=float))
        np.testing.assert_allclose(y, np.log10(c.loss), rtol=1e-12)
        show_tab(scene, 1)
        heat = c.heatmap()
        image = scene.heat_view.images[i].image
        lo, _hi = scene.heat_view.levels
        np.testing.assert_allclose(image, np.where(np.isfinite(heat), heat, lo), rtol=1e-12)
        show_tab(scene, 3)
        _x, y = scene.grad_view.before[i].getData()
        np.testing.assert_allclose(y, np.log10(c.grad_norm_before), rtol=1e-12)
        _x, y = scene.grad_view.after[i].getData()
        np.testing.assert_allclose(y, np.log10(c.grad_norm_after), rtol=1e-12)
        if tr.settings.cell == "rnn":
            show_tab(scene, 2)
            x, y = scene.eig_view.current[i].getData()
            np.testing.assert_allclose(x, c.eigenvalues[-1].real, rtol=1e-12)
            np.testing.assert_allclose(y, c.eigenvalues[-1].imag, rtol=1e-12)
            x, _y = scene.eig_view.initial[i].getData()
            np.testing.assert_allclose(x, c.eigenvalues[0].real, rtol=1e-12)


def left_click():
    return Qt.MouseButton.LeftButton


@pytest.fixture
def start_scene():
    return "training"  # each test starts on this scene (see conftest)


def test_default_is_the_first_preset_on_the_engines_defaults(lab):
    """The lab opens on its first preset, which is `gradsim train`'s defaults with an RNN and an LSTM."""
    assert lab.state == TrainingState() and lab.state.preset == lab.presets[0].preset_id
    assert lab.preset_choice.value() == lab.presets[0].preset_id
    engine = TrainSettings()
    rnn, lstm = lab.state.train_settings()
    for key in ("task", "delay", "symbols", "categories", "hidden", "lr", "batch", "steps", "seed"):
        assert getattr(rnn, key) == getattr(lstm, key) == getattr(engine, key)
    assert (rnn.cell, lstm.cell, lstm.forget_bias) == ("rnn", "lstm", 3.0)
    assert not lab.panels[2].isChecked() and lab.panels[1].isChecked()
    assert lab.delay.value() == engine.delay and lab.steps.value() == engine.steps


def test_settings_round_trip(lab):
    lab.apply_settings({"delay": 17, "lr": 0.01, "clip": False, "seed": 9,
                        "models": [{"cell": "gru"}, {"cell": "rnn", "activation": "relu", "init": "identity"},
                                   {"cell": "lstm", "forget_bias": 1.5}],
                        "sweep_delays": [2, 4], "sweep_steps": 50, "sweep_cells": ["lstm"]})
    s = lab.settings()
    assert s["preset"] == "custom" and lab.panels[2].isChecked() and lab.panels[2].cell.value() == "lstm"
    lab.reset()
    assert lab.state == TrainingState()
    lab.apply_settings(s)
    assert lab.settings() == s
    assert [t.cell for t in lab.state.train_settings()] == ["gru", "rnn", "lstm"]
    assert lab.state.train_settings()[2].forget_bias == 1.5 and not lab.state.train_settings()[0].clip
    assert lab.sweep_delays.text() == "2, 4" and lab.sweep_cells["lstm"].isChecked()


def test_apply_settings_refuses_bad_values(lab):
    """Each refused in one line, changing nothing (one lab for all: a refusal leaves it as it was)."""
    before = lab.settings()
    for bad in ({"colour": "red"}, {"delay": -1}, {"delay": 5000}, {"models": []},
                {"models": [{"cell": "mamba"}]}, {"models": [{"cell": "rnn", "dropout": 0.1}]},
                {"preset": "nope"}, {"sweep_delays": [1, "x"]}, {"task": "adding", "delay": 1}):
        with pytest.raises(ValueError) as info:
            lab.apply_settings(bad)
        assert "\n" not in str(info.value), bad
        assert lab.settings() == before, bad


def test_step_button_trains_one_step(lab, main_window, qtbot):
    make_small(lab)
    qtbot.mouseClick(lab.step_button, left_click())
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    assert lab.run_state == "paused" and lab.start_button.text() == "▶ Resume"
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 2, timeout=20000)
    assert steps_done(lab) == 2 and lab.session.task.yielded == 2
    assert_views_show_engine(lab)
    assert "step 2/30" in lab.status.labels[0].text()


def test_start_pause_resume_finish_equals_an_uninterrupted_run(lab, main_window, qtbot, tmp_path):
    make_small(lab, steps=40)
    settings = lab.state.train_settings()
    qtbot.mouseClick(lab.start_button, left_click())
    assert lab.run_state == "training" and lab.start_button.text() == "❚❚ Pause"
    qtbot.waitUntil(lambda: steps_done(lab) >= 3, timeout=20000)
    qtbot.mouseClick(lab.start_button, left_click())  # pause
    task = lab.session.task
    at_pause = task.yielded
    assert lab.run_state == "paused"
    # every snapshot yielded so far has arrived: at most the step that was in flight came after the pause
    qtbot.waitUntil(lambda: steps_done(lab) == task.yielded, timeout=20000)
    assert steps_done(lab) <= at_pause + 1 < 40
    qtbot.mouseClick(lab.start_button, left_click())  # resume
    qtbot.waitUntil(lambda: lab.run_state == "finished", timeout=60000)
    assert steps_done(lab) == 40 and not lab.start_button.isEnabled()
    # pausing changed nothing: the same losses as an uninterrupted engine run of the same settings
    reference = list(train_side_by_side(settings))
    for i, tr in enumerate(lab.traces):
        assert tr.run.curves.loss == [row[i].loss for row in reference]
        # the outcome word follows the rule the presets' claims are checked with
        text, accuracy, chance = lab.status.labels[i].text(), tr.run.curves.accuracy[-1], tr.settings.chance
        assert ("learned" in text) == (accuracy >= 0.95)
        assert ("at chance" in text) == (abs(accuracy - chance) <= 0.10)
    assert_views_show_engine(lab)
    # CSV export is the engine's curves
    show_tab(lab, 0)
    path = tmp_path / "curves.csv"
    assert main_window.export_to("csv", path)
    rows = list(csv.DictReader(path.read_text().splitlines()))
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
    qtbot.mouseClick(lab.reset_button, left_click())
    assert lab.traces == [] and lab.run_state == "ready" and lab.start_button.text() == "▶ Start"
    show_tab(lab, 0)
    assert len(lab.curves_view.loss_curves[0].getData()[0] or []) == 0
    show_tab(lab, 1)
    assert lab.heat_view.images[0].image is None
    # a new run from the same seed repeats the first step exactly
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    assert lab.traces[0].run.curves.loss[0] == next(train_side_by_side(lab.state.train_settings()))[0].loss


def test_nan_run_stops_with_the_engines_explanation(lab, main_window, qtbot):
    lab.apply_settings({**SMALL, "delay": 120, "clip": False,
                        "models": [{"cell": "rnn", "activation": "identity", "init": "identity", "scale": 2.5}]})
    qtbot.mouseClick(lab.start_button, left_click())
    qtbot.waitUntil(lambda: lab.run_state == "stopped", timeout=20000)
    last = lab.traces[0].last
    assert last.stopped and not math.isfinite(last.loss)
    assert "the loss became" in last.stop_reason
    assert "the loss became" in lab.status.labels[0].text()
    assert "the loss became" in main_window.message_bar.label.text()
    assert lab.start_button.text() == "Stopped" and not lab.start_button.isEnabled()


def test_save_and_load_run(lab, main_window, qtbot, tmp_path):
    make_small(lab, steps=12)
    for n in range(1, 6):
        lab.step(1)
        qtbot.waitUntil(lambda n=n: steps_done(lab) == n, timeout=20000)
    path = tmp_path / "lab.gradsim-run.pt"
    assert lab.save_run_to(path)
    saved = [list(tr.run.curves.loss) for tr in lab.traces]
    lab.reset()
    assert lab.traces == []
    assert lab.load_run_from(path)
    assert [tr.run.curves.loss for tr in lab.traces] == saved
    assert lab.state.delay == SMALL["delay"] and lab.run_state == "paused"
    assert "step 5/12" in lab.status.labels[0].text()
    assert_views_show_engine(lab)
    # training the loaded run further ends where an uninterrupted run ends
    lab.play_pause()
    qtbot.waitUntil(lambda: lab.run_state == "finished", timeout=60000)
    reference = list(train_side_by_side(lab.state.train_settings()))
    assert [tr.run.curves.loss for tr in lab.traces] == [[row[i].loss for row in reference] for i in range(2)]


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
    lab.sweep_delays.setText("2, 1")
    lab.sweep_delays.editingFinished.emit()
    lab.sweep_steps.setValue(10)
    lab.sweep_cells["lstm"].setChecked(False)
    lab.sweep_cells["gru"].setChecked(True)
    assert lab.state.sweep_delays == (1, 2) and lab.state.sweep_cells == ("rnn", "gru")
    show_tab(lab, 4)
    qtbot.mouseClick(lab.sweep_view.button, left_click())
    qtbot.waitUntil(lambda: not lab.sweep.running, timeout=60000)
    points = lab.sweep.points
    assert [(p.cell, p.delay) for p in points] == [("rnn", 1), ("rnn", 2), ("gru", 1), ("gru", 2)]
    expected = run_delay_sweep(lab.state.sweep_base(), [1, 2], ["rnn", "gru"])
    assert [p.accuracy for p in points] == [p.accuracy for p in expected]
    x, y = lab.sweep_view.curves["gru"].getData()
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_allclose(y, [100 * p.accuracy for p in expected if p.cell == "gru"])
    assert lab.sweep_view.chance_line.value() == pytest.approx(12.5)
    assert lab.export_columns()["accuracy"] == [p.accuracy for p in points]


def test_bad_sweep_delays_are_refused_in_one_line(lab, main_window):
    lab.sweep_delays.setText("5, x")
    lab.sweep_delays.editingFinished.emit()
    assert "delay sweep" in main_window.message_bar.label.text()
    assert lab.state.sweep_delays == TrainingState().sweep_delays
    assert lab.sweep_delays.text() == ", ".join(str(d) for d in TrainingState().sweep_delays)


def test_changing_a_control_resets_the_run(lab, main_window, qtbot):
    make_small(lab)
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    show_tab(lab, 2)  # another view keeps the run
    assert steps_done(lab) == 1
    lab.panels[1].forget_bias.setValue(0.0)
    assert lab.traces == [] and lab.run_state == "ready"
    assert lab.state.preset == "custom"
    assert lab.state.train_settings()[1].forget_bias == 0.0


def test_model_slots_add_and_remove_models(lab, main_window, qtbot):
    lab.panels[2].setChecked(True)
    assert [m.cell for m in lab.state.models] == ["rnn", "lstm", "gru"]
    assert lab.panels[2].cell.value() == "gru" and len(lab.status.labels[2].text()) > 0
    lab.panels[1].setChecked(False)  # C moves up into B
    assert [m.cell for m in lab.state.models] == ["rnn", "gru"]
    assert lab.panels[1].cell.value() == "gru" and not lab.panels[2].isChecked()
    assert lab.panels[2].isEnabled()  # C may join again: there are two models
    lab.panels[0].cell.set_value("lstm")
    assert not lab.panels[0].activation.isEnabled() and lab.panels[0].forget_bias.isEnabled()
    main_window.undo()
    assert lab.state.models[0].cell == "rnn" and lab.panels[0].activation.isEnabled()


def test_transformer_is_a_model_choice_and_its_views_say_what_they_show(lab, main_window, qtbot):
    """Issue 20 point 4: model B becomes the engine's small Transformer through its real combo box
    (one undo step; the RNN-only and LSTM-only controls greyed out); trained a few steps, every chart
    shows the run's own record, the heatmap names ‖dL/deₜ‖ for its strip (the engine's gradient at
    the Transformer's input: it has no hₜ), the eigenvalue view says it has no W_hh, and the status
    line's time per step is the run's own seconds over its steps."""
    from gradsim.ui.lab.views import step_time

    make_small(lab, steps=10)
    combo = lab.panels[1].cell
    assert "transformer" in combo.values()
    count = main_window.undo_stack.count()
    combo.setCurrentIndex(combo.findData("transformer"))
    assert [m.cell for m in lab.state.models] == ["rnn", "transformer"] and lab.state.preset == "custom"
    assert main_window.undo_stack.count() == count + 1
    main_window.undo()
    assert [m.cell for m in lab.state.models] == ["rnn", "lstm"] and combo.value() == "lstm"
    main_window.redo()
    assert [m.cell for m in lab.state.models] == ["rnn", "transformer"] and combo.value() == "transformer"
    panel = lab.panels[1]
    assert not any(w.isEnabled() for w in (panel.forget_bias, panel.activation, panel.init, panel.scale))
    assert [s.cell for s in lab.state.train_settings()] == ["rnn", "transformer"]
    for n in (1, 2, 3):
        lab.step(1)
        qtbot.waitUntil(lambda n=n: steps_done(lab) == n, timeout=30000)
    wait_idle(qtbot, main_window)
    assert_views_show_engine(lab)  # the Transformer's heatmap strip is the engine's ‖dL/deₜ‖ record
    show_tab(lab, 1)
    titles = [lab.heat_view.plots[i].titleLabel.text for i in range(2)]
    assert "‖dL/dhₜ‖" in titles[0] and "Transformer" in titles[1] and "‖dL/deₜ‖" in titles[1]
    assert "‖dL/deₜ‖" in lab.heat_view.caption.text() and "no hidden state hₜ" in lab.heat_view.caption.text()
    assert lab.heat_view.bar.quantity == "‖dL/dhₜ‖, ‖dL/deₜ‖"
    show_tab(lab, 2)
    assert "Transformer has no W_hh" in lab.eig_view.caption.text()
    assert lab.eig_view.current[1].getData()[0].size == 0  # nothing drawn for it
    for i, tr in enumerate(lab.traces):
        run = tr.run
        assert run.step_count == 3 and run.seconds > 0
        words, tip = step_time(run)
        each = run.seconds / run.step_count
        shown = float(words.split()[0]) * (1e-3 if "ms/step" in words else 1.0)
        assert shown == pytest.approx(each, rel=0.06, abs=6e-4)  # the readout is the run's own mean
        assert words in lab.status.labels[i].text() and f"over {run.step_count} steps" in tip


def test_eigen_caption_names_what_is_not_drawn():
    from gradsim.ui.lab.views import eigen_caption

    assert eigen_caption(["lstm"]) == ("No vanilla RNN here: LSTM has one W_hh block per gate, and its "
                                              "gradient travels through the gates instead.")
    assert "LSTM and GRU have" in eigen_caption(["lstm", "gru", "transformer"])
    assert eigen_caption(["transformer"]).endswith("attention reaches every earlier step in one hop.")
    assert "unit circle" in eigen_caption(["rnn", "transformer"])


def test_preset_undo_redo_and_a_drag_is_one_step(lab, main_window, qtbot):
    second = lab.presets[1]
    lab.preset_choice.set_value(second.preset_id)
    wait_idle(qtbot, main_window)
    assert lab.state == TrainingState.from_settings({"preset": second.preset_id})
    assert lab.delay.value() == lab.state.delay
    main_window.undo()
    assert lab.state == TrainingState() and lab.preset_choice.value() == lab.presets[0].preset_id
    main_window.redo()
    assert lab.state.preset == second.preset_id and lab.preset_choice.value() == second.preset_id
    # the seed is kept by a preset; a learning-rate drag is one undo step
    lab.seed.setValue(11)
    assert lab.state.preset == second.preset_id and lab.state.seed == 11
    before = lab.state
    for value in (0.004, 0.005, 0.006, 0.007):
        lab.lr.slider.setValue(round((value - 0.0001) / 0.0001))
    assert lab.state.lr == pytest.approx(0.007) and lab.state.preset == "custom"
    main_window.undo()
    assert lab.state == before and lab.lr.value() == pytest.approx(before.lr)


def test_both_colour_profiles(lab, main_window, qtbot):
    make_small(lab)
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == 1, timeout=20000)
    for _ in range(2):
        main_window.toggle_projector()
        theme = main_window.theme
        for tab in range(5):
            show_tab(lab, tab)
        assert lab.curves_view.acc_curves[0].opts["pen"].color().name().lower() == theme.series[0].lower()
        assert_views_show_engine(lab)


def test_lesson_settings_apply_on_top_of_the_defaults(lab, main_window):
    """What the quiz's and timeline's "show me" links send: a delay and partial models."""
    lab.apply_settings({"delay": 7, "hidden": 9})
    lab.apply_settings({"delay": 40, "models": [{"cell": "lstm", "forget_bias": 3.0}]})
    assert lab.state.hidden == TrainingState().hidden and lab.state.delay == 40
    assert [m.cell for m in lab.state.models] == ["lstm"] and lab.state.preset == "custom"
    assert not lab.panels[1].isChecked()


@pytest.mark.slow
def test_screenshot_option(tmp_path):
    out = tmp_path / "training.png"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "training", "--screenshot", str(out),
                           "--size", "1024x768"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10_000


def test_the_drawer_shows_every_control_whole_on_a_big_projector(new_window, qtbot):
    """At 1920x1080 in projector mode the controls' drawer is as wide as they need (the layout audit
    sees a combo box's own width, not the drawer's edge that may cut it)."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox

    window = new_window(True)
    window.resize(1920, 1080)
    window._follow_size()
    lab = window.show_scene("training")
    wait_idle(qtbot, window)
    window._set_controls(True)
    viewport = lab._scroll.viewport()
    assert lab.drawer_mode and lab.controls_open()
    for w in [*lab.controls_panel.findChildren(QComboBox), *lab.controls_panel.findChildren(QAbstractButton)]:
        if w.isVisibleTo(lab.controls_panel):
            right = w.mapTo(viewport, w.rect().topRight()).x()
            text = w.currentText() if isinstance(w, QComboBox) else w.text()
            assert right <= viewport.width(), f"{text!r} reaches {right} px, the drawer shows {viewport.width()} px"
    lab.shutdown()


def test_reference_lines_lie_under_the_curves(lab):
    """Chance and clipping lines are drawn under every curve: a vanilla RNN at chance runs exactly on
    the chance line, and drawn under it, its loss curve was invisible (the README's lab picture)."""
    import pyqtgraph as pg

    checked = 0
    for view in lab.views:
        for line, _colour in view._thresholds:
            curves = [i for i in line.parentItem().childItems() if isinstance(i, pg.PlotDataItem)]
            assert curves and all(line.zValue() < c.zValue() for c in curves), (view.name, line.label.toPlainText())
            checked += 1
    assert checked >= 3  # chance (accuracy and loss) and the clipping threshold at least
