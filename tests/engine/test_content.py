"""The content files (timeline, quiz, exercises): schema, coverage, and every number checked against an
independent computation (Python arithmetic, a closed form, or PyTorch float64 autograd)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest

from gradsim import content
from gradsim.content import (
    QUIZ_TOPICS,
    InputError,
    compute_exercise,
    format_log10,
    format_number,
    load_exercises,
    load_quiz,
    load_timeline,
    render_text,
    shuffle_quiz,
)
from gradsim.paths import resource

from .fresh_imports import probe

_SUP = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def parse_shown(text: str) -> float:
    """Read back a number as the app writes it ("9.54 × 10⁻⁷", "3,325", "0.00515")."""
    text = text.strip()
    m = re.fullmatch(r"(-?[0-9.]+) × 10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)", text)
    if m:
        return float(m.group(1)) * 10.0 ** int(m.group(2).translate(_SUP))
    return float(text.replace(",", ""))


# ---------------------------------------------------------------------------------------------------
# number formatting


@pytest.mark.parametrize(
    "value",
    [0.5**20, 0.9**50, 0.25**20, 0.9**20, 2.0**20, 1.5**20, 0.7**13, 1.05**99, 0.95**99, 45.0, 5.0, 1e-300],
)
def test_format_number_reads_back_to_three_figures(value):
    assert parse_shown(format_number(value)) == pytest.approx(value, rel=5e-3)


def test_format_number_examples():
    assert format_number(0.5**20) == "9.54 × 10⁻⁷"
    assert format_number(0.25**20) == "9.09 × 10⁻¹³"
    assert format_number(0.9**50) == "0.00515"
    assert format_number(1.5**20) == "3,325"
    assert format_number(0) == "0"


def test_format_log10_is_exact_beyond_float64():
    assert parse_shown(format_log10(-1800.5).replace("10⁻¹⁸⁰¹", "10⁻¹")) == pytest.approx(10**0.5 * 0.1, rel=5e-3)
    assert format_log10(-1800.5).endswith("10⁻¹⁸⁰¹")
    assert parse_shown(format_log10(math.log10(123.456))) == pytest.approx(123.456, rel=5e-3)


# ---------------------------------------------------------------------------------------------------
# timeline


def test_timeline_has_the_storyline():
    events = load_timeline()
    years = [e.year for e in events]
    assert years == sorted(years)
    by_year: dict[int, list] = {}
    for e in events:
        by_year.setdefault(e.year, []).append(e)
    expected = {
        1986: "Rumelhart",
        1990: "Elman",
        1991: "Hochreiter",
        1994: "Simard",
        1997: "Schmidhuber",
        2000: "Gers",
        2013: "Pascanu",
        2014: "Cho",
        2015: "Jaitly",
        2017: "Vaswani",
    }
    for year, person in expected.items():
        people = " ".join(p for e in by_year.get(year, []) for p in e.people)
        assert person in people, (year, person)
    all_people = " ".join(p for e in events for p in e.people)
    assert "Saxe" in all_people and "Sutskever" in all_people
    for e in events:
        assert len(e.text) > 80 and e.title


def test_lstm_event_opens_gates_with_forget_bias_3():
    (lstm,) = [e for e in load_timeline() if e.year == 1997]
    assert lstm.show_me is not None
    assert lstm.show_me.scene == "gates"
    assert lstm.show_me.settings["forget_bias"] == 3


# ---------------------------------------------------------------------------------------------------
# quiz


def _raw(name: str) -> dict:
    return json.loads(resource(name).read_text(encoding="utf-8"))


def test_quiz_every_question_has_one_right_answer_and_every_option_is_explained():
    raw = _raw("quiz.json")["questions"]
    assert len(raw) >= 12
    for q in raw:
        assert sum(1 for o in q["options"] if o["correct"] is True) == 1, q["id"]
        for o in q["options"]:
            assert len(o["explanation"].strip()) > 20, (q["id"], o["text"])
    loaded = load_quiz()
    assert [q.id for q in loaded] == [q["id"] for q in raw]


def test_quiz_covers_the_required_topics():
    topics = {q.topic for q in load_quiz()}
    required = {"weight_sharing", "jacobian_product", "eigenvalue_condition", "sigmoid_bound", "clipping", "relu", "lstm_gru"}
    assert required <= topics
    # every topic has its own name for the quiz's header
    assert all(q.topic_title == QUIZ_TOPICS[q.topic] for q in load_quiz())
    assert len(set(QUIZ_TOPICS.values())) == len(QUIZ_TOPICS) and all(QUIZ_TOPICS.values())


def test_quiz_numbers_are_computed_not_typed():
    """Worked numbers appear only as placeholders; rendered, they equal Python's own arithmetic."""
    text = resource("quiz.json").read_text(encoding="utf-8")
    assert not re.search(r"\d\s*[×x]\s*10|\d[eE]-?\d|10\^-|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]", text)
    rendered = {q.id: q for q in load_quiz()}

    def right(qid):
        q = rendered[qid]
        return render_text(q.options[q.correct_index].text)

    assert parse_shown(right("half-to-20").split(",")[0]) == pytest.approx(0.5**20, rel=5e-3)
    assert parse_shown(right("bound-09-50").split("=")[1]) == pytest.approx(0.9**50, rel=5e-3)
    assert parse_shown(right("sigmoid-20")) == pytest.approx(0.25**20, rel=5e-3)
    wrong = [render_text(o.text) for o in rendered["bound-09-50"].options if not o.correct]
    assert any(parse_shown(w) == pytest.approx(45.0) for w in wrong if re.fullmatch(r"[0-9.,]+", w))


