"""GUI tests of the history and quiz scenes and of lesson mode: real main window, real content files,
real engine behind the exercises (no mocks); what they show at projector sizes, and that lesson steps
and "show me" links open scenes on top of their defaults, as one undo step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from gradsim.content import (
    compute_exercise,
    load_exercises,
    load_quiz,
    load_timeline,
    render_text,
    shuffle_quiz,
)
from gradsim.lesson import Lesson, LessonStep, load_builtin_lesson, load_lesson
from gradsim.ui.lesson_bar import CAPTION_LINES, LessonBar, open_configured

from .conftest import settle, wait_idle
from .layout_audit import problems, widget_problems
from .sizing import settled, sized


def _errors(window) -> list[str]:
    """Record what the window reports as errors from now on (the real message bar still shows them)."""
    seen: list[str] = []
    original = window.show_error

    def show_error(text: str) -> None:
        seen.append(text)
        original(text)

    window.show_error = show_error
    return seen


def _same(expected, actual) -> bool:
    """``actual`` (a scene's settings) holds ``expected``: dicts may carry more keys, numbers compare
    to rounding, lists element by element."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and _same(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(_same(x, y) for x, y in zip(expected, actual, strict=True))
    return expected == actual


def _all_targets():
    """Every "show me" and every lesson step: (where, scene id, settings)."""
    out = []
    for e in load_timeline():
        if e.show_me is not None:
            out.append((f"timeline {e.id}", e.show_me.scene, e.show_me.settings))
    for q in load_quiz():
        if q.show_me is not None:
            out.append((f"quiz {q.id}", q.show_me.scene, q.show_me.settings))
    for x in load_exercises():
        if x.show_me is not None:
            out.append((f"exercise {x.id}", x.show_me.scene, x.show_me.settings))
    for i, step in enumerate(load_builtin_lesson().steps):
        out.append((f"lesson step {i + 1}", step.scene, step.settings))
    return out


@pytest.mark.slow  # opens every scene, training and gated cells included
def test_every_show_me_and_lesson_step_opens_a_registered_scene_with_its_settings(qtbot, main_window):
    errors = _errors(main_window)
    registered = set(main_window.scene_ids())
    tried = 0
    for where, scene_id, settings in _all_targets():
        if scene_id not in registered:
            continue  # that scene is not part of this build yet
        assert open_configured(main_window, scene_id, settings), (where, errors)
        scene = main_window.current_scene()
        assert scene.scene_id == scene_id, where
        state = scene.settings()
        for key, value in settings.items():
            assert _same(value, state[key]), (where, key, state[key], value)
        if scene.State is not None:  # on top of the defaults, whatever was on show before
            assert scene.state == scene.State.from_settings(settings), where
        tried += 1
    wait_idle(qtbot, main_window, timeout=90000)
    assert not errors
    assert tried >= 10


def _history(qtbot, window):
    scene = window.show_scene("history")
    qtbot.waitUntil(lambda: scene.drawn_once, timeout=10000)
    return scene


def test_history_strip_shows_every_event_at_its_year(qtbot, main_window):
    scene = _history(qtbot, main_window)
    events = load_timeline()
    assert scene.strip.marker_years() == {e.id: e.year for e in events}
    placed = scene.strip.layout_events()
    assert len(placed) == len(events)
    # x grows with the year, and labels never overlap
    xs = sorted((p.event.year, p.marker.x()) for p in placed)
    assert all(b[1] >= a[1] for a, b in zip(xs, xs[1:], strict=False))
    # no marker covers another of its lane (2014 GRU, 2014 Seq2seq and 2015 ResNet are a year apart),
    # and each stays within a year and a half of its own year on the axis
    r = scene.strip._geometry[-1]
    left, right, _top, _bottom, y0, y1 = scene.strip._geometry[:6]
    per_year = (right - left) / (y1 - y0)
    for p in placed:
        lane = [o for o in placed if o is not p and abs(o.marker.y() - p.marker.y()) < 1]
        assert all(abs(o.marker.x() - p.marker.x()) >= 2.2 * r for o in lane), p.event.id
        assert abs(left + (p.event.year - y0) * per_year - p.marker.x()) <= 1.5 * per_year, p.event.id
    rects = [p.label_rect for p in placed]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b)
    assert scene.event_list.count() == len(events)


