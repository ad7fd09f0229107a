"""Lesson files: the built-in lesson's storyline, round trips, and one-line refusals."""

from __future__ import annotations

import json
import re

import pytest

from gradsim.content import SCENE_IDS, InputError
from gradsim.lesson import (
    LESSON_FORMAT,
    Lesson,
    LessonStep,
    builtin_lesson_path,
    lesson_from_dict,
    load_builtin_lesson,
    load_lesson,
    save_lesson,
)
from gradsim.states.training import TrainingState


def test_builtin_lesson_walks_the_storyline_across_all_scenes():
    lesson = load_builtin_lesson()
    scenes = [s.scene for s in lesson.steps]
    assert set(scenes) == set(SCENE_IDS)
    # the order of the story: scalar first, then flow, spectrum, gates, training, history, quiz last
    first = {scene: scenes.index(scene) for scene in SCENE_IDS}
    assert scenes[0] == "scalar" and scenes[-1] == "quiz"
    assert first["scalar"] < first["flow"] < first["spectrum"] < first["gates"] < first["training"] < first["history"]
    assert lesson.steps[0].settings["w"] == 0.5 and lesson.steps[0].settings["steps"] == 20
    assert "0.5^20" in lesson.steps[0].caption  # the number itself is a computed placeholder
    lstm = [s for s in lesson.steps if s.scene == "gates" and s.settings.get("forget_bias") == 3.0]
    assert lstm, "the LSTM step with forget bias 3 is missing"
    # the training step may name a preset: what a class sees is the state it expands to
    training = [TrainingState.from_settings(s.settings) for s in lesson.steps if s.scene == "training"]
    assert any(any(m.cell == "lstm" for m in state.models) for state in training)
    for step in lesson.steps:
        assert step.caption.strip() and step.point_at.strip()
        assert "{{" not in step.rendered_caption


def test_builtin_lesson_numbers_are_placeholders():
    raw = builtin_lesson_path().read_text(encoding="utf-8")
    assert not re.search(r"\d\s*[×x]\s*10|\d[eE]-?\d|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]", raw)
    caption = load_builtin_lesson().steps[0].rendered_caption
    assert "9.54 × 10⁻⁷" in caption  # 0.5**20 = 9.5367e-07


def test_save_and_load_round_trip(tmp_path):
    lesson = Lesson(
        "My lesson",
        [
            LessonStep("flow", {"activation": "tanh", "scale": 1.2, "steps": 50}, "Watch it grow: {{1.2^49}}.", "the chart"),
            LessonStep("quiz", {}, "Quiz time"),
        ],
        "for Tuesday",
    )
    path = tmp_path / "mine.gradsim-lesson.json"
    save_lesson(lesson, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == LESSON_FORMAT
    back = load_lesson(path)
    assert back == lesson
    assert not list(tmp_path.glob(".lesson-*"))  # no temporary file left behind


def test_save_refuses_what_it_could_not_load(tmp_path):
    bad = Lesson("x", [LessonStep("nowhere", {}, "c")])
    with pytest.raises(InputError, match="unknown scene"):
        save_lesson(bad, tmp_path / "bad.gradsim-lesson.json")
    assert not (tmp_path / "bad.gradsim-lesson.json").exists()
    with pytest.raises(ValueError):
        save_lesson(Lesson("x", [LessonStep("flow", {"a": float("nan")}, "c")]), tmp_path / "nan.gradsim-lesson.json")


def _doc(**over):
    d = {"format": LESSON_FORMAT, "title": "t", "steps": [{"scene": "flow", "settings": {}, "caption": "c"}]}
    d.update(over)
    return d


@pytest.mark.parametrize(
    "doc, fragment",
    [
        (_doc(format="gradsim.lesson/9"), "format"),
        (_doc(steps=[]), "non-empty"),
        (_doc(steps=[{"scene": "cinema", "settings": {}, "caption": "c"}]), "unknown scene"),
        (_doc(steps=[{"scene": "flow", "settings": {}, "caption": ""}]), "'caption' is empty"),
        (_doc(steps=[{"scene": "flow", "settings": {}}]), "missing 'caption'"),
        (_doc(steps=[{"scene": "flow", "settings": "fast", "caption": "c"}]), "settings must be a JSON object"),
        (_doc(steps=[{"scene": "flow", "settings": {}, "caption": "c", "run": "rm -rf"}]), "unknown key"),
        (_doc(steps=[{"scene": "flow", "settings": {}, "caption": "x" * 5000}]), "longer than"),
        (_doc(steps=[{"scene": "flow", "settings": {}, "caption": "c"}] * 501), "limit"),
        (_doc(title=7), "'title' must be text"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_lessons_are_refused_with_one_line(tmp_path, doc, fragment):
    path = tmp_path / "broken.gradsim-lesson.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_lesson(path)
    message = str(err.value)
    assert "\n" not in message and "broken.gradsim-lesson.json" in message and fragment in message


@pytest.mark.parametrize(
    "raw, fragment",
    [(b"", "not valid JSON"), (b"\x80\x81", "not UTF-8"), (b'{"format": NaN}', "not valid JSON"), (b"[" * 100000, "JSON")],
)
def test_unreadable_lessons_are_refused(tmp_path, raw, fragment):
    path = tmp_path / "junk.gradsim-lesson.json"
    path.write_bytes(raw)
    with pytest.raises(InputError) as err:
        load_lesson(path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_lesson(tmp_path / "absent.gradsim-lesson.json")


def test_lesson_from_dict_keeps_order_and_settings():
    lesson = lesson_from_dict(_doc(steps=[{"scene": "scalar", "settings": {"w": 0.9}, "caption": "a"},
                                          {"scene": "flow", "settings": {"steps": 3}, "caption": "b", "point_at": "p"}]))
    assert [s.scene for s in lesson.steps] == ["scalar", "flow"]
    assert lesson.steps[1].point_at == "p" and lesson.steps[0].settings == {"w": 0.9}