def test_every_placeholder_renders_its_value():
    for name in ("quiz.json", "timeline.json", "exercises.json"):
        text = resource(name).read_text(encoding="utf-8")
        for a, op, b in re.findall(r"\{\{\s*([0-9.]+)\s*([\^*])\s*([0-9.]+)\s*\}\}", text):
            value = float(a) ** float(b) if op == "^" else float(a) * float(b)
            shown = render_text("{{" + f"{a}{op}{b}" + "}}")
            assert parse_shown(shown) == pytest.approx(value, rel=5e-3), (a, op, b, shown)


def test_shuffle_is_deterministic_and_keeps_answers_right():
    qs = load_quiz()
    a, b = shuffle_quiz(qs, 7), shuffle_quiz(qs, 7)
    assert [q.id for q in a] == [q.id for q in b]
    assert [q.options for q in a] == [q.options for q in b]
    assert sorted(q.id for q in a) == sorted(q.id for q in qs)
    assert [q.id for q in shuffle_quiz(qs, 8)] != [q.id for q in a]
    original = {q.id: q for q in qs}
    for q in a:
        assert q.options[q.correct_index] == original[q.id].options[original[q.id].correct_index]
        assert set(q.options) == set(original[q.id].options)
    # options really move: not every correct answer stays where it was
    assert any(q.correct_index != original[q.id].correct_index for q in a)
    with pytest.raises(InputError):
        shuffle_quiz(qs, -1)


def test_score_counts_first_answers():
    qs = load_quiz()
    score = content.QuizScore()
    wrong = next(i for i, o in enumerate(qs[0].options) if not o.correct)
    assert score.record(qs[0], wrong) is False
    assert score.record(qs[0], qs[0].correct_index) is True  # a second try does not change the score
    assert score.record(qs[1], qs[1].correct_index) is True
    assert (score.right, score.total) == (1, 2)
    with pytest.raises(InputError):
        score.record(qs[0], 99)


# ---------------------------------------------------------------------------------------------------
# refusing bad files with one line


def _quiz_doc(**over):
    q = {
        "id": "q1",
        "topic": "relu",
        "prompt": "Which?",
        "options": [
            {"text": "a", "correct": True, "explanation": "because a"},
            {"text": "b", "correct": False, "explanation": "because not b"},
        ],
    }
    q.update(over)
    return {"format": "gradsim.quiz/1", "questions": [q]}