# the 1024x768 projector by default, the wide windows with the slow tests
@pytest.mark.parametrize("size", [(1024, 768, True)] + [pytest.param(s, marks=pytest.mark.slow)
                                                       for s in ((1280, 800, False), (1920, 1080, False))])
def test_history_leader_lines_cross_no_label(qtbot, main_window, size):
    """In a 1024x768 projector window and in wide ones, no line from a marker to its label runs
    through another label (a teacher would read the wrong year). The window is sized, not the strip:
    the strip of a 1024x768 projector window is about 1012 x 407 (a 630 x 330 strip, once its size,
    has no clean layout for thirteen events)."""
    scene = _history(qtbot, main_window)
    width, height, projector = size
    main_window.resize(width, height)
    if main_window.theme.projector != projector:
        main_window.toggle_projector()
    main_window._follow_size()
    settle()
    placed = scene.strip.layout_events()
    r = scene.strip._geometry[-1]
    for p in placed:
        leader = scene.strip._leader_rect(p.marker, p.label_rect, r)
        if leader is not None:
            crossed = [o.event.id for o in placed if o is not p and leader.intersects(o.label_rect)]
            assert not crossed, f"{p.event.id}'s leader crosses {crossed}"
        lane = [o for o in placed if o is not p and abs(o.marker.y() - p.marker.y()) < 1]
        assert all(abs(o.marker.x() - p.marker.x()) >= 2.2 * r for o in lane), f"{p.event.id}'s marker is covered"


def test_clicking_an_event_explains_it_and_show_me_opens_the_scene(qtbot, main_window):
    scene = _history(qtbot, main_window)
    events = {e.id: e for e in load_timeline()}
    target = "lstm-1997" if "gates" in main_window.scene_ids() else "clipping-2013"
    pos = scene.strip.marker_position(target)
    qtbot.mouseClick(scene.strip, Qt.MouseButton.LeftButton, pos=QPoint(int(pos.x()), int(pos.y())))
    assert scene.current_id == target
    text = scene.detail_title.text() + scene.detail_text.text()
    assert events[target].title in text and str(events[target].year) in text and events[target].text in text
    assert scene.settings() == {"event": target}
    qtbot.mouseClick(scene.show_me_button, Qt.MouseButton.LeftButton)
    show = events[target].show_me
    current = main_window.current_scene()
    assert current.scene_id == show.scene
    for key, value in show.settings.items():
        assert _same(value, current.settings()[key])
    if target == "lstm-1997":
        assert current.settings()["forget_bias"] == 3


def test_history_arrows_and_settings(qtbot, main_window):
    scene = _history(qtbot, main_window)
    ids = [e.id for e in load_timeline()]
    scene.apply_settings({"event": ids[3]})
    scene.step(1)
    assert scene.current_id == ids[4]
    scene.step(-1)
    scene.step(-1)
    assert scene.current_id == ids[2]
    with pytest.raises(ValueError):
        scene.apply_settings({"event": "no-such-event"})
    with pytest.raises(ValueError):
        scene.apply_settings({"colour": "red"})
    assert scene.current_id == ids[2]
    # each move is one undo step
    main_window.undo_stack.undo()
    assert scene.current_id == ids[3] and scene.event_list.currentRow() == 3
    main_window.undo_stack.redo()
    assert scene.current_id == ids[2]


@pytest.mark.parametrize("size", [(1024, 768), pytest.param((800, 600), marks=pytest.mark.slow)],
                         ids=["1024x768", "800x600"])
