"""The training lab's state, without Qt: its rules, its defaults (the engine's), its presets and the
judge of a trained run, checked against the engine's own objects."""

from __future__ import annotations

import json

import pytest

from gradsim.engine.training import TrainRun, TrainSettings
from gradsim.presets import claim_holds, load_presets
from gradsim.states.training import (
    FAILS_MARGIN,
    LEARNS_ACCURACY,
    MODEL_KEYS,
    ModelSpec,
    TrainingOutcome,
    TrainingState,
    judge,
    model_names,
)


def test_the_defaults_are_the_engines_and_the_first_preset():
    state, engine = TrainingState(), TrainSettings()
    for key in ("task", "delay", "symbols", "categories", "hidden", "embedding", "optimizer", "lr", "batch",
                "steps", "clip", "clip_threshold", "seed"):
        assert getattr(state, key) == getattr(engine, key), key
    first = load_presets("training")[0]
    assert state.preset == first.preset_id
    assert TrainingState.from_settings({"preset": first.preset_id}) == state
    assert first.expect == {"learns": ["lstm"], "fails": ["rnn"]}
    rnn, lstm = state.train_settings()
    assert (rnn.cell, lstm.cell, lstm.forget_bias) == ("rnn", "lstm", 3.0)
    # the first preset names only the models: every task setting is the engine's default
    assert set(first.settings) == {"models"}


@pytest.mark.parametrize("bad", [
    {"delay": -1}, {"delay": 201}, {"steps": 2.5}, {"lr": 0.0}, {"batch": True}, {"task": "sorting"},
    {"models": []}, {"models": [{}, {}, {}, {}]}, {"models": [{"cell": "mamba"}]},
    {"models": [{"cell": "rnn", "dropout": 0.1}]}, {"models": "rnn"}, {"models": [{"forget_bias": 9}]},
    {"preset": "nope"}, {"view": "3d"}, {"sweep_delays": [1, "x"]}, {"sweep_delays": [-3]},
    {"sweep_delays": list(range(20))}, {"sweep_cells": ["rnn", "transformer"]}, {"task": "adding", "delay": 1},
    {"unknown\nkey": 1}, {"sweep": {"delays": [1], "colour": 2}}, {"eval_every": 10},
])
def test_bad_settings_are_refused_in_one_line(bad):
    with pytest.raises(ValueError) as info:
        TrainingState.from_settings(bad)
    assert "\n" not in str(info.value) and str(info.value).startswith("training")


def test_partial_models_and_the_older_settings_form():
    """Lesson files and "show me" links send partial models; older lesson files a "sweep" object."""
    state = TrainingState.from_settings({"delay": 40, "models": [{"cell": "lstm", "forget_bias": 1.0}]})
    assert state.models == (ModelSpec(cell="lstm", forget_bias=1.0),) and state.preset == "custom"
    old = TrainingState.from_settings({"eval_every": 25, "sweep": {"delays": [40, 5, 5], "steps": 50,
                                                                     "cells": ["lstm", "rnn"]}})
    assert (old.sweep_delays, old.sweep_steps, old.sweep_cells) == ((5, 40), 50, ("rnn", "lstm"))
    assert old.preset == TrainingState().preset  # the sweep is the presenter's: the preset holds


def test_round_trip_through_json_and_replace():
    state = TrainingState.from_settings({"models": [{"cell": "gru"}, {"cell": "rnn", "activation": "relu"}],
                                         "seed": 17, "view": "heatmap"})
    again = TrainingState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert set(state.to_dict()["models"][0]) == set(MODEL_KEYS)
    assert state.replace(seed=3).preset == state.preset
    demo = TrainingState()
    assert demo.replace(seed=5).preset == demo.preset and demo.replace(view="sweep").preset == demo.preset
    assert demo.replace(delay=12).preset == "custom"
    assert demo.replace(view="sweep").training_key() == demo.training_key() != demo.replace(hidden=8).training_key()