@pytest.mark.parametrize(
    "doc, fragment",
    [
        (_quiz_doc(options=[{"text": "a", "correct": True, "explanation": "x"}, {"text": "b", "correct": True, "explanation": "y"}]), "exactly one correct"),
        (_quiz_doc(options=[{"text": "a", "correct": False, "explanation": "x"}, {"text": "b", "correct": False, "explanation": "y"}]), "exactly one correct"),
        (_quiz_doc(options=[{"text": "a", "correct": True}, {"text": "b", "correct": False, "explanation": "y"}]), "missing 'explanation'"),
        (_quiz_doc(options=[{"text": "a", "correct": True, "explanation": " "}, {"text": "b", "correct": False, "explanation": "y"}]), "'explanation' is empty"),
        (_quiz_doc(options=[{"text": "a", "correct": "yes", "explanation": "x"}, {"text": "b", "correct": False, "explanation": "y"}]), "true or false"),
        (_quiz_doc(topic="astrology"), "unknown topic"),
        (_quiz_doc(prompt="{{0.5^}}"), "placeholder"),
        (_quiz_doc(show_me={"scene": "nowhere", "settings": {}}), "unknown scene"),
        (_quiz_doc(show_me={"scene": "flow", "settings": [1]}), "settings must be a JSON object"),
        (_quiz_doc(extra=1), "unknown key"),
        ({"format": "gradsim.quiz/2", "questions": []}, "format"),
    ],
)
def test_bad_quiz_is_refused_with_one_line(tmp_path, doc, fragment):
    path = tmp_path / "bad-quiz.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_quiz(path)
    message = str(err.value)
    assert "\n" not in message and "bad-quiz.json" in message and fragment in message


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b'{"format": "gradsim.timeline/1", "events": [NaN]}', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"format": "gradsim.timeline/1", "events": [', "not valid JSON"),
        (b'{"format": "gradsim.timeline/1", "events": [{"id": "a", "year": 1800, "title": "t", "kind": "problem", "text": "x"}]}', "year"),
        (b'{"format": "gradsim.timeline/1", "events": [{"id": "a", "year": 1990, "title": "t", "kind": "gossip", "text": "x"}]}', "unknown kind"),
        (b'{"format": "gradsim.timeline/1", "events": [{"id": "a", "year": 1990, "title": "t", "kind": "problem", "text": "x"}, {"id": "a", "year": 1991, "title": "t", "kind": "problem", "text": "x"}]}', "duplicate id"),
    ],
)
def test_bad_timeline_is_refused_with_one_line(tmp_path, raw, fragment):
    path = tmp_path / "bad-timeline.json"
    path.write_bytes(raw)
    with pytest.raises(InputError) as err:
        load_timeline(path)
    assert "\n" not in str(err.value) and "bad-timeline.json" in str(err.value) and fragment in str(err.value)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"kind": "magic"}, "unknown compute kind"),
        ({"kind": "eigenvalues", "matrix": [[1, 2]]}, "square"),
        ({"kind": "eigenvalues", "matrix": [[1, "x"], [0, 1]]}, "number"),
        ({"kind": "eigenvalues", "matrix": [[1, 0], [0, 1]], "extra": 1}, "unknown key"),
        ({"kind": "norm_power", "norms": [0.95], "factors": 0}, "'factors'"),
        ({"kind": "norm_power", "norms": [0.95], "steps": 100}, "steps"),
        ({"kind": "norm_power", "norms": []}, "'norms'"),
        ({"kind": "jacobian", "matrix": [[1, 0], [0, 1]], "h_prev": [0]}, "one value per row"),
        ({"kind": "copy_memory", "delays": [5], "cell": "transformer"}, "unknown cell"),
    ],
)
def test_bad_compute_spec_is_refused(spec, fragment):
    with pytest.raises(InputError) as err:
        compute_exercise(spec)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_settings_must_be_plain_json():
    with pytest.raises(InputError, match="nested deeper"):
        content.check_settings_value({"a": [[[[[[[[1]]]]]]]]}, "x")
    with pytest.raises(InputError, match="non-finite"):
        content.check_settings_value({"a": float("nan")}, "x")
    assert content.check_settings_value({"a": [1, 2.5, "s", None, True]}, "x")


# ---------------------------------------------------------------------------------------------------
# exercises: the solutions the app shows, against independent computations


def _exercise(eid: str):
    (ex,) = [e for e in load_exercises() if e.id == eid]
    return ex


def test_exercises_cover_the_brief_and_have_hints_and_show_me():
    ex = {e.id: e for e in load_exercises()}
    kinds = {e.compute["kind"] for e in ex.values()}
    assert kinds == set(content.COMPUTE_KINDS)
    for e in ex.values():
        assert e.hints and all(h.strip() for h in e.hints)
        assert e.show_me is not None
    assert ex["norm-095-105"].compute["norms"] == [0.95, 1.05] and ex["norm-095-105"].compute["factors"] == 100
    assert ex["spectral-sweep"].compute["norms"] == [0.8, 1.0, 1.2]
    assert ex["jacobian-2x2"].compute["matrix"] == [[0.5, 0.3], [0.2, 0.4]]


