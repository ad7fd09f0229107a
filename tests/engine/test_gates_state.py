"""The gates scene's state without a window: its rules, its presets and what its badges claim."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from gradsim.engine.thresholds import Verdict, verdict_from_log10
from gradsim.formatting import format_number
from gradsim.paths import resource
from gradsim.presets import load_presets
from gradsim.states.gates import (
    ADDITIVE_KEYS,
    MODEL_KEYS,
    GatesJob,
    GatesState,
    beyond_float64,
    compute_gates,
    input_value_text,
    outcome,
    path_lines,
    reach_text,
    steps_within,
)

pytest.importorskip("torch")

SEEDS = range(10)


def test_state_rules_refuse_bad_settings_in_one_line():
    for bad in ({"forget_bias": 7}, {"forget_bias": "open"}, {"steps": 2.5}, {"steps": 5000}, {"hidden": 0},
                {"init": "xavier"}, {"cell": "lstm"}, {"vanish": 10.0}, {"explode": 2.0}, {"view": "sideways"},
                {"preset": "nope"}, {"speed": 0}, {"bad\nkey": 1}):
        with pytest.raises(ValueError) as info:
            GatesState.from_settings(bad)
        assert "\n" not in str(info.value) and str(info.value).startswith("gates")


def test_presets_keep_seed_speed_and_view_and_any_change_drops_them():
    state = GatesState().replace(seed=7, speed=50, view="cells")
    fb0 = GatesState.from_settings({"preset": "fb0", "seed": 7})
    assert (fb0.forget_bias, fb0.steps, fb0.preset) == (0.0, 200, "fb0")
    assert fb0.replace(seed=3).preset == "fb0" and fb0.replace(view="cells").preset == "fb0"
    assert fb0.replace(forget_bias=0.5).preset == "custom"
    assert state.preset == "custom" and GatesState.from_dict(state.to_dict()) == state
    json.dumps(state.to_dict())


def test_content_settings_are_states():
    """Lesson steps, the quiz, the timeline send settings to this scene: each is a valid state."""
    sent = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("scene") == "gates" and isinstance(node.get("settings"), dict):
                sent.append(node["settings"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in ("quiz.json", "timeline.json", "exercises.json", "lessons/why_rnns_forget.gradsim-lesson.json"):
        walk(json.loads(resource(*name.split("/")).read_text(encoding="utf-8")))
    assert len(sent) >= 5
    for settings in sent:
        GatesState.from_settings(settings)


def test_job_holds_every_model_of_the_one_list():
    job = GatesState().job()
    assert job.models == MODEL_KEYS == ("rnn", "lstm", "gru")
    assert job.settings.forget_bias == 3.0 and job.settings.cell == "lstm"
    result = compute_gates(GatesJob(GatesState(steps=12, hidden=4).generator()))
    assert tuple(result.results) == MODEL_KEYS


@pytest.mark.parametrize("seed", SEEDS)
def test_the_default_shows_the_highway_on_every_seed(seed):
    """The scene opens on its point, whatever the seed: the LSTM with forget bias 3 keeps its gradient
    within the thresholds over 200 steps, the vanilla RNN's falls below 10⁻⁶."""
    state = GatesState(seed=seed)
    verdicts = outcome(state)
    assert verdicts["lstm"].kind == "healthy" and verdicts["lstm_c"].kind == "healthy"
    assert verdicts["rnn"].kind == "vanishing"
    assert steps_within(verdicts["lstm"], state.steps) > steps_within(verdicts["rnn"], state.steps)


def test_forget_bias_1_preset_lstm_vanishes_later_on_every_seed():
    """The title "Forget bias 1: LSTM vanishes later" beyond its ``expect``: on every seed the LSTM's
    gradient stays within the thresholds at more steps than the RNN's, though both vanish."""
    preset = next(p for p in load_presets("gates") if p.preset_id == "fb1")
    for seed in SEEDS:
        state = GatesState.from_settings({**preset.settings, "preset": "fb1", "seed": seed})
        v = outcome(state)
        assert v["lstm"].kind == v["rnn"].kind == "vanishing"
        assert steps_within(v["lstm"], state.steps) > steps_within(v["rnn"], state.steps), seed


