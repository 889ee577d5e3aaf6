"""The window's colours and the dark theme; ``set_style`` restyles a widget only on a change
(cards refresh often, and a style sheet is re-parsed on every set)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from app.session_model import STATE_NO_SIGNAL, STATE_STARTING
from model.estimator import (
    STATE_ACQUIRING,
    STATE_NO_FACE,
    STATE_READING,
    STATE_UNRELIABLE,
)

BG = "#0f1317"
PANEL = "#161b21"
FG = "#e6e9ee"
MUTED = "#8a949f"
ACCENT = "#ff5a6e"  # the pulse
GOOD = "#3ddc84"
WARN = "#f0b429"
CAUTION = "#f08c29"
BAD = "#ff5a5a"
INFO = "#5aa9ff"

STATE_COLOURS = {
    STATE_STARTING: MUTED,
    STATE_ACQUIRING: WARN,
    STATE_READING: GOOD,
    STATE_UNRELIABLE: CAUTION,
    STATE_NO_FACE: BAD,
    STATE_NO_SIGNAL: BAD,
}
QUALITY_COLOURS = {"good": GOOD, "fair": WARN, "poor": BAD}
LEVEL_COLOURS = {"error": BAD, "warning": WARN}  # a message banner's edge; else INFO


def set_style(widget: QWidget, css: str) -> None:
    if widget.styleSheet() != css:
        widget.setStyleSheet(css)


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in [
        (QPalette.Window, BG), (QPalette.WindowText, FG), (QPalette.Base, PANEL),
        (QPalette.AlternateBase, BG), (QPalette.ToolTipBase, PANEL), (QPalette.ToolTipText, FG),
        (QPalette.Text, FG), (QPalette.Button, PANEL), (QPalette.ButtonText, FG),
        (QPalette.BrightText, "#ffffff"), (QPalette.Highlight, "#2d6cdf"),
        (QPalette.HighlightedText, "#ffffff"), (QPalette.PlaceholderText, MUTED),
    ]:
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.Disabled, QPalette.Text, QColor(MUTED))
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(MUTED))
    app.setPalette(pal)
    pg.setConfigOptions(antialias=True, background=PANEL, foreground=MUTED)
