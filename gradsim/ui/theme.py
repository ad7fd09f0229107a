"""Colour profiles: the normal (dark) one for a screen, and the projector one.

Projectors wash out dark backgrounds and thin lines, so the projector profile is light, high
contrast, with larger type and thicker lines. Data colours come from the Okabe-Ito palette and the
colour maps are viridis/cividis, which colour-blind viewers can read; no meaning rests on red against
green alone, and every colour is named on screen by a legend, a colour bar or a text label.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    font_pt: int
    title_pt: int
    line_width: float
    marker_size: int
    colormap: str
    series: tuple[str, ...]  # curve colours in order
    vanish: str  # the vanishing threshold / verdict colour
    explode: str  # the exploding threshold / verdict colour
    healthy: str
    bound: str
    highlight: str
    unlit: str  # nodes the backward pulse has not reached yet

    def verdict_colour(self, kind: str) -> str:
        return {"healthy": self.healthy, "vanishing": self.vanish, "exploding": self.explode}.get(kind, self.muted)


NORMAL = Theme(
    name="normal",
    projector=False,
    background="#15181d",
    panel="#1f242b",
    foreground="#e8eaed",
    muted="#9aa0a6",
    grid_alpha=0.18,
    font_pt=10,
    title_pt=12,
    line_width=2.0,
    marker_size=9,
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
    font_pt=15,
    title_pt=18,
    line_width=4.0,
    marker_size=14,
    colormap="cividis",
    series=(OKABE_ITO["blue"], "#AA4499", OKABE_ITO["green"], "#B86E00", "#555555"),
    vanish=OKABE_ITO["blue"],
    explode=OKABE_ITO["vermillion"],
    healthy="#007a5a",
    bound="#555555",
    highlight="#b8860b",
    unlit="#d0d0d0",
)


def theme_for(projector: bool) -> Theme:
    return PROJECTOR if projector else NORMAL


def stylesheet(theme: Theme) -> str:
    """Application-wide Qt style sheet: sizes and colours for widgets outside the plots."""
    t = theme
    return f"""
    QWidget {{ font-size: {t.font_pt}pt; color: {t.foreground}; background: {t.background}; }}
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
    QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QTextEdit, QTableWidget {{
        background: {t.background}; border: 1px solid {t.muted}; border-radius: 3px; padding: 0.1em 0.3em; }}
    QHeaderView::section {{ background: {t.panel}; border: none; padding: 0.2em; font-weight: bold; }}
    QStatusBar {{ background: {t.panel}; }}
    QMenuBar, QMenu {{ background: {t.panel}; }}
    QMenu::item:selected, QMenuBar::item:selected {{ background: {t.series[0]}; color: {t.background}; }}
    QToolTip {{ background: {t.panel}; color: {t.foreground}; border: 1px solid {t.muted}; }}
    QScrollArea {{ border: none; }}
    QSlider::groove:horizontal {{ height: {6 if t.projector else 4}px; background: {t.muted}; border-radius: 2px; }}
    QSlider::handle:horizontal {{ background: {t.series[0]}; width: {22 if t.projector else 14}px;
        margin: -{8 if t.projector else 6}px 0; border-radius: {11 if t.projector else 7}px; }}
    QLabel#badge {{ border-radius: 6px; padding: 0.25em 0.6em; font-weight: bold; }}
    QLabel#readout {{ font-family: monospace; }}
    QLabel#caption {{ color: {t.muted}; }}
    """