def test_steps_within_counts_the_steps_nearest_the_loss():
    logs = np.array([-9.0, -7.0, -5.5, -3.0, -1.0, 0.0])  # t = 1..6
    v = verdict_from_log10(logs)
    assert v.kind == "vanishing" and v.first_t == 2
    assert steps_within(v, 6) == 4  # t = 3, 4, 5, 6
    assert reach_text(v, 6) == "≥ 10⁻⁶ for 4 of 6 steps"
    healthy = verdict_from_log10(np.array([-2.0, -1.0, 0.0]))
    assert steps_within(healthy, 3) == 3 and reach_text(healthy, 3) == "≥ 10⁻⁶ for all 3 steps"
    exploding = verdict_from_log10(np.array([5.0, 4.0, 2.0, 0.0]))
    assert reach_text(exploding, 4) == "≤ 10³ for 2 of 4 steps"
    odd = Verdict("vanishing", 3, 5e-7, 1e3)
    assert reach_text(odd, 10) == "≥ 5 × 10⁻⁷ for 7 of 10 steps"


def test_readme_numbers_for_the_default_at_seed_0():
    """README: at the defaults (seed 0) the RNN's gradient stays above 10⁻⁶ at the last 56 of 200 steps."""
    v = outcome(GatesState())
    assert steps_within(v["rnn"], 200) == 56 and steps_within(v["lstm"], 200) == 200


# ---------------------------------------------------------------------------------------------------
# the additive comparison (issue 20)

def test_compare_and_residual_scale_rules():
    for bad in ({"compare": "all"}, {"compare": 1}, {"residual_scale": -0.1}, {"residual_scale": 3.0},
                {"residual_scale": "big"}):
        with pytest.raises(ValueError) as info:
            GatesState.from_settings(bad)
        assert "\n" not in str(info.value) and str(info.value).startswith("gates")
    state = GatesState.from_settings({"preset": "hop200", "seed": 3})
    assert (state.compare, state.steps, state.residual_scale, state.seed) == ("additive", 200, 0.1, 3)
    assert state.replace(seed=4).preset == "hop200" and state.replace(residual_scale=0.2).preset == "custom"
    assert GatesState.from_dict(state.to_dict()) == state
    assert GatesState().compare == "gates"  # the scene still opens on the gates


def test_additive_job_runs_all_five_with_the_states_numbers():
    state = GatesState(compare="additive", steps=12, hidden=5, residual_scale=0.4, forget_bias=2.0, seed=9)
    job = state.job()
    assert job.compare == "additive" and job.models == ADDITIVE_KEYS == ("rnn", "lstm", "gru", "residual", "attention")
    assert (job.settings.cell, job.settings.residual_scale, job.settings.forget_bias) == ("attention", 0.4, 2.0)
    result = compute_gates(job)
    assert tuple(result.results) == ADDITIVE_KEYS
    assert GatesState().job().settings.cell == "lstm"  # the gates' scenario file stays the LSTM's


def _torch_residual_input_norms(state: GatesState) -> np.ndarray:
    """‖dL/dxₜ‖ of the residual RNN by plain float64 autograd on the state's generated numbers."""
    import torch

    from gradsim.engine.scenario import GeneratorSettings

    g = state.generator()
    sc = GeneratorSettings(hidden=g.hidden, input=g.input, steps=g.steps, init=g.init, scale=g.scale,
                           input_scale=g.input_scale, seed=g.seed).build()
    w, u, x = (torch.tensor(a) for a in (sc.W_hh, sc.W_xh, sc.x))
    x.requires_grad_(True)
    h = torch.zeros(g.hidden, dtype=torch.float64)
    for t in range(g.steps):
        h = h + state.residual_scale * torch.tanh(w @ h + u @ x[t])
    h.sum().backward()
    return x.grad.norm(dim=1).numpy()


