"""Presets as data: ``gradsim/resources/presets/<scene>.json``, each with the claim it makes.

A preset is a named set of scene settings ("sigmoid over 20 steps") together with what it claims to
show (``expect``): a verdict kind for the gradient scenes, or which models learn in the training lab.
The title is the teacher's words; ``expect`` is the same statement as a number the engine can check,
and the tests check it on ten seeds (a preset whose weights come from the seed must hold on every
one of them). File format::

    {"format": "gradsim.presets/1", "scene": "flow",
     "presets": [{"id": "sigmoid20", "title": "...", "expect": "vanishing", "settings": {...}}]}

``expect`` is ``"vanishing"``, ``"exploding"`` or ``"healthy"``, or an object naming a verdict per
model (``{"rnn": "vanishing", "lstm": "healthy"}``), or for training ``{"learns": [...], "fails":
[...], "diverges": [...]}`` (models that end at >= 95 % held-out accuracy, within 10 points of chance,
or whose loss stops being a number). A preset may leave ``expect`` out when it claims no outcome (then its title must not
claim one either). No Qt here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .engine.errors import InputError
from .paths import resource

PRESETS_FORMAT = "gradsim.presets/1"
VERDICT_KINDS = ("vanishing", "exploding", "healthy")
TRAINING_CLAIMS = ("learns", "fails", "diverges")
CUSTOM = "custom"


@dataclass(frozen=True)
class Preset:
    preset_id: str
    title: str
    settings: dict[str, Any] = field(default_factory=dict)
    expect: Any = None  # see the module docstring
    note: str = ""  # one sentence for the tooltip: why this preset shows what it shows
    first_t: tuple[int, int] | None = None  # where the title says the verdict begins, as a range

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.preset_id, "title": self.title, "expect": self.expect}


def check_expect(expect: Any, where: str) -> Any:
    if expect is None or expect in VERDICT_KINDS:
        return expect
    if isinstance(expect, dict):
        if set(expect) <= set(TRAINING_CLAIMS):
            for key, models in expect.items():
                if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
                    raise InputError(f"{where}: expect.{key} must be a list of model names")
            return expect
        if all(isinstance(k, str) and v in VERDICT_KINDS for k, v in expect.items()):
            return expect
    raise InputError(f"{where}: expect must be one of {', '.join(VERDICT_KINDS)}, a verdict per model, "
                     "or {learns, fails, diverges}")


@cache
def load_presets(scene_id: str) -> tuple[Preset, ...]:
    """The presets of one scene, in menu order (empty when the scene has none)."""
    path = resource("presets", f"{scene_id}.json")
    if not path.is_file():
        return ()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path.name}: cannot read presets ({exc})") from None
    if doc.get("format") != PRESETS_FORMAT or doc.get("scene") != scene_id:
        raise InputError(f"{path.name}: not a {PRESETS_FORMAT} file for scene {scene_id!r}")
    out = []
    seen = {CUSTOM}
    for i, item in enumerate(doc.get("presets", [])):
        where = f"{path.name}: preset {i + 1}"
        pid, title = item.get("id"), item.get("title")
        if not isinstance(pid, str) or not isinstance(title, str) or pid in seen:
            raise InputError(f"{where}: needs a new text 'id' and a 'title'")
        seen.add(pid)
        settings = item.get("settings", {})
        if not isinstance(settings, dict):
            raise InputError(f"{where}: 'settings' must be an object")
        if "scenario_file" in settings:  # a scenario shipped beside the presets, by name
            settings = dict(settings)
            name = settings.pop("scenario_file")
            settings["scenario"] = json.loads(resource("presets", name).read_text(encoding="utf-8"))
        first_t = item.get("first_t")
        if first_t is not None:
            if not (isinstance(first_t, list) and len(first_t) == 2 and all(isinstance(v, int) for v in first_t)):
                raise InputError(f"{where}: 'first_t' must be [lowest, highest]")
            first_t = (first_t[0], first_t[1])
        out.append(Preset(pid, title, settings, check_expect(item.get("expect"), where), item.get("note", ""),
                          first_t))
    return tuple(out)


def preset_ids(scene_id: str) -> tuple[str, ...]:
    """``"custom"`` and every preset id of the scene: the values a state's ``preset`` field takes."""
    return (CUSTOM, *(p.preset_id for p in load_presets(scene_id)))


def get_preset(scene_id: str, preset_id: str) -> Preset:
    for p in load_presets(scene_id):
        if p.preset_id == preset_id:
            return p
    raise InputError(f"unknown {scene_id} preset {preset_id!r} (choose one of "
                     f"{', '.join(p.preset_id for p in load_presets(scene_id))})")


def claim_holds(expect: Any, outcome: Any) -> bool:
    """Does an engine outcome show what ``expect`` claims?

    ``outcome`` is what a state module's ``outcome(state)`` returns: a verdict (with ``kind``), a
    mapping of model name to verdict, or for training a mapping of model name to True (learned),
    False (failed) or ``"diverged"``.
    """
    if expect is None:
        return True
    if isinstance(expect, str):
        return getattr(outcome, "kind", outcome) == expect
    if set(expect) <= set(TRAINING_CLAIMS):
        return (all(outcome.get(m) is True for m in expect.get("learns", []))
                and all(outcome.get(m) is False for m in expect.get("fails", []))
                and all(outcome.get(m) == "diverged" for m in expect.get("diverges", [])))
    return all(getattr(outcome.get(m), "kind", outcome.get(m)) == kind for m, kind in expect.items())
