"""``gradsim lesson handout builtin|FILE --to FILE.pdf``: a lesson printed, one page per step."""

from __future__ import annotations

import argparse

from .common import Parser


def add_parser(sub) -> None:
    lesson = sub.add_parser("lesson", help="lessons: print one as a handout")
    inner = lesson.add_subparsers(dest="lesson_command", parser_class=Parser, metavar="ACTION", required=True)
    handout = inner.add_parser("handout", help="one PDF page per lesson step: the picture and its caption")
    handout.add_argument("lesson", metavar="builtin|FILE", help="'builtin' or a *.gradsim-lesson.json file")
    handout.add_argument("--to", metavar="FILE.pdf", required=True, help="the PDF to write")
    handout.add_argument("--page", choices=("a4", "letter"), default="a4", help="paper size (default %(default)s)")
    handout.add_argument("--dark", action="store_true", help="the dark screen colours (default: light, for print)")
    lesson.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..ui.handout import run_handout

    return run_handout(args)
