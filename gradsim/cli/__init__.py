"""The ``gradsim`` command line (CONTRACTS section 3): one module per verb, assembled here.

Every refusal is one line on stderr and exit status 2, as argparse does for bad arguments; no
traceback ever reaches the user. Qt and torch are imported only by the verbs that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..engine.errors import InputError
from . import flow, gui, lesson, scalar, spectrum, train
from .common import Parser

VERBS = (gui, flow, scalar, spectrum, train, lesson)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="gradsim",
        description="See vanishing and exploding gradients in recurrent networks, and measure them.",
        epilog="With no command, or with a *.gradsim.json file, the desktop app opens.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"gradsim {__version__}")
    parser.add_argument("--self-test", action="store_true", help="check the installation and exit")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    for verb in VERBS:
        verb.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    verbs = tuple(parser._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse keeps them here
    # `gradsim file.gradsim.json` opens the file in the app.
    if argv and not argv[0].startswith("-") and argv[0] not in verbs and argv[0].endswith(".json"):
        argv = ["gui", "--scenario", argv[0], *argv[1:]]
    args = parser.parse_args(argv)
    if args.self_test:
        from ..selftest import run_self_test

        return run_self_test()
    if args.command in (None, "gui"):
        if args.command is None:
            args = parser.parse_args(["gui"])
        return gui.run(args)
    if args.command == "lesson":  # draws with Qt and reports for itself
        return lesson.run(args)
    try:
        text = args.run(args)
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
