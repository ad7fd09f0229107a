"""Scene state as data: a frozen, Qt-free dataclass per scene, validated in one place.

Every scene of the app keeps what it shows in one immutable state object. Controls send changes as
new states (``state.replace(scale=1.2)``); presets, undo, lessons, saved settings and "show me" links
are all state objects or the plain dictionaries they come from (``State.from_dict``). Because the
states import no Qt, their rules are tested without a window, and the same object that a lesson step
or preset describes is the one a test computes its claim from.

A field's rule lives in its metadata (``number(0, 2.5)``, ``one_of(...)``...), so the range check of a
slider, of a lesson file and of an undo record is the same code. Cross-field rules go in ``check``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="SceneState")


@dataclass(frozen=True)
class Rule:
    """How one field's value is checked and normalised (e.g. ints stay ints, JSON lists become tuples)."""

    describe: str
    convert: Callable[[Any], Any]

    def __call__(self, value: Any) -> Any:
        return self.convert(value)


def _reject(what: str) -> None:
    raise ValueError(what)


def number(lo: float, hi: float, integer: bool = False) -> dict:
    """A number in ``[lo, hi]``; ``integer`` refuses 2.5 (but takes 2.0 from JSON, as 2)."""

    def convert(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _reject(f"expected a number, got {_short(value)}")
        if not math.isfinite(value):
            _reject(f"expected a finite number, got {value}")
        if integer:
            if float(value) != int(value):
                _reject(f"expected a whole number, got {value}")
            value = int(value)
        else:
            value = float(value)
        if not lo <= value <= hi:
            _reject(f"{value:g} is outside {lo:g}..{hi:g}")
        return value

    kind = "whole number" if integer else "number"
    return {"rule": Rule(f"{kind} in {lo:g}..{hi:g}", convert)}


def one_of(choices: Iterable[str]) -> dict:
    allowed = tuple(choices)

    def convert(value: Any) -> str:
        if value not in allowed:
            _reject(f"{_short(value)} is not one of {', '.join(allowed)}")
        return str(value)

    return {"rule": Rule("one of " + ", ".join(allowed), convert)}


def flag() -> dict:
    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            _reject(f"expected true or false, got {_short(value)}")
        return value

    return {"rule": Rule("true or false", convert)}


def text(max_length: int = 200, optional: bool = False) -> dict:
    """Text of at most ``max_length`` characters; with ``optional``, None too (nothing chosen)."""

    def convert(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            _reject(f"expected text, got {_short(value)}")
        if len(value) > max_length:
            _reject(f"text longer than {max_length} characters")
        return value

    return {"rule": Rule("text", convert)}


def matrix(max_size: int, lo: float = -1e6, hi: float = 1e6, optional: bool = False) -> dict:
    """A square matrix of finite numbers, stored as a tuple of tuples (hashable, immutable)."""

    def convert(value: Any) -> tuple[tuple[float, ...], ...] | None:
        if value is None and optional:
            return None
        if not isinstance(value, (list, tuple)) or not value:
            _reject("expected a square matrix (a list of rows)")
        n = len(value)
        if n > max_size:
            _reject(f"matrix larger than {max_size} × {max_size}")
        rows = []
        for row in value:
            if not isinstance(row, (list, tuple)) or len(row) != n:
                _reject("expected a square matrix (every row as long as there are rows)")
            out = []
            for v in row:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    _reject(f"matrix entries must be finite numbers, got {_short(v)}")
                if not lo <= v <= hi:
                    _reject(f"matrix entry {v:g} is outside {lo:g}..{hi:g}")
                out.append(float(v))
            rows.append(tuple(out))
        return tuple(rows)

    return {"rule": Rule("square matrix", convert)}


def json_document(max_bytes: int = 8_000_000) -> dict:
    """Any JSON object (e.g. an explicit scenario), frozen as a canonical JSON string.

    Kept as text so the state stays hashable and immutable; ``to_dict`` gives the object back.
    """

    def convert(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                _reject("expected a JSON object")
        if not isinstance(value, dict):
            _reject("expected a JSON object")
        try:
            encoded = json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):
            _reject("expected plain JSON data (finite numbers, text, lists and objects)")
        if len(encoded) > max_bytes:
            _reject(f"JSON document larger than {max_bytes} bytes")
        return encoded

    return {"rule": Rule("JSON object", convert), "json": True}


def _short(value: Any) -> str:
    """A value for an error message: one line, bounded, control characters escaped."""
    text_value = repr(value)
    if len(text_value) > 40:
        text_value = text_value[:37] + "..."
    return text_value.encode("unicode_escape", "backslashreplace").decode("ascii", "replace")


@dataclass(frozen=True)
class SceneState:
    """Base of every scene's state. Subclasses are frozen dataclasses whose fields carry a rule.

    ``scene_id`` names the scene in messages. ``preset`` (when a subclass has it) is the preset whose
    settings the state shows, or ``"custom"``; any other change turns it back to ``"custom"``.
    """

    scene_id: ClassVar[str] = "scene"
    # fields a preset leaves alone (the seed, the animation speed, the tab on show)
    KEEP_ON_PRESET: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in fields(self):
            rule = f.metadata.get("rule")
            if rule is None:
                continue
            value = getattr(self, f.name)
            try:
                converted = rule(value)
            except ValueError as exc:
                raise ValueError(f"{self.scene_id}: setting '{f.name}': {exc}") from None
            if converted is not value:
                object.__setattr__(self, f.name, converted)
        self.check()

    # -- to override ---------------------------------------------------------------------------------
    def check(self) -> None:
        """Rules between fields; raise ``ValueError`` naming the scene (the fields are already valid)."""

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls: type[S], settings: Mapping[str, Any], base: S | None = None) -> S:
        """A state from a (partial) settings dictionary, on top of ``base`` (default: the defaults).

        Refuses, with a one-line ``ValueError`` and without side effects, anything that is not a
        dictionary, an unknown key, or a value its field's rule refuses.
        """
        if not isinstance(settings, Mapping):
            raise ValueError(f"{cls.scene_id}: settings must be an object of name: value pairs")
        names = cls.field_names()
        unknown = [k for k in settings if k not in names]
        if unknown:
            raise ValueError(f"{cls.scene_id}: unknown setting {_short(str(unknown[0]))} "
                             f"(takes: {', '.join(names)})")
        start = base if base is not None else cls()
        try:
            return replace(start, **dict(settings))
        except TypeError as exc:  # a dataclass refusing an argument: report it on one line
            raise ValueError(f"{cls.scene_id}: {exc}") from None

    @classmethod
    def from_settings(cls: type[S], settings: Mapping[str, Any]) -> S:
        """The state a lesson step, a "show me" link or an undo record describes: its settings on top
        of the defaults, and on top of its preset's settings when it names one (``"preset": id``)."""
        if not isinstance(settings, Mapping):
            raise ValueError(f"{cls.scene_id}: settings must be an object of name: value pairs")
        preset_id = settings.get("preset")
        if "preset" in cls.field_names() and isinstance(preset_id, str) and preset_id != "custom":
            from .presets import get_preset

            try:
                preset = get_preset(cls.scene_id, preset_id)
            except ValueError as exc:
                raise ValueError(f"{cls.scene_id}: {exc}") from None
            settings = {**preset.settings, **settings}
        return cls.from_dict(settings)

    def replace(self: S, **changes: Any) -> S:
        """A validated copy with ``changes``; a change to anything but ``preset`` drops the preset."""
        if "preset" in self.field_names() and "preset" not in changes and any(
                k not in self.KEEP_ON_PRESET for k in changes):
            changes["preset"] = "custom"
        return type(self).from_dict(changes, base=self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists, JSON documents objects)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("json") and value is not None:
                value = json.loads(value)
            out[f.name] = _plain(value)
        return out

    def changed_fields(self, other: SceneState) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    @classmethod
    def default_of(cls, name: str) -> Any:
        f = next(f for f in fields(cls) if f.name == name)
        if f.default is not MISSING:
            return f.default
        return f.default_factory()  # type: ignore[misc]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
