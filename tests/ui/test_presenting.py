"""Issue 14: every scene readable, uncluttered and uncut on a projector, and scaled up on big screens.

For every scene, each of its states a class can be shown (the default, every preset, every lesson
step on that scene) is rendered in projector mode at 1024x768 and 800x600, with the control drawer
closed and open, and checked by ``layout_audit``: no text cut, elided or outside its view, nothing
below the type scale's smallest size; the pictures get their share of the window. The default state
of each scene is also checked at 1280x800 and 1920x1080 in both modes.

The default run checks each scene's default state on the 1024x768 projector (the classroom case);
the sweep over every state and size takes minutes and runs with the slow tests (``-m slow``, CI).
"""

from __future__ import annotations

import pytest

from gradsim.lesson import load_builtin_lesson
from gradsim.presets import load_presets
from gradsim.registry import SCENE_IDS

from .conftest import settle, wait_idle
from .layout_audit import picture_share, problems
from .test_walkthrough import WORKSHOP_WORD, shown_texts

PICTURE_SCENES = ("flow", "scalar", "spectrum", "gates", "training", "agreement")
# the pictures' share of the window: (width, height, projector) -> at least
SHARE = {(1024, 768, True): 0.55, (1920, 1080, True): 0.60, (1280, 800, False): 0.50}


def _states(scene_id: str) -> list[tuple[str, dict]]:
    """(what, settings) for the default, every preset and every built-in lesson step of a scene."""
    out = [("default", {})]
    out += [(f"preset {p.preset_id}", {"preset": p.preset_id}) for p in load_presets(scene_id)]
    for i, step in enumerate(load_builtin_lesson().steps, start=1):
        if step.scene == scene_id:
            out.append((f"lesson step {i}", step.settings))
    return out


def _show(window, qtbot, scene_id: str, settings: dict) -> None:
    scene = window.show_scene(scene_id)
    scene.reset()
    if settings:
        scene.apply_settings(settings)
    wait_idle(qtbot, window, timeout=60000)


def _audit(window, qtbot, scene_id: str, what: str, share_floor: float | None) -> list[str]:
    scene = window.current_scene()
    found = []
    for drawer_open in ((False, True) if scene.drawer_mode else (True,)):
        window._set_controls(drawer_open)
        settle()
        tag = f"{scene_id} {what} ({'controls open' if drawer_open else 'controls closed'})"
        found += [f"{tag}: {p}" for p in problems(window, window.theme.small_px)]
        if share_floor is not None and not (scene.drawer_mode and drawer_open):
            share = picture_share(window)
            if share < share_floor:
                found.append(f"{tag}: pictures get {share:.0%} of the window, want {share_floor:.0%}")
    window._set_controls(not scene.drawer_mode)
    return found


@pytest.fixture(scope="module")
def projector_window(qapp):
    from .conftest import _build_window

    window = _build_window(projector=True)
    yield window
    window.close()
    window.deleteLater()
    qapp.processEvents()


def _audit_states(window, qtbot, scene_id: str, size: tuple[int, int], states) -> list[str]:
    window.resize(*size)
    window._follow_size()
    floor = SHARE.get((*size, True)) if scene_id in PICTURE_SCENES else None
    found = []
    for what, settings in states:
        _show(window, qtbot, scene_id, settings)
        found += _audit(window, qtbot, scene_id, what, floor)
    window.current_scene().shutdown()
    return found


@pytest.mark.parametrize("scene_id", SCENE_IDS)
def test_default_state_fits_a_projector(projector_window, qtbot, scene_id):
    """The sweep below, cut to its classroom case: the default state at 1024x768."""
    found = _audit_states(projector_window, qtbot, scene_id, (1024, 768), [("default", {})])
    assert not found, "\n".join(found)


@pytest.mark.parametrize("scene_id", SCENE_IDS)
def test_no_workshop_words_on_screen(projector_window, qtbot, scene_id):
    """test_walkthrough.py's rule on every text a scene shows (on this module's projector window,
    where the test above has built and drawn the scene already)."""
    scene = projector_window.show_scene(scene_id)
    wait_idle(qtbot, projector_window, timeout=60000)
    found = [t for t in shown_texts(scene) if WORKSHOP_WORD.search(t)]
    assert not found, found


@pytest.mark.slow  # every preset and lesson step of every scene, at two sizes: minutes
@pytest.mark.parametrize("size", [(1024, 768), (800, 600)], ids=["1024x768", "800x600"])
@pytest.mark.parametrize("scene_id", SCENE_IDS)
def test_every_state_fits_a_projector(projector_window, qtbot, scene_id, size):
    found = _audit_states(projector_window, qtbot, scene_id, size, _states(scene_id))
    assert not found, "\n".join(found)