def test_additive_outcome_judges_the_input_gradient_computed_independently():
    """The verdicts the additive presets claim are those of ‖dL/dxₜ‖, here recomputed by autograd
    (residual RNN) and checked against the thresholds step by step."""
    state = GatesState(compare="additive", steps=40, hidden=8, residual_scale=0.3, seed=5)
    norms = _torch_residual_input_norms(state)
    result = compute_gates(state.job())
    np.testing.assert_allclose(result.results["residual"].input_grad_norm, norms, rtol=1e-9)
    v = outcome(state)["residual"]
    below = np.nonzero(norms < state.vanish)[0]
    above = np.nonzero(norms > state.explode)[0]
    if above.size:
        assert v.kind == "exploding" and v.first_t == above[-1] + 1
    elif below.size:
        assert v.kind == "vanishing" and v.first_t == below[-1] + 1
    else:
        assert v.kind == "healthy"


def _torch_attention_weights(net) -> np.ndarray:
    """The last position's attention over all steps, from ``torch.nn.MultiheadAttention`` itself."""
    import torch

    steps, n = net.steps, net.width
    mha = torch.nn.MultiheadAttention(n, net.heads, dtype=torch.float64)
    mha.load_state_dict(net.state_dict())
    e = torch.tensor(net.embedded())
    mask = torch.triu(torch.full((steps, steps), float("-inf"), dtype=torch.float64), 1)
    _out, weights = mha(e[:, None], e[:, None], e[:, None], attn_mask=mask, need_weights=True,
                        average_attn_weights=True)
    return weights[0, -1].detach().numpy()


@pytest.mark.parametrize("seed", [0, 7])
def test_path_diagram_edges_are_the_runs_own_numbers(seed):
    """The edges the path diagrams draw (engine: ``model_edges``) against independent computations:
    the residual's identity 1, α·f′ averaged over the steps the gradient crosses and ‖W_hh‖₂; the
    attention's hops, the weights nn.MultiheadAttention gives the first and the middle step."""
    from gradsim.engine.additive import attention_middle

    state = GatesState(compare="additive", steps=31, hidden=6, residual_scale=0.25, seed=seed)
    r = compute_gates(state.job())
    sc = r.results["rnn"]
    edges = {e.key: e.factor for e in r.edges["residual"]}
    # the residual forward in plain NumPy: h_t = h_{t-1} + α tanh(W h_{t-1} + U x_t)
    base = r.results["attention"].network
    w = r.results["residual"].w_hh
    h, slopes = np.zeros(6), []
    for t in range(31):
        y = np.tanh(w @ h + base.w_in @ base.x[t] + base.b_in)
        slopes.append(1.0 - y * y)
        h = h + 0.25 * y
    assert edges["identity"] == 1.0
    assert edges["act"] == pytest.approx(0.25 * np.mean(slopes[1:]), rel=1e-9)
    assert edges["w_hh"] == pytest.approx(np.linalg.norm(sc.w_hh, 2), rel=1e-9)
    weights = _torch_attention_weights(base)
    att = {e.key: e.factor for e in r.edges["attention"]}
    assert att["hop_first"] == pytest.approx(weights[0], rel=1e-9)
    assert att["hop_middle"] == pytest.approx(weights[attention_middle(31) - 1], rel=1e-9)
    assert att["skip"] == 1.0
    # the diagram titles: T − 1 steps at the measured mean factor, or one hop weighted by a₁
    per_step = 10 ** ((sc.log10_grad_norm[0] - sc.log10_grad_norm[-1]) / 30)
    assert path_lines("rnn", r) == ["to x₁: 30 steps", f"× {format_number(per_step, 3)} each"]
    assert path_lines("attention", r) == ["to x₁: 1 hop", f"× a₁ = {format_number(weights[0], 2)}"]


