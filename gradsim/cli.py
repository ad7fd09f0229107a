"""The ``gradsim`` command line (CONTRACTS section 3).

Every refusal is one line on stderr and exit status 2, as argparse does for bad arguments; no
traceback ever reaches the user. Qt and torch are imported only by the verbs that need them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from .engine.activations import ACTIVATIONS
from .engine.errors import InputError
from .engine.init import INITIALISERS
from .engine.scenario import CELLS, GeneratorSettings
from .engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD

SCENE_IDS = ("flow", "scalar", "spectrum", "gates", "training", "agreement", "history", "quiz")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2, for subcommands too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def _finite_float(lo: float = -math.inf, hi: float = math.inf):
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


def _add_generator_options(p: argparse.ArgumentParser) -> None:
    d = GeneratorSettings()
    g = p.add_argument_group("generator options (used when no --scenario is given)")
    g.add_argument("--cell", choices=CELLS, default=d.cell,
                   help="rnn, or lstm/gru with PyTorch's equations (default %(default)s)")
    g.add_argument("--activation", choices=ACTIVATIONS, default=d.activation,
                   help="vanilla RNN only; lstm/gru take tanh (default %(default)s)")
    g.add_argument("--hidden", type=_positive_int(1, 512), default=d.hidden, help="hidden size (default %(default)s)")
    g.add_argument("--input", type=_positive_int(1, 512), default=d.input, help="input size (default %(default)s)")
    g.add_argument("--steps", type=_positive_int(1, 10_000), default=d.steps, help="sequence length T (default %(default)s)")
    g.add_argument("--init", choices=INITIALISERS, default=d.init, help="W_hh initialiser (default %(default)s)")
    g.add_argument("--scale", type=_finite_float(0, 100), default=d.scale,
                   help="weight scale: spectral radius for gaussian, gain for orthogonal/identity (default %(default)s)")
    g.add_argument("--input-scale", type=_finite_float(0, 1000), default=d.input_scale, help="default %(default)s")
    g.add_argument("--seed", type=_positive_int(0, 2**32 - 1), default=d.seed, help="default %(default)s")
    g.add_argument("--forget-bias", type=_finite_float(-20, 20), default=d.forget_bias,
                   help="LSTM forget-gate bias (default %(default)s)")


def _add_threshold_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vanish", type=_finite_float(0, math.inf), default=VANISH_THRESHOLD,
                   help="vanishing threshold (default %(default)g)")
    p.add_argument("--explode", type=_finite_float(0, math.inf), default=EXPLODE_THRESHOLD,
                   help="exploding threshold (default %(default)g)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradsim",
        description="See vanishing and exploding gradients in recurrent networks, and measure them.",
        epilog="With no command, or with a *.gradsim.json file, the desktop app opens.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"gradsim {__version__}")
    parser.add_argument("--self-test", action="store_true", help="check the installation and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop app")
    gui.add_argument("--scene", choices=SCENE_IDS, help="scene to open")
    gui.add_argument("--scenario", metavar="FILE", help="scenario file to open")
    gui.add_argument("--projector", action="store_true", help="projector colours: light, high contrast, large")
    gui.add_argument("--fullscreen", action="store_true", help="start full screen (F11 toggles)")
    gui.add_argument("--screenshot", metavar="FILE.png", help="save a PNG once the scene is drawn, then exit")
    gui.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x800")
    gui.add_argument("--lesson", metavar="FILE", help="open a lesson file, or 'builtin' for the built-in lesson")
    gui.add_argument("--open-model", metavar="FILE", help="open a saved nn.RNN/LSTM/GRU state dict (.pt, .safetensors)")
    gui.add_argument("--open-run", metavar="FILE", help="open a gradsim.monitor run log and follow it")

    flow = sub.add_parser("flow", help="gradient flow ||dL/dh_t|| for t = 1..T")
    flow.add_argument("--scenario", metavar="FILE", help="a *.gradsim.json scenario")
    _add_generator_options(flow)
    _add_threshold_options(flow)
    flow.add_argument("--format", choices=("csv", "json"), default="json", help="default %(default)s")

    scalar = sub.add_parser("scalar", help="trace of h_t = tanh(w h_{t-1})")
    scalar.add_argument("--w", type=_finite_float(-100, 100), required=True, help="the recurrent weight")
    scalar.add_argument("--steps", type=_positive_int(1, 100_000), required=True, help="number of steps T")
    scalar.add_argument("--h0", type=_finite_float(-1e6, 1e6), default=0.1, help="initial state (default %(default)s)")
    scalar.add_argument("--format", choices=("csv", "json"), default="json", help="default %(default)s")

    spectrum = sub.add_parser("spectrum", help="eigenvalues, norms and the memory horizon of W_hh")
    spectrum.add_argument("--scenario", metavar="FILE", help="a *.gradsim.json scenario")
    _add_generator_options(spectrum)
    _add_threshold_options(spectrum)
    spectrum.add_argument("--format", choices=("json",), default="json")
    spectrum.add_argument("--sweep", action="store_true",
                          help="add the spectral-norm sweep (0.5..1.5, 5 seeds) of the generated network")

    train = sub.add_parser("train", help="train on the copy-memory task and report accuracy")
    try:
        from .engine.training import add_train_arguments
    except ImportError:  # pragma: no cover - training module not installed
        add_train_arguments = None
    if add_train_arguments is not None:
        add_train_arguments(train)
    return parser


def _emit(columns: dict[str, list], fmt: str, extra: dict[str, Any] | None = None) -> str:
    if fmt == "json":
        return json.dumps({**columns, **(extra or {})}, allow_nan=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = list(columns)
    writer.writerow(keys)
    for row in zip(*(columns[k] for k in keys), strict=True):
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue().rstrip("\n")


def _scenario_from_args(args: argparse.Namespace):
    from .engine.scenario import load_scenario

    if args.scenario:
        return load_scenario(args.scenario)
    settings = GeneratorSettings(
        hidden=args.hidden, input=args.input, steps=args.steps, activation=args.activation, init=args.init,
        scale=args.scale, input_scale=args.input_scale, seed=args.seed, cell=args.cell,
        forget_bias=args.forget_bias,
    )
    return settings.validated("arguments").build()


def _check_thresholds(args: argparse.Namespace) -> None:
    if not 0 < args.vanish < args.explode:
        raise InputError("arguments: thresholds must satisfy 0 < --vanish < --explode")


def run_flow(args: argparse.Namespace) -> str:
    from .engine.flow import gradient_flow

    _check_thresholds(args)
    result = gradient_flow(_scenario_from_args(args), args.vanish, args.explode)
    doc = result.to_json_dict()
    if args.format == "json":
        return json.dumps(doc)
    columns = {k: doc[k] for k in ("t", "grad_norm", "log10_grad_norm", "log10_local_factor", "log10_bound")}
    for key in ("cell_grad_norm", "log10_cell_grad_norm"):  # LSTM only: the cell-state gradient
        if key in doc:
            columns[key] = doc[key]
    return _emit(columns, "csv")


def run_scalar(args: argparse.Namespace) -> str:
    from .engine.scalar import scalar_trace

    trace = scalar_trace(args.w, args.steps, args.h0)
    return _emit(trace.to_json_dict(), args.format, {"w": args.w, "h0": args.h0} if args.format == "json" else None)


def run_spectrum(args: argparse.Namespace) -> str:
    from .engine.spectrum import spectrum_report

    _check_thresholds(args)
    scenario = _scenario_from_args(args)
    doc = spectrum_report(scenario, args.vanish, args.explode)
    if args.sweep:
        from .engine.sweep import spectral_norm_sweep

        if scenario.generator is None:
            raise InputError("--sweep needs a generated scenario (it draws one matrix per seed)")
        g = scenario.generator
        doc["sweep"] = spectral_norm_sweep(g, seeds=tuple(range(g.seed, g.seed + 5))).to_json_dict()
    return json.dumps(doc)


def run_train(args: argparse.Namespace) -> str:
    from .engine.training import cli_train

    result = cli_train(args)
    if getattr(args, "format", "json") == "text":
        from .engine.training import format_train_result

        return format_train_result(result)
    return json.dumps(result)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `gradsim file.gradsim.json` opens the file in the app.
    verbs = ("gui", "flow", "scalar", "spectrum", "train")
    if argv and not argv[0].startswith("-") and argv[0] not in verbs and argv[0].endswith(".json"):
        argv = ["gui", "--scenario", argv[0], *argv[1:]]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from .selftest import run_self_test

        return run_self_test()
    if args.command in (None, "gui"):
        from .ui.app import run_app

        if args.command is None:
            args = parser.parse_args(["gui"])
        return run_app(args)
    runners = {"flow": run_flow, "scalar": run_scalar, "spectrum": run_spectrum, "train": run_train}
    try:
        text = runners[args.command](args)
    except InputError as exc:
        print(f"gradsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gradsim {args.command}: interrupted", file=sys.stderr)
        return 130
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    return 0


def main_gui() -> int:
    """Entry point of the windowed launcher: always the app."""
    return main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