@pytest.mark.slow  # a window of its own per mode, every scene in it
@pytest.mark.parametrize("mode", [(1280, 800, False), (1920, 1080, False), (1280, 800, True), (1920, 1080, True)],
                         ids=["1280x800-normal", "1920x1080-normal", "1280x800-projector", "1920x1080-projector"])
def test_default_states_fit_big_windows(qtbot, new_window, mode):
    width, height, projector = mode
    window = new_window(projector)
    window.resize(width, height)
    window._follow_size()
    found = []
    for scene_id in SCENE_IDS:
        _show(window, qtbot, scene_id, {})
        floor = SHARE.get(mode) if scene_id in PICTURE_SCENES else None
        found += _audit(window, qtbot, scene_id, "default", floor)
        window.current_scene().shutdown()
    assert not found, "\n".join(found)


def test_type_grows_with_the_window(projector_window, qtbot):
    window = projector_window
    window.resize(1024, 768)
    window._follow_size()
    small = window.theme
    assert small.small_px >= 18  # nothing under 18 px on a 768-pixel-high projector window
    window.resize(1920, 1080)
    window._follow_size()
    assert window.theme.small_px > small.small_px and window.theme.font_px > small.font_px


def test_presenting_layout_keeps_the_state(main_window, qtbot):
    """The drawer opens and closes, and the layout flips with the width, without touching the state."""
    flow = main_window.show_scene("flow")
    flow.apply_settings({"scale": 1.3, "steps": 77})
    wait_idle(qtbot, main_window)
    before = flow.state
    main_window.resize(1000, 700)
    main_window._follow_size()
    assert flow.drawer_mode and not flow.controls_open()
    qtbot.keyClick(main_window.scene_bar, "c")
    assert flow.controls_open() and flow._scroll.isVisible()
    qtbot.keyClick(main_window.scene_bar, "c")
    assert not flow.controls_open()
    main_window.resize(1280, 800)
    main_window._follow_size()
    assert not flow.drawer_mode and flow.controls_open()
    assert flow.state == before


def test_full_screen_hides_the_bars_and_esc_leaves(projector_window, qtbot):
    window = projector_window
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.toggle_fullscreen()
    try:
        assert not window.menuBar().isVisible() and not window.statusBar().isVisible()
        assert window.scene_bar.isVisible()  # the scene names stay: the only way to see where you are
        qtbot.keyClick(window.scene_bar, Qt_key("Escape"))
        assert not window.isFullScreen() and window.menuBar().isVisible()
    finally:  # the window is the module's: leave it as the other tests expect it
        if window.isFullScreen():
            window.toggle_fullscreen()


def Qt_key(name: str):  # noqa: N802 - reads like the Qt enum it returns
    from PySide6.QtCore import Qt

    return getattr(Qt.Key, f"Key_{name}")


def test_no_two_actions_share_a_shortcut(main_window):
    """An ambiguous shortcut fires neither action: every key sequence has one owner."""
    from PySide6.QtGui import QAction

    owners: dict[str, str] = {}
    clashes = []
    for action in main_window.findChildren(QAction):
        for sequence in action.shortcuts():
            key = sequence.toString()
            if not key:
                continue
            if key in owners and owners[key] != action.text():
                clashes.append(f"{key}: {owners[key]!r} and {action.text()!r}")
            owners[key] = action.text()
    assert not clashes, clashes


