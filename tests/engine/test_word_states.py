"""The states of the agreement, history and quiz scenes (Qt-free), and the claims of the built-in
lesson's captions that ``expect`` cannot express, each computed by the engine on ten seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradsim.engine import agreement as ag
from gradsim.lesson import load_builtin_lesson
from gradsim.states import state_class
from gradsim.states.agreement import AgreementState, compute_saliency, holds_without_gradient
from gradsim.states.history import HistoryState, event_ids
from gradsim.states.quiz import QuizState, exercise_ids, questions

SEEDS = range(10)


def _step(scene_id: str, n: int = 0):
    return [s for s in load_builtin_lesson().steps if s.scene == scene_id][n]


# ---------------------------------------------------------------------------------------------------
# agreement


def test_agreement_defaults_are_the_seeds_cats_sentence():
    s = AgreementState()
    assert state_class("agreement") is AgreementState
    cats = ag.seed_sentences()[2]
    assert (s.sentence, s.distance, s.number) == ("seed:2", cats.distance, "plural")
    assert s.sentence_object() == cats


def test_a_seed_sentence_brings_its_own_number_and_distance():
    """"The cat sits." is singular at distance 1, whatever a file or a control says."""
    cat = AgreementState.from_settings({"sentence": "seed:0"})
    assert (cat.number, cat.distance) == ("singular", 1)
    assert AgreementState.from_settings({"sentence": "seed:0", "number": "plural", "distance": 30}) == cat
    assert AgreementState().replace(sentence="seed:0") == cat
    # the generated sentence carries on from the one that was on show, then follows its controls
    generated = cat.replace(sentence="generated")
    assert (generated.number, generated.distance) == ("singular", 1)
    assert generated.replace(number="plural", distance=30).sentence_object() == ag.generate_sentence(30, "plural", 0)


def test_agreement_rules_refuse_bad_settings_in_one_line():
    for bad in ({"colour": 1}, {"distance": 0}, {"distance": 41}, {"distance": 2.5}, {"model": "gru"},
                {"training": 7}, {"training": True}, {"number": "dual"}, {"sentence": "seed:9"},
                {"run": 3}, {"attractors": "yes"}, {"variant": -1}):
        with pytest.raises(ValueError) as info:
            AgreementState.from_settings(bad)
        assert "\n" not in str(info.value) and str(info.value).startswith("agreement")
    state = AgreementState.from_settings({"model": "lstm", "training": "15", "sentence": "generated"})
    assert state.training == 15  # old files wrote the training distance as text
    assert AgreementState.from_dict(state.to_dict()) == state
    assert state.to_dict()["training"] == 15


def test_agreement_job_is_what_the_worker_computes():
    state = AgreementState.from_settings({"sentence": "generated", "distance": 12, "model": "rnn", "training": 10})
    sal = compute_saliency(state.job())
    cell, weights, _label = ag.model_weights("rnn", 10, 0)
    ref = ag.saliency(ag.generate_sentence(12, "plural", 0), cell, weights)
    np.testing.assert_allclose(sal.log10_grad_norm[:13], ref.log10_grad_norm[:13], rtol=1e-12)


def test_lesson_agreement_caption_holds_for_untrained_networks_on_ten_seeds():
    """Step 10: "The verb's signal shrinks word by word; the subject, 13 words back, gets less than a
    thousandth." For the untrained vanilla RNN (PyTorch's initial weights) of seeds 0-9."""
    step = _step("agreement")
    assert "13 words back" in step.caption and "less than a thousandth" in step.caption
    state = AgreementState.from_settings(step.settings)
    sentence = state.sentence_object()
    assert sentence.distance == 13 and state.model == "untrained"
    for seed in SEEDS:
        sal = ag.saliency(sentence, "rnn", ag.untrained_state("rnn", seed))
        assert sal.total < 1e-3 and sal.per_step < 1, seed


def test_the_right_answer_without_gradient_is_the_mixed_training_case():
    """The caption's "why" (trained on mixed distances) is shown exactly when a trained vanilla RNN is
    right with almost no gradient at the subject: distance 30, all three shipped runs."""
    for run in range(3):
        state = AgreementState.from_settings({"sentence": "generated", "distance": 30, "model": "rnn", "run": run})
        sal = compute_saliency(state.job())
        assert sal.correct and sal.total < 1e-20 and sal.p_plural > 0.99, run
        assert holds_without_gradient(state, sal)
        assert not holds_without_gradient(state.replace(model="lstm"), compute_saliency(state.replace(model="lstm").job()))


# ---------------------------------------------------------------------------------------------------
# history and quiz


def test_history_state_names_an_event_and_moves_along_the_timeline():
    ids = event_ids()
    assert HistoryState().event == ids[0] and len(ids) >= 10
    state = HistoryState.from_settings({"event": "bengio-1994"})
    assert state.moved(1).event == ids[ids.index("bengio-1994") + 1]
    assert state.moved(-1).event == ids[ids.index("bengio-1994") - 1]
    assert HistoryState().moved(-1) == HistoryState()
    for bad in ({"event": "no-such-event"}, {"event": 3}, {"colour": "red"}):
        with pytest.raises(ValueError) as info:
            HistoryState.from_settings(bad)
        assert str(info.value).startswith("history") and "\n" not in str(info.value)