def test_jacobian_matches_autograd():
    torch = pytest.importorskip("torch")
    spec = _exercise("jacobian-2x2").compute
    result = compute_exercise(spec)
    w = torch.tensor(spec["matrix"], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda h: torch.tanh(w @ h), torch.zeros(2, dtype=torch.float64))
    np.testing.assert_allclose(result.values["jacobian"], jac.numpy(), rtol=1e-12)
    np.testing.assert_allclose(result.values["jacobian"], [[0.5, 0.3], [0.2, 0.4]])
    # away from zero the rows shrink by tanh', again as autograd says
    other = compute_exercise({**spec, "h_prev": [1.0, -2.0]})
    h = torch.tensor([1.0, -2.0], dtype=torch.float64)
    jac2 = torch.autograd.functional.jacobian(lambda v: torch.tanh(w @ v), h)
    np.testing.assert_allclose(other.values["jacobian"], jac2.numpy(), rtol=1e-12)
    assert "W itself" not in other.conclusion


def test_eigenvalues_match_the_characteristic_polynomial():
    result = compute_exercise(_exercise("eigen-2x2").compute)
    a, b, c, d = 0.5, 0.3, 0.2, 0.4
    tr, det = a + d, a * d - b * c
    disc = math.sqrt(tr * tr - 4 * det)
    expected = sorted([(tr + disc) / 2, (tr - disc) / 2], reverse=True)
    np.testing.assert_allclose(np.real(result.values["eigenvalues"]), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [0.7, 0.2], rtol=1e-12)
    assert result.values["prediction"] == "vanish"
    assert result.values["spectral_radius"] == pytest.approx(0.7)
    assert "0.7" in result.conclusion
    exploding = compute_exercise({"kind": "eigenvalues", "matrix": [[1.2, 0.0], [0.0, 0.5]]})
    assert exploding.values["prediction"] == "explode"


def _torch_ratio(norm: float, steps: int, hidden: int, input_scale: float, seed: int, activation: str) -> float:
    """log10 ||dL/dh_1|| / ||dL/dh_T|| by PyTorch float64 autograd on the same generated numbers."""
    torch = pytest.importorskip("torch")
    from gradsim.engine import GeneratorSettings

    sc = GeneratorSettings(hidden=hidden, input=4, steps=steps, activation=activation, init="orthogonal",
                           scale=norm, input_scale=input_scale, seed=seed).build()
    f = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    w_hh = torch.tensor(sc.W_hh)
    w_xh = torch.tensor(sc.W_xh)
    x = torch.tensor(sc.x)
    h = torch.zeros(hidden, dtype=torch.float64, requires_grad=True)
    hs = []
    for t in range(steps):
        h = f(w_hh @ h + w_xh @ x[t])
        h.retain_grad()
        hs.append(h)
    hs[-1].sum().backward()
    return math.log10(hs[0].grad.norm().item()) - math.log10(hs[-1].grad.norm().item())


def test_norm_power_bound_and_measurement():
    """100 factors on both sides: the bound 0.95^100, the hint's number and the measured ratio over
    100 backward steps (a 101-step run, checked by torch float64 autograd) count the same factors."""
    ex = _exercise("norm-095-105")
    spec = ex.compute
    result = compute_exercise(spec)
    assert result.values["factors"] == 100 and result.values["steps"] == 101
    np.testing.assert_allclose(result.values["log10_bound"], [math.log10(0.95**100), math.log10(1.05**100)], rtol=1e-12)
    for norm, measured, bound in zip(spec["norms"], result.values["log10_measured"], result.values["log10_bound"], strict=True):
        assert measured == pytest.approx(_torch_ratio(norm, 101, spec["hidden"], spec["input_scale"], spec["seed"], "tanh"), rel=1e-6)
        assert measured <= bound + 1e-9
    shown = dict(result.rows)
    assert shown["‖W_hh‖₂ = 0.95: bound 0.95¹⁰⁰"] == "0.00592"  # 0.95^100 = 0.00592
    assert parse_shown(shown["‖W_hh‖₂ = 1.05: bound 1.05¹⁰⁰"]) == pytest.approx(131.5, rel=5e-3)  # 1.05^100 = 131.5
    assert "‖W_hh‖₂ = 0.95: measured ‖dL/dh₁‖ / ‖dL/dh₁₀₁‖" in shown
    hints = " ".join(render_text(h) for h in ex.hints)
    assert f"0.95¹⁰⁰ = {shown['‖W_hh‖₂ = 0.95: bound 0.95¹⁰⁰']}" in hints
    assert f"1.05¹⁰⁰ = {shown['‖W_hh‖₂ = 1.05: bound 1.05¹⁰⁰']}" in hints
    assert "99" not in " ".join(ex.hints) + ex.prompt and "⁹⁹" not in " ".join(ex.hints) + ex.prompt
    assert ex.show_me.settings["steps"] == spec["factors"] + 1  # "show me" runs the same 100 factors


