"""The agreement scene driven through its real widgets; what it draws is checked against the engine
(saliency recomputed here from the same weights, accuracies rescored here on fresh batches), and
what a projector audience sees: chips that dominate and grow with the screen, the why where the
number is shown, sentences whole where they are chosen."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsSimpleTextItem

from gradsim.engine import agreement as ag
from gradsim.ui.plots import format_power, power_label

from .conftest import wait_idle
from .layout_audit import picture_share, problems
from .sizing import sized


@pytest.fixture
def start_scene():
    return "agreement"  # each test starts on this scene (see conftest)


@pytest.fixture
def scene(main_window, qtbot):
    sc = main_window.show_scene("agreement")
    wait_idle(qtbot, main_window, timeout=60000)
    assert sc.saliency_result is not None and sc.curves_result is not None
    return sc


def expected_saliency(sentence, model, training, run):
    cell, state, _label = ag.model_weights(model, training, run)
    return ag.saliency(sentence, cell, state)


def assert_view_shows(scene, ref: ag.Saliency):
    view = scene.sentence_view
    assert view.tokens == ref.sentence.tokens
    assert (view.subject, view.verb) == (ref.sentence.subject, ref.sentence.verb)
    assert view.attractors == ref.sentence.attractors
    read = len(ref.sentence.read_tokens)
    np.testing.assert_allclose(view.log10[:read], ref.log10_grad_norm[:read], rtol=1e-10)
    assert np.all(np.isnan(view.log10[read:]))
    # chips of read tokens are coloured, the ones after the verb are hollow
    assert all(view.chip_colour(i) is not None for i in range(read))
    assert all(view.chip_colour(i) is None for i in range(read, len(view.tokens)))
    # the colour scale spans the read tokens' values, and its tick labels are drawn
    finite = ref.log10_grad_norm[:read]
    lo, hi = view.vmin, view.vmax
    assert lo <= finite.min() + 1e-12 and hi >= finite.max() - 1e-12
    drawn = {item.text() for item in view.scene().items() if isinstance(item, QGraphicsSimpleTextItem)}
    assert set(ref.sentence.tokens) <= drawn and {"SUBJECT", "VERB"} <= drawn
    assert any(power_label(k) in drawn for k in range(math.ceil(lo), math.floor(hi) + 1))
    # the readouts quote the engine's numbers
    values = scene.readout_values
    assert values["per_step"] == f"× {ref.per_step:.3g}"  # as flow and spectrum: × 0.474
    assert values["prediction"] == f"{ref.p_plural:.3f}"
    assert "0.7" in values["reference"]
    assert values["total"] == format_power(math.log10(ref.total))
    assert values["total"] in scene.readout.text()
    assert scene.saliency_result.total == pytest.approx(ref.total, rel=1e-10)
    assert ag.NUMBER_NAMES[ref.predicted] in scene.badge.text()
    assert ("guess" in scene.badge.text()) == (max(ref.p_plural, 1 - ref.p_plural) < 0.6)
    assert scene.badge.text().startswith("✓" if ref.correct else "✗")
    assert scene.cursor.value() == pytest.approx(ref.sentence.distance)


def test_opens_on_the_seeds_cats_sentence(scene):
    cats = ag.seed_sentences()[2]
    assert scene.sentence.value() == "seed:2" and scene.model.value() == "untrained"
    # the sentences are listed whole where they are chosen
    for i, s in enumerate(ag.seed_sentences()):
        assert s.text in scene.sentence.labels[f"seed:{i}"].text()
    ref = expected_saliency(cats, "untrained", "mixed", 0)
    assert_view_shows(scene, ref)
    assert ref.sentence.distance == 13
    assert scene.readout_values["reference"].startswith("0.7¹³ = 0.00969")
    assert not scene.distance.isEnabled()  # a seed sentence has its own distance
    assert "guess" in scene.badge.text()  # the untrained network is at chance: P(plural) = 0.502


def test_a_seed_sentence_shows_its_own_distance_and_number(scene, main_window, qtbot):
    qtbot.mouseClick(scene.sentence.labels["seed:0"], Qt.MouseButton.LeftButton)  # its text is the target too
    wait_idle(qtbot, main_window)
    cat = ag.seed_sentences()[0]
    assert cat.text == "The cat sits." and cat.distance == 1
    assert_view_shows(scene, expected_saliency(cat, "untrained", "mixed", 0))
    assert scene.distance.value() == 1 and not scene.distance.isEnabled()
    assert scene.number.value() == "singular"  # the Subject control follows the sentence
    assert scene.state.number == "singular" and "singular" in scene.note.text()
    # the generated sentence carries on from it
    scene.sentence.buttons["generated"].click()
    wait_idle(qtbot, main_window)
    assert scene.number.value() == "singular" and scene.number.isEnabled()
    assert scene.sentence_view.tokens == ag.generate_sentence(1, "singular", 0).tokens


def test_distance_slider_number_and_variant_redraw_engine_values(scene, main_window, qtbot):
    scene.sentence.buttons["generated"].click()
    wait_idle(qtbot, main_window)
    assert scene.distance.isEnabled()
    scene.distance.slider.setValue(26)  # drag the real slider: position 26 is distance 1 + 26
    scene.number.set_value("singular")
    scene.variant.setValue(3)
    wait_idle(qtbot, main_window)
    assert scene.state.distance == 27
    sentence = ag.generate_sentence(27, "singular", 3)
    assert_view_shows(scene, expected_saliency(sentence, "untrained", "mixed", 0))
    scene.attractors.setChecked(False)
    wait_idle(qtbot, main_window)
    plain = ag.generate_sentence(27, "singular", 3, attractors=False)
    assert scene.sentence_view.attractors == () and scene.sentence_view.tokens == plain.tokens


@pytest.mark.parametrize("model, training, run", [("rnn", "mixed", 1), ("rnn", "10", 0), ("lstm", "30", 2)])
def test_model_selector_shows_each_models_gradient(scene, main_window, qtbot, model, training, run):
    scene.sentence.buttons["generated"].click()
    scene.distance.setValue(20)
    scene.model.set_value(model)
    scene.training.set_value(training)
    scene.run.setValue(run)
    wait_idle(qtbot, main_window)
    assert scene.training.isEnabled()
    ref = expected_saliency(ag.generate_sentence(20, "plural", 0), model, training if training == "mixed" else int(training), run)
    assert_view_shows(scene, ref)
    assert "trained" in scene.saliency_result.model


def test_untrained_network_disables_the_training_choice(scene, main_window, qtbot):
    scene.model.set_value("rnn")
    wait_idle(qtbot, main_window)
    assert scene.training.isEnabled()
    scene.model.set_value("untrained")
    wait_idle(qtbot, main_window)
    assert not scene.training.isEnabled()


def test_chart_shows_the_shipped_models_scored_afresh(scene):
    curves = scene.curves_result
    bank = ag.load_models()
    x, y = scene.fixed_curves["rnn"].getData()
    assert list(x) == [float(d) for d in ag.FIXED_DISTANCES]
    # rescore two points here, on the engine's held-out batches, with freshly loaded weights
    for d in (5, 20):
        accs = [ag.accuracy_at("rnn", bank.get("rnn", d, s)[1], d, samples=scene.curve_samples) for s in (0, 1, 2)]
        assert y[list(x).index(float(d))] == pytest.approx(100 * np.mean(accs))
    xm, ym = scene.mixed_curves["rnn"].getData()
    assert list(xm) == list(range(1, 41))
    accs = [ag.accuracy_at("rnn", bank.get("rnn", None, s)[1], 40, samples=scene.curve_samples) for s in (0, 1, 2)]
    assert ym[-1] == pytest.approx(100 * np.mean(accs))
    _xt, yt = scene.transfer_curve.getData()
    np.testing.assert_allclose(yt, 100 * curves.transfer_mean("rnn"))
    _xl, yl = scene.fixed_curves["lstm"].getData()
    np.testing.assert_allclose(yl, 100 * curves.fixed_mean("lstm"))
    # one faint point per training run and distance, one thin line per mixed run
    assert len(scene.run_points["rnn"].getData()[0]) == 3 * len(ag.FIXED_DISTANCES)
    assert len(scene.run_lines["rnn"]) == len(scene.run_lines["lstm"]) == 3
    assert scene.chance_line.value() == pytest.approx(50.0)


def test_explanation_quotes_the_measured_curves_in_the_why_popup(scene, qtbot):
    assert not scene.why_popup.isVisible()
    qtbot.mouseClick(scene.why_button, Qt.MouseButton.LeftButton)
    assert scene.why_popup.isVisible() and scene.why_popup.text is scene.explanation
    scene.why_popup.hide()
    text = scene.explanation.text()
    summary = scene.curves_result.summary()
    assert f"{100 * summary['rnn_fixed'][5]:.0f}&nbsp;% at 5" in text
    assert f"{100 * summary['rnn_fixed'][20]:.0f}&nbsp;% at 20" in text
    assert "curriculum" in text
    assert f"{100 * summary['rnn_transfer_far_mean']:.0f}&nbsp;%" in text


def test_settings_round_trip_and_refusals(scene, main_window, qtbot):
    wanted = {"sentence": "generated", "distance": 33, "number": "singular", "variant": 7,
              "attractors": False, "model": "lstm", "training": 15, "run": 1}
    scene.apply_settings(wanted)
    wait_idle(qtbot, main_window)
    assert scene.settings() == wanted
    scene.apply_settings(scene.settings())
    assert scene.settings() == wanted
    ref = expected_saliency(ag.generate_sentence(33, "singular", 7, attractors=False), "lstm", 15, 1)
    assert_view_shows(scene, ref)
    for bad in ({"colour": 1}, {"distance": 0}, {"distance": 41}, {"distance": 2.5}, {"model": "gru"},
                {"training": 7}, {"training": True}, {"number": "dual"}, {"sentence": "seed:9"},
                {"run": 3}, {"attractors": "yes"}):
        with pytest.raises(ValueError):
            scene.apply_settings(bad)
    assert scene.settings() == wanted  # a refused setting changes nothing
    # settings apply on top of the defaults, not of what was on show
    scene.apply_settings({"model": "rnn"})
    wait_idle(qtbot, main_window)
    assert scene.settings() == {**ag_defaults(), "model": "rnn"}
    scene.reset()
    wait_idle(qtbot, main_window)
    assert scene.settings()["sentence"] == "seed:2" and scene.settings()["model"] == "untrained"


def ag_defaults() -> dict:
    from gradsim.states.agreement import AgreementState

    return AgreementState().to_dict()


def test_a_right_answer_without_gradient_says_why_where_the_number_is_shown(scene, main_window, qtbot):
    """A trained vanilla RNN answers right at distance 30 while 10⁻³⁹ of the signal reaches the subject:
    the caption under the figures says it was trained on mixed distances."""
    scene.apply_settings({"sentence": "generated", "distance": 30, "model": "rnn"})
    wait_idle(qtbot, main_window)
    ref = expected_saliency(ag.generate_sentence(30, "plural", 0), "rnn", "mixed", 0)
    assert_view_shows(scene, ref)
    assert ref.correct and ref.total < 1e-30
    caption = scene.insight.text()
    assert "mix of distances 1–40" in caption and "Right" in caption
    assert format_power(math.log10(ref.total)) in caption  # the same number as the figures above it
    assert scene.insight.isVisible() and scene.readout.isVisible()
    assert scene.insight.geometry().top() > scene.readout.geometry().top()
    # trained at one distance, or an LSTM: no such claim
    scene.apply_settings({"sentence": "generated", "distance": 30, "model": "rnn", "training": 10})
    wait_idle(qtbot, main_window)
    assert "distance 10 only" in scene.insight.text() and "mix of" not in scene.insight.text()


def test_undo_and_redo_a_sentence_choice_and_a_slider_drag(scene, main_window, qtbot):
    stack = main_window.undo_stack
    start = scene.state
    scene.sentence.buttons["generated"].click()
    wait_idle(qtbot, main_window)
    chosen = scene.state
    for position in (10, 15, 20, 25):  # one drag of the real slider: one undo step
        scene.distance.slider.setValue(position)
    wait_idle(qtbot, main_window)
    assert scene.state.distance == 26
    stack.undo()
    wait_idle(qtbot, main_window)
    assert scene.state == chosen and scene.distance.value() == chosen.distance
    stack.undo()
    wait_idle(qtbot, main_window)
    assert scene.state == start and scene.sentence.value() == "seed:2"
    assert_view_shows(scene, expected_saliency(ag.seed_sentences()[2], "untrained", "mixed", 0))
    stack.redo()
    stack.redo()
    wait_idle(qtbot, main_window)
    assert scene.state.distance == 26 and scene.sentence.value() == "generated"


def test_the_chips_dominate_and_grow_with_the_screen(new_window, qtbot):
    """Projector mode: the chips are set larger than the title and grow with the window; the pictures
    (chips, their scale and the chart) take at least 55 % of a 1024 x 768 window, 60 % of 1920 x 1080;
    nothing is cut or under the type scale's smallest size."""
    window = new_window(True)
    sizes = {}
    for size, share in (((1024, 768), 0.55), ((1920, 1080), 0.60)):
        sized(qtbot, window, *size)
        scene = window.show_scene("agreement")
        wait_idle(qtbot, window, timeout=90000)
        view = scene.sentence_view
        assert view.chip_px > window.theme.title_px, size
        assert picture_share(window) >= share, size
        assert not problems(window, window.theme.small_px), size
        sizes[size] = view.chip_px
    assert sizes[(1920, 1080)] > 1.25 * sizes[(1024, 768)]


