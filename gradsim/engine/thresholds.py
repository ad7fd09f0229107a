"""Vanishing and exploding thresholds and the verdict every scene shows.

The defaults (1e-6 and 1e3) are the ones the seed material uses: a gradient a million times smaller
than the loss's own is treated as gone, one a thousand times larger as exploding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formatting import subscript

VANISH_THRESHOLD = 1e-6
EXPLODE_THRESHOLD = 1e3

HEALTHY, VANISHING, EXPLODING = "healthy", "vanishing", "exploding"


@dataclass(frozen=True)
class Verdict:
    """The state of one run: ``kind`` is healthy, vanishing or exploding.

    ``first_t`` is the 1-based step at which the gradient, travelling away from the loss, first
    crosses the threshold; ``None`` when healthy. Which way it travels is the recurrence's: in a
    forward recurrence ``h_t`` feeds ``h_{t+1}``, so the gradient goes from ``T`` down to 1 and
    ``first_t`` is the largest ``t`` past the threshold. In the reverse direction of a bidirectional
    layer (``reverse``) ``h_t`` feeds ``h_{t-1}``: the step nearest its loss is ``t = 1``, the
    gradient goes up to ``T``, and ``first_t`` is the smallest ``t`` past the threshold.
    """

    kind: str
    first_t: int | None
    vanish_threshold: float
    explode_threshold: float
    reverse: bool = False  # the gradient travels from t = 1 up to T (a reverse direction)

    def counted(self, steps: int) -> str:
        """Where ``first_t`` is counted from: ``"counted back from t = 100"`` or, for a reverse
        direction, ``"counted up from t = 1"``."""
        return "counted up from t = 1" if self.reverse else f"counted back from t = {int(steps)}"

    def steps_travelled(self, steps: int) -> int | None:
        """How many steps the gradient travels from the loss's end before it crosses: ``T - first_t``
        forward, ``first_t - 1`` reverse (``None`` when healthy). Smaller is nearer the loss."""
        if self.first_t is None:
            return None
        return self.first_t - 1 if self.reverse else int(steps) - self.first_t

    def describe(self) -> str:
        if self.kind == HEALTHY:
            return "healthy: the gradient stays between the thresholds at every step"
        past = "below" if self.kind == VANISHING else "above"
        limit = self.vanish_threshold if self.kind == VANISHING else self.explode_threshold
        direction = "; reverse direction, counted up from t = 1" if self.reverse else ""
        return f"{self.kind} from step t = {self.first_t} (gradient {past} {limit:.0e}{direction})"


def verdict_from_log10(
    log10_norm: np.ndarray,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
    *,
    reverse: bool = False,
) -> Verdict:
    """Classify a per-step ``log10 ||dL/dh_t||`` curve (index 0 is t = 1, ``-inf`` for exact zeros).

    Explosion wins over vanishing when both occur, because it is the one that breaks training first.
    NaN (a forward pass that overflowed) counts as exploding. ``reverse`` says the curve belongs to
    the reverse direction of a bidirectional layer, whose gradient travels from ``t = 1`` up to
    ``T``: ``first_t`` is then the smallest ``t`` past the threshold (see :class:`Verdict`).
    """
    if not (0 < vanish_threshold < explode_threshold):
        raise ValueError("thresholds must satisfy 0 < vanish < explode")
    logs = np.asarray(log10_norm, dtype=np.float64)
    t = np.arange(1, logs.size + 1)
    exploding = np.isnan(logs) | (logs > np.log10(explode_threshold))
    vanishing = ~np.isnan(logs) & (logs < np.log10(vanish_threshold))
    first = np.min if reverse else np.max  # the first step past the threshold the gradient reaches
    if exploding.any():
        return Verdict(EXPLODING, int(first(t[exploding])), vanish_threshold, explode_threshold, bool(reverse))
    if vanishing.any():
        return Verdict(VANISHING, int(first(t[vanishing])), vanish_threshold, explode_threshold, bool(reverse))
    return Verdict(HEALTHY, None, vanish_threshold, explode_threshold, bool(reverse))


# --------------------------------------------------------------------------------------------------
# the words of a verdict: what it measured, over which steps, against which thresholds
#
# Every scene's badge and every sentence about a verdict comes from here, so the badge never says
# more (or less) than the numbers: "HEALTHY" alone reads as "no problem" even when the gradient
# shrank a hundredfold, so the detail line always names the thresholds and the steps it covers.

_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
def power_text(log10_value: float, decimals: int = 1) -> str:
    """A ratio given by its log10, as a power of ten in the project's typography.

    ``-6`` gives ``10⁻⁶`` and ``-1.43`` gives ``10⁻¹·⁴`` (one decimal by default: the reader wants
    orders of magnitude, and the log stays exact far outside float64). ``-inf`` is ``0`` and NaN
    ``not a number``.
    """
    v = float(log10_value)
    if np.isnan(v):
        return "not a number"
    if v == -np.inf:
        return "0"
    if v == np.inf:
        return "∞"
    rounded = round(v, decimals)
    if abs(rounded - round(rounded)) < 10.0 ** -(decimals + 1):
        text = str(int(round(rounded)))
    else:
        text = f"{rounded:.{decimals}f}"
    if text in ("-0", "0"):
        text = "0"
    return "10" + text.translate(_SUPERSCRIPT)


def threshold_text(value: float) -> str:
    """A threshold as ``10⁻⁶`` when it is a power of ten, else ``5 × 10⁻⁷``."""
    log = float(np.log10(value))
    if abs(log - round(log)) < 1e-9:
        return power_text(round(log))
    exponent = int(np.floor(log))
    return f"{value / 10.0 ** exponent:.3g} × {power_text(exponent)}"


def _range_text(verdict: Verdict) -> str:
    return f"{threshold_text(verdict.vanish_threshold)}…{threshold_text(verdict.explode_threshold)}"


def verdict_badge(verdict: Verdict, steps: int, relative: bool = False, symbol: str = "h") -> tuple[str, str]:
    """The two lines of a verdict badge: ``("VANISHING", "below 10⁻⁶ from t = 29")`` or
    ``("HEALTHY", "within 10⁻⁶…10³ over T = 50")``.

    ``steps`` is T, the number of steps the verdict looked at. ``relative`` says the thresholds
    were applied to ``‖dL/dhₜ‖ / ‖dL/dh_T‖`` (the training lab) rather than to ``‖dL/dhₜ‖``
    itself (the gradient-flow scenes, where ``dL/dh_T`` is all ones); the detail then says "of
    ‖dL/dh_T‖". "from t = 29" counts back from T: step 29 is the latest step past the threshold.
    (A reverse direction's verdict, ``verdict.reverse``, counts up from t = 1 instead: the model and
    run windows word those with :func:`gradsim.states.model_view.verdict_text`.)
    ``symbol`` names the vector differentiated (``h``; ``e`` for a Transformer's embedded inputs).
    """
    of = f" of ‖dL/d{symbol}{subscript(steps)}‖" if relative else ""
    if verdict.kind == HEALTHY:
        return "HEALTHY", f"within {_range_text(verdict)}{of} over T = {int(steps)}"
    if verdict.kind == VANISHING:
        return "VANISHING", f"below {threshold_text(verdict.vanish_threshold)}{of} from t = {verdict.first_t}"
    return "EXPLODING", f"above {threshold_text(verdict.explode_threshold)}{of} from t = {verdict.first_t}"


def verdict_sentence(log10_norm: np.ndarray, verdict: Verdict, relative: bool = False, symbol: str = "h") -> str:
    """One sentence saying what the verdict measured on this curve, e.g. "‖dL/dh₁‖ is 10⁻¹·⁴ of
    ‖dL/dh₅₀‖: it shrank, but stayed within the thresholds 10⁻⁶…10³ at every step".

    ``log10_norm[t-1]`` is ``log10 ‖dL/dhₜ‖`` (index 0 is t = 1, ``-inf`` for an exact zero, NaN
    where the forward pass overflowed); ``verdict`` is the one computed from it (with ``relative``
    and ``symbol`` as in :func:`verdict_badge`). The curve is a forward one, its gradient travelling
    from T down to 1 (the scenes' curves all are); a reverse verdict is refused rather than misworded.
    """
    if verdict.reverse:
        raise ValueError("verdict_sentence words forward curves; a reverse direction counts up from t = 1")
    logs = np.asarray(log10_norm, dtype=np.float64)
    if logs.size == 0:
        return "There are no steps to judge."
    steps = int(logs.size)
    first, last = f"‖dL/d{symbol}{subscript(1)}‖", f"‖dL/d{symbol}{subscript(steps)}‖"
    if steps == 1:
        ratio = "There is one step, so the gradient has not travelled back at all"
    elif np.isnan(logs[0]) or np.isnan(logs[-1]):
        ratio = f"{first} / {last} is not a number (the forward pass overflowed)"
    elif logs[-1] == -np.inf:
        ratio = f"{last} is exactly 0, so no gradient travels back"
    else:
        change = float(logs[0] - logs[-1])
        if abs(change) < 0.05:
            ratio = f"{first} is about the size of {last}"
        else:
            ratio = f"{first} is {power_text(change)} {'times' if change > 0 else 'of'} {last}"
        if change == -np.inf:
            ratio = f"{first} is exactly 0 (the gradient is cut on its way back from {last})"
    of = f" of {last}" if relative else ""
    if verdict.kind == HEALTHY:
        if steps == 1 or not np.isfinite(logs[0] - logs[-1]) or abs(logs[0] - logs[-1]) < 0.05:
            trend = "it"
        elif logs[0] < logs[-1]:
            trend = "it shrank, but"
        else:
            trend = "it grew, but"
        return f"{ratio}: {trend} stayed within the thresholds {_range_text(verdict)}{of} at every step"
    t = verdict.first_t
    if verdict.kind == VANISHING:
        return (f"{ratio}: counting back from t = {steps}, ‖dL/d{symbol}ₜ‖ falls below "
                f"{threshold_text(verdict.vanish_threshold)}{of} at t = {t}")
    if t is not None and np.isnan(logs[t - 1]):
        return f"{ratio}: counting back from t = {steps}, the forward pass overflowed at t = {t}"
    return (f"{ratio}: counting back from t = {steps}, ‖dL/d{symbol}ₜ‖ rises above "
            f"{threshold_text(verdict.explode_threshold)}{of} at t = {t}")
