"""Scene ``history``: the timeline from backpropagation (1986) to Transformers (2017).

Each event has a short explanation and, where a live scene shows the idea, a "show me" button that
opens that scene in the right configuration (for example 1997, the LSTM, opens ``gates`` with the
forget bias at 3). The events are data (``resources/timeline.json``, read by :mod:`gradsim.content`);
this module only draws them. The strip is painted by hand so that labels never overlap at any
window size or type size: each label takes the first free slot above or below its marker.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...content import EVENT_KINDS, TimelineEvent
from ...states.history import HistoryState, read_timeline, timeline
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
COMPACT_HEIGHT = 640  # scenes shorter than this (an 800 x 600 window) show the story compactly
LANE_ORDER = ("architecture", "foundation", "remedy", "problem")
KIND_SYMBOLS = {"foundation": "square", "problem": "triangle", "remedy": "diamond", "architecture": "circle"}


def kind_colour(theme: Theme, kind: str) -> str:
    """Okabe-Ito colours from the theme, each kind also with its own marker shape (never colour alone)."""
    index = {"foundation": 3, "problem": 1, "remedy": 2, "architecture": 0}[kind]
    return theme.series[index]


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
        self.setMinimumHeight(160)
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
        """The legend and year axis in the small size; event labels in the body size, larger when the
        strip is tall (a 1920 x 1080 screen), so the timeline fills the room it has."""
        t = self.theme
        small = t.qfont(t.small_px)
        lane_room = self.height() / (len(LANE_ORDER) * 4.5)  # a label may take a quarter of a lane
        bold = t.qfont(int(max(t.font_px, min(t.font_px * 1.3, lane_room))), bold=True)
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

        Each label takes a slot above or below its marker (on a leader line when not adjacent), found
        by a small backtracking search: no label overlaps a marker or another label, and no leader
        line runs through a label (a teacher would read the wrong year). If no such layout exists,
        the search is repeated with shorter labels (no year: the axis shows it), then in the type
        scale's smaller size; as a last resort leader lines may cross labels, never labels overlap.
        """
        if not self.events:
            return []
        small, bold = self._fonts()
        key = (self.width(), self.height(), bold.toString(), small.toString(), self.theme.marker_size,
               tuple(e.id for e in self.events))
        if key == self._layout_key:
            return self._placed
        found = None
        sizes = sorted({bold.pixelSize(), max(self.theme.small_px, int(round(bold.pixelSize() * 0.85))),
                        self.theme.small_px}, reverse=True)
        # first with room at the end for the last label to sit over its own marker, then without
        attempts = [(True, sizes[0], True, pad) for pad in (True, False)]
        attempts += [(False, px, True, pad) for px in sizes for pad in (True, False)]
        for with_year, px, strict, pad in attempts:
            font = QFont(bold)  # never below the type scale's smallest size
            font.setPixelSize(px)
            placed, geometry = self._search(font, with_year, strict, pad=pad)
            if placed is not None:
                found = (placed, geometry, font, with_year)
                break
        if found is None:  # leaders must cross somewhere: the relaxed layout with the fewest crossings
            font = QFont(bold)
            font.setPixelSize(sizes[-1])
            for pad in (True, False):
                placed, geometry = self._search(font, False, False, pad=pad)
                if placed is not None and (found is None or self._crossings(placed, geometry)
                                           < self._crossings(*found[:2])):
                    found = (placed, geometry, font, False)
        if found is None:  # nothing fits even with crossings: labels under their markers
            placed, geometry = self._search(font, False, False, pad=True, give_up=True)
            found = (placed, geometry, font, False)
        self._placed, self._geometry, self._label_font, self._with_year = found
        self._layout_key = key
        return self._placed

    def _frame(self, font: QFont, with_year: bool, pad: bool = True) -> tuple[list[_Placed], tuple]:
        """Marker positions (labels not placed yet) and the strip's geometry for this label font.

        With ``pad`` the time axis ends early enough for the last event's label to sit centred over its
        marker (pushed left, it sits over the markers of the years before and reads as theirs)."""
        small, _bold = self._fonts()
        r = max(6.0, self.theme.marker_size * 0.7)
        legend_rows = self._legend_rows(small, r)
        legend_h = QFontMetricsF(small).height() * 1.3 * len(legend_rows)
        axis_h = QFontMetricsF(small).height() * 1.8
        last = max(e.year for e in self.events)
        half = max(QFontMetricsF(font).horizontalAdvance(self.label_text(e, with_year)) / 2 + 6
                   for e in self.events if e.year == last)
        left, right = 12.0, self.width() - max(12.0, min(half, self.width() * 0.25) if pad else 0.0)
        top, bottom = legend_h + 8, self.height() - axis_h
        y0, y1 = self.year_range()
        lane_h = (bottom - top) / len(LANE_ORDER)
        placed: list[_Placed] = []
        for kind in LANE_ORDER:
            lane = sorted((e for e in self.events if e.kind == kind), key=lambda ev: (ev.year, ev.id))
            xs = self._spread([left + (e.year - y0) / (y1 - y0) * (right - left) for e in lane], 2.6 * r,
                              left + r, self.width() - r)
            cy = top + lane_h * (LANE_ORDER.index(kind) + 0.5)
            placed += [_Placed(e, QPointF(cx, cy), QRectF()) for e, cx in zip(lane, xs, strict=True)]
        placed.sort(key=lambda p: (p.event.year, p.event.id))
        return placed, (left, right, top, bottom, y0, y1, legend_rows, lane_h, r)

    @staticmethod
    def _spread(xs: list[float], gap: float, low: float, high: float) -> list[float]:
        """Marker centres of one lane (sorted) moved apart to at least ``gap``, each run of crowded
        markers centred on the years it stands for: two events of one year sit side by side, and a
        crowded stretch (2014 GRU and Seq2seq, 2015 ResNet, a year apart) spreads both ways instead
        of pushing one marker onto the next year's."""
        clusters: list[list[float]] = []  # each: the nominal x of its markers
        for x in xs:
            clusters.append([x])
            while len(clusters) > 1:  # merge while a cluster's laid-out ends overlap
                a, b = clusters[-2], clusters[-1]
                a_end = sum(a) / len(a) + (len(a) - 1) * gap / 2
                b_start = sum(b) / len(b) - (len(b) - 1) * gap / 2
                if b_start - a_end >= gap:
                    break
                clusters[-2:] = [a + b]
        out: list[float] = []
        for c in clusters:
            first = sum(c) / len(c) - (len(c) - 1) * gap / 2
            first = min(max(first, low), high - (len(c) - 1) * gap)
            out += [first + i * gap for i in range(len(c))]
        return out

    def _search(self, font: QFont, with_year: bool, strict: bool, pad: bool = True,
                give_up: bool = False) -> tuple[list[_Placed] | None, tuple]:
        placed, geometry = self._frame(font, with_year, pad)
        top, bottom, r = geometry[2], geometry[3], geometry[-1]
        fm = QFontMetricsF(font)
        h = fm.height()
        markers = [QRectF(p.marker.x() - r, p.marker.y() - r, 2 * r, 2 * r) for p in placed]
        options: list[list[tuple[QRectF, QRectF | None]]] = []
        for p in placed:
            w = fm.horizontalAdvance(self.label_text(p.event, with_year)) + 6
            cx, cy = p.marker.x(), p.marker.y()
            mine = []
            for k in range(6):  # nearest slots first
                dy = r + 1 + k * h
                for sign in (-1, 1):
                    y = cy - dy - h if sign < 0 else cy + dy
                    for dx in (-w / 2, -w + 2 * r, -2 * r, -0.75 * w, -0.25 * w):
                        rect = QRectF(cx + dx, y, w, h)
                        if (rect.left() < 2 or rect.right() > self.width() - 2 or rect.top() < top - 2
                                or rect.bottom() > bottom - 1 or any(rect.intersects(m) for m in markers)):
                            continue
                        mine.append((rect, self._leader_rect(p.marker, rect, r)))
            if give_up and not mine:
                mine = [(QRectF(min(max(2.0, cx - w / 2), self.width() - w - 2), cy + r + 1, w, h), None)]
            # a label that spans another marker of its lane reads as that marker's: the fewer it spans,
            # the earlier it is tried (in the crowded 2014-2017 stretch every slot spans one)
            others = [q.marker for q in placed if q is not p and abs(q.marker.y() - cy) < 1]
            mine.sort(key=lambda o: sum(o[0].left() - r <= m.x() <= o[0].right() + r for m in others))
            options.append(mine)
        # Labels interact only with their neighbours: events whose options can touch form a group,
        # and each group is searched on its own (a search over all twelve at once thrashes).
        reach = []
        for mine in options:
            box = QRectF()
            for rect, leader in mine:
                box = box.united(rect) if leader is None else box.united(rect).united(leader)
            reach.append(box)
        group = list(range(len(placed)))

        def root(i: int) -> int:
            while group[i] != i:
                i = group[i]
            return i

        for i in range(len(placed)):
            for j in range(i + 1, len(placed)):
                if reach[i].intersects(reach[j]):
                    group[root(j)] = root(i)
        chosen: dict[int, tuple[QRectF, QRectF | None]] = {}
        for g in sorted({root(i) for i in range(len(placed))}):
            members = [i for i in range(len(placed)) if root(i) == g]
            if not strict and not give_up:
                if not self._fewest_crossings(members, options, chosen):
                    return None, geometry
            elif not self._place_group(members, options, chosen, strict, give_up):
                return None, geometry
        for i, p in enumerate(placed):
            p.label_rect = chosen[i][0]
        return placed, geometry

    @staticmethod
    def _place_group(members: list[int], options: list, chosen: dict, strict: bool, give_up: bool) -> bool:
        """Backtracking over one group's label options (nearest slots first), within a step budget.

        Forward checking: each label's options that still fit are kept from step to step and only
        tested against the label just placed (testing them against every placed label at every step
        took 2 s at the strip's size on a 1024x768 projector). Same choices, same order."""
        budget = [3000]

        def clash(rect: QRectF, leader: QRectF | None, other: QRectF, other_leader: QRectF | None) -> bool:
            if rect.intersects(other) and not give_up:
                return True
            return strict and ((leader is not None and leader.intersects(other))
                               or (other_leader is not None and other_leader.intersects(rect)))

        def place(fitting: dict[int, list]) -> bool:
            # the most constrained label first (fewest options that still fit): dead ends show early
            if not fitting:
                return True
            budget[0] -= 1
            if budget[0] < 0:
                return False
            i = min(fitting, key=lambda m: len(fitting[m]))
            for rect, leader in fitting[i]:
                chosen[i] = (rect, leader)
                rest = {m: [o for o in fits if not clash(*o, rect, leader)] for m, fits in fitting.items() if m != i}
                if place(rest):
                    return True
                del chosen[i]
            return False

        placed = list(chosen.values())  # by the groups before this one
        return place({i: [o for o in options[i] if not any(clash(*o, *c) for c in placed)] for i in members})

    def _crossings(self, placed: list[_Placed], geometry: tuple) -> int:
        """How many (leader, label) pairs cross in a layout."""
        r = geometry[-1]
        count = 0
        for p in placed:
            leader = self._leader_rect(p.marker, p.label_rect, r)
            if leader is not None:
                count += sum(leader.intersects(o.label_rect) for o in placed if o is not p)
        return count

    @classmethod
    def _fewest_crossings(cls, members: list[int], options: list, chosen: dict) -> bool:
        """The relaxed search, when no layout keeps every leader clear: still no label overlaps another,
        and leaders cross as few labels as local moves can make them. A first layout comes from the
        backtracking search without the leader rule; then single labels, and pairs of labels whose
        leader and label cross, move to other free slots while that lowers the count. (Taking the
        first layout let leaders cross labels all along the strip, 1990's through 1986's, though only
        one crowded decade needed it.)"""
        if not cls._place_group(members, options, chosen, False, False):
            return False

        def crossing(a: tuple, b: tuple) -> int:
            return int(a[1] is not None and a[1].intersects(b[0])) + int(b[1] is not None and b[1].intersects(a[0]))

        def cost(i: int, option: tuple, skip: int | None = None) -> int:
            return sum(crossing(option, o) for k, o in chosen.items() if k != i and k != skip)

        def free(i: int, skip: int | None = None) -> list:
            return [o for o in options[i]
                    if not any(o[0].intersects(c[0]) for k, c in chosen.items() if k != i and k != skip)]

        for _round in range(10):
            improved = False
            for i in members:  # one label at a time
                best = min(free(i), key=lambda o: cost(i, o), default=chosen[i])
                if cost(i, best) < cost(i, chosen[i]):
                    chosen[i], improved = best, True
            pairs = [(i, j) for i in members for j in members if i < j and crossing(chosen[i], chosen[j])]
            for i, j in pairs:  # two labels that cross each other: move both at once
                now = cost(i, chosen[i], skip=j) + cost(j, chosen[j], skip=i) + crossing(chosen[i], chosen[j])
                best_pair, best_cost = None, now
                for a in free(i, skip=j):
                    base = cost(i, a, skip=j)
                    if base >= best_cost:
                        continue
                    for b in free(j, skip=i):
                        if a[0].intersects(b[0]):
                            continue
                        total = base + cost(j, b, skip=i) + crossing(a, b)
                        if total < best_cost:
                            best_pair, best_cost = (a, b), total
                if best_pair is not None:
                    chosen[i], chosen[j] = best_pair
                    improved = True
            if not improved:
                break
        return True

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
    State = HistoryState

    def build_controls(self, layout: QVBoxLayout) -> None:
        self.events: list[TimelineEvent] = list(timeline())
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
        layout.addWidget(self.strip, 1)

        # the event's story, as tall as its text (never cut, never scrolled): the strip takes the rest
        detail = QFrame()
        detail.setObjectName("detail")
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(10, 8, 10, 8)
        dl.setSpacing(4)
        self.detail_title = _wrapped(Qt.TextFormat.PlainText)
        self.detail_meta = _wrapped(Qt.TextFormat.RichText)
        self.detail_text = _wrapped(Qt.TextFormat.PlainText)
        self.detail_text.setToolTip("What happened, who did it, and why it matters for the gradient")
        self.detail_reference = _wrapped(Qt.TextFormat.PlainText)
        for w in (self.detail_title, self.detail_meta, self.detail_text, self.detail_reference):
            dl.addWidget(w)
        row = QHBoxLayout()
        self.prev_button = QPushButton("◀ Earlier")
        self.prev_button.setToolTip("The previous event (←)")
        self.next_button = QPushButton("Later ▶")
        self.next_button.setToolTip("The next event (→)")
        self.show_me_button = QPushButton("Show me")
        self.show_me_button.setToolTip("Open the live scene that shows this idea, set up for it")
        row.addWidget(self.prev_button)
        row.addWidget(self.next_button)
        # the link's label may be long: it wraps into the button's width rather than widening the window
        self.show_me_button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        row.addWidget(self.show_me_button, 1)
        dl.addLayout(row)
        self.detail = detail
        layout.addWidget(detail, 0)

        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.show_me_button.clicked.connect(self.show_me)
        self.strip.set_events(self.events)
        self.apply_theme(self.theme)

    # -- data ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.request(read_timeline, key="timeline")

    def on_result(self, result, key: str) -> None:
        if key != "timeline":
            return
        if [e.id for e in result] != [e.id for e in self.events]:
            self.events = list(result)
            self._fill_list()
            self.strip.set_events(self.events)
        self.show_state(self.state)

    def _fill_list(self) -> None:
        with self.showing():
            self.event_list.clear()
            for e in self.events:
                item = QListWidgetItem(f"{e.year}  {e.short}")
                item.setData(Qt.ItemDataRole.UserRole, e.id)
                item.setToolTip(e.title)
                self.event_list.addItem(item)

    @property
    def current_id(self) -> str:
        return self.state.event

    def current_event(self) -> TimelineEvent:
        return next(e for e in self.events if e.id == self.current_id)

    # -- selection -----------------------------------------------------------------------------------
    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.events):
            self.select_event(self.events[row].id)

    def select_event(self, event_id: str) -> None:
        """Show this event (one undo step). Raises ValueError for an id that is not on the timeline."""
        if event_id not in [e.id for e in self.events]:
            raise ValueError(f"history: unknown event {event_id!r}")
        self.change(label="choose event", event=event_id)

    def show_state(self, state: HistoryState) -> None:
        ids = [e.id for e in self.events]
        row = ids.index(state.event)
        if self.event_list.currentRow() != row:
            self.event_list.setCurrentRow(row)
        self.strip.set_selected(state.event)
        self._show_detail()
        self.prev_button.setEnabled(row > 0)
        self.next_button.setEnabled(row < len(ids) - 1)

    def _show_detail(self) -> None:
        t = self.theme
        e = self.current_event()
        colour = kind_colour(t, e.kind)
        self.detail_title.setText(f"{e.year} · {e.title}")
        self.detail_meta.setText(f"<span style='color:{t.muted}'>{_esc(', '.join(e.people))}</span>"
                                 f" &nbsp;<span style='color:{colour}'>■</span> "
                                 f"<span style='color:{t.muted}'>{KIND_LABELS[e.kind]}</span>")
        self.detail_text.setText(e.text)
        self.detail_reference.setText(e.reference)
        compact = bool(getattr(self, "_compact", False))
        self.detail_reference.setVisible(bool(e.reference) and not compact)
        self.detail_text.setToolTip(e.reference if compact and e.reference else
                                    "What happened, who did it, and why it matters for the gradient")
        if e.show_me is not None:
            self.show_me_button.setText(f"▶ {e.show_me.label}")
            self.show_me_button.setEnabled(True)
            self.show_me_button.setToolTip(f"Open the “{e.show_me.scene}” scene set up for this event")
        else:
            self.show_me_button.setText("No live scene for this event")
            self.show_me_button.setEnabled(False)

    def show_me(self) -> None:
        e = self.current_event()
        if e.show_me is not None:
            open_configured(self.context, e.show_me.scene, e.show_me.settings)

    # -- the hooks the main window calls -----------------------------------------------------------
    def step(self, direction: int) -> None:
        moved = self.state.moved(direction)
        if moved != self.state:
            self.set_state(moved, "next event" if direction > 0 else "previous event")

    def apply_theme(self, theme: Theme) -> None:
        self.strip.apply_theme(theme)
        # sizes through the style sheet: the application's sheet would override a widget's own font
        self.detail.setStyleSheet(f"QFrame#detail {{ background: {theme.panel}; border: 1px solid {theme.muted}; "
                                  f"border-radius: 4px; }} QFrame#detail QLabel {{ background: {theme.panel}; }}")
        self._compact = None  # restyled by _fit_detail
        self.detail_reference.setStyleSheet(f"font-size: {theme.small_px}px; color: {theme.muted};")
        self._fit_detail()
        if self.state is not None and hasattr(self, "detail_text"):
            self._show_detail()


    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if hasattr(self, "detail"):
            self._fit_detail()

    def _fit_detail(self) -> None:
        """On a short window (800 x 600) the story keeps the strip its room: the event's title in the
        body size, its reference in the tooltip; otherwise the title in the title size, the reference
        under the text."""
        compact = self.height() < COMPACT_HEIGHT
        if compact == getattr(self, "_compact", None):
            return
        self._compact = compact
        px = self.theme.font_px if compact else self.theme.title_px
        self.detail_title.setStyleSheet(f"font-size: {px}px; font-weight: bold;")
        if self.state is not None:
            self._show_detail()


def _wrapped(fmt: Qt.TextFormat) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(fmt)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
    return label


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