def test_sigmoid_bound_and_measurement():
    spec = _exercise("sigmoid-bound").compute
    result = compute_exercise(spec)
    for steps, lb, lm in zip(spec["steps"], result.values["log10_bound"], result.values["log10_measured"], strict=True):
        assert lb == pytest.approx(math.log10(0.25 ** (steps - 1)), rel=1e-12)
        assert lm <= lb + 1e-9
        assert lm == pytest.approx(_torch_ratio(1.0, steps, spec["hidden"], spec["input_scale"], spec["seed"], "sigmoid"), rel=1e-6)


def test_spectral_sweep_matches_autograd_and_rises():
    spec = {**_exercise("spectral-sweep").compute, "seeds": [0, 3]}
    result = compute_exercise(spec)
    table = result.values["log10_grad_h1"]
    assert table.shape == (3, 2)
    assert np.all(np.diff(np.median(table, axis=1)) > 1)  # orders of magnitude apart
    ratio = _torch_ratio(1.2, 50, spec["hidden"], spec["input_scale"], 3, "tanh")
    last = math.log10(math.sqrt(spec["hidden"]))  # dL/dh_T is all ones
    assert table[2, 1] == pytest.approx(ratio + last, rel=1e-6)
    assert result.values["log10_grad_hT"] == pytest.approx(last, rel=1e-9)


def test_copy_memory_solution_is_the_training_engines_result():
    """Tiny and fast: the solution reports exactly what the training engine measures."""
    pytest.importorskip("torch")
    from gradsim.engine.training import TrainSettings, run_delay_sweep

    spec = {"kind": "copy_memory", "delays": [3, 1], "cell": "rnn", "train_steps": 3, "hidden": 4, "seed": 5, "fail_below": 0.5}
    progress = list(content.iter_compute(spec))
    result = progress[-1]
    assert isinstance(result, content.ExerciseResult)
    assert all(isinstance(p, content.ComputeProgress) for p in progress[:-1])
    base = TrainSettings(task="copy", cell="rnn", hidden=4, steps=3, seed=5, eval_every=50, eval_size=256)
    points = run_delay_sweep(base, [1, 3], cells=["rnn"], stop_accuracy=0.99)
    assert result.values["delays"] == [1, 3]
    assert result.values["accuracy"] == [p.accuracy for p in points]
    assert result.values["chance"] == pytest.approx(1 / 8)
    fails = [a < 0.5 for a in result.values["accuracy"]]
    expected_first = next((d for i, d in enumerate([1, 3]) if all(fails[i:])), None)
    assert result.values["first_failing_delay"] == expected_first
    assert _exercise("copy-memory-delay").slow


def test_copy_memory_conclusion_follows_the_numbers():
    from gradsim.engine.training import SweepPoint

    def pts(pairs):
        return [SweepPoint("rnn", d, a, 0.125, 100, None) for d, a in pairs]

    clean = content.copy_memory_result(pts([(5, 1.0), (10, 0.97), (20, 0.2), (30, 0.13)]), 0.5, "vanilla RNN")
    assert clean.values["first_failing_delay"] == 20
    assert "From delay 20 on" in clean.conclusion and "disagree" not in clean.conclusion
    assert dict(clean.rows)["delay 10: held-out accuracy"] == "97%"
    noisy = content.copy_memory_result(pts([(5, 1.0), (10, 0.24), (30, 0.6), (40, 0.49)]), 0.5, "vanilla RNN")
    assert noisy.values["first_failing_delay"] == 40
    assert "disagree" in noisy.conclusion and "delay 5 and 30" in noisy.conclusion
    never = content.copy_memory_result(pts([(5, 0.2), (10, 0.1)]), 0.5, "vanilla RNN")
    assert never.values["first_failing_delay"] == 5 and "every delay tried" in never.conclusion
    always = content.copy_memory_result(pts([(5, 1.0), (10, 0.9)]), 0.5, "LSTM")
    assert always.values["first_failing_delay"] is None


