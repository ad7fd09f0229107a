"""Scene ``history``: the timeline from backpropagation (1986) to Transformers (2017).

Each event has a short explanation and, where a live scene shows the idea, a "show me" button that
opens that scene in the right configuration (for example 1997, the LSTM, opens ``gates`` with the
forget bias at 3). The events are data (``resources/timeline.json``, read by :mod:`gradsim.content`);
this module only draws them. The strip is painted by hand so that labels never overlap at any
window size or type size: each label takes the first free slot above or below its marker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ...content import EVENT_KINDS, TimelineEvent, load_timeline
from ..lesson_bar import open_configured
from ..theme import Theme
from .base import Scene

KIND_LABELS = {
    "foundation": "foundation",
    "problem": "the problem diagnosed",
    "remedy": "remedy for plain RNNs",
    "architecture": "new architecture",
}
# Lanes top to bottom: the crowded lanes (new architectures and remedies, mostly 2013-2017) sit next
# to lanes that are empty on the right, so their labels have room to move into.
LANE_ORDER = ("architecture", "foundation", "remedy", "problem")
KIND_SYMBOLS = {"foundation": "square", "problem": "triangle", "remedy": "diamond", "architecture": "circle"}


def kind_colour(theme: Theme, kind: str) -> str:
    """Okabe-Ito colours from the theme, each kind also with its own marker shape (never colour alone)."""
    index = {"foundation": 3, "problem": 1, "remedy": 2, "architecture": 0}[kind]
    return theme.series[index]


def read_timeline() -> list[TimelineEvent]:
    """Worker job: read and validate the timeline file (re-read on refresh, so edits to it show up)."""
    return load_timeline()


@dataclass
class _Placed:
    event: TimelineEvent
    marker: QPointF
    label_rect: QRectF


def _symbol_path(kind: str, centre: QPointF, r: float) -> QPainterPath:
    path = QPainterPath()
    x, y = centre.x(), centre.y()
    shape = KIND_SYMBOLS[kind]
    if shape == "square":
        path.addRect(QRectF(x - r * 0.85, y - r * 0.85, 1.7 * r, 1.7 * r))
    elif shape == "triangle":
        path.moveTo(x, y - r * 1.1)
        path.lineTo(x + r, y + r * 0.8)
        path.lineTo(x - r, y + r * 0.8)
        path.closeSubpath()
    elif shape == "diamond":
        path.moveTo(x, y - r * 1.15)
        path.lineTo(x + r * 1.05, y)
        path.lineTo(x, y + r * 1.15)
        path.lineTo(x - r * 1.05, y)
        path.closeSubpath()
    else:
        path.addEllipse(centre, r, r)
    return path


class TimelineStrip(QWidget):
    """Years on a horizontal axis, one lane per kind of event, markers with labels; click to select."""

    event_clicked = Signal(str)

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.events: list[TimelineEvent] = []
        self.selected: str | None = None
        self._placed: list[_Placed] = []
        self._layout_key: tuple | None = None  # what the cached layout was made for
        self.setMinimumHeight(240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setToolTip("Click an event to read about it")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(600, 320)

    def set_events(self, events: list[TimelineEvent]) -> None:
        self.events = list(events)
        self.update()

    def set_selected(self, event_id: str | None) -> None:
        self.selected = event_id
        self.update()

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.update()

    def year_range(self) -> tuple[float, float]:
        years = [e.year for e in self.events] or [1985, 2020]
        return min(years) - 2.0, max(years) + 2.0

    # geometry shared by painting, clicking and the tests
    def _fonts(self) -> tuple[QFont, QFont]:
        small = QFont(self.font())
        small.setPointSizeF(self.theme.font_pt * 0.95)
        bold = QFont(small)
        bold.setBold(True)
        return small, bold

    def _legend_rows(self, font: QFont, r: float) -> list[list[tuple[str, float]]]:
        """Legend entries ``(kind, x)`` wrapped into as many rows as the width needs."""
        fm = QFontMetricsF(font)
        rows: list[list[tuple[str, float]]] = [[]]
        x = 12.0
        for kind in EVENT_KINDS:
            w = 2.4 * r + fm.horizontalAdvance(KIND_LABELS[kind]) + 2.2 * r
            if rows[-1] and x + w > self.width() - 8:
                rows.append([])
                x = 12.0
            rows[-1].append((kind, x))
            x += w
        return rows

    def layout_events(self) -> list[_Placed]:
        """Marker positions and label rectangles for the current size.

        Labels are placed greedily in the first free slot above or below their marker; if some label
        finds no free slot, the layout is redone with shorter labels (no year: the axis shows it)
        and then with a smaller font, so labels never overlap at any window or type size.
        """
        if not self.events:
            return []
        small, bold = self._fonts()
        key = (self.width(), self.height(), bold.toString(), small.toString(), self.theme.marker_size,
               tuple(e.id for e in self.events))
        if key == self._layout_key:
            return self._placed
        # Greedy placement depends on the order: labels are tried in year order, in reverse, and in a
        # few fixed shuffles. The first layout without overlaps and without a leader line through a
        # label wins; failing that, the one without overlaps with the fewest such crossings.
        count = len(self.events)
        shuffler = np.random.default_rng(7)
        orders = [list(range(count)), list(range(count))[::-1]]
        orders += [list(shuffler.permutation(count)) for _ in range(10)]
        candidates = []
        for with_year, shrink in ((True, 1.0), (False, 1.0), (False, 0.85), (False, 0.72)):
            font = QFont(bold)
            font.setPointSizeF(bold.pointSizeF() * shrink)
            clean = None
            for order in orders:
                attempt = (*self._try_layout(font, with_year, order), font, with_year)
                candidates.append(attempt)
                if attempt[1] and attempt[2] == 0:
                    clean = attempt
                    break
            if clean is not None:
                break
        good = [tr for tr in candidates if tr[1]] or candidates[-len(orders):]
        placed, _ok, _crossings, self._geometry, font, with_year = min(good, key=lambda tr: tr[2])
        self._layout_key = key
        self._label_font = font
        self._with_year = with_year
        self._placed = placed
        return placed

    def _try_layout(self, font: QFont, with_year: bool, order: list[int]) -> tuple[list[_Placed], bool, int, tuple]:
        small, _bold = self._fonts()
        fm = QFontMetricsF(font)
        line_h = fm.height()
        r = max(6.0, self.theme.marker_size * 0.7)
        legend_rows = self._legend_rows(small, r)
        legend_h = QFontMetricsF(small).height() * 1.3 * len(legend_rows)
        axis_h = QFontMetricsF(small).height() * 1.8
        left, right = 12.0, self.width() - 12.0
        top, bottom = legend_h + 8, self.height() - axis_h
        y0, y1 = self.year_range()
        lanes = len(LANE_ORDER)
        lane_h = (bottom - top) / lanes

        def x_of(year: float) -> float:
            return left + (year - y0) / (y1 - y0) * (right - left)

        placed: list[_Placed] = []
        rects: list[QRectF] = []
        seen: dict[tuple[int, str], int] = {}
        for e in sorted(self.events, key=lambda ev: (ev.year, ev.id)):
            lane = LANE_ORDER.index(e.kind)
            nth = seen.get((e.year, e.kind), 0)
            seen[(e.year, e.kind)] = nth + 1
            # two events of one kind in one year sit side by side, a marker apart
            cx = x_of(e.year) + nth * 2.6 * r
            cy = top + lane_h * (lane + 0.5)
            rects.append(QRectF(cx - r, cy - r, 2 * r, 2 * r))
            placed.append(_Placed(e, QPointF(cx, cy), QRectF()))
        ok = True
        crossings = 0
        labels: list[QRectF] = []
        for p in (placed[i] for i in order):
            text = self.label_text(p.event, with_year)
            w = fm.horizontalAdvance(text) + 6
            h = line_h
            cx, cy = p.marker.x(), p.marker.y()
            chosen = None
            # first choice: a free slot whose leader line crosses no label; second: any free slot
            for strict in (True, False):
                for k in range(0, 6):
                    dy = r + 1 + k * h
                    for sign in (-1, 1):
                        y = cy - dy - h if sign < 0 else cy + dy
                        for dx in (-w / 2, -w + 2 * r, -2 * r):
                            rect = QRectF(cx + dx, y, w, h)
                            if rect.left() < 2 or rect.right() > self.width() - 2:
                                continue
                            if rect.top() < top - 2 or rect.bottom() > bottom - 1:
                                continue
                            if any(rect.intersects(o) for o in rects):
                                continue
                            leader = self._leader_rect(p.marker, rect, r)
                            if strict and leader is not None and any(leader.intersects(o) for o in labels):
                                continue
                            chosen = rect
                            break
                        if chosen is not None:
                            break
                    if chosen is not None:
                        break
                if chosen is not None:
                    break
            if chosen is None:
                ok = False
                chosen = QRectF(min(max(2.0, cx - w / 2), self.width() - w - 2), cy + r + 1, w, h)
            p.label_rect = chosen
            rects.append(chosen)
            labels.append(chosen)
        for p in placed:
            leader = self._leader_rect(p.marker, p.label_rect, r)
            if leader is not None:
                crossings += sum(leader.intersects(o) for o in labels if o is not p.label_rect)
        return placed, ok, crossings, (left, right, top, bottom, y0, y1, legend_rows, lane_h, r)

    @staticmethod
    def _leader_end(marker: QPointF, rect: QRectF) -> QPointF:
        return QPointF(min(max(marker.x(), rect.left() + 4), rect.right() - 4),
                       rect.bottom() if rect.center().y() < marker.y() else rect.top())

    def _leader_rect(self, marker: QPointF, rect: QRectF, r: float) -> QRectF | None:
        """The thin box a leader line from the marker to its label occupies (None when adjacent)."""
        end = self._leader_end(marker, rect)
        if (end - marker).manhattanLength() <= 2.2 * r:
            return None
        return QRectF(marker, end).normalized().adjusted(-1, r, 1, -1) if end.y() > marker.y() else \
            QRectF(end, marker).normalized().adjusted(-1, 1, 1, -r)

    @staticmethod
    def label_text(event: TimelineEvent, with_year: bool) -> str:
        return f"{event.year} {event.short}" if with_year else event.short

    def marker_years(self) -> dict[str, int]:
        return {e.id: e.year for e in self.events}

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        t = self.theme
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(t.background))
        placed = self.layout_events()
        if not placed:
            painter.end()
            return
        left, right, top, bottom, y0, y1, legend_rows, lane_h, r = self._geometry
        small, bold = self._fonts()
        fg = QColor(t.foreground)
        muted = QColor(t.muted)

        # legend: shape + colour + name for each kind (wrapped when narrow)
        painter.setFont(small)
        fm = QFontMetricsF(small)
        row_h = fm.height() * 1.3
        for i, row in enumerate(legend_rows):
            cy = 4 + row_h * (i + 0.5)
            for kind, x in row:
                painter.setPen(QPen(fg, 1))
                painter.setBrush(QColor(kind_colour(t, kind)))
                painter.drawPath(_symbol_path(kind, QPointF(x + r, cy), r * 0.8))
                painter.setPen(fg)
                painter.drawText(QPointF(x + 2.4 * r, cy + fm.ascent() / 2 - 2), KIND_LABELS[kind])

        # lanes and the year axis
        lane_pen = QPen(muted, 1, Qt.PenStyle.DotLine)
        painter.setPen(lane_pen)
        for i in range(len(LANE_ORDER)):
            y = top + lane_h * (i + 0.5)
            painter.drawLine(QPointF(left, y), QPointF(right, y))
        painter.setPen(QPen(fg, max(1.0, t.line_width / 2)))
        painter.drawLine(QPointF(left, bottom), QPointF(right, bottom))
        step = 5 if (right - left) / max(1.0, (y1 - y0)) * 5 > fm.horizontalAdvance("0000") * 1.6 else 10
        first = int((y0 + step - 1) // step * step)
        for year in range(first, int(y1) + 1, step):
            xx = left + (year - y0) / (y1 - y0) * (right - left)
            painter.drawLine(QPointF(xx, bottom), QPointF(xx, bottom + 5))
            text = str(year)
            painter.drawText(QPointF(xx - fm.horizontalAdvance(text) / 2, bottom + 6 + fm.ascent()), text)

        # leader lines from a marker to a label placed away from it
        painter.setPen(QPen(muted, 1))
        for p in placed:
            nearest = self._leader_end(p.marker, p.label_rect)
            if (nearest - p.marker).manhattanLength() > 2.2 * r:
                painter.drawLine(p.marker, nearest)

        # markers and labels
        for p in placed:
            e = p.event
            selected = e.id == self.selected
            colour = QColor(kind_colour(t, e.kind))
            painter.setPen(QPen(fg, 2.5 if selected else 1))
            painter.setBrush(colour)
            painter.drawPath(_symbol_path(e.kind, p.marker, r * (1.35 if selected else 1.0)))
            if selected:
                painter.setPen(QPen(QColor(t.highlight), max(2.0, t.line_width * 0.75)))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(p.marker, r * 2.0, r * 2.0)
            font = QFont(self._label_font)
            font.setBold(selected)
            painter.setFont(font)
            painter.setPen(fg)
            painter.drawText(p.label_rect, Qt.AlignmentFlag.AlignCenter, self.label_text(e, self._with_year))
        painter.end()

    def event_at(self, pos: QPointF) -> str | None:
        """The event whose marker or label is under ``pos`` (nearest marker within reach)."""
        if not self._placed:
            self.layout_events()
        best, best_d = None, float("inf")
        for p in self._placed:
            if p.label_rect.contains(pos):
                return p.event.id
            d = (p.marker - pos).manhattanLength()
            if d < best_d:
                best, best_d = p.event.id, d
        r = self._geometry[-1] if self._placed else 0
        return best if best_d <= 3.5 * r else None

    def marker_position(self, event_id: str) -> QPointF:
        self.layout_events()
        return next(p.marker for p in self._placed if p.event.id == event_id)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        hit = self.event_at(event.position())
        if hit is not None:
            self.event_clicked.emit(hit)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt naming
        hit = self.event_at(event.position())
        self.setCursor(Qt.CursorShape.PointingHandCursor if hit else Qt.CursorShape.ArrowCursor)


class HistoryScene(Scene):
    scene_id = "history"
    title = "History"
    summary = "From backpropagation (1986) to Transformers (2017). Click an event, then “Show me”."

    def build_controls(self, layout: QVBoxLayout) -> None:
        self.events: list[TimelineEvent] = load_timeline()  # validated now; refresh() re-reads in the worker
        self.current_id: str = self.events[0].id
        box = QGroupBox("Events")
        bl = QVBoxLayout(box)
        self.event_list = QListWidget()
        self.event_list.setToolTip("Every event on the timeline; ← and → also move between them")
        self.event_list.setWordWrap(True)
        self.event_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bl.addWidget(self.event_list)
        layout.addWidget(box, 1)
        self._fill_list()
        self.event_list.currentRowChanged.connect(self._on_row)

    def build_views(self, layout: QVBoxLayout) -> None:
        self.strip = TimelineStrip(self.theme)
        self.strip.event_clicked.connect(self.select_event)
        layout.addWidget(self.strip, 3)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        self.detail = QTextBrowser()
        self.detail.setOpenExternalLinks(False)
        self.detail.setToolTip("What happened, who did it, and why it matters for the gradient")
        dl.addWidget(self.detail, 1)
        row = QHBoxLayout()
        self.prev_button = QPushButton("◀ Earlier")
        self.prev_button.setToolTip("The previous event (←)")
        self.next_button = QPushButton("Later ▶")
        self.next_button.setToolTip("The next event (→)")
        self.show_me_button = QPushButton("Show me")
        self.show_me_button.setToolTip("Open the live scene that shows this idea, set up for it")
        self.show_me_button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        row.addWidget(self.prev_button)
        row.addWidget(self.next_button)
        row.addWidget(self.show_me_button, 1)
        dl.addLayout(row)
        layout.addWidget(detail, 2)

        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.show_me_button.clicked.connect(self.show_me)
        self.strip.set_events(self.events)
        self.select_event(self.current_id)

    # -- data ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.request(read_timeline, key="timeline")

    def on_result(self, result, key: str) -> None:
        if key != "timeline":
            return
        self.events = list(result)
        ids = [e.id for e in self.events]
        if self.current_id not in ids:
            self.current_id = ids[0]
        self._fill_list()
        self.strip.set_events(self.events)
        self.select_event(self.current_id)

    def _fill_list(self) -> None:
        self.event_list.blockSignals(True)
        self.event_list.clear()
        for e in self.events:
            item = QListWidgetItem(f"{e.year}  {e.short}")
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            item.setToolTip(e.title)
            self.event_list.addItem(item)
        self.event_list.blockSignals(False)

    def current_event(self) -> TimelineEvent:
        return next(e for e in self.events if e.id == self.current_id)

    # -- selection -----------------------------------------------------------------------------------
    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.events):
            self.select_event(self.events[row].id)

    def select_event(self, event_id: str) -> None:
        ids = [e.id for e in self.events]
        if event_id not in ids:
            raise ValueError(f"history: unknown event {event_id!r}")
        self.current_id = event_id
        row = ids.index(event_id)
        if self.event_list.currentRow() != row:
            self.event_list.blockSignals(True)
            self.event_list.setCurrentRow(row)
            self.event_list.blockSignals(False)
        self.strip.set_selected(event_id)
        self._show_detail()
        self.prev_button.setEnabled(row > 0)
        self.next_button.setEnabled(row < len(ids) - 1)

    def _show_detail(self) -> None:
        t = self.theme
        e = self.current_event()
        colour = kind_colour(t, e.kind)
        people = ", ".join(e.people)
        html = (
            f"<div style='font-size:{t.title_pt + 2}pt; font-weight:bold'>{e.year} · {_esc(e.title)}</div>"
            f"<div style='color:{t.muted}'>{_esc(people)}"
            f" &nbsp;<span style='color:{colour}'>■</span> {KIND_LABELS[e.kind]}</div>"
            f"<p>{_esc(e.text)}</p>"
        )
        if e.reference:
            html += f"<p style='color:{t.muted}'>{_esc(e.reference)}</p>"
        self.detail.setHtml(html)
        if e.show_me is not None:
            self.show_me_button.setText(f"▶ {e.show_me.label}")
            self.show_me_button.setEnabled(True)
            self.show_me_button.setToolTip(f"Open the '{e.show_me.scene}' scene set up for this event")
        else:
            self.show_me_button.setText("No live scene for this event")
            self.show_me_button.setEnabled(False)

    def show_me(self) -> None:
        e = self.current_event()
        if e.show_me is not None:
            open_configured(self.context, e.show_me.scene, e.show_me.settings)

    # -- the hooks the main window calls -----------------------------------------------------------
    def step(self, direction: int) -> None:
        ids = [e.id for e in self.events]
        row = ids.index(self.current_id) + (1 if direction > 0 else -1)
        if 0 <= row < len(ids):
            self.select_event(ids[row])

    def settings(self) -> dict:
        return {"event": self.current_id}

    def apply_settings(self, settings: dict) -> None:
        unknown = set(settings) - {"event"}
        if unknown:
            raise ValueError(f"history: unknown setting '{sorted(unknown)[0]}'")
        if "event" in settings:
            if not isinstance(settings["event"], str):
                raise ValueError("history: 'event' must be an event id")
            self.select_event(settings["event"])

    def reset(self) -> None:
        self.select_event(self.events[0].id)

    def apply_theme(self, theme: Theme) -> None:
        self.strip.apply_theme(theme)
        self._show_detail()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
