"""What a projector audience sees, measured: text that does not fit, text too small, and how much of
the window the pictures get. Used by tests/ui/test_presenting.py and by each scene's tests.

``problems(window, min_px)`` lists, one line each:
- a label, painted readout, button, check box, combo box or tab bar whose text is wider (or, wrapped,
  taller) than its widget, or that shows an elided "…" (prefer short names to elision);
- text inside a chart or diagram (legend entries, labels, readouts drawn in a graphics view) that
  reaches outside the visible view;
- any visible text smaller than ``min_px`` pixels (widgets, chart ticks, legends, diagram labels).
``picture_share(window)`` is the share of the window covered by visible graphics views.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QGraphicsSimpleTextItem,
    QGraphicsTextItem,
    QGraphicsView,
    QLabel,
    QTabBar,
    QWidget,
)

ELLIPSIS = "…"


def _px(font) -> float:
    return font.pixelSize() if font.pixelSize() > 0 else font.pointSizeF() * 4 / 3


def _doc_min_px(doc: QTextDocument, default_px: float) -> float:
    """The smallest font size used by any text fragment of a rich-text document."""
    smallest = float("inf")
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.isValid() and fragment.text().strip():
                fmt = fragment.charFormat()
                font = fmt.font()
                size = _px(font) if (font.pixelSize() > 0 or fmt.fontPointSize() > 0) else default_px
                smallest = min(smallest, size)
            it += 1
        block = block.next()
    return default_px if smallest == float("inf") else smallest


def _is_rich(label: QLabel) -> bool:
    if label.textFormat() == Qt.TextFormat.RichText:
        return True
    if label.textFormat() != Qt.TextFormat.AutoText:
        return False
    from PySide6.QtGui import Qt as GuiQt

    return bool(GuiQt.mightBeRichText(label.text()))


def _document(html: str, font) -> QTextDocument:
    doc = QTextDocument()
    doc.setDefaultFont(font)
    doc.setDocumentMargin(0)
    doc.setHtml(html)
    return doc


def _visible(w: QWidget, window: QWidget) -> bool:
    return w.isVisibleTo(window) and w.width() > 1 and w.height() > 1 and not w.visibleRegion().isEmpty()


def _name(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:50])


def widget_problems(window: QWidget, min_px: float) -> list[str]:
    out = []
    for lab in window.findChildren(QLabel):
        if not _visible(lab, window) or not lab.text().strip() or (lab.pixmap() is not None and not lab.pixmap().isNull()):
            continue
        rich = _is_rich(lab)
        doc = _document(lab.text(), lab.font()) if rich else None
        shown = doc.toPlainText() if doc is not None else lab.text()
        if ELLIPSIS in shown and lab.toolTip() and ELLIPSIS not in lab.toolTip():
            out.append(f"label elided: {_name(shown)}")
        cr = lab.contentsRect()
        if lab.wordWrap():
            need = lab.heightForWidth(cr.width())
            if need > cr.height() + 2:
                out.append(f"label wraps to {need}px in {cr.height()}px: {_name(shown)}")
        else:
            if doc is not None:
                need = doc.idealWidth()
            else:
                need = max(lab.fontMetrics().horizontalAdvance(x) for x in shown.split("\n"))
            if need > cr.width() + 2:
                out.append(f"label needs {need:.0f}px, has {cr.width()}px: {_name(shown)}")
        size = _doc_min_px(doc, _px(lab.font())) if doc is not None else _px(lab.font())
        if size < min_px - 0.5:
            out.append(f"label text {size:.0f}px < {min_px}px: {_name(shown)}")
    for w in window.findChildren(QWidget):  # painted rich-text readouts (classes named *Label)
        if isinstance(w, QLabel) or "Label" not in type(w).__name__ or not _visible(w, window):
            continue
        text = getattr(w, "text", None)
        text = text() if callable(text) else None
        if not isinstance(text, str) or not text.strip():
            continue
        doc = _document(text, w.font())
        if doc.idealWidth() > w.width() + 2:
            out.append(f"{type(w).__name__} needs {doc.idealWidth():.0f}px, has {w.width()}px: {_name(doc.toPlainText())}")
        if _doc_min_px(doc, _px(w.font())) < min_px - 0.5:
            out.append(f"{type(w).__name__} text {_doc_min_px(doc, _px(w.font())):.0f}px < {min_px}px: "
                       f"{_name(doc.toPlainText())}")
    for b in window.findChildren(QAbstractButton):
        if isinstance(b.parent(), QTabBar) or not _visible(b, window) or not b.text().strip():
            continue
        text = b.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        extra = 8 + (b.iconSize().width() + 4 if not b.icon().isNull() else 0)
        if type(b).__name__ in ("QCheckBox", "QRadioButton"):
            extra += int(_px(b.font()) * 1.5)
        need = b.fontMetrics().horizontalAdvance(text) + extra
        if need > b.width():
            out.append(f"button needs {need}px, has {b.width()}px: {_name(text)}")
        if _px(b.font()) < min_px - 0.5:
            out.append(f"button text {_px(b.font()):.0f}px < {min_px}px: {_name(text)}")
    for c in window.findChildren(QComboBox):
        if not _visible(c, window) or not c.currentText():
            continue
        need = c.fontMetrics().horizontalAdvance(c.currentText()) + int(_px(c.font()) * 1.6) + 12
        if need > c.width():
            out.append(f"combo box needs {need}px, has {c.width()}px: {_name(c.currentText())}")
        if _px(c.font()) < min_px - 0.5:
            out.append(f"combo box text {_px(c.font()):.0f}px < {min_px}px: {_name(c.currentText())}")
    for t in window.findChildren(QTabBar):
        if not _visible(t, window) or t.count() == 0:
            continue
        need = sum(t.tabSizeHint(i).width() for i in range(t.count()))
        if need > t.width() + 2:
            out.append(f"tab bar needs {need}px, has {t.width()}px: {[t.tabText(i) for i in range(t.count())]}")
        if _px(t.font()) < min_px - 0.5:
            out.append(f"tab text {_px(t.font()):.0f}px < {min_px}px")
    return out


def _item_visible(item) -> bool:
    return item.isVisible() and item.opacity() > 0.01


def graphics_problems(window: QWidget, min_px: float) -> list[str]:
    """Text items of every visible graphics view: inside the view, and not too small."""
    import pyqtgraph as pg

    out = []
    for view in window.findChildren(QGraphicsView):
        if not _visible(view, window) or view.scene() is None:
            continue
        viewport = QRectF(view.viewport().rect()).adjusted(-2, -2, 2, 2)
        for item in view.scene().items():
            if not _item_visible(item):
                continue
            inset = 0.0
            if isinstance(item, QGraphicsTextItem):
                doc = item.document()
                text = doc.toPlainText()
                size = _doc_min_px(doc, _px(item.font()))
                inset = doc.documentMargin()  # the empty frame around the text
            elif isinstance(item, QGraphicsSimpleTextItem):
                text, size = item.text(), _px(item.font())
            elif isinstance(item, pg.AxisItem):
                if not item.isVisible() or item.style.get("showValues") is False:
                    continue
                font = item.style.get("tickFont")
                if font is not None and _px(font) < min_px - 0.5:
                    out.append(f"{type(view).__name__}: axis tick labels {_px(font):.0f}px < {min_px}px")
                continue
            else:
                continue
            if not text.strip():
                continue
            box = item.mapRectToScene(item.boundingRect().adjusted(inset, inset, -inset, -inset))
            rect = view.mapFromScene(box).boundingRect()
            if not viewport.contains(QRectF(rect)):
                out.append(f"{type(view).__name__}: text outside the view: {_name(text)}")
            if size < min_px - 0.5:
                out.append(f"{type(view).__name__}: text {size:.0f}px < {min_px}px: {_name(text)}")
    return out


def problems(window: QWidget, min_px: float = 0) -> list[str]:
    return widget_problems(window, min_px) + graphics_problems(window, min_px)


def picture_share(window: QWidget) -> float:
    area = window.width() * window.height()
    total = 0
    for v in window.findChildren(QGraphicsView):
        if _visible(v, window):
            r = v.visibleRegion().boundingRect()
            total += r.width() * r.height()
    return total / area