def test_every_event_is_told_whole_on_a_projector(new_window, qtbot, size):
    """No event's story is cut, scrolled or elided, nor its "show me" label; the strip keeps its room."""
    window = new_window(True)
    sized(qtbot, window, *size)
    scene = window.show_scene("history")
    qtbot.waitUntil(lambda: scene.drawn_once, timeout=10000)
    found = []
    for e in load_timeline():
        scene.select_event(e.id)
        labels = (scene.detail_title, scene.detail_meta, scene.detail_text, scene.detail_reference)
        qtbot.waitUntil(lambda labels=labels: all(settled(w) for w in labels if w.isVisible()), timeout=5000)
        found += [f"{e.id}: {p}" for p in problems(window, window.theme.small_px)]
        assert scene.detail_text.text() == e.text
        assert scene.strip.height() >= 150, e.id
    assert not found, "\n".join(found)


def test_show_me_opens_the_scene_on_top_of_its_defaults_as_one_undo_step(qtbot, main_window):
    """A "show me" gives the same picture whatever the scene showed before, and Ctrl+Z takes it back."""
    from gradsim.states.flow import FlowState

    flow = main_window.show_scene("flow")
    flow.apply_settings({"steps": 77, "hidden": 12, "seed": 3})
    wait_idle(qtbot, main_window)
    before = flow.state
    history = main_window.show_scene("history")
    history.select_event("clipping-2013")
    show = history.current_event().show_me
    count = main_window.undo_stack.count()
    qtbot.mouseClick(history.show_me_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, main_window)
    assert main_window.current_scene() is flow
    assert flow.state == FlowState.from_settings(show.settings) and flow.state.seed == 0 and flow.state.steps == 50
    assert main_window.undo_stack.count() == count + 1
    main_window.undo_stack.undo()
    assert flow.state == before


def _quiz(qtbot, window, **settings):
    scene = window.show_scene("quiz")
    if settings:
        scene.apply_settings(settings)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: bool(scene.order), timeout=10000)
    return scene


def test_quiz_order_comes_from_the_seed(qtbot, main_window):
    scene = _quiz(qtbot, main_window, seed=42)
    expected = shuffle_quiz(load_quiz(), 42)
    assert [q.id for q in scene.order] == [q.id for q in expected]
    q = expected[0]
    assert render_text(q.prompt) in scene.prompt.text()
    for i, option in enumerate(q.options):
        assert scene.cards[i].text.text() == render_text(option.text)
    scene.apply_settings({"seed": 7})
    wait_idle(qtbot, main_window)
    assert [q.id for q in scene.order] == [q.id for q in shuffle_quiz(load_quiz(), 7)]


def test_answering_marks_explains_and_scores(qtbot, main_window):
    scene = _quiz(qtbot, main_window, seed=3, question=0, present=False)
    q = scene.current_question()
    wrong = next(i for i, o in enumerate(q.options) if not o.correct)
    qtbot.mouseClick(scene.cards[wrong], Qt.MouseButton.LeftButton)
    assert scene.cards[wrong].state == "wrong" and "✗" in scene.cards[wrong].mark.text()
    assert scene.cards[q.correct_index].state == "correct"
    feedback = scene.feedback.text()
    assert render_text(q.options[wrong].explanation)[:40] in feedback
    assert render_text(q.options[q.correct_index].explanation)[:40] in feedback
    assert scene.score_label.text() == "Score: 0 / 1"
    # a second click on the right answer does not change the score
    qtbot.mouseClick(scene.cards[q.correct_index], Qt.MouseButton.LeftButton)
    assert scene.score_label.text() == "Score: 0 / 1"
    scene.step(1)
    q2 = scene.current_question()
    qtbot.mouseClick(scene.cards[q2.correct_index], Qt.MouseButton.LeftButton)
    assert scene.cards[q2.correct_index].state == "right"
    assert scene.score_label.text() == "Score: 1 / 2"
    assert scene.settings()["question"] == 1


