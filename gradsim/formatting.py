"""How numbers are written, everywhere: charts, readouts, badges, captions, quiz, tables, files.

One rule for every text (issue 18: the copies had started to disagree, e.g. 599,999 written as
"10.00 × 10⁵" in one place and "599,999" in another): three significant figures below 1000, whole
numbers with thousands separators up to a million (2¹⁵ = 32,768, as on the board), ``a.bc × 10ⁿ``
beyond. Numbers given by their log10 (the engine's exact
gradients reach 10⁻¹⁸⁰⁰) are written the same way without ever forming the float. No Qt here.
"""

from __future__ import annotations

import math

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

PLAIN_LOW, PLAIN_HIGH = 1e-3, 1e6  # written without a power of ten in [PLAIN_LOW, PLAIN_HIGH)


def superscript(number: int) -> str:
    """``-6`` as ``⁻⁶``."""
    return str(int(number)).translate(_SUPERSCRIPT)


def subscript(number: int) -> str:
    """``49`` as ``₄₉`` (a step index: ``h₄₉``, ``‖dL/dh₁₀₀‖``)."""
    return str(int(number)).translate(_SUBSCRIPT)


def power_label(exponent: float) -> str:
    """A tick label: ``10⁻⁶`` for -6; a plain value or ``10^x.x`` where the exponent is not whole."""
    if abs(exponent - round(exponent)) < 1e-9:
        return "10" + superscript(round(exponent))
    return f"{10.0 ** exponent:.2g}" if -4 < exponent < 5 else f"10^{exponent:.1f}"


def format_log10(log10_value: float | None, digits: int = 3) -> str:
    """A positive magnitude given by its log10, e.g. ``3.20 × 10⁻¹⁸⁰⁰``; ``-inf`` is an exact zero."""
    if log10_value is None or math.isnan(log10_value):
        return "n/a"
    if log10_value == -math.inf:
        return "0"
    if log10_value == math.inf:
        return "∞"
    if math.log10(PLAIN_LOW) <= log10_value < math.log10(PLAIN_HIGH):
        return _plain(10.0 ** log10_value, digits)
    exponent = math.floor(log10_value)
    mantissa = round(10.0 ** (log10_value - exponent), digits - 1)
    if mantissa >= 10:  # 9.996 rounds to 10.00: carry into the exponent
        mantissa /= 10
        exponent += 1
    return f"{mantissa:.{digits - 1}f} × 10{superscript(exponent)}"


def format_number(value: float, digits: int = 3) -> str:
    """Any float by the same rule (sign kept; NaN and ±∞ named)."""
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0.0:
        return "0"
    text = format_log10(math.log10(abs(v)), digits)
    return ("−" + text) if v < 0 else text


def _plain(value: float, digits: int) -> str:
    if value >= 1000:
        whole = round(value)
        if whole >= PLAIN_HIGH:  # 999,999.7 rounds up out of the plain range
            return format_log10(math.log10(whole), digits)
        return f"{whole:,d}"
    rounded = float(f"{value:.{digits}g}")
    if rounded >= 1000:  # 999.7 -> 1,000
        return f"{round(rounded):,d}"
    return f"{rounded:.{digits}g}"