def test_content_imports_neither_torch_nor_qt():
    """Also computing an exercise (in a fresh interpreter: tests/engine/fresh_imports.py)."""
    assert probe("content") == "ExerciseResult"


# ---------------------------------------------------------------------------------------------------
# one notation (issue 14): every text the quiz, the exercises, the timeline and the lesson show, and
# every solution row, in the charts' typography


# ASCII stand-ins for the notation: ||x|| for ‖x‖, h_t / h_{t-1} / h_1 for hₜ / hₜ₋₁ / h₁, a power
# typed as 0.9^50, a prime typed as an apostrophe (tanh', f'(z)), w^T, "cumprod", "10^-6"
ASCII_MATH = re.compile(r"\|\||[a-zA-Z]_(?:\{|[0-9]|t\b|T\b|k\b)|[0-9a-zρ)]\^[0-9({kT-]|\b(?:tanh|f|σ|ReLU)'(?!s\b)"
                        r"|\bw\^T\b|cumprod|10\^-")


def _shown_texts():
    """(where, text) for every text these files put on screen, placeholders computed."""
    out = []
    for q in load_quiz():
        out += [(f"quiz {q.id} prompt", q.prompt)]
        for o in q.options:
            out += [(f"quiz {q.id} option", o.text), (f"quiz {q.id} explanation", o.explanation)]
        if q.show_me is not None:
            out.append((f"quiz {q.id} show me", q.show_me.label))
    for e in load_timeline():
        out += [(f"timeline {e.id}", t) for t in (e.title, e.short, e.text, e.reference)]
        if e.show_me is not None:
            out.append((f"timeline {e.id} show me", e.show_me.label))
    for x in load_exercises():
        out += [(f"exercise {x.id}", t) for t in (x.title, x.prompt, *x.hints)]
        if x.show_me is not None:
            out.append((f"exercise {x.id} show me", x.show_me.label))
    from gradsim.lesson import load_builtin_lesson

    lesson = load_builtin_lesson()
    out += [("lesson title", lesson.title), ("lesson description", lesson.description)]
    for i, step in enumerate(lesson.steps, start=1):
        out += [(f"lesson step {i}", step.caption), (f"lesson step {i} point at", step.point_at)]
    return [(where, render_text(text)) for where, text in out]


def test_every_content_text_uses_the_charts_notation():
    bad = [(where, m.group(0), text[:60]) for where, text in _shown_texts() for m in [ASCII_MATH.search(text)] if m]
    assert not bad, bad
    # the checker itself catches what the issue found
    for ascii_text in ("||W_hh||", "h_T", "h_{t-1}", "0.9^50", "tanh'", "w^T", "dh_t/dh_0", "cumprod", "10^-6", "f'(z)"):
        assert ASCII_MATH.search(ascii_text), ascii_text


def test_every_exercise_solution_row_uses_the_charts_notation():
    for ex in load_exercises():
        if ex.slow:
            continue
        result = compute_exercise(ex.compute)
        texts = [t for row in result.rows for t in row] + [result.conclusion]
        bad = [t for t in texts if ASCII_MATH.search(t)]
        assert not bad, (ex.id, bad)


# ---------------------------------------------------------------------------------------------------
# claims: every "show me" whose label or text claims an outcome says so in ``expect``, and the engine
# shows it on ten seeds; the quiz answers that state an outcome are computed here too

SEEDS = range(10)


def _show_mes():
    out = []
    for e in load_timeline():
        if e.show_me is not None:
            out.append((f"timeline {e.id}", e.show_me))
    for q in load_quiz():
        if q.show_me is not None:
            out.append((f"quiz {q.id}", q.show_me))
    for x in load_exercises():
        if x.show_me is not None:
            out.append((f"exercise {x.id}", x.show_me))
    return out


