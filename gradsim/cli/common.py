"""What every verb of the command line shares: one-line argparse errors, value parsers, output.

Every refusal is one line on stderr and exit status 2, as argparse does for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from typing import Any


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2, for subcommands too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def finite_float(lo: float = -math.inf, hi: float = math.inf):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value:g} is outside {lo:g}..{hi:g}")
        return value

    return parse


def emit(columns: dict[str, list], fmt: str, extra: dict[str, Any] | None = None) -> str:
    """Columns as JSON (one object) or CSV (a header, then one row per index)."""
    if fmt == "json":
        return json.dumps({**columns, **(extra or {})}, allow_nan=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = list(columns)
    writer.writerow(keys)
    for row in zip(*(columns[k] for k in keys), strict=True):
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue().rstrip("\n")