def test_quiz_state_rules():
    state = QuizState.from_settings({"seed": 11, "question": 4, "present": True})
    assert (state.mode, state.seed, state.question, state.present) == ("quiz", 11, 4, True)
    assert state.replace(seed=12).question == 0  # another shuffle starts at its first question
    assert state.replace(seed=12, question=3).question == 3
    assert state.replace(present=False).question == 4
    assert state.replace(exercise=exercise_ids()[-1]).exercise_object().id == exercise_ids()[-1]
    for bad in ({"mode": "karaoke"}, {"seed": -1}, {"question": len(questions())}, {"present": "yes"},
                {"exercise": "nope"}, {"x": 1}):
        with pytest.raises(ValueError) as info:
            QuizState.from_settings(bad)
        assert str(info.value).startswith("quiz") and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------------
# lesson captions on other scenes whose claims are not a verdict


def test_lesson_edge_of_stability_shrinks_more_than_a_thousandfold():
    """Step 7: radius exactly 1 over 50 steps stays within the thresholds (its ``expect``) "yet it
    still shrinks more than a thousandfold": ‖dL/dh₁‖ / ‖dL/dh₅₀‖ < 10⁻³ on every seed."""
    from gradsim.states.flow import FlowState, compute_flow

    step = next(s for s in load_builtin_lesson().steps if "thousandfold" in s.caption)
    assert step.expect == "healthy"
    for seed in SEEDS:
        result = compute_flow(FlowState.from_settings({**step.settings, "seed": seed}).job())
        assert result.verdict.kind == "healthy" and result.log10_total_factor < -3, seed


def test_lesson_matrix_step_has_both_eigenvalues_inside_and_vanishes():
    """Step 8: both eigenvalues inside the unit circle, and the gradient vanishes: its spectral norm
    (an upper bound of each step's factor with tanh, γ = 1) is below 1, so vanishing is guaranteed."""
    from gradsim.engine.flow import gradient_flow
    from gradsim.engine.scenario import Scenario

    w = np.array(_step("spectrum").settings["matrix"], dtype=np.float64)
    assert np.all(np.abs(np.linalg.eigvals(w)) < 1)
    assert np.linalg.norm(w, 2) < 1
    steps = 200
    rng = np.random.default_rng(0)
    flow = gradient_flow(Scenario(cell="rnn", activation="tanh", W_hh=w, W_xh=np.eye(2), b_h=np.zeros(2),
                                  h0=np.zeros(2), x=rng.normal(0, 0.5, (steps, 2))))
    assert flow.verdict.kind == "vanishing"
    assert flow.log10_total_factor <= (steps - 1) * math.log10(np.linalg.norm(w, 2)) + 1e-9


def test_quiz_eigenvalue_answers_hold_for_the_matrix_their_show_me_opens():
    """eigen-inside / spectral-radius: with every |λ| < 1, powers of W_hh shrink like ρᵏ (‖Wᵏ‖^(1/k)
    tends to ρ); the links open the same matrix as the lesson's step, whose flow vanishes (above)."""
    quiz = {q.id: q for q in questions()}
    matrix = _step("spectrum").settings["matrix"]
    assert quiz["eigen-inside"].show_me.settings["matrix"] == matrix
    assert quiz["step-jacobian"].show_me.settings["matrix"] == matrix
    w = np.array(matrix, dtype=np.float64)
    rho = max(abs(np.linalg.eigvals(w)))
    assert rho < 1
    rates = [np.linalg.norm(np.linalg.matrix_power(w, k), 2) ** (1 / k) for k in (10, 50, 200)]
    assert all(abs(r - rho) < abs(q - rho) for q, r in zip(rates, rates[1:], strict=False))  # closer and closer
    assert abs(rates[-1] - rho) < 0.01


def test_lesson_history_and_activation_captions_match_the_data():
    """Step 14's years come from the timeline (1991 to 1997: six years; 1997 to 2017: twenty), step 3's
    slopes from the activations (sigmoid′ at most 0.25, tanh′ reaching 1)."""
    from gradsim.engine.activations import get_activation
    from gradsim.states.history import timeline

    year = {e.id: e.year for e in timeline()}
    step = _step("history")
    assert step.settings["event"] == "lstm-1997"
    assert "(1991)" in step.caption and "(1997)" in step.caption and "six years" in step.caption
    assert (year["hochreiter-1991"], year["lstm-1997"]) == (1991, 1997)
    assert year["lstm-1997"] - year["hochreiter-1991"] == 6 and "twenty more" in step.caption
    assert year["transformer-2017"] - year["lstm-1997"] == 20
    caption = _step("scalar", 2).caption
    assert "at most 0.25" in caption and "tanh′ reaches 1" in caption
    z = np.linspace(-6, 6, 12001)
    assert get_activation("sigmoid").max_derivative == 0.25 == pytest.approx(get_activation("sigmoid").df(z).max())
    assert get_activation("tanh").df(z).max() == pytest.approx(1.0)