@pytest.mark.parametrize("steps", [200, 1000])
def test_attention_reaches_x1_in_proportion_to_its_attention_on_every_seed(steps):
    """The page's point, on seeds nobody picked: at T = 200 and 1000 the RNN's ‖dL/dx₁‖ is below
    10⁻⁶ and attention's above it, below its bound, and a₁ is within a factor 10 of 1/T (the
    presets' notes say "about 1/T")."""
    for seed in SEEDS:
        state = GatesState(compare="additive", steps=steps, seed=seed)
        r = compute_gates(GatesJob(state.generator(), models=("rnn", "attention"), compare="additive"))
        rnn, att = r.results["rnn"], r.results["attention"]
        assert rnn.log10_input_grad_norm[0] < -6 < att.log10_input_grad_norm[0], seed
        assert att.log10_input_grad_norm[0] <= att.log10_input_bound[0] + 1e-9
        a1 = float(att.attention_last[0, 0])
        assert 0.1 / steps < a1 < 10 / steps, (seed, a1)


def test_badge_value_words():
    assert input_value_text(-23.5, 1) == "‖dL/dx₁‖ 3.2 × 10⁻²⁴"
    assert input_value_text(-23.5, 57, digits=1) == "‖dL/dx₅₇‖ 3 × 10⁻²⁴"
    assert input_value_text(-1.0, None, digits=1) == "‖dL/dxₜ‖ 0.1"
    logs = np.array([-400.0, -330.0, -5.0, 310.0, -np.inf])
    np.testing.assert_array_equal(beyond_float64(logs), [True, True, False, True, False])


def _additive_run(settings: dict, seed: int):
    """The state a preset, lesson step or "show me" opens (its settings on the defaults) and its result."""
    state = GatesState.from_settings({**settings, "seed": seed})
    return state, _result(state)


@functools.cache
def _result(state: GatesState):
    """The engine's result, once per state in this module: the quiz's attention question, the
    timeline's Transformer event and the 1/T check all open preset hop1000's state (the engine is
    deterministic, so each test checks the numbers it checked before; read, never changed)."""
    return compute_gates(state.job())


def test_quiz_attention_answer_is_what_the_engine_computes():
    """Quiz 'attention-hop': its right answer (one hop, scaled once by a₁, against T − 1 multiplications)
    and explanation (a₁ about 1/T; the dashed bound is a₁ times one constant of the layer), and its
    wrong ones (weights of 1, orthogonal matrices), checked with the engine on the state its "show me"
    opens (T = 1000), on ten seeds."""
    from gradsim.content import load_quiz, render_text

    (q,) = [q for q in load_quiz() if q.id == "attention-hop"]
    right = q.options[q.correct_index]
    assert "single hop" in render_text(right.text) and "T − 1 times" in render_text(right.text)
    assert "1/T" in render_text(right.explanation) and "1000-step" in render_text(q.prompt)
    assert q.show_me.scene == "gates"
    for seed in SEEDS:
        state, r = _additive_run(q.show_me.settings, seed)
        assert state.compare == "additive" and state.steps == 1000
        rnn, att = r.results["rnn"], r.results["attention"]
        vanish = np.log10(state.vanish)
        # the RNN's gradient crosses T − 1 steps and is gone at x₁; attention's crosses one hop and is not
        assert r.paths["rnn"].steps_crossed == state.steps - 1 and r.paths["attention"].steps_crossed == 1
        assert rnn.log10_input_grad_norm[0] < vanish <= att.log10_input_grad_norm[0], seed
        # scaled once by a₁: ‖dL/dx₁‖ is a₁ times a factor of order one (within ×10 either way)
        a = att.attention_last[0]
        assert abs(att.log10_input_grad_norm[0] - np.log10(a[0])) < 1, seed
        # a₁ is about 1/T (within ×5), and typical weights too
        assert 0.2 < a[0] * state.steps < 5 and 0.2 < np.median(a) * state.steps < 5, seed
        # the bound is a₁ times one constant: bound − log10 aₜ is the same at every t < T, and it holds
        constant = att.log10_input_bound[:-1] - att.log10_attention_last[0][:-1]
        assert np.ptp(constant) < 1e-9, seed
        assert np.all(att.log10_input_grad_norm[:-1] <= att.log10_input_bound[:-1] + 1e-9), seed
        # wrong answers: the weights are a softmax (sum 1, each far below 1), the matrices not orthogonal
        assert a.sum() == pytest.approx(1.0, rel=1e-12) and a.max() < 0.5, seed
        w_q = att.network.projection("q")[0]
        assert not np.allclose(w_q @ w_q.T, np.eye(w_q.shape[0]), atol=0.1)