def test_letter_keys_choose(qtbot, main_window):
    """B chooses B; C chooses C although C also opens the controls (no ambiguous shortcut)."""
    scene = _quiz(qtbot, main_window, seed=0, question=0)
    main_window.activateWindow()  # other tests' windows may have taken the focus
    qtbot.waitUntil(main_window.isActiveWindow, timeout=5000)
    scene.cards[0].setFocus()
    qtbot.keyClick(scene.cards[0], Qt.Key.Key_B)
    assert scene.answers[scene.current_question().id] == 1
    scene.step(1)
    controls = scene.controls_open()
    qtbot.keyClick(scene.cards[0], Qt.Key.Key_C)
    assert scene.answers[scene.current_question().id] == 2 and scene.controls_open() == controls
    scene.seed.setFocus()  # a spin box keeps its letters (and nothing is chosen)
    qtbot.keyClick(scene.seed, Qt.Key.Key_A)
    assert scene.answers[scene.current_question().id] == 2


def test_present_to_class_hides_correctness_until_revealed(qtbot, main_window):
    scene = _quiz(qtbot, main_window, seed=5, question=2, present=True)
    q = scene.current_question()
    wrong = next(i for i, o in enumerate(q.options) if not o.correct)
    scene.choose(wrong)
    assert scene.cards[wrong].state == "chosen"
    assert all(card.state in ("neutral", "chosen") for card in scene.cards[: len(q.options)])
    for option in q.options:
        assert render_text(option.explanation)[:30] not in scene.feedback.text()
    assert scene.reveal_button.isVisible()
    qtbot.mouseClick(scene.reveal_button, Qt.MouseButton.LeftButton)
    assert scene.cards[wrong].state == "wrong"
    assert scene.cards[q.correct_index].state == "correct"
    for option in q.options:  # after revealing, every answer is explained
        assert render_text(option.explanation)[:30] in scene.feedback.text()


@pytest.mark.parametrize("exercise_id", ["eigen-2x2", "jacobian-2x2", "norm-095-105", "sigmoid-bound", "spectral-sweep"])
def test_exercise_solution_is_the_engines(qtbot, main_window, exercise_id):
    scene = _quiz(qtbot, main_window, mode="exercises", exercise=exercise_id)
    (ex,) = [e for e in load_exercises() if e.id == exercise_id]
    qtbot.waitUntil(lambda: exercise_id in scene._results, timeout=20000)
    qtbot.mouseClick(scene.solution_button, Qt.MouseButton.LeftButton)
    assert scene.solution_box.isVisible()
    expected = compute_exercise(ex.compute)
    assert scene.shown_solution() == expected.rows
    assert expected.conclusion in scene.conclusion.text()
    if exercise_id == "eigen-2x2":
        # independent: numpy's eigenvalues of the matrix in the exercise
        eig = sorted(np.linalg.eigvals(np.array(ex.compute["matrix"])).real, reverse=True)
        shown = dict(scene.shown_solution())["eigenvalues"]
        assert [float(v) for v in shown.split(",")] == pytest.approx(eig, rel=1e-3)
    # the chart draws the same numbers
    v = expected.values
    if ex.compute["kind"] in ("norm_power", "sigmoid_bound"):
        assert scene.log_chart.isVisible()
        x, y = scene.series_a.getData()
        np.testing.assert_allclose(y, v["log10_bound"], rtol=1e-12)
        np.testing.assert_allclose(scene.series_b.getData()[1], v["log10_measured"], rtol=1e-12)
        np.testing.assert_allclose(x, v["norms"] if "norms" in v else v["steps"])
    elif ex.compute["kind"] == "spectral_sweep":
        assert scene.log_chart.isVisible()
        data = scene.points.data
        np.testing.assert_allclose(np.sort(data["y"]), np.sort(np.ravel(v["log10_grad_h1"])), rtol=1e-12)
        np.testing.assert_allclose(scene.series_b.getData()[1], np.median(v["log10_grad_h1"], axis=1), rtol=1e-12)
    else:
        assert not scene.log_chart.isVisible() and not scene.lin_chart.isVisible()
    hints_before = scene.hints_label.text()
    qtbot.mouseClick(scene.hint_button, Qt.MouseButton.LeftButton)
    assert scene.hints_label.text() != hints_before and render_text(ex.hints[0])[:20] in scene.hints_label.text()


