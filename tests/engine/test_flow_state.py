"""The flow scene's badge words, without a window: they say what the verdict measured."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.thresholds import Verdict, threshold_text, verdict_badge, verdict_from_log10
from gradsim.states.flow import FlowState, compute_flow


def test_badge_names_thresholds_and_steps():
    assert verdict_badge(Verdict("healthy", None, 1e-6, 1e3), 50) == ("HEALTHY", "within 10⁻⁶…10³ over T = 50")
    assert verdict_badge(Verdict("vanishing", 29, 1e-6, 1e3), 100) == ("VANISHING", "below 10⁻⁶ from t = 29")
    assert verdict_badge(Verdict("exploding", 992, 1e-12, 1e5), 1000) == ("EXPLODING", "above 10⁵ from t = 992")
    assert threshold_text(2.5e-7) == "2.5 × 10⁻⁷" and threshold_text(1e-300) == "10⁻³⁰⁰"


@pytest.mark.parametrize("seed", range(3))
def test_badge_of_the_tanh12_preset_says_healthy_within_both_thresholds(seed):
    """Issue 15: "HEALTHY" for a gradient that shrank by 10⁻¹·⁴ over 50 steps read as "no problem";
    the badge now says over which steps and between which thresholds."""
    result = compute_flow(FlowState.from_settings({"preset": "tanh12", "seed": seed}).job())
    headline, detail = verdict_badge(result.verdict, result.steps)
    logs = result.log10_grad_norm
    assert headline == "HEALTHY" and np.all((logs >= -6) & (logs <= 3))
    assert detail == "within 10⁻⁶…10³ over T = 50"


def test_vanishing_badge_names_the_step_past_the_threshold():
    logs = np.linspace(-12.0, 0.0, 40)
    v = verdict_from_log10(logs)
    headline, detail = verdict_badge(v, 40)
    t = int(detail.rsplit("= ", 1)[1])
    assert headline == "VANISHING" and logs[t - 1] < -6 <= logs[t]