def test_projector_theme_redraws_and_keeps_values(scene, main_window, qtbot):
    before = scene.sentence_view.log10.copy()
    main_window.toggle_projector()
    wait_idle(qtbot, main_window)
    assert scene.theme.projector
    np.testing.assert_array_equal(scene.sentence_view.log10, before)
    assert scene.chart.legend.columnCount >= 2
    grab = scene.grab()
    assert not grab.isNull() and grab.width() > 0
    main_window.toggle_projector()


def test_export_columns_are_the_engine_arrays(scene):
    cols = scene.export_columns()
    ref = scene.saliency_result
    assert cols["token"] == list(ref.sentence.tokens)
    np.testing.assert_array_equal(cols["log10_grad_norm"], ref.log10_grad_norm)
    assert math.isnan(cols["grad_norm"][-1])  # the final "." is never read


def test_the_accuracy_axis_shows_its_100_percent_tick(scene, main_window, qtbot):
    """The top tick, 100 %, where the LSTM's curve runs, keeps room for its label above it (the axis
    hides a label that would stick out of the plot, and at 1024x768 projector the 100 was gone)."""
    from PySide6.QtGui import QFontMetricsF

    main_window.resize(1024, 768)
    main_window.toggle_projector()
    wait_idle(qtbot, main_window)
    item = scene.chart.getPlotItem()
    vb, axis = item.getViewBox(), item.getAxis("left")
    (_, _), (y0, y1) = vb.viewRange()
    label_px = QFontMetricsF(axis.style.get("tickFont") or axis.font()).height()
    room_px = (y1 - 100.0) / (y1 - y0) * vb.height()
    assert room_px >= label_px / 2, (room_px, label_px)
