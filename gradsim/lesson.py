"""Lesson files (``*.gradsim-lesson.json``, format ``gradsim.lesson/1``): a guided demo as data.

A lesson is a list of steps; each step opens one scene with given settings and shows a caption and
what to point at. The presenter walks through it with Page Up / Page Down (a presentation clicker
sends those keys). Teachers write their own by saving the app's current state as steps.

Files are plain JSON, checked field by field; nothing is executed. Scene settings are checked here
only for their shape (plain JSON of bounded size); whether a scene accepts them is the scene's own
``apply_settings`` call, which the app makes when the step is shown. No Qt here.

Example::

    {
      "format": "gradsim.lesson/1",
      "title": "Why RNNs forget",
      "steps": [
        {"scene": "scalar", "settings": {"w": 0.5, "steps": 20},
         "caption": "0.5 multiplied 20 times is {{0.5^20}}.", "point_at": "the w^T table"}
      ]
    }

Captions may use the ``{{a^b}}`` placeholders of :mod:`gradsim.content`; they are computed when shown.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradsim.content import (
    SCENE_IDS,
    _str,
    _unknown_keys,
    check_settings_value,
    read_json_file,
    render_text,
)
from gradsim.engine.errors import InputError
from gradsim.paths import resource
from gradsim.presets import check_expect

LESSON_FORMAT = "gradsim.lesson/1"
LESSON_SUFFIX = ".gradsim-lesson.json"
BUILTIN_LESSON = "why_rnns_forget.gradsim-lesson.json"
MAX_STEPS = 500
MAX_CAPTION = 1000
MAX_POINT_AT = 300
MAX_TITLE = 200


@dataclass(frozen=True)
class LessonStep:
    """One step: open ``scene``, apply ``settings``, show ``caption`` and point at ``point_at``."""

    scene: str
    settings: dict[str, Any]
    caption: str
    point_at: str = ""
    expect: Any = None  # the outcome the caption claims, as a preset's ``expect`` (checked by the tests)

    @property
    def rendered_caption(self) -> str:
        return render_text(self.caption)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"scene": self.scene, "settings": self.settings, "caption": self.caption}
        if self.point_at:
            d["point_at"] = self.point_at
        if self.expect is not None:
            d["expect"] = self.expect
        return d


@dataclass
class Lesson:
    title: str
    steps: list[LessonStep] = field(default_factory=list)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": LESSON_FORMAT, "title": self.title}
        if self.description:
            d["description"] = self.description
        d["steps"] = [s.to_dict() for s in self.steps]
        return d


def step_from_dict(data: Any, where: str) -> LessonStep:
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a JSON object")
    _unknown_keys(data, {"scene", "settings", "caption", "point_at", "expect"}, where)
    scene = data.get("scene")
    if scene not in SCENE_IDS:
        raise InputError(f"{where}: unknown scene {scene!r} (choose one of {', '.join(SCENE_IDS)})")
    settings = check_settings_value(data.get("settings", {}), where)
    return LessonStep(
        scene=scene,
        settings=settings,
        caption=_str(data, "caption", where, limit=MAX_CAPTION),
        point_at=_str(data, "point_at", where, required=False, allow_empty=True, limit=MAX_POINT_AT),
        expect=check_expect(data.get("expect"), where),
    )


def lesson_from_dict(data: Any, name: str = "lesson") -> Lesson:
    """Validate a lesson document; every problem is one :class:`InputError` line naming ``name``."""
    if not isinstance(data, dict):
        raise InputError(f"{name}: a lesson must be a JSON object")
    _unknown_keys(data, {"format", "title", "description", "steps"}, name)
    if data.get("format") != LESSON_FORMAT:
        raise InputError(f"{name}: format must be {LESSON_FORMAT!r}, got {data.get('format')!r}")
    title = _str(data, "title", name, limit=MAX_TITLE)
    description = _str(data, "description", name, required=False, allow_empty=True, limit=MAX_CAPTION)
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise InputError(f"{name}: 'steps' must be a non-empty list")
    if len(steps) > MAX_STEPS:
        raise InputError(f"{name}: {len(steps)} steps, more than the limit of {MAX_STEPS}")
    return Lesson(title, [step_from_dict(s, f"{name}: step {i + 1}") for i, s in enumerate(steps)], description)


def load_lesson(path: str | Path) -> Lesson:
    p = Path(path)
    return lesson_from_dict(read_json_file(p, "lesson"), p.name)


def save_lesson(lesson: Lesson, path: str | Path) -> None:
    """Write the lesson as UTF-8 JSON, atomically (a crash never leaves half a file), after checking
    that it would load again."""
    data = lesson.to_dict()
    p = Path(path)
    lesson_from_dict(json.loads(json.dumps(data, allow_nan=False)), p.name)
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".lesson-", suffix=".tmp", dir=str(p.parent) if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def builtin_lesson_path() -> Path:
    return resource("lessons", BUILTIN_LESSON)


def load_builtin_lesson() -> Lesson:
    return load_lesson(builtin_lesson_path())