def test_exercise_show_me_opens_its_scene(qtbot, main_window):
    registered = set(main_window.scene_ids())
    candidates = [e for e in load_exercises() if e.show_me is not None and e.show_me.scene in registered]
    if not candidates:
        pytest.fail("no exercise opens a registered scene")
    ex = candidates[0]
    scene = _quiz(qtbot, main_window, mode="exercises", exercise=ex.id)
    qtbot.mouseClick(scene.ex_show_me, Qt.MouseButton.LeftButton)
    current = main_window.current_scene()
    assert current.scene_id == ex.show_me.scene
    for key, value in ex.show_me.settings.items():
        assert _same(value, current.settings()[key])


def test_quiz_settings_round_trip_and_refusals(qtbot, main_window):
    scene = _quiz(qtbot, main_window, seed=11, question=4, present=True)
    state = scene.settings()
    assert state["seed"] == 11 and state["question"] == 4 and state["present"] is True
    scene.apply_settings({"seed": 0, "question": 0, "present": False})
    wait_idle(qtbot, main_window)
    scene.apply_settings(state)
    wait_idle(qtbot, main_window)
    assert scene.settings() == state
    for bad in ({"mode": "karaoke"}, {"seed": -1}, {"question": 999}, {"present": "yes"}, {"exercise": "nope"}, {"x": 1}):
        with pytest.raises(ValueError):
            scene.apply_settings(bad)
    assert scene.settings() == state
    # navigation is part of the state: one undo step per move
    scene.apply_settings({"seed": 11, "question": 0})
    wait_idle(qtbot, main_window)
    qtbot.mouseClick(scene.next_button, Qt.MouseButton.LeftButton)
    assert scene.state.question == 1 and "Question 2 of" in scene.progress_label.text()
    main_window.undo_stack.undo()
    assert scene.state.question == 0 and "Question 1 of" in scene.progress_label.text()


@pytest.mark.parametrize("mode", [pytest.param((1920, 1080, False), marks=pytest.mark.slow), (1024, 768, True)],
                         ids=["1920x1080", "1024x768-projector"])
def test_quiz_uses_the_space_and_the_type_scale(new_window, qtbot, mode):
    """A wide screen gets the explanation beside the question (not half a screen of nothing); the
    question and its answers are set larger than the body text; nothing is cut."""
    width, height, projector = mode
    window = new_window(projector)
    sized(qtbot, window, width, height)
    scene = _quiz(qtbot, window, seed=3)
    q = scene.current_question()
    scene.choose(next(i for i, o in enumerate(q.options) if not o.correct))
    qtbot.waitUntil(lambda: settled(scene.feedback) and settled(scene.prompt), timeout=5000)
    t = window.theme
    assert scene._prompt_px > t.title_px and scene._answer_px > t.font_px
    assert f"font-size:{scene._prompt_px}px" in scene.prompt.text()
    wide = width >= 1600
    assert scene.quiz_columns.wide == wide
    prompt = scene.prompt.mapTo(scene, scene.prompt.rect().topRight())
    feedback = scene.feedback.mapTo(scene, scene.feedback.rect().topLeft())
    assert (feedback.x() > prompt.x()) == wide
    if wide:  # the two columns fill the page between them
        used = sum(part.width() for part in scene.quiz_columns.inner)
        assert used > 0.85 * scene.quiz_columns.width()
    else:  # one column: the answers first, the explanation under them
        last = scene.cards[len(q.options) - 1]
        assert scene.feedback.mapTo(scene, scene.feedback.rect().topLeft()).y() > \
            last.mapTo(scene, last.rect().bottomLeft()).y()
    assert not problems(window, t.small_px)


@pytest.mark.slow  # the first training step waits for torch to load: several seconds on a busy machine
def test_slow_exercise_runs_on_demand_and_can_be_stopped(qtbot, main_window):
    scene = _quiz(qtbot, main_window, mode="exercises", exercise="copy-memory-delay")
    assert "copy-memory-delay" not in scene._results  # nothing trained until asked
    assert scene.compute_button.isEnabled()
    qtbot.mouseClick(scene.compute_button, Qt.MouseButton.LeftButton)
    assert scene._task is not None
    qtbot.waitUntil(lambda: scene._task.yielded >= 1, timeout=60000)
    qtbot.mouseClick(scene.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not scene._task.running, timeout=30000)
    qtbot.waitUntil(scene.compute_button.isEnabled, timeout=5000)
    assert scene.progress_text.text() == "Stopped."
    assert "copy-memory-delay" not in scene._results


