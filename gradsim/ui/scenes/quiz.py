"""Scene ``quiz``: a knowledge check and worked exercises whose solutions the engine computes live.

Quiz: the questions of ``resources/quiz.json`` in an order (and with answer positions) drawn from a
seed, so a class and the teacher's preview see the same quiz. Choosing an answer marks it right or
wrong (a symbol and a word as well as a colour), explains the chosen answer and the right one, and
counts the first answer of each question in the score. "Present to class" (for the projector) hides
whether an answer is right until the teacher reveals it.

Exercises: ``resources/exercises.json``. Each solution is computed by :func:`gradsim.content.
compute_exercise` on the worker when the exercise is opened (the copy-memory one trains networks, so
it runs on demand as a stoppable :class:`GeneratorTask` with progress). Nothing shown is typed in.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QButtonGroup,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...content import (
    ComputeProgress,
    Exercise,
    ExerciseResult,
    QuizQuestion,
    QuizScore,
    ShowMe,
    compute_exercise,
    iter_compute,
    render_text,
)
from ...states.quiz import MAX_SEED, QuizState, exercises, prepare_quiz, questions
from ..lesson_bar import open_configured
from ..plots import curve_pen, make_plot, style_plot
from ..theme import Theme
from ..worker import GeneratorTask
from ..wrapped_choices import WrappedChoices
from .base import Scene

LETTERS = "ABCDEF"
TWO_COLUMNS = 1100  # a page at least this wide puts the explanation (or solution) beside the question
READING_EM = 42  # a column of text at most about this many ems wide: lines of reading length


def shuffled(seed: int) -> tuple[int, list[QuizQuestion]]:
    """Worker job: the quiz in the seed's order, with the seed it belongs to."""
    return seed, prepare_quiz(seed)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class OptionCard(QFrame):
    """One answer: a letter, the text (wrapped), and after answering a mark in words and symbol."""

    clicked = Signal(int)

    def __init__(self, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setObjectName("option")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QGridLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setHorizontalSpacing(10)
        layout.setVerticalSpacing(2)
        self.letter = QLabel(LETTERS[index])
        self.letter.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.mark = QLabel()  # under the answer, so it never narrows the text
        layout.addWidget(self.letter, 0, 0)
        layout.addWidget(self.text, 0, 1)
        layout.addWidget(self.mark, 1, 1)
        layout.setColumnStretch(1, 1)
        self.mark.hide()
        self.state = "neutral"

    def set_state(self, state: str, theme: Theme, px: int) -> None:
        """``neutral``, ``chosen`` (presenting: picked, not judged), ``right``, ``wrong`` or ``correct``
        (the right answer the student did not pick); ``px``: the answers' type size."""
        self.state = state
        colour = {"neutral": theme.muted, "chosen": theme.highlight, "right": theme.healthy,
                  "wrong": theme.explode, "correct": theme.healthy}[state]
        width = 1 if state == "neutral" else (4 if theme.projector else 3)
        self.setStyleSheet(
            f"QFrame#option {{ border: {width}px solid {colour}; border-radius: 6px; background: {theme.panel}; }}"
            f"QFrame#option QLabel {{ background: {theme.panel}; font-size: {px}px; }}"
        )
        self.letter.setStyleSheet(f"font-weight: bold; color: {theme.foreground}; background: {theme.panel};")
        self.mark.setText({"neutral": "", "chosen": "● chosen", "right": "✓ right", "wrong": "✗ wrong",
                           "correct": "✓ the right answer"}[state])
        self.mark.setStyleSheet(f"font-weight: bold; color: {colour}; background: {theme.panel};")
        self.mark.setVisible(state != "neutral")

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.index)


def _label(fmt: Qt.TextFormat = Qt.TextFormat.RichText) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(fmt)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    return label


