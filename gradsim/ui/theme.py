"""Colour profiles: the normal (dark) one for a screen, and the projector one.

Projectors wash out dark backgrounds and thin lines, so the projector profile is light, high
contrast, with larger type and thicker lines. Data colours come from the Okabe-Ito palette and the
colour maps are viridis/cividis, which colour-blind viewers can read; no meaning rests on red against
green alone, and every colour is named on screen by a legend, a colour bar or a text label.

Type follows the window: one type scale (:func:`type_scale`) turns the window's height into pixel
sizes for body text, small text (chart ticks, legends, diagram labels) and titles. In projector mode
a 768-pixel-high window gets nothing under 18 px, and everything grows on larger windows; sizes are
in pixels, so the screen's DPI setting cannot shrink them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..paths import resource

# Okabe-Ito, the standard colour-blind-safe qualitative palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}


@dataclass(frozen=True)
class Theme:
    name: str
    projector: bool
    background: str
    panel: str
    foreground: str
    muted: str
    grid_alpha: float
    colormap: str
    series: tuple[str, ...]  # curve colours in order
    vanish: str  # the vanishing threshold / verdict colour
    explode: str  # the exploding threshold / verdict colour
    healthy: str
    bound: str
    highlight: str
    unlit: str  # nodes the backward pulse has not reached yet
    # the type scale (pixels) and the line weights, set by ``theme_for(projector, height)``
    font_px: int = 13  # body text, controls
    small_px: int = 12  # chart ticks, legends, captions, diagram labels: the smallest text anywhere
    title_px: int = 17  # scene titles
    line_width: float = 2.0
    marker_size: int = 9

    def verdict_colour(self, kind: str) -> str:
        return {"healthy": self.healthy, "vanishing": self.vanish, "exploding": self.explode}.get(kind, self.muted)

    def on_colour(self, colour: str) -> str:
        """Text colour that reads on a filled ``colour`` (badges): black or white by luminance."""
        r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        return "#000000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#ffffff"

    def qfont(self, px: int | None = None, bold: bool = False):
        """A QFont of ``px`` pixels (default: body size)."""
        from PySide6.QtGui import QFont

        font = QFont()
        font.setPixelSize(int(px or self.font_px))
        font.setBold(bold)
        return font


NORMAL = Theme(
    name="normal",
    projector=False,
    background="#15181d",
    panel="#1f242b",
    foreground="#e8eaed",
    muted="#9aa0a6",
    grid_alpha=0.18,
    colormap="viridis",
    # the second series is purple, not orange: orange sits too close to the exploding threshold's vermillion
    series=(OKABE_ITO["sky"], OKABE_ITO["purple"], OKABE_ITO["green"], OKABE_ITO["orange"], OKABE_ITO["yellow"]),
    vanish=OKABE_ITO["sky"],
    explode=OKABE_ITO["vermillion"],
    healthy=OKABE_ITO["green"],
    bound="#bdbdbd",
    highlight=OKABE_ITO["yellow"],
    unlit="#3a3f47",
)

PROJECTOR = Theme(
    name="projector",
    projector=True,
    background="#ffffff",
    panel="#f2f2f2",
    foreground="#000000",
    muted="#333333",
    grid_alpha=0.30,
    colormap="cividis",
    series=(OKABE_ITO["blue"], "#AA4499", OKABE_ITO["green"], "#B86E00", "#555555"),
    vanish=OKABE_ITO["blue"],
    explode=OKABE_ITO["vermillion"],
    healthy="#007a5a",
    bound="#555555",
    highlight="#b8860b",
    unlit="#d0d0d0",
    font_px=20,
    small_px=18,
    title_px=26,
    line_width=4.0,
    marker_size=14,
)

# Reference heights at which each profile has its base sizes (a 1024x768 projector; a 1280x800 laptop).
_REFERENCE_HEIGHT = {True: 768, False: 800}
# Normal mode never goes below these (a small window is still read from a desk, not a back row).
_NORMAL_FLOOR = {"font_px": 13, "small_px": 12, "title_px": 17}


def type_scale(projector: bool, height: int) -> dict[str, float]:
    """Pixel sizes and line weights for a window ``height`` pixels high, in either mode."""
    base = PROJECTOR if projector else NORMAL
    factor = max(0.7, min(3.0, height / _REFERENCE_HEIGHT[projector]))
    sizes = {key: getattr(base, key) * factor for key in ("font_px", "small_px", "title_px")}
    if not projector:
        sizes = {k: max(_NORMAL_FLOOR[k], v) for k, v in sizes.items()}
    out: dict[str, float] = {k: int(round(v)) for k, v in sizes.items()}
    grow = max(1.0, factor)
    out["line_width"] = round(base.line_width * grow * 2) / 2
    out["marker_size"] = int(round(base.marker_size * grow))
    return out


def theme_for(projector: bool, height: int | None = None) -> Theme:
    """The colour profile, with its type scale fitted to a window ``height`` pixels high."""
    base = PROJECTOR if projector else NORMAL
    if height is None:
        return base
    return replace(base, **type_scale(projector, height))


def _icon_url(name: str, theme: Theme) -> str:
    shade = "light" if theme.projector else "dark"
    return resource("icons", "ui", f"{name}-{shade}.svg").as_posix()


def stylesheet(theme: Theme) -> str:
    """Application-wide Qt style sheet: sizes and colours for widgets outside the plots.

    A style sheet that gives spin boxes, combo boxes and check boxes a border also takes their native
    arrows and boxes away; they are drawn here again, at the type scale's size, in both themes.
    """
    t = theme
    button = max(16, int(t.font_px * 1.1))  # spin and combo buttons
    arrow = max(8, int(t.font_px * 0.6))
    box = max(13, int(t.font_px * 0.95))  # check box and radio button indicators
    return f"""
    QWidget {{ font-size: {t.font_px}px; color: {t.foreground}; background: {t.background}; }}
    QMainWindow, QDialog {{ background: {t.background}; }}
    QGroupBox {{ border: 1px solid {t.muted}; border-radius: 4px; margin-top: 1.1em; padding: 0.4em 0.3em 0.3em 0.3em;
                 background: {t.panel}; font-weight: bold; }}
    QGroupBox::title {{ subcontrol-origin: margin; left: 0.6em; padding: 0 0.3em; }}
    QGroupBox QWidget {{ background: {t.panel}; font-weight: normal; }}
    QListWidget {{ background: {t.panel}; border: none; }}
    QListWidget::item {{ padding: 0.35em 0.5em; }}
    QListWidget::item:selected {{ background: {t.series[0]}; color: {t.background}; }}
    QPushButton, QToolButton {{ background: {t.panel}; border: 1px solid {t.muted}; border-radius: 4px; padding: 0.2em 0.6em; }}
    QPushButton:hover, QToolButton:hover {{ border-color: {t.foreground}; }}
    QPushButton:checked, QToolButton:checked {{ background: {t.series[0]}; color: {t.background}; }}
    QPushButton:disabled {{ color: {t.muted}; }}
    QToolButton::menu-indicator {{ image: url({_icon_url("arrow-down", t)}); width: {arrow}px; height: {arrow}px;
        subcontrol-position: right center; subcontrol-origin: padding; right: 4px; }}
    QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QTextEdit, QTableWidget {{
        background: {t.background}; border: 1px solid {t.muted}; border-radius: 3px; padding: 0.1em 0.3em; }}
    QSpinBox, QDoubleSpinBox {{ padding-right: {button + 2}px; }}
    QSpinBox::up-button, QDoubleSpinBox::up-button {{ subcontrol-origin: border; subcontrol-position: top right;
        width: {button}px; border-left: 1px solid {t.muted}; background: {t.panel}; }}
    QSpinBox::down-button, QDoubleSpinBox::down-button {{ subcontrol-origin: border; subcontrol-position: bottom right;
        width: {button}px; border-left: 1px solid {t.muted}; background: {t.panel}; }}
    QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ image: url({_icon_url("arrow-up", t)});
        width: {arrow}px; height: {arrow}px; }}
    QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ image: url({_icon_url("arrow-down", t)});
        width: {arrow}px; height: {arrow}px; }}
    QComboBox {{ padding-right: {button + 4}px; }}
    QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: top right; width: {button}px;
        border-left: 1px solid {t.muted}; background: {t.panel}; }}
    QComboBox::down-arrow {{ image: url({_icon_url("arrow-down", t)}); width: {arrow}px; height: {arrow}px; }}
    QComboBox QAbstractItemView {{ background: {t.background}; selection-background-color: {t.series[0]};
        selection-color: {t.background}; }}
    QCheckBox::indicator, QRadioButton::indicator {{ width: {box}px; height: {box}px;
        border: 2px solid {t.foreground}; background: {t.background}; }}
    QCheckBox::indicator {{ border-radius: 3px; }}
    QRadioButton::indicator {{ border-radius: {box // 2 + 2}px; }}
    QCheckBox::indicator:checked {{ background: {t.series[0]}; image: url({_icon_url("check", t)}); }}
    QRadioButton::indicator:checked {{ background: {t.series[0]}; }}
    QHeaderView::section {{ background: {t.panel}; border: none; padding: 0.2em; font-weight: bold; }}
    QTabBar::tab {{ padding: 0.25em 0.7em; border: 1px solid {t.muted}; border-bottom: none; background: {t.panel};
        border-top-left-radius: 4px; border-top-right-radius: 4px; }}
    QTabBar::tab:selected {{ background: {t.background}; font-weight: bold; }}
    QTabWidget::pane {{ border: 1px solid {t.muted}; }}
    QStatusBar {{ background: {t.panel}; }}
    QMenuBar, QMenu {{ background: {t.panel}; }}
    QMenu::item:selected, QMenuBar::item:selected {{ background: {t.series[0]}; color: {t.background}; }}
    QToolTip {{ background: {t.panel}; color: {t.foreground}; border: 1px solid {t.muted}; }}
    QScrollArea {{ border: none; }}
    QSlider::groove:horizontal {{ height: {6 if t.projector else 4}px; background: {t.muted}; border-radius: 2px; }}
    QSlider::handle:horizontal {{ background: {t.series[0]}; width: {int(t.font_px * 1.1)}px;
        margin: -{int(t.font_px * 0.4)}px 0; border-radius: {int(t.font_px * 0.55)}px; }}
    QLabel#badge {{ border-radius: 6px; padding: 0.25em 0.6em; font-weight: bold; }}
    QLabel#readout {{ font-family: monospace; }}
    QLabel#caption {{ color: {t.muted}; }}
    QFrame#drawer {{ background: {t.panel}; border-right: 2px solid {t.muted}; }}
    QToolButton#scenebutton {{ border: none; border-bottom: 3px solid transparent; border-radius: 0;
        padding: 0.2em 0.6em; background: {t.panel}; }}
    QToolButton#scenebutton:checked {{ border-bottom: 3px solid {t.series[0]}; color: {t.foreground};
        background: {t.background}; font-weight: bold; }}
    QWidget#scenebar {{ background: {t.panel}; }}
    QLabel#toast {{ background: {t.panel}; border: 2px solid {t.muted}; border-radius: 6px; padding: 0.3em 0.8em; }}
    """