# -----------------------------------------------------------------------------------------------------
# lesson mode


def _bar(window) -> LessonBar:
    existing = getattr(window, "lesson_bar", None)
    if isinstance(existing, LessonBar):
        return existing
    bar = LessonBar(window, parent=window.centralWidget())
    window.centralWidget().layout().insertWidget(1, bar)
    window.lesson_bar = bar
    return bar


@pytest.mark.slow  # fourteen steps across every scene
def test_page_down_walks_the_builtin_lesson(qtbot, main_window):
    bar = _bar(main_window)
    lesson = load_builtin_lesson()
    registered = set(main_window.scene_ids())
    bar.start_builtin()
    assert bar.isVisible() and bar.index == 0
    assert bar.step_label.text() == f"Step 1 of {len(lesson.steps)}"
    assert lesson.steps[0].rendered_caption in bar.shown_caption()
    focus = main_window.scene_bar.buttons["flow"]
    for i in range(1, len(lesson.steps)):
        qtbot.keyClick(focus, Qt.Key.Key_PageDown)
        assert bar.index == i
        step = lesson.steps[i]
        assert step.rendered_caption in bar.shown_caption()
        assert bar.step_label.text() == f"Step {i + 1} of {len(lesson.steps)}"
        if step.scene in registered:
            assert main_window.current_scene().scene_id == step.scene
    qtbot.keyClick(focus, Qt.Key.Key_PageDown)  # past the end: stays on the last step
    assert bar.index == len(lesson.steps) - 1
    qtbot.keyClick(focus, Qt.Key.Key_PageUp)
    assert bar.index == len(lesson.steps) - 2
    wait_idle(qtbot, main_window)


def test_page_keys_reach_the_lesson_even_from_a_spin_box(qtbot, main_window):
    bar = _bar(main_window)
    bar.set_lesson(Lesson("two scenes", [LessonStep("quiz", {"seed": 4}, "first"),
                                         LessonStep("history", {"event": "gru-2014"}, "second")]))
    quiz = main_window.current_scene()
    assert quiz.scene_id == "quiz"
    quiz.seed.setFocus()
    qtbot.keyClick(quiz.seed, Qt.Key.Key_PageDown)
    assert bar.index == 1 and quiz.seed.value() == 4  # the spin box did not take the key
    assert main_window.current_scene().scene_id == "history"
    assert main_window.current_scene().current_id == "gru-2014"
    qtbot.keyClick(main_window.current_scene().event_list, Qt.Key.Key_PageUp)
    assert bar.index == 0 and main_window.current_scene().scene_id == "quiz"
    bar.close_lesson()
    assert not bar.isVisible()
    wait_idle(qtbot, main_window)
    quiz.seed.setFocus()  # with the lesson closed the keys are the widget's again
    before = quiz.seed.value()
    qtbot.keyClick(quiz.seed, Qt.Key.Key_PageUp)
    assert quiz.seed.value() > before
    wait_idle(qtbot, main_window)


def test_save_current_state_as_steps_and_reopen(qtbot, main_window, tmp_path):
    bar = _bar(main_window)
    history = main_window.show_scene("history")
    history.apply_settings({"event": "bengio-1994"})
    bar.add_current_step("Bengio, Simard and Frasconi, {{0.9^50}}", "the 1994 marker")
    quiz = main_window.show_scene("quiz")
    quiz.apply_settings({"seed": 9, "question": 2})
    bar.add_current_step("Now the quiz")
    assert bar.step_label.text() == "Step 2 of 2"
    path = tmp_path / "class.gradsim-lesson.json"
    assert bar.save_path(path)
    lesson = load_lesson(path)
    assert [s.scene for s in lesson.steps] == ["history", "quiz"]
    assert lesson.steps[0].settings == {"event": "bengio-1994"}
    assert lesson.steps[1].settings["seed"] == 9 and lesson.steps[1].settings["question"] == 2
    # reopen: the first step brings the history back to 1994 even after moving elsewhere
    history.apply_settings({"event": "gru-2014"})
    bar.close_lesson()
    assert bar.load_path(path)
    assert main_window.current_scene().scene_id == "history"
    assert history.current_id == "bengio-1994"
    assert "0.00515" in bar.shown_caption()
    wait_idle(qtbot, main_window)