def test_attention_input_gradient_shrinks_like_one_over_t_and_the_rnns_exponentially():
    """The quiz's "shrinks like 1/T, not exponentially with the distance" (and README's additive
    section): from T = 20 to T = 1000 attention's ‖dL/dx₁‖ falls by about the factor 50 = 1000/20
    (within ×10), the RNN's by hundreds of decades; on the settings of preset hop1000, ten seeds.
    (It does shrink: the last position's attention is spread over more steps.)"""
    settings = {"preset": "hop1000"}
    for seed in SEEDS:
        first = {}
        for steps in (20, 1000):
            state, r = _additive_run({**settings, "steps": steps}, seed)
            first[steps] = {m: float(r.results[m].log10_input_grad_norm[0]) for m in ("rnn", "attention")}
        attention_drop = first[20]["attention"] - first[1000]["attention"]
        assert abs(attention_drop - np.log10(1000 / 20)) < 1, (seed, attention_drop)
        assert first[20]["rnn"] - first[1000]["rnn"] > 100, seed


def test_lesson_additive_step_caption_is_what_the_engine_computes():
    """The lesson's additive-path step: "‖dL/dxₜ‖ of five models on one input. The RNN's chain of 199
    multiplications loses x₁; the residual RNN's identity and attention's single hop, weighted by a₁,
    keep it", on the state the step opens, ten seeds."""
    from gradsim.lesson import load_builtin_lesson

    (step,) = [s for s in load_builtin_lesson().steps if s.scene == "gates" and s.settings.get("preset") == "hop200"]
    assert "five models" in step.caption and "199 multiplications" in step.caption and "‖dL/dxₜ‖" in step.caption
    for seed in SEEDS:
        state, r = _additive_run(step.settings, seed)
        assert state.compare == "additive" and tuple(r.results) == ADDITIVE_KEYS and len(ADDITIVE_KEYS) == 5
        vanish = np.log10(state.vanish)
        assert r.paths["rnn"].kind == "chain" and r.paths["rnn"].steps_crossed == 199, seed
        assert r.results["rnn"].log10_input_grad_norm[0] < vanish, seed
        assert r.paths["residual"].kind == "residual" and r.paths["attention"].kind == "hop"
        for m in ("residual", "attention"):
            assert r.results[m].log10_input_grad_norm[0] >= vanish, (seed, m)


def test_timeline_residual_and_transformer_links_show_their_paths():
    """The 2015 (residual networks) and 2017 (Transformer) events open the additive comparison: the
    residual RNN's path is the identity plus a correction, so its mean factor per backward step stays
    within 1 ± α·max f′·‖W_hh‖₂ (the RNN's has no identity and falls below 10⁻⁶ at x₁); the
    Transformer's path back to an early input is one hop at T = 1000."""
    from gradsim.content import load_timeline

    events = {e.id: e for e in load_timeline()}
    resnet, transformer = events["resnet-2015"].show_me, events["transformer-2017"].show_me
    assert resnet.scene == transformer.scene == "gates"
    assert "y = x + F(x)" in events["resnet-2015"].text and "identity" in events["resnet-2015"].text
    for seed in SEEDS:
        state, r = _additive_run(resnet.settings, seed)
        assert state.compare == "additive", seed
        res = r.results["residual"]
        per_step = r.paths["residual"].per_step
        assert 1 - res.correction_bound <= per_step <= 1 + res.correction_bound, seed
        assert r.results["rnn"].log10_input_grad_norm[0] < np.log10(state.vanish), seed
        state, r = _additive_run(transformer.settings, seed)
        assert state.compare == "additive" and state.steps == 1000, seed
        assert r.paths["attention"].steps_crossed == 1 and r.paths["rnn"].steps_crossed == 999, seed