def _flow_outcomes(settings: dict):
    """The flow results a "show me" opens, on ten seeds (from the scene's defaults, as the app does)."""
    from gradsim.states.flow import FlowState, compute_flow

    for seed in SEEDS:
        state = FlowState.from_settings({**settings, "seed": seed})
        yield seed, compute_flow(state.job())


CLAIM_WORDS = ("healthy", "vanish", "explod", "survive", "fades", "learns", "fails")


def test_show_me_links_that_claim_an_outcome_say_which():
    """A link whose label names an outcome carries ``expect`` (and so is checked below)."""
    for where, show in _show_mes():
        if any(w in show.label.lower() for w in CLAIM_WORDS):
            assert show.expect is not None, (where, show.label)
    assert sum(show.expect is not None for _w, show in _show_mes()) >= 5


@pytest.mark.parametrize("where, show", [pytest.param(w, s, id=w) for w, s in _show_mes() if s.expect is not None])
def test_show_me_claims_hold_on_ten_seeds(where, show):
    """The outcome of the state a link opens (its settings on the scene's defaults, as the app does),
    by the scene's own ``outcome``, on ten seeds (as tests/engine/test_claims.py does for presets)."""
    import importlib

    from gradsim.presets import claim_holds
    from gradsim.states import state_class

    from .outcomes import outcome

    module = importlib.import_module(f"gradsim.states.{show.scene}")
    assert hasattr(module, "outcome"), f"{where}: give the {show.scene} scene's state module an outcome()"
    failures = []
    for seed in SEEDS:  # once per state in this process: several links open the same state
        result = outcome(show.scene, state_class(show.scene).from_settings({**show.settings, "seed": seed}))
        if not claim_holds(show.expect, result):
            failures.append(f"seed {seed}: {result}")
    assert not failures, f"{where} claims {show.expect}: {failures}"


def test_quiz_bound_answer_holds_for_its_show_me():
    """bound-09-50: with ‖W_hh‖₂ = 0.9 the ratio after 50 backward steps is at most 0.9⁵⁰; its "show me"
    runs exactly that (orthogonal W_hh, so the spectral norm is the gain; 51 steps, 50 factors)."""
    (q,) = [q for q in load_quiz() if q.id == "bound-09-50"]
    settings = q.show_me.settings
    assert settings["init"] == "orthogonal" and settings["scale"] == 0.9 and settings["steps"] == 51
    for seed, r in _flow_outcomes(settings):
        assert r.spectral_norm == pytest.approx(0.9, rel=1e-9), seed
        assert r.log10_total_factor <= 50 * math.log10(0.9) + 1e-9, seed
    right = render_text(q.options[q.correct_index].text)
    assert parse_shown(right.split("=")[1]) == pytest.approx(0.9**50, rel=5e-3)


def test_quiz_lstm_answer_and_lesson_gate_steps_hold_on_ten_seeds():
    """lstm-cell (and lesson steps 11-12, the 1997 event): forget bias 3 keeps the LSTM's gradient over
    200 steps while the vanilla RNN's vanishes; forget bias 0 lets the LSTM's vanish too. Computed with
    the engine the gates scene uses, on the gates scene's network (32 units, radius 1, inputs of scale 1)."""
    from gradsim.engine import GeneratorSettings
    from gradsim.engine.cells import compare_cells
    from gradsim.lesson import load_builtin_lesson

    steps = {s.settings.get("forget_bias"): s for s in load_builtin_lesson().steps
             if s.scene == "gates" and "forget_bias" in s.settings}  # the forget-gate steps
    assert set(steps) == {3.0, 0.0} and all(s.settings["steps"] == 200 for s in steps.values())
    (q,) = [q for q in load_quiz() if q.id == "lstm-cell"]
    assert q.show_me.settings == {"forget_bias": 3.0, "steps": 200}
    for seed in SEEDS:
        base = GeneratorSettings(hidden=32, input=4, steps=200, activation="tanh", init="gaussian", scale=1.0,
                                 input_scale=1.0, seed=seed, cell="lstm", forget_bias=3.0)
        open_gate = compare_cells(base, cells=("rnn", "lstm"))
        assert open_gate.rnn.verdict.kind == "vanishing" and open_gate.lstm.verdict.kind == "healthy", seed
        closed = compare_cells(replace(base, forget_bias=0.0), cells=("lstm",))
        assert closed.lstm.verdict.kind == "vanishing", seed
