"""A lesson as a printed handout: one page per step, the scene's picture at that step and its caption.

Written with Qt's own PDF writer (no new dependency). The pictures are rendered like a recording's
frames (no window chrome, controls closed) in the light projector colours, which print well.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

from .. import __version__
from ..engine.errors import InputError
from .record import finish_for_still, wait_until_drawn

PAGES = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
PICTURE_SIZE = (1280, 720)
DPI = 150


def write_handout(window, lesson, path: str | Path, page: str = "a4",
                  progress: Callable[[int, int], bool] | None = None) -> int:
    """Write ``lesson`` as a PDF to ``path`` (atomically); returns the number of pages."""
    from .lesson_bar import open_configured

    path = Path(path)
    if page not in PAGES:
        raise InputError(f"--page: {page!r} is not one of {', '.join(PAGES)}")
    if path.suffix.lower() != ".pdf":
        raise InputError(f"{path.name}: a handout is a .pdf file")
    if not path.expanduser().resolve().parent.is_dir():
        raise InputError(f"{path}: the folder {path.expanduser().resolve().parent} does not exist")
    tmp = path.with_name(f".{path.name}.part")
    writer = QPdfWriter(str(tmp))
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(PAGES[page]), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setTitle(lesson.title)
    writer.setCreator(f"gradsim {__version__}")
    painter = QPainter()
    if not painter.begin(writer):
        raise InputError(f"{path}: cannot write")
    count = len(lesson.steps)
    try:
        window.set_recording(True, PICTURE_SIZE)
        for i, step in enumerate(lesson.steps):
            if i:
                writer.newPage()
            window.lesson_bar.set_lesson(lesson, start=i)
            if not open_configured(window, step.scene, step.settings):
                raise InputError(f"lesson step {i + 1}: cannot open scene {step.scene!r}")
            finish_for_still(window, f"lesson step {i + 1}",
                             lambda i=i: progress is None or progress(i, count) is not False, f"{path.name}: handout")
            scene = window.current_scene()
            length = scene.animation_length()
            scene.seek_animation(length or 0.0)  # the finished animation: every node lit
            wait_until_drawn(window)
            picture = window.stack.grab().toImage()
            _page(painter, writer, lesson, i, count, step, picture)
            if progress is not None and progress(i + 1, count) is False:
                raise InputError(f"{path.name}: handout cancelled")
    except BaseException:
        painter.end()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        window.set_recording(False)
    painter.end()
    try:
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return count


def _text(painter: QPainter, html: str, x: float, y: float, width: float, px: int) -> float:
    """Draw wrapped rich text at (x, y); return its height."""
    doc = QTextDocument()
    font = QFont()
    font.setPixelSize(px)
    doc.setDefaultFont(font)
    doc.setTextWidth(width)
    doc.setHtml(html)
    painter.save()
    painter.translate(x, y)
    doc.drawContents(painter)
    painter.restore()
    return doc.size().height()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _page(painter, writer, lesson, index, count, step, picture) -> None:
    area = writer.pageLayout().paintRectPixels(DPI)
    width = float(area.width())
    y = 0.0
    y += _text(painter, f"<b>{_esc(lesson.title)}</b><br><span style='color:#333'>Step {index + 1} of {count}</span>",
               0, y, width, 28) + 20
    scale = width / picture.width()
    target = QRectF(0, y, width, picture.height() * scale)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    painter.drawImage(target, picture)
    painter.setPen(Qt.GlobalColor.gray)
    painter.drawRect(target)
    y += target.height() + 24
    y += _text(painter, _esc(step.rendered_caption), 0, y, width, 30) + 14
    if step.point_at:
        _text(painter, f"<i>Look at: {_esc(step.point_at)}</i>", 0, y, width, 26)
    _text(painter, f"<span style='color:#555'>gradsim {__version__} · every number computed by the engine</span>",
          0, area.height() - 40, width, 20)


def run_handout(args) -> int:
    """``gradsim lesson handout builtin|FILE --to FILE.pdf [--page a4|letter]``."""
    from ..lesson import load_builtin_lesson, load_lesson
    from .launch import rendering_window, terminal_progress

    try:
        lesson = load_builtin_lesson() if args.lesson == "builtin" else load_lesson(args.lesson)
        with rendering_window(projector=not args.dark) as window:
            window.show()
            pages = write_handout(window, lesson, args.to, args.page,
                                  terminal_progress("gradsim lesson handout", "page"))
    except InputError as exc:
        print(f"gradsim lesson: error: {exc}", file=sys.stderr)
        return 2
    print(f"gradsim lesson: wrote {args.to} ({pages} pages)", file=sys.stderr)
    return 0
