"""The ``gradsim`` command line (CONTRACTS section 3): one module per verb, assembled here.

Every refusal is one line on stderr and exit status 2, as argparse does for bad arguments; no
traceback ever reaches the user. Qt and torch are imported only by the verbs that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..engine.cancel import Cancelled, CancelToken, cancel_scope
from ..engine.errors import InputError
from . import flow, gui, lesson, scalar, spectrum, train
from .common import Parser, StderrProgress

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
    """The command line. Called as a program (``argv`` None), it ends the process itself once done:
    see :func:`_end_process`."""
    if argv is None:
        _end_process(_main(sys.argv[1:]))
    return _main(argv)


def _end_process(code: int) -> None:
    """Exit with ``code`` without the interpreter's slow teardown once torch is loaded.

    Unloading torch's modules at exit takes seconds (3.7 s measured here on a busy machine, 0.07 s
    without torch), which would make Ctrl+C or closing the window look ignored. Everything that
    matters is done by now: output is flushed here and the app's settings written out, then the
    process ends at once."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if "torch" in sys.modules:
        qt = sys.modules.get("PySide6.QtWidgets")
        app = qt.QApplication.instance() if qt is not None else None
        if app is not None:
            for widget in app.topLevelWidgets():
                store = getattr(widget, "settings_store", None)
                if store is not None:
                    store.sync()
        os._exit(code)
    sys.exit(code)


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
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
    progress = StderrProgress(args.command) if _is_terminal(sys.stderr) else None
    token = CancelToken(progress)
    try:
        with cancel_scope(token):
            text = args.run(args)
    except InputError as exc:
        _clear(progress)
        print(f"gradsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        _clear(progress)
        print(f"gradsim {args.command}: interrupted", file=sys.stderr)
        return 130
    _clear(progress)
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    return 0


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _clear(progress: StderrProgress | None) -> None:
    if progress is not None:
        progress.clear()


def main_gui() -> int:
    """Entry point of the windowed launcher: always the app."""
    return main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
