"""One number formatter: the values a teacher would write, read back to within their rounding."""

import math

from hypothesis import given
from hypothesis import strategies as st

from gradsim.formatting import format_log10, format_number, power_label, subscript, superscript

_FROM_SUPER = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def read_back(text: str) -> float:
    text = text.replace("−", "-").replace(",", "")
    if "× 10" in text:
        mantissa, power = text.split(" × 10")
        return float(mantissa) * 10.0 ** int(power.translate(_FROM_SUPER))
    return float(text)


def test_rounding_carries_into_the_exponent():
    assert format_number(9.996e-5) == "1.00 × 10⁻⁴"
    assert format_number(999_999.7) == "1.00 × 10⁶"
    assert format_number(599_999.0) == "599,999"
    assert format_number(999.7) == "1,000"
    assert format_log10(math.log10(5.99999e5)) == "599,999"


def test_far_outside_float64_by_log10():
    assert format_log10(-1800 + math.log10(3.2)) == "3.20 × 10⁻¹⁸⁰⁰"
    assert format_log10(-math.inf) == "0" and format_log10(float("nan")) == "n/a"
    assert power_label(-6) == "10⁻⁶" and power_label(3.0) == "10³"


@given(st.floats(min_value=-300, max_value=300))
def test_every_magnitude_reads_back_within_its_rounding(log10_value):
    value = 10.0 ** log10_value
    shown = read_back(format_log10(log10_value))
    assert math.isclose(shown, value, rel_tol=5e-3)
    assert read_back(format_number(-value)) == -shown


@given(st.integers(0, 10**12))
def test_step_indices_read_back(n):
    """The one subscript (chain, scenes, content and the engine's badges all write h₁₀₀ with it)."""
    lowered = subscript(n)
    assert len(lowered) == len(str(n)) and lowered.translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")) == str(n)
    assert superscript(-n).translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")) == str(-n)