class Columns(QScrollArea):
    """Two parts side by side when the page is wide (the question and its explanation, the exercise
    and its solution), the second under the first when it is narrow; one scroll for both, so on a
    small projector the question and its answers come first and the explanation follows them."""

    def __init__(self, first: QWidget, second: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.inner = (first, second)
        holder = QWidget()
        self.box = QHBoxLayout(holder)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.setSpacing(24)
        self.box.addWidget(first, 1, Qt.AlignmentFlag.AlignTop)
        self.box.addWidget(second, 1, Qt.AlignmentFlag.AlignTop)
        self.setWidget(holder)
        self.wide = True

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self.fit()

    def fit(self) -> None:
        wide = self.width() >= TWO_COLUMNS
        if wide != self.wide:
            self.wide = wide
            self.box.setDirection(QHBoxLayout.Direction.LeftToRight if wide else QHBoxLayout.Direction.TopToBottom)


class QuizScene(Scene):
    scene_id = "quiz"
    title = "Knowledge check"
    summary = "Questions with an explanation for every answer, and exercises the engine solves live."
    State = QuizState

    # -- controls ---------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        self.questions: list[QuizQuestion] = list(questions())  # checked when the state module loaded
        self.exercises: list[Exercise] = list(exercises())
        self.order: list[QuizQuestion] = []
        self._order_seed: int | None = None
        self.answers: dict[str, int] = {}
        self.revealed: set[str] = set()
        self.score = QuizScore()
        self._answer_px = self.theme.font_px
        self._prompt_px = self.theme.title_px
        self._results: dict[str, ExerciseResult] = {}
        self._task: GeneratorTask | None = None
        self._task_exercise: str | None = None
        self._computing = False  # from Compute until the task's "ended" arrives on this thread
        self._slow_status: dict[str, str] = {}  # the last word of each on-demand computation
        self._hints_shown = 0
        self._shown_exercise: str | None = None

        mode_box = QGroupBox("Mode")
        ml = QHBoxLayout(mode_box)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QPushButton] = {}
        for mode, label, tip in (("quiz", "Quiz", "Multiple-choice questions, one at a time"),
                                 ("exercises", "Exercises", "Worked exercises with hints; the engine computes the solutions")):
            b = QPushButton(label)
            b.setCheckable(True)
            b.setToolTip(tip)
            self.mode_group.addButton(b)
            self.mode_buttons[mode] = b
            ml.addWidget(b)
            b.clicked.connect(lambda _c=False, m=mode: self.change(label="switch mode", mode=m))
        layout.addWidget(mode_box)

        self.quiz_box = QGroupBox("Quiz")
        ql = QVBoxLayout(self.quiz_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Shuffle seed"))
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip("The order of questions and answers comes from this number: "
                             "the same seed gives the same quiz on every computer")
        row.addWidget(self.seed, 1)
        ql.addLayout(row)
        self.present = QPushButton("Present to class")
        self.present.setCheckable(True)
        self.present.setToolTip("For the projector: choosing an answer does not say whether it is right "
                                "until you press “Reveal”")
        ql.addWidget(self.present)
        self.restart = QPushButton("Start again")
        self.restart.setToolTip("Clear the answers and the score, keep the order")
        ql.addWidget(self.restart)
        self.score_label = QLabel()
        self.score_label.setObjectName("readout")
        self.score_label.setToolTip("Right answers out of the questions answered (the first answer counts)")
        ql.addWidget(self.score_label)
        layout.addWidget(self.quiz_box)

        self.ex_box = QGroupBox("Exercises")
        el = QVBoxLayout(self.ex_box)
        self.ex_list = WrappedChoices([(ex.id, ex.title) for ex in self.exercises])  # titles whole, never "…"
        self.ex_list.setToolTip("Pick an exercise")
        for ex in self.exercises:
            self.ex_list.labels[ex.id].setToolTip(render_text(ex.prompt))
        el.addWidget(self.ex_list)
        layout.addWidget(self.ex_box)

        self.bind(self.seed, "seed", int, label="change shuffle seed")
        self.bind(self.present, "present", bool, label="present to class")
        self.restart.clicked.connect(self.start_again)
        self.bind(self.ex_list, "exercise", label="choose exercise")

    # -- views --------------------------------------------------------------------------------------
    def build_views(self, layout: QVBoxLayout) -> None:
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)
        self._build_quiz_view()
        self._build_exercise_view()
        self.apply_theme(self.theme)

    def _build_quiz_view(self) -> None:
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(0, 0, 0, 0)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("caption")
        outer.addWidget(self.progress_label)
        question = QWidget()
        bl = QVBoxLayout(question)
        bl.setContentsMargins(0, 0, 4, 0)
        self.prompt = _label()
        bl.addWidget(self.prompt)
        self.cards: list[OptionCard] = []
        for i in range(len(LETTERS)):
            card = OptionCard(i)
            card.setToolTip(f"Choose this answer (key {LETTERS[i]})")
            card.clicked.connect(self.choose)
            bl.addWidget(card)
            self.cards.append(card)
        bl.addStretch(1)
        explained = QWidget()
        fl = QVBoxLayout(explained)
        fl.setContentsMargins(0, 0, 4, 0)
        self.feedback = _label()
        self.feedback.setToolTip("Why the chosen answer is right or wrong, and why the right one is right")
        fl.addWidget(self.feedback)
        fl.addStretch(1)
        self.quiz_columns = Columns(question, explained)
        self._bodies = [question, explained]
        outer.addWidget(self.quiz_columns, 1)
        row = QHBoxLayout()
        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.setToolTip("The previous question (←)")
        self.reveal_button = QPushButton("Reveal")
        self.reveal_button.setToolTip("Show which answer is right and explain every answer")
        self.q_show_me = QPushButton("▶ Show me")
        self.q_show_me.setToolTip("Open the live scene that shows this")
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("The next question (→)")
        for b in (self.prev_button, self.reveal_button, self.q_show_me, self.next_button):
            row.addWidget(b)
        outer.addLayout(row)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.reveal_button.clicked.connect(self.reveal)
        self.q_show_me.clicked.connect(lambda: self._show_me(self.current_question().show_me))
        # A-F choose an answer. Not QShortcuts: C is also the window's "show controls" key, and two
        # shortcuts on one key fire neither; the filter claims the letters while a question is on
        # show. It is application-wide (a Python call for every event of every widget), so it is
        # installed only while the scene is on screen (showEvent / hideEvent).
        self.quiz_page = page
        self.stack.addWidget(page)

    def _build_exercise_view(self) -> None:
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(0, 0, 0, 0)
        task = QWidget()
        bl = QVBoxLayout(task)
        bl.setContentsMargins(0, 0, 4, 0)
        self.ex_prompt = _label()
        bl.addWidget(self.ex_prompt)
        self.hints_label = _label()
        bl.addWidget(self.hints_label)
        bl.addStretch(1)
        solution = QWidget()
        sol_layout = QVBoxLayout(solution)
        sol_layout.setContentsMargins(0, 0, 4, 0)
        self.solution_box = QGroupBox("Worked solution, computed now by the engine")
        sl = QVBoxLayout(self.solution_box)
        self.solution_grid = QGridLayout()
        self.solution_grid.setHorizontalSpacing(14)
        self.solution_grid.setColumnStretch(0, 1)
        self.solution_grid.setColumnStretch(1, 1)
        sl.addLayout(self.solution_grid)
        self._build_solution_charts(sl)
        self.conclusion = _label(Qt.TextFormat.PlainText)
        sl.addWidget(self.conclusion)
        prog_row = QHBoxLayout()
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip("Train the networks now (on this computer, in the background)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the computation at the next training step")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        prog_row.addWidget(self.compute_button)
        prog_row.addWidget(self.stop_button)
        prog_row.addWidget(self.progress, 1)
        sl.addLayout(prog_row)
        self.progress_text = _label(Qt.TextFormat.PlainText)
        self.progress_text.setObjectName("caption")
        sl.addWidget(self.progress_text)
        sol_layout.addWidget(self.solution_box)
        sol_layout.addStretch(1)
        self.exercise_columns = Columns(task, solution)
        self._bodies += [task, solution]
        outer.addWidget(self.exercise_columns, 1)
        row = QHBoxLayout()
        self.hint_button = QPushButton("Hint")
        self.hint_button.setToolTip("Show the next hint")
        self.solution_button = QPushButton("Show solution")
        self.solution_button.setCheckable(True)
        self.solution_button.setToolTip("Show or hide the worked solution")
        self.ex_show_me = QPushButton("▶ Show me")  # what it opens: in its tooltip (a short button never widens the page)
        self.ex_show_me.setToolTip("Open the scene in this exercise's configuration")
        for b in (self.hint_button, self.solution_button, self.ex_show_me):
            row.addWidget(b)
        outer.addLayout(row)
        self.hint_button.clicked.connect(self.show_hint)
        self.solution_button.toggled.connect(self._on_solution_toggle)
        self.ex_show_me.clicked.connect(lambda: self._show_me(self.current_exercise().show_me))
        self.compute_button.clicked.connect(self.start_slow_compute)
        self.stop_button.clicked.connect(self.stop_slow_compute)
        self._solution_rows: list[tuple[QLabel, QLabel]] = []
        self.solution_box.hide()
        self.exercise_page = page
        self.stack.addWidget(page)

    # -- state --------------------------------------------------------------------------------------
    def mode(self) -> str:
        return self.state.mode

    @property
    def index(self) -> int:
        """The question on show (the state's, within the quiz)."""
        return min(self.state.question, max(0, len(self.order) - 1))

    def current_question(self) -> QuizQuestion:
        return self.order[self.index]

    def current_exercise(self) -> Exercise:
        return self.state.exercise_object()

    def show_state(self, state: QuizState) -> None:
        quiz = state.mode == "quiz"
        self.mode_buttons[state.mode].setChecked(True)
        self.quiz_box.setVisible(quiz)
        self.ex_box.setVisible(not quiz)
        self.stack.setCurrentWidget(self.quiz_page if quiz else self.exercise_page)
        self.seed.setValue(state.seed)
        self.present.setChecked(state.present)
        self.ex_list.set_value(state.exercise)
        if state.exercise != self._shown_exercise:  # another exercise starts without hints or solution
            self._shown_exercise = state.exercise
            self._hints_shown = 0
            self.solution_button.setChecked(False)
        self._apply_panel_width()
        self._draw_question()
        self._draw_exercise()

    def start_again(self) -> None:
        self.answers.clear()
        self.revealed.clear()
        self.score = QuizScore()
        if self.state.question != 0:
            self.set_state(self.state.replace(question=0), "start the quiz again")
        self._draw_question()

    # -- worker -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        if self._order_seed != self.state.seed:
            self.request(shuffled, self.state.seed, key="quiz")
        if self.state.mode == "exercises":
            self._request_exercise()

    def _request_exercise(self) -> None:
        ex = self.current_exercise()
        if ex.slow or ex.id in self._results:
            self._draw_exercise()
            QTimer.singleShot(0, self.drawn.emit)  # nothing to wait for (until Compute is pressed)
            return
        self.request(compute_exercise, ex.compute, key="ex:" + ex.id)

    def on_result(self, result, key: str) -> None:
        if key == "quiz":
            seed, order = result
            if seed != self.state.seed:
                return  # a newer seed's order is on its way
            if seed != self._order_seed:  # a new quiz: the answers belonged to the old order
                self.answers.clear()
                self.revealed.clear()
                self.score = QuizScore()
            self.order, self._order_seed = list(order), seed
            self._draw_question()
        elif key.startswith("ex:"):
            self._results[key[3:]] = result
            if key[3:] == self.current_exercise().id:
                self._draw_exercise()

    # -- quiz ---------------------------------------------------------------------------------------
    def choose(self, option: int) -> None:
        if not self.order or self.state.mode != "quiz":
            return
        q = self.current_question()
        if option >= len(q.options):
            return
        if q.id not in self.answers:
            self.score.record(q, option)
        self.answers[q.id] = option
        self._draw_question()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        """A-F (no modifier) choose an answer while a question is on show and no text field has the
        keyboard: the shortcut override is claimed, so no window shortcut on the same key fires."""
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        key = event.key()
        if not Qt.Key.Key_A.value <= key <= Qt.Key.Key_A.value + len(LETTERS) - 1:
            return False
        if event.modifiers() not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
            return False
        if (not isinstance(obj, QWidget) or obj.window() is not self.window() or not self.isVisible()
                or self.state.mode != "quiz" or not self.order
                or isinstance(QApplication.focusWidget(), QAbstractSpinBox)):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()
        else:
            self.choose(key - Qt.Key.Key_A.value)
        return True

    def reveal(self) -> None:
        if self.order:
            self.revealed.add(self.current_question().id)
            self._draw_question()

    def _draw_question(self) -> None:
        t = self.theme
        self.score_label.setText(f"Score: {self.score.right} / {self.score.total}")
        if not self.order:
            return
        q = self.current_question()
        presenting = self.state.present
        chosen = self.answers.get(q.id)
        judged = chosen is not None and (not presenting or q.id in self.revealed)
        revealed = q.id in self.revealed
        self.progress_label.setText(
            f"Question {self.index + 1} of {len(self.order)} · {q.topic_title} · shuffle seed {self.state.seed}")
        self.prompt.setText(f"<span style='font-size:{self._prompt_px}px; font-weight:bold'>"
                            f"{_esc(render_text(q.prompt))}</span>")
        for i, card in enumerate(self.cards):
            if i >= len(q.options):
                card.hide()
                continue
            card.show()
            card.text.setText(render_text(q.options[i].text))
            if revealed or judged:
                if i == chosen:
                    state = "right" if q.options[i].correct else "wrong"
                elif q.options[i].correct:
                    state = "correct"
                else:
                    state = "neutral"
            elif i == chosen:
                state = "chosen"
            else:
                state = "neutral"
            card.set_state(state, t, self._answer_px)
        self.feedback.setText(self._feedback_html(q, chosen, judged, revealed))
        self.prev_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < len(self.order) - 1)
        self.reveal_button.setVisible(presenting)
        self.reveal_button.setEnabled(not revealed)
        self.q_show_me.setEnabled(q.show_me is not None)
        self.q_show_me.setToolTip(q.show_me.label if q.show_me is not None else "No live scene for this question")

    def _feedback_html(self, q: QuizQuestion, chosen: int | None, judged: bool, revealed: bool) -> str:
        t = self.theme
        size = f"font-size:{self._answer_px}px"
        if chosen is None and not revealed:
            return f"<span style='color:{t.muted}; {size}'>Choose an answer (click it, or press its letter).</span>"
        if not judged and not revealed:
            return (f"<span style='color:{t.muted}; {size}'>Answer {LETTERS[chosen]} chosen. Press “Reveal” to see "
                    "whether it is right.</span>")
        right = q.correct_index
        parts = []

        def line(i: int, head: str, colour: str) -> str:
            return (f"<p style='{size}'><b style='color:{colour}'>{head}</b> "
                    f"{_esc(render_text(q.options[i].explanation))}</p>")

        if chosen is not None:
            if chosen == right:
                parts.append(line(chosen, f"✓ {LETTERS[chosen]} is right.", t.healthy))
            else:
                parts.append(line(chosen, f"✗ {LETTERS[chosen]} is not right.", t.explode))
                parts.append(line(right, f"✓ {LETTERS[right]} is the right answer.", t.healthy))
        if revealed:
            for i in range(len(q.options)):
                if i not in (chosen, right):
                    parts.append(line(i, f"{LETTERS[i]}:", t.muted))
            if chosen is None:
                parts.insert(0, line(right, f"✓ {LETTERS[right]} is the right answer.", t.healthy))
        return "".join(parts)

    # -- exercises ----------------------------------------------------------------------------------
    def show_hint(self) -> None:
        self._hints_shown = min(self._hints_shown + 1, len(self.current_exercise().hints))
        self._draw_exercise()

    def _on_solution_toggle(self, on: bool) -> None:
        self.solution_button.setText("Hide solution" if on else "Show solution")
        self.solution_box.setVisible(on)

    def _draw_exercise(self) -> None:
        ex = self.current_exercise()
        size = f"font-size:{self._answer_px}px"
        self.ex_prompt.setText(
            f"<div style='font-size:{self._prompt_px}px; font-weight:bold'>{_esc(ex.title)}</div>"
            f"<p style='{size}'>{_esc(render_text(ex.prompt))}</p>"
        )
        hints = ex.hints[: self._hints_shown]
        self.hints_label.setText("".join(
            f"<p style='{size}'><b>Hint {i + 1}.</b> {_esc(render_text(h))}</p>" for i, h in enumerate(hints)))
        self.hint_button.setEnabled(self._hints_shown < len(ex.hints))
        self.hint_button.setText(f"Hint ({self._hints_shown} of {len(ex.hints)})")
        self.ex_show_me.setEnabled(ex.show_me is not None)
        self.ex_show_me.setToolTip(ex.show_me.label if ex.show_me is not None else "No live scene for this exercise")
        running = self._computing
        self.compute_button.setVisible(ex.slow)
        self.stop_button.setVisible(ex.slow)
        self.progress.setVisible(ex.slow)
        self.progress_text.setVisible(ex.slow)
        self.compute_button.setEnabled(ex.slow and not running)
        self.stop_button.setEnabled(running and self._task_exercise == ex.id)
        if ex.slow and not running:
            n = len(ex.compute.get("delays", []))
            default = f"This solution trains {n} networks; press Compute (it takes a while)."
            self.progress_text.setText(self._slow_status.get(ex.id, default))
        self._fill_solution(self._results.get(ex.id))

    def _fill_solution(self, result: ExerciseResult | None) -> None:
        rows = result.rows if result is not None else []
        while len(self._solution_rows) < len(rows):
            label, value = _label(Qt.TextFormat.PlainText), _label(Qt.TextFormat.PlainText)
            value.setObjectName("readout")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            r = len(self._solution_rows)
            self.solution_grid.addWidget(label, r, 0)
            self.solution_grid.addWidget(value, r, 1)
            self._solution_rows.append((label, value))
        for i, (label, value) in enumerate(self._solution_rows):
            visible = i < len(rows)
            label.setVisible(visible)
            value.setVisible(visible)
            if visible:
                label.setText(rows[i][0])
                value.setText(rows[i][1])
        self.conclusion.setText(result.conclusion if result is not None else "")
        self._draw_solution_chart(result)

    # -- the solution's chart: the engine's numbers, drawn (log10 values computed in the engine's result)
    def _build_solution_charts(self, layout: QVBoxLayout) -> None:
        t = self.theme
        self.log_chart = make_plot(t, "", "", "", log_y=True, legend_columns=2)
        self.lin_chart = make_plot(t, "", "", "", log_y=False, legend_columns=2)
        self.series_a = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.series_b = pg.PlotDataItem(connect="finite", skipFiniteCheck=True)
        self.points = pg.ScatterPlotItem()
        for item in (self.series_a, self.series_b, self.points):
            self.log_chart.getPlotItem().addItem(item)
        self.acc_curve = pg.PlotDataItem()
        self.chance_line = pg.PlotDataItem()
        self.lin_chart.getPlotItem().addItem(self.acc_curve)
        self.lin_chart.getPlotItem().addItem(self.chance_line)
        for chart in (self.log_chart, self.lin_chart):
            chart.hide()
            layout.addWidget(chart)

    def _style_solution_charts(self, t: Theme) -> None:
        for chart in (self.log_chart, self.lin_chart):
            chart.setFixedHeight(int(15 * t.small_px))
        style_plot(self.log_chart, t)
        style_plot(self.lin_chart, t)
        size = t.marker_size
        self.series_a.setPen(curve_pen(t.bound, t, Qt.PenStyle.DashLine, 0.8))
        self.series_a.setSymbol("s")
        self.series_a.setSymbolBrush(t.bound)
        self.series_a.setSymbolPen(t.foreground)
        self.series_a.setSymbolSize(size)
        self.series_b.setPen(curve_pen(t.series[0], t))
        self.series_b.setSymbol("o")
        self.series_b.setSymbolBrush(t.series[0])
        self.series_b.setSymbolPen(t.foreground)
        self.series_b.setSymbolSize(size)
        self.points.setBrush(pg.mkBrush(t.series[1]))
        self.points.setPen(pg.mkPen(t.foreground))
        self.points.setSymbol("t")
        self.points.setSize(size)
        self.acc_curve.setPen(curve_pen(t.series[0], t))
        self.acc_curve.setSymbol("o")
        self.acc_curve.setSymbolBrush(t.series[0])
        self.acc_curve.setSymbolPen(t.foreground)
        self.acc_curve.setSymbolSize(size)
        self.chance_line.setPen(curve_pen(t.muted, t, Qt.PenStyle.DashLine, 0.75))

    def _draw_solution_chart(self, result: ExerciseResult | None) -> None:
        """Draw the result's series; the chart shows exactly the numbers in ``result.values``."""
        self.log_chart.hide()
        self.lin_chart.hide()
        if result is None:
            return
        v = result.values
        item = self.log_chart.getPlotItem()
        empty = np.array([], dtype=np.float64)
        if result.kind in ("norm_power", "sigmoid_bound"):
            x = np.asarray(v["norms"] if result.kind == "norm_power" else v["steps"], dtype=np.float64)
            self.series_a.setData(x, np.asarray(v["log10_bound"], dtype=np.float64))
            self.series_b.setData(x, np.asarray(v["log10_measured"], dtype=np.float64))
            self.points.setData(empty, empty)
            self._label(item, "bottom", "‖W_hh‖₂" if result.kind == "norm_power" else "sequence length T")
            self._label(item, "left", "‖dL/dh₁‖ / ‖dL/dh<sub>T</sub>‖ (log scale)")
            self.log_chart.set_legend([(self.series_a, "bound"), (self.series_b, "measured by the engine")])
            self.log_chart.show()
        elif result.kind == "spectral_sweep":
            table = np.asarray(v["log10_grad_h1"], dtype=np.float64)
            norms = np.asarray(v["norms"], dtype=np.float64)
            xs = np.repeat(norms, table.shape[1])
            self.points.setData(xs, table.ravel())
            self.series_b.setData(norms, np.median(table, axis=1))
            self.series_a.setData(empty, empty)
            self._label(item, "bottom", f"spectral norm ‖W_hh‖₂ (T = {v['steps']} steps)")
            self._label(item, "left", "‖dL/dh₁‖ (log scale)")
            self.log_chart.set_legend([(self.points, "one seed"), (self.series_b, "median over seeds")])
            self.log_chart.show()
        elif result.kind == "copy_memory":
            delays = np.asarray(v["delays"], dtype=np.float64)
            self.acc_curve.setData(delays, np.asarray(v["accuracy"], dtype=np.float64))
            self.chance_line.setData(np.array([delays.min(), delays.max()]), np.full(2, float(v["chance"])))
            lin = self.lin_chart.getPlotItem()
            self._label(lin, "bottom", "delay D (blank steps)")
            self._label(lin, "left", "held-out accuracy")
            lin.setYRange(0.0, 1.05)
            self.lin_chart.set_legend([(self.acc_curve, "accuracy after training"), (self.chance_line, "chance")])
            self.lin_chart.show()
        for chart in (self.log_chart, self.lin_chart):
            if chart.isVisible():
                chart.getPlotItem().enableAutoRange()
                style_plot(chart, self.theme)

    def _label(self, item, side: str, text: str) -> None:
        """An axis title. The quantity on the y axis goes in the chart's title (never a rotated title)."""
        t = self.theme
        if side == "left":
            item.setLabel("left", "")
            item.showLabel("left", False)
            item.setTitle(text, color=t.foreground, size=f"{t.font_px}px")
        else:
            item.setLabel(side, text, **{"color": t.foreground, "font-size": f"{t.font_px}px"})

    def shown_solution(self) -> list[tuple[str, str]]:
        """The rows the solution panel shows now (label, value), for tests and export."""
        return [(a.text(), b.text()) for a, b in self._solution_rows if not a.isHidden()]

    def start_slow_compute(self) -> None:
        ex = self.current_exercise()
        if not ex.slow or self._computing:
            return
        spec = ex.compute
        task = GeneratorTask(lambda: iter_compute(spec), self)
        task.snapshot.connect(lambda item, eid=ex.id: self._on_slow_item(eid, item))
        task.ended.connect(lambda outcome, eid=ex.id: self._on_slow_ended(eid, outcome))
        self._task, self._task_exercise = task, ex.id
        self._computing = True
        self.progress.setRange(0, max(1, len(spec.get("delays", []))))
        self.progress.setValue(0)
        self.progress_text.setText("Starting…")
        task.start()
        self._draw_exercise()

    def stop_slow_compute(self) -> None:
        if self._task is not None:
            self._task.stop(timeout=0.1)

    def _on_slow_item(self, exercise_id: str, item) -> None:
        if isinstance(item, ComputeProgress):
            self.progress.setRange(0, item.total)
            self.progress.setValue(item.done)
            self.progress_text.setText(item.message)
        elif isinstance(item, ExerciseResult):
            self._results[exercise_id] = item
            self.progress.setValue(self.progress.maximum())
            self._slow_status[exercise_id] = "Done: trained on this computer just now."
            self.progress_text.setText(self._slow_status[exercise_id])
            if exercise_id == self.current_exercise().id:
                self._draw_exercise()
            self.drawn.emit()

    def _on_slow_ended(self, exercise_id: str, outcome: str) -> None:
        self._computing = False
        if outcome != "finished":
            self._slow_status[exercise_id] = "Stopped." if outcome == "stopped" else outcome
        self._draw_exercise()

    # -- show me ------------------------------------------------------------------------------------
    def _show_me(self, show: ShowMe | None) -> None:
        if show is not None:
            open_configured(self.context, show.scene, show.settings)

    # -- hooks --------------------------------------------------------------------------------------
    def step(self, direction: int) -> None:
        """← / →: the previous or next question, or exercise (each one undo step)."""
        if self.state.mode == "quiz" and self.order:
            new = self.index + (1 if direction > 0 else -1)
            if 0 <= new < len(self.order):
                self.set_state(self.state.replace(question=new), "next question" if direction > 0 else
                               "previous question")
        elif self.state.mode == "exercises":
            ids = [e.id for e in self.exercises]
            row = ids.index(self.state.exercise) + (1 if direction > 0 else -1)
            if 0 <= row < len(ids):
                self.change(label="next exercise" if direction > 0 else "previous exercise", exercise=ids[row])

    def reset(self) -> None:
        self.stop_slow_compute()
        super().reset()
        self.answers.clear()
        self.revealed.clear()
        self.score = QuizScore()
        self._draw_question()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if hasattr(self, "cards") and self._type_sizes() != (self._answer_px, self._prompt_px):
            self.apply_theme(self.theme)

    def _type_sizes(self) -> tuple[int, int]:
        """Answers and prompt, read from the back of a room: larger than the body text, and larger still
        on a tall page (a 1080-pixel screen fills with the question instead of leaving half empty)."""
        t = self.theme
        answer = int(round(max(t.font_px * 1.15, min(t.font_px * 1.6, self.height() / 30))))
        return answer, max(int(round(t.title_px * 1.1)), int(round(answer * 1.3)))

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._answer_px, self._prompt_px = self._type_sizes()
        # a column of reading length: at most about READING_EM ems of the answers' type
        for body in getattr(self, "_bodies", []):
            body.setMaximumWidth(int(self._answer_px * READING_EM))
        if hasattr(self, "log_chart"):
            self._style_solution_charts(theme)
        if hasattr(self, "cards") and self.state is not None:
            self._draw_question()
            self._draw_exercise()

    def deactivate(self) -> None:
        pass  # a running exercise computation carries on in the background; its result waits here

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)  # installed once however often it is called

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().hideEvent(event)
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def shutdown(self) -> None:
        if self._task is not None:
            self._task.stop(timeout=5.0)
