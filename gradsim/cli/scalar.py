"""``gradsim scalar``: the one-unit trace h_t = tanh(w h_{t-1})."""

from __future__ import annotations

import argparse

from .common import emit, finite_float, whole_number


def add_parser(sub) -> None:
    scalar = sub.add_parser("scalar", help="trace of h_t = tanh(w h_{t-1})")
    scalar.add_argument("--w", type=finite_float(-100, 100), required=True, help="the recurrent weight")
    scalar.add_argument("--steps", type=whole_number(1, 100_000), required=True, help="number of steps T")
    scalar.add_argument("--h0", type=finite_float(-1e6, 1e6), default=0.1, help="initial state (default %(default)s)")
    scalar.add_argument("--format", choices=("csv", "json"), default="json", help="default %(default)s")
    scalar.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    from ..engine.scalar import scalar_trace

    trace = scalar_trace(args.w, args.steps, args.h0)
    return emit(trace.to_json_dict(), args.format, {"w": args.w, "h0": args.h0} if args.format == "json" else None)