def test_bad_lesson_file_is_refused_and_the_lesson_kept(qtbot, main_window, tmp_path):
    bar = _bar(main_window)
    errors = _errors(main_window)
    bar.start_builtin()
    bad = tmp_path / "broken.gradsim-lesson.json"
    bad.write_text('{"format": "gradsim.lesson/1", "title": "x", "steps": [{"scene": "moon"}]}', encoding="utf-8")
    assert not bar.load_path(bad)
    assert errors and "broken.gradsim-lesson.json" in errors[-1] and "\n" not in errors[-1]
    assert bar.lesson is not None and bar.lesson.title == load_builtin_lesson().title
    wait_idle(qtbot, main_window)


@pytest.mark.slow  # imports torch and trains two tiny networks
def test_copy_memory_solution_chart_draws_the_sweep(qtbot, main_window):
    """The accuracy chart of the copy-memory exercise, fed by a real (tiny) delay sweep of the engine."""
    from gradsim.content import copy_memory_result
    from gradsim.engine.training import TrainSettings, run_delay_sweep

    points = run_delay_sweep(TrainSettings(task="copy", cell="rnn", hidden=4, steps=2, eval_size=64), [1, 2], cells=["rnn"])
    result = copy_memory_result(points, 0.5, "vanilla RNN")
    scene = _quiz(qtbot, main_window, mode="exercises", exercise="copy-memory-delay")
    scene._results["copy-memory-delay"] = result
    scene._draw_exercise()
    scene.solution_button.setChecked(True)
    assert scene.lin_chart.isVisible()
    x, y = scene.acc_curve.getData()
    np.testing.assert_allclose(x, [1, 2])
    np.testing.assert_allclose(y, [p.accuracy for p in points])
    np.testing.assert_allclose(scene.chance_line.getData()[1], [1 / 8, 1 / 8])
    assert scene.shown_solution() == result.rows


@pytest.mark.slow  # every step of the built-in lesson, on a projector of each size
@pytest.mark.parametrize("size", [(1024, 768), (800, 600)], ids=["1024x768", "800x600"])
def test_lesson_bar_is_one_row_and_a_short_caption_under_the_pictures(new_window, qtbot, size):
    """The bar sits under the scene: one row of controls, the title whole (never "…"), the caption in
    at most three lines of body type; with the bar open the flow chart keeps a readable height."""
    window = new_window(True)
    sized(qtbot, window, *size)
    bar = window.lesson_bar
    bar.start_builtin()
    lesson = load_builtin_lesson()
    found = []
    for i, step in enumerate(lesson.steps):
        bar.go_to(i)
        settle()
        line = bar.caption_label.fontMetrics().lineSpacing()
        width = bar.caption_scroll.viewport().width()
        assert bar.caption_label.heightForWidth(width) <= CAPTION_LINES * line + 4, (i + 1, step.caption)
        assert bar.title_label.text() == lesson.title and "…" not in bar.title_label.text()
        row = max(b.height() for b in (bar.prev_button, bar.next_button, bar.add_button))
        assert bar.height() <= row + CAPTION_LINES * line + 30, (i + 1, bar.height())
        assert bar.geometry().top() > window.current_scene().geometry().bottom() - 2  # under the pictures
        found += [f"step {i + 1}: {p}" for p in widget_problems(bar, window.theme.small_px)]
        if step.scene == "flow":
            wait_idle(qtbot, window, timeout=60000)
            chart = window.current_scene().chart
            assert chart.height() >= 0.25 * size[1], (i + 1, chart.height())
    assert not found, "\n".join(found)
    bar.close_lesson()
    wait_idle(qtbot, window, timeout=60000)