def test_tooltips_take_the_themes_colours_and_type(main_window, qtbot):
    """A tooltip inside the window (styled by the window's sheet) and one Qt shows on its own (styled
    by QToolTip's palette and font) both follow the theme, in both colour profiles."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QApplication, QToolTip

    from gradsim.ui.theme import theme_for

    for projector in (False, True):
        main_window.apply_theme(theme_for(projector, main_window.height()))
        theme = main_window.theme
        for owner in (main_window.scene_bar, None):
            QToolTip.hideText()
            text = f"projector {projector}, {'detached' if owner is None else 'in the window'}"
            QToolTip.showText(main_window.mapToGlobal(QPoint(40, 40)), text, owner)
            qtbot.waitUntil(lambda text=text: any(
                w.metaObject().className() == "QTipLabel" and w.isVisible() and w.text() == text
                for w in QApplication.topLevelWidgets()))
            tip = next(w for w in QApplication.topLevelWidgets()
                       if w.metaObject().className() == "QTipLabel" and w.isVisible())
            image = tip.grab().toImage()
            assert tip.font().pixelSize() == theme.font_px, text
            assert QColor(image.pixel(tip.width() // 2, 1)).name() == theme.panel.lower(), text
            assert QColor(image.pixel(2, tip.height() // 2)).name() == theme.panel.lower(), text
    QToolTip.hideText()


def test_a_message_never_covers_the_lesson_buttons(main_window, qtbot, tmp_path):
    """In projector mode (no status bar) a short message shows above the window's bottom edge; with
    a lesson open it shows above the lesson bar, whose step buttons it used to cover for 5 s."""
    import json

    from PySide6.QtCore import QPoint

    main_window.resize(1024, 768)
    main_window.toggle_projector()
    path = tmp_path / "one.gradsim-lesson.json"
    path.write_text(json.dumps({"format": "gradsim.lesson/1", "title": "One", "steps": [
        {"scene": "flow", "settings": {"preset": "sigmoid20"}, "caption": "Sigmoid: gone halfway back."}]}))
    assert main_window.lesson_bar.load_path(path)
    settle()
    toast, bar = main_window.toast, main_window.lesson_bar
    assert toast.isVisible() and toast.text() == "Opened lesson one.gradsim-lesson.json: 1 step"
    parent = toast.parentWidget()
    assert toast.geometry().bottom() < bar.mapTo(parent, QPoint(0, 0)).y()


# -- a theme switch restyles the visible scene; a hidden one is restyled when it is next shown -----

def _appearance(scene) -> dict:
    """What a viewer sees of a scene's styling, read from its widgets and charts: the theme, every
    widget's type size and text and background colours, the controls' width and layout, the verdict
    badges' sizes (fixed to their widest text in the theme's type), the title,
    and in every chart its background and each axis's, curve's and text's colour, type and weight
    (as multisets: the order of children follows the scene's history, not what it shows)."""
    from collections import Counter

    import pyqtgraph as pg
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QWidget

    from gradsim.ui.controls import Badge

    role = QPalette.ColorRole
    widgets = [scene, *scene.findChildren(QWidget)]
    charts = []
    for view in (w for w in widgets if isinstance(w, pg.GraphicsView)):
        items = Counter()
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                tick_font = item.style.get("tickFont")
                items["axis", item.textPen().color().name(), tick_font.pixelSize() if tick_font else None] += 1
            elif isinstance(item, pg.PlotCurveItem):
                pen = pg.mkPen(item.opts["pen"])
                items["curve", pen.color().name(), pen.widthF()] += 1
            elif isinstance(item, pg.TextItem):
                items["text", item.color.name(), item.textItem.font().pixelSize()] += 1
            elif isinstance(item, pg.LabelItem):  # titles, legend labels: their colour and size are in the html
                items["label", item.item.toHtml()] += 1
        charts.append((view.backgroundBrush().color().name(), items))
    return {
        "theme": scene.theme,
        "widgets": sorted((type(w).__name__, w.objectName(), w.font().pixelSize(),
                           w.palette().color(role.WindowText).name(), w.palette().color(role.Window).name())
                          for w in widgets),
        "controls": (scene.drawer_mode, scene._scroll.width()),
        "badges": sorted(b.size().toTuple() for b in scene.findChildren(Badge)),
        "title": scene.header.text(),
        "charts": charts,
    }


def _default_state(window, qtbot, scene_id: str):
    scene = window.show_scene(scene_id)
    scene.reset()
    wait_idle(qtbot, window)
    return scene


def test_a_scene_hidden_at_a_switch_takes_the_new_theme_when_shown(main_window, projector_window, qtbot):
    """Projector mode restyles the scene on show at once and the others when they are next shown:
    the gates scene, hidden at the switch, then looks as in a window built in projector mode, and
    after switching back the flow scene (hidden at that switch) looks as it did before either."""
    window = main_window
    _default_state(window, qtbot, "gates")
    flow = _default_state(window, qtbot, "flow")
    settle()
    flow_before = _appearance(flow)
    window.toggle_projector()
    wait_idle(qtbot, window)
    gates = window.scenes["gates"]
    assert flow.theme == window.theme and gates.theme != window.theme  # restyled on show, not before
    _default_state(window, qtbot, "gates")
    settle()
    projector_window.resize(*window.size().toTuple())
    projector_window._follow_size()
    reference = _default_state(projector_window, qtbot, "gates")
    settle()
    assert gates.theme == window.theme == projector_window.theme
    assert _appearance(gates) == _appearance(reference)
    window.toggle_projector()
    wait_idle(qtbot, window)
    assert flow.theme != window.theme
    window.show_scene("flow")
    wait_idle(qtbot, window)
    assert _appearance(flow) == flow_before


def test_a_handout_of_a_scene_hidden_at_a_switch_has_the_new_theme(main_window, qtbot, tmp_path):
    """A lesson step on a scene that was hidden when projector mode came on is drawn in projector
    colours: the handout's picture (decoded from the PDF) has the light background, not the dark."""
    import io
    import re

    from gradsim.lesson import lesson_from_dict

    Image = pytest.importorskip("PIL.Image")
    ImageStat = pytest.importorskip("PIL.ImageStat")
    window = main_window
    window.lesson_bar.set_lesson(lesson_from_dict({"format": "gradsim.lesson/1", "title": "One step", "steps": [
        {"scene": "gates", "settings": {}, "caption": "The gates scene, hidden when projector mode came on."}]}))
    _default_state(window, qtbot, "flow")  # the lesson stays open, its scene hidden
    window.toggle_projector()
    wait_idle(qtbot, window)
    assert window.scenes["gates"].theme != window.theme  # hidden at the switch: not restyled yet
    path = tmp_path / "handout.pdf"
    assert window.export_handout(path)
    pdf = path.read_bytes()
    found = re.search(rb"/Subtype\s*/Image.*?/Filter\s*/DCTDecode.*?>>\s*stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    assert found, "no picture in the handout"
    with Image.open(io.BytesIO(found.group(1))) as picture:
        rgb = picture.convert("RGB")
        corner = rgb.getpixel((2, 2))  # the scene's margin: its background
        mean = ImageStat.Stat(rgb.convert("L")).mean[0]
    light = [int(window.theme.background[i:i + 2], 16) for i in (1, 3, 5)]
    assert all(abs(c - v) <= 12 for c, v in zip(corner, light, strict=True)), (corner, window.theme.background)
    assert mean > 160  # a light picture (the normal theme's is dark throughout)


def test_the_theme_the_window_has_costs_nothing_but_a_new_type_size_applies(main_window, qtbot):
    """Applying the window's own theme again restyles nothing (no event to deliver); the theme of
    another window height is another theme: it applies, and the visible scene takes its type."""
    from PySide6.QtWidgets import QWidget

    from gradsim.ui.theme import theme_for

    window = main_window
    flow = _default_state(window, qtbot, "flow")
    settle()
    window.apply_theme(theme_for(False, window.height()))
    assert settle() == 1  # nothing was re-polished, laid out or painted
    taller = theme_for(False, window.height() + 200)
    assert taller != window.theme
    window.apply_theme(taller)
    settle()
    assert window.theme == flow.theme == taller
    label = next(w for w in flow.controls_panel.findChildren(QWidget) if type(w).__name__ == "QLabel")
    assert label.font().pixelSize() == taller.font_px


def test_legends_and_badges_follow_a_switch_and_back(main_window, projector_window, qtbot):
    """After Ctrl+P the scalar scene's chart legends are drawn as in a window built in projector mode
    (they kept the dark theme's light text on the projector's light panel) and its threshold lines
    have no grid under them, and after switching back its legends and verdict badge are as before
    (the badge kept its projector width)."""
    def legends(scene):
        return {chart: [label.item.toHtml() for _sample, label in getattr(scene, chart).legend.items]
                for chart in ("act_chart", "trace_chart", "ff_chart", "layer_chart")}

    window = main_window
    scalar = _default_state(window, qtbot, "scalar")
    scalar.apply_settings({"view": "activations"})
    wait_idle(qtbot, window)
    before = (legends(scalar), scalar.badge.size())
    window.toggle_projector()
    wait_idle(qtbot, window)
    projector_window.resize(*window.size().toTuple())
    projector_window._follow_size()
    reference = _default_state(projector_window, qtbot, "scalar")
    reference.apply_settings({"view": "activations"})
    wait_idle(qtbot, projector_window)
    assert scalar.theme == reference.theme
    assert legends(scalar) == legends(reference)
    assert scalar.badge.size() == reference.badge.size()
    # the axis naming the threshold lines draws no grid (its grid lines ran grey under the dashes)
    assert scalar.power_chart.getPlotItem().getAxis("right").grid is False
    window.toggle_projector()
    wait_idle(qtbot, window)
    assert (legends(scalar), scalar.badge.size()) == before
