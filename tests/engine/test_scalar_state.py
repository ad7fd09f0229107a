"""The scalar scene's state without a window: its rules, its presets, and the numbers its texts quote,
each checked against closed forms (wᵀ is a power; nothing here needs the engine to be right)."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradsim.content import render_text
from gradsim.lesson import load_builtin_lesson
from gradsim.paths import resource
from gradsim.presets import claim_holds, load_presets
from gradsim.states.scalar import ScalarState, compute_scalar, outcome

SUPER = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def shipped_settings(scene_id: str) -> list[dict]:
    """Every settings object the shipped lessons, quiz, exercises and timeline send to a scene."""
    found: list[dict] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("scene") == scene_id and isinstance(node.get("settings"), dict):
                found.append(node["settings"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    root = resource()
    for path in sorted(root.rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def test_rules_refuse_bad_settings_in_one_line():
    for bad in ({"w": 0}, {"w": 5.0}, {"w": "big"}, {"steps": 0}, {"steps": 2.5}, {"steps": 1000},
                {"colour": "red"}, {"view": "nowhere"}, {"row": 30}, {"h0": float("nan")}, {"seed": True},
                {"speed": 0}, {"preset": "nope"}, {"spread": -0.1}):
        with pytest.raises(ValueError) as info:
            ScalarState.from_settings(bad)
        assert "\n" not in str(info.value) and str(info.value).startswith("scalar")


def test_a_shorter_trace_takes_the_row_with_it():
    state = ScalarState.from_settings({"steps": 30, "row": 25})
    shorter = state.replace(steps=10)
    assert (shorter.steps, shorter.row) == (10, 10)
    assert state.replace(steps=40).row == 25
    with pytest.raises(ValueError):
        state.replace(row=31)


def test_looking_elsewhere_keeps_the_preset_and_changing_w_drops_it():
    state = ScalarState.from_settings({"preset": "explode15", "seed": 3})
    assert (state.w, state.steps, state.seed) == (1.5, 20, 3)
    for change in ({"view": "trace"}, {"row": 4}, {"speed": 9}, {"seed": 8}):
        assert state.replace(**change).preset == "explode15"
    assert state.replace(w=1.4).preset == "custom"
    assert state.replace(steps=21).preset == "custom"


def test_round_trip_through_plain_data():
    state = ScalarState.from_settings({"w": 1.25, "steps": 33, "h0": -0.3, "spread": 0.45, "seed": 12, "speed": 7,
                                       "row": 5, "view": "activations"})
    assert ScalarState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_every_shipped_show_me_is_a_state():
    shipped = shipped_settings("scalar")
    assert shipped
    for settings_ in shipped:
        state = ScalarState.from_settings(settings_)
        for key, value in settings_.items():
            assert state.to_dict()[key] == value


def _closed_form_kind(w: float, steps: int) -> str | None:
    log10_value = steps * math.log10(w)
    if abs(log10_value + 6) < 1e-9 or abs(log10_value - 3) < 1e-9:
        return None  # on a threshold: either answer is a rounding question
    return "vanishing" if log10_value < -6 else "exploding" if log10_value > 3 else "healthy"


@settings(max_examples=60, deadline=None)
@given(w=st.floats(0.01, 3.0), steps=st.integers(1, 200))
def test_outcome_is_w_to_the_T_against_the_thresholds(w, steps):
    state = ScalarState.from_settings({"w": w, "steps": steps})
    expected = _closed_form_kind(state.w, steps)
    if expected is not None:
        assert outcome(state).kind == expected


@settings(max_examples=20, deadline=None)
@given(w=st.floats(0.05, 3.0), steps=st.integers(1, 200))
def test_the_table_is_the_powers_and_the_users_row_is_marked(w, steps):
    result = compute_scalar(ScalarState.from_settings({"w": w, "steps": steps}).job())
    assert [r.w for r in result.rows] == sorted({0.5, 0.7, 0.9, 1.0, 1.1, 1.5, 2.0, w})
    for row in result.rows:
        assert row.log10_value == pytest.approx(steps * math.log10(row.w), abs=1e-9)
        assert row.user == (row.w == w)
    assert result.verdict.kind == outcome(ScalarState.from_settings({"w": w, "steps": steps})).kind


def test_every_preset_claim_holds():
    for preset in load_presets("scalar"):
        state = ScalarState.from_settings({"preset": preset.preset_id})
        assert claim_holds(preset.expect, outcome(state)), preset.preset_id


# "0.5²⁰ ≈ 9.5 × 10⁻⁷", "1.5²⁰ ≈ 3,325", "0.9²⁰ ≈ 0.12": a power and the value a text gives for it
_POWER = re.compile(r"(\d+(?:\.\d+)?)([⁰¹²³⁴⁵⁶⁷⁸⁹]+) [≈=] ([\d.,]+)(?: × 10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+))?")


def _quoted_powers(text: str) -> list[tuple[float, int, float, int]]:
    """(base, exponent, quoted value, significant digits quoted) for every 'aⁿ ≈ v' or 'aⁿ = v' in a text."""
    out = []
    for base, exponent, mantissa, power in _POWER.findall(text):
        mantissa = mantissa.rstrip(".,")
        value = float(mantissa.replace(",", "")) * (10.0 ** int(power.translate(SUPER)) if power else 1.0)
        digits = len(mantissa.replace(",", "").replace(".", "").lstrip("0"))
        out.append((float(base), int(exponent.translate(SUPER)), value, digits))
    return out


def test_numbers_quoted_in_notes_and_captions_are_the_powers():
    texts = [p.note for p in load_presets("scalar")]
    texts += [step.rendered_caption for step in load_builtin_lesson().steps if step.scene == "scalar"]
    quoted = [q for text in texts for q in _quoted_powers(text)]
    assert len(quoted) >= 5  # the notes do quote powers: the parser finds them
    for base, exponent, value, digits in quoted:
        exact = base ** exponent
        assert value == pytest.approx(exact, rel=0.6 * 10.0 ** (1 - digits)), (base, exponent, value)


def test_lesson_placeholders_render_the_powers():
    caption = render_text("{{0.5^20}} and {{1.8^20}}")
    assert caption == "9.54 × 10⁻⁷ and 127,482"
    ratio = 0.9 ** 20 / 0.5 ** 20
    assert ratio == pytest.approx(1.8 ** 20)