def test_train_settings_are_the_engines_settings_of_each_model():
    state = TrainingState.from_settings({"delay": 7, "models": [{"cell": "lstm", "forget_bias": 0.5},
                                                                {"cell": "rnn", "init": "orthogonal", "scale": 1.2}]})
    lstm, rnn = state.train_settings()
    assert lstm == TrainSettings(delay=7, cell="lstm", forget_bias=0.5)
    assert rnn == TrainSettings(delay=7, cell="rnn", init="orthogonal", scale=1.2)
    base = state.sweep_base()
    assert (base.forget_bias, base.init, base.scale, base.steps) == (0.5, "orthogonal", 1.2, state.sweep_steps)


def test_model_names_in_claims():
    two_lstms = (ModelSpec("lstm", forget_bias=0.0), ModelSpec("lstm"))
    assert model_names(two_lstms) == [("A",), ("B",)]
    assert model_names((ModelSpec("rnn"), ModelSpec("lstm"))) == [("A", "rnn"), ("B", "lstm")]


def test_the_transformer_is_a_model_choice_but_not_a_sweep_cell():
    """Issue 20 point 4: a model slot takes the engine's small Transformer (its width is the shared
    hidden size; the RNN's and LSTM's own settings do not apply), a claim names it "transformer", and
    the delay sweep, which compares recurrent cells, refuses it in one line."""
    state = TrainingState.from_settings({"task": "adding", "delay": 30, "hidden": 32,
                                         "models": [{"cell": "rnn"}, {"cell": "transformer"}]})
    rnn, transformer = state.train_settings()
    assert transformer == TrainSettings(task="adding", delay=30, hidden=32, cell="transformer")
    assert transformer.label() == "Transformer (2 blocks)" and rnn.cell == "rnn"
    assert model_names(state.models) == [("A", "rnn"), ("B", "transformer")]
    assert TrainRun(transformer).recurrent_eigenvalues() is None  # no W_hh: the eigenvalue view draws nothing
    with pytest.raises(ValueError, match="^training.*cells among rnn, lstm, gru"):
        state.replace(sweep_cells=["transformer"])
    for p in ("transformer", "adding_transformer"):
        preset = TrainingState.from_settings({"preset": p})
        assert [m.cell for m in preset.models] == ["rnn", "transformer"]
        assert load_presets("training")[[q.preset_id for q in load_presets("training")].index(p)].expect == {
            "learns": ["transformer"], "fails": ["rnn"]}


def _finished(accuracy: float, chance_categories: int = 8) -> TrainRun:
    run = TrainRun(TrainSettings(cell="rnn", hidden=4, delay=1, steps=1, categories=chance_categories, eval_size=8))
    run.curves.accuracy.append(accuracy)
    return run


def test_judge_follows_the_stated_thresholds():
    chance = 1 / 8
    assert judge(_finished(LEARNS_ACCURACY)) is True
    assert judge(_finished(LEARNS_ACCURACY - 1e-9)) is None
    assert judge(_finished(chance + FAILS_MARGIN)) is False
    assert judge(_finished(max(0.0, chance - FAILS_MARGIN))) is False
    assert judge(_finished(chance + FAILS_MARGIN + 0.01)) is None
    stopped = _finished(0.1)
    stopped.stop_reason = "training stopped: the loss became NaN at step 2"
    assert judge(stopped) == "diverged"


def test_claim_holds_for_training_outcomes():
    result = TrainingOutcome({"A": False, "rnn": False, "B": True, "lstm": True}, {"A": 0.12, "B": 1.0},
                             {"A": 1.0, "B": 2.0}, 0.125)
    assert claim_holds({"learns": ["lstm"], "fails": ["rnn"]}, result)
    assert not claim_holds({"learns": ["rnn"]}, result)
    assert not claim_holds({"diverges": ["A"]}, result)
    assert claim_holds({"diverges": ["A"]}, TrainingOutcome({"A": "diverged"}, {"A": None}, {"A": 0.1}, 0.125))
    assert "12.0 %" in repr(result)


def test_every_preset_is_a_valid_state_that_claims_what_its_title_says():
    for p in load_presets("training"):
        state = TrainingState.from_settings({"preset": p.preset_id})
        assert state.preset == p.preset_id
        names = {n for group in model_names(state.models) for n in group}
        for models in (p.expect or {}).values():
            assert set(models) <= names, f"{p.preset_id}: claims about models it does not train"
        words = p.title.lower()
        if "learn" in words or "fails" in words or "nan" in words:
            assert p.expect, p.preset_id
