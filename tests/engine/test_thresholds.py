"""The words of a verdict (badge and sentence) say what the numbers say, on seeds nobody picked."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gradsim.engine import GeneratorSettings, gradient_flow
from gradsim.engine.thresholds import (
    EXPLODING,
    HEALTHY,
    VANISHING,
    power_text,
    subscript,
    threshold_text,
    verdict_badge,
    verdict_from_log10,
    verdict_sentence,
)

_BACK = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻·", "0123456789-.")
_POWER = re.compile(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻·]+)")


def exponents(text: str) -> list[float]:
    """Every ``10ⁿ`` in a text, read back as the float n."""
    return [float(m.translate(_BACK)) for m in _POWER.findall(text)]


def test_power_and_threshold_typography():
    assert power_text(-6) == "10⁻⁶" and power_text(3) == "10³" and power_text(0.0) == "10⁰"
    assert power_text(-1.43) == "10⁻¹·⁴" and power_text(14.84) == "10¹⁴·⁸"
    assert power_text(-0.02) == "10⁰" and power_text(-1800.0) == "10⁻¹⁸⁰⁰"
    assert power_text(-math.inf) == "0" and power_text(math.nan) == "not a number"
    assert threshold_text(1e-6) == "10⁻⁶" and threshold_text(1e3) == "10³"
    assert threshold_text(5e-7) == "5 × 10⁻⁷"
    assert subscript(50) == "₅₀"


def _flows():
    """Healthy, vanishing and exploding runs over seeds 0-9 and several scales."""
    for seed in range(10):
        for act, init, scale, steps in (("tanh", "orthogonal", 1.2, 50), ("tanh", "orthogonal", 0.7, 50),
                                        ("identity", "orthogonal", 1.3, 40), ("sigmoid", "gaussian", 1.0, 30),
                                        ("tanh", "gaussian", 1.0, 80)):
            yield gradient_flow(GeneratorSettings(hidden=16, steps=steps, activation=act, init=init, scale=scale,
                                                  input_scale=0.5, seed=seed).build())


def test_badge_names_the_thresholds_and_the_steps_and_agrees_with_the_curve():
    kinds = set()
    for flow in _flows():
        v, logs = flow.verdict, flow.log10_grad_norm
        headline, detail = verdict_badge(v, flow.steps)
        kinds.add(v.kind)
        assert headline == v.kind.upper()
        assert "^" not in detail and "e-" not in detail
        if v.kind == HEALTHY:
            assert detail == f"within 10⁻⁶…10³ over T = {flow.steps}"
            assert np.all((logs >= -6) & (logs <= 3))
        else:
            t = int(re.search(r"from t = (\d+)$", detail).group(1))
            limit = exponents(detail)[0]
            if v.kind == VANISHING:
                assert limit == -6 and detail.startswith("below")
                assert logs[t - 1] < -6 and np.all(logs[t:] >= -6)  # the latest step below, counted from T
            else:
                assert limit == 3 and detail.startswith("above")
                assert logs[t - 1] > 3 and np.all(logs[t:] <= 3)
    assert kinds == {HEALTHY, VANISHING, EXPLODING}


def test_sentence_states_the_measured_ratio_and_its_direction():
    for flow in _flows():
        logs = flow.log10_grad_norm
        text = verdict_sentence(logs, flow.verdict)
        change = float(logs[0] - logs[-1])
        assert text.startswith("‖dL/dh₁‖ ") and f"‖dL/dh{subscript(flow.steps)}‖" in text
        if abs(change) >= 0.05:
            assert exponents(text)[0] == pytest.approx(change, abs=0.051)
        if flow.verdict.kind == HEALTHY:
            assert "stayed within the thresholds 10⁻⁶…10³" in text
            if change <= -0.05:
                assert "shrank, but" in text
            elif change >= 0.05:
                assert "grew, but" in text
        else:
            assert f"at t = {flow.verdict.first_t}" in text


def test_issue_example_healthy_after_shrinking_says_so():
    """tanh at orthogonal 1.2, seed 0: HEALTHY although the gradient shrank, and the words say both."""
    flow = gradient_flow(GeneratorSettings(hidden=16, steps=50, activation="tanh", init="orthogonal", scale=1.2,
                                           input_scale=0.5, seed=0).build())
    assert flow.verdict.kind == HEALTHY and flow.log10_grad_norm[0] < flow.log10_grad_norm[-1] - 0.5
    assert verdict_badge(flow.verdict, 50) == ("HEALTHY", "within 10⁻⁶…10³ over T = 50")
    assert ": it shrank, but stayed within the thresholds 10⁻⁶…10³ at every step" in verdict_sentence(
        flow.log10_grad_norm, flow.verdict)


def test_relative_verdicts_say_of_what_and_edge_cases_do_not_crash():
    logs = np.array([-9.0, -4.0, -1.0, 0.5])
    v = verdict_from_log10(logs - logs[-1])
    assert verdict_badge(v, 4, relative=True) == ("VANISHING", "below 10⁻⁶ of ‖dL/dh₄‖ from t = 1")
    assert "of ‖dL/dh₄‖ at t = 1" in verdict_sentence(logs, v, relative=True)
    zero = np.array([-np.inf, -np.inf, 0.0])
    assert "exactly 0" in verdict_sentence(zero, verdict_from_log10(zero))
    nan = np.array([np.nan, 1.0, 0.0])
    assert "overflowed" in verdict_sentence(nan, verdict_from_log10(nan))
    assert verdict_sentence(np.array([0.0]), verdict_from_log10(np.array([0.0])))
    assert verdict_sentence(np.array([]), verdict_from_log10(np.array([])))


def test_a_reverse_direction_counts_up_from_t1():
    """The reverse direction of a bidirectional layer carries its gradient from t = 1 up to T: the
    first step past a threshold it meets is the smallest such t (the largest, forward)."""
    logs = np.array([0.0, -7.0, -8.0, 0.0, -9.0, 0.0])
    forward, reverse = verdict_from_log10(logs), verdict_from_log10(logs, reverse=True)
    assert (forward.kind, forward.first_t, forward.reverse) == ("vanishing", 5, False)
    assert (reverse.kind, reverse.first_t, reverse.reverse) == ("vanishing", 2, True)
    assert (forward.steps_travelled(6), reverse.steps_travelled(6)) == (1, 1)
    assert forward.counted(6) == "counted back from t = 6" and reverse.counted(6) == "counted up from t = 1"
    assert reverse.describe() == "vanishing from step t = 2 (gradient below 1e-06; reverse direction, counted up from t = 1)"
    exploding = verdict_from_log10(np.array([0.0, 0.0, np.nan, 4.0]), reverse=True)
    assert (exploding.kind, exploding.first_t) == ("exploding", 3)  # explosion still wins, NaN counts
    assert verdict_from_log10(np.zeros(4), reverse=True).steps_travelled(4) is None
    with pytest.raises(ValueError, match="reverse"):
        verdict_sentence(logs, reverse)
