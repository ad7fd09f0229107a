"""What every verb of the command line shares: one-line argparse errors, value parsers, output.

Every refusal is one line on stderr and exit status 2, as argparse does for bad arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any, TextIO

from ..engine.files import dumps_json, format_csv


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2, for subcommands too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def whole_number(lo: int, hi: int | None = None):
    """An argparse type: a whole number from ``lo`` to ``hi`` (no upper bound when ``hi`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if hi is None and value < lo:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {lo}, got {text!r}")
        if hi is not None and not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def finite_float(lo: float = -math.inf, hi: float = math.inf, low_open: bool = False):
    """An argparse type: a finite number from ``lo`` to ``hi`` (above ``lo`` when ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if (value <= lo if low_open else value < lo) or value > hi:
            if math.isfinite(hi):
                raise argparse.ArgumentTypeError(f"{value:g} is outside {lo:g}..{hi:g}")
            raise argparse.ArgumentTypeError(f"expected a number {'>' if low_open else '>='} {lo:g}, got {text!r}")
        return value

    return parse


def emit(columns: dict[str, list], fmt: str, extra: dict[str, Any] | None = None) -> str:
    """Columns as JSON (one object) or CSV (a header, then one row per index).

    One convention for both, shared with the app's exports (:mod:`gradsim.engine.files`): JSON is
    strict, a non-finite number is ``null``; in CSV it is an empty cell."""
    if fmt == "json":
        return dumps_json({**columns, **(extra or {})})
    return format_csv(columns).rstrip("\n")


class StderrProgress:
    """Progress of a long run on stderr, when stderr is a terminal: one line rewritten in place at
    most a few times a second, erased when the work ends."""

    def __init__(self, verb: str, stream: TextIO | None = None, interval: float = 0.25, delay: float = 1.0) -> None:
        self.verb = verb
        self.stream = stream or sys.stderr
        self.interval = interval
        self._start = time.monotonic()
        self._next = self._start + delay  # quick runs print nothing
        self._shown = False

    def __call__(self, done: float, total: float, what: str) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        share = f" {100.0 * done / total:3.0f}%" if total else ""
        line = f"gradsim {self.verb}: {what} {int(done)}/{int(total)}{share}, {now - self._start:.0f} s (Ctrl+C stops)"
        try:
            self.stream.write("\r" + line[:200] + "\x1b[K")
            self.stream.flush()
            self._shown = True
        except (OSError, ValueError):
            pass

    def clear(self) -> None:
        if self._shown:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._shown = False
