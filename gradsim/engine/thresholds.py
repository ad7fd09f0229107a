"""Vanishing and exploding thresholds and the verdict every scene shows.

The defaults (1e-6 and 1e3) are the ones the seed material uses: a gradient a million times smaller
than the loss's own is treated as gone, one a thousand times larger as exploding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VANISH_THRESHOLD = 1e-6
EXPLODE_THRESHOLD = 1e3

HEALTHY, VANISHING, EXPLODING = "healthy", "vanishing", "exploding"


@dataclass(frozen=True)
class Verdict:
    """The state of one run: ``kind`` is healthy, vanishing or exploding.

    ``first_t`` is the 1-based step, counted back from the loss, at which the gradient first crosses
    the threshold (the largest ``t`` past it, since the signal travels from ``T`` down to 1);
    ``None`` when healthy.
    """

    kind: str
    first_t: int | None
    vanish_threshold: float
    explode_threshold: float

    def describe(self) -> str:
        if self.kind == HEALTHY:
            return "healthy: the gradient stays between the thresholds at every step"
        past = "below" if self.kind == VANISHING else "above"
        limit = self.vanish_threshold if self.kind == VANISHING else self.explode_threshold
        return f"{self.kind} from step t = {self.first_t} (gradient {past} {limit:.0e})"


def verdict_from_log10(
    log10_norm: np.ndarray,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> Verdict:
    """Classify a per-step ``log10 ||dL/dh_t||`` curve (index 0 is t = 1, ``-inf`` for exact zeros).

    Explosion wins over vanishing when both occur, because it is the one that breaks training first.
    NaN (a forward pass that overflowed) counts as exploding.
    """
    if not (0 < vanish_threshold < explode_threshold):
        raise ValueError("thresholds must satisfy 0 < vanish < explode")
    logs = np.asarray(log10_norm, dtype=np.float64)
    t = np.arange(1, logs.size + 1)
    exploding = np.isnan(logs) | (logs > np.log10(explode_threshold))
    vanishing = ~np.isnan(logs) & (logs < np.log10(vanish_threshold))
    if exploding.any():
        return Verdict(EXPLODING, int(t[exploding].max()), vanish_threshold, explode_threshold)
    if vanishing.any():
        return Verdict(VANISHING, int(t[vanishing].max()), vanish_threshold, explode_threshold)
    return Verdict(HEALTHY, None, vanish_threshold, explode_threshold)
