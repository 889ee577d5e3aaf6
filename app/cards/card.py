"""The rounded panel every card sits on, and the one for a plot over session time."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QFrame, QVBoxLayout

from app.cards.theme import MUTED, PANEL


class Card(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("card")
        self.setStyleSheet(f"#card {{ background: {PANEL}; border-radius: 8px; }}")


class PlotCard(Card):
    """A card holding one static plot over session time (no mouse zoom, no context menu)."""

    def __init__(self, title: str, left_label: str, *, grid_y: bool) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        self.plot = pg.PlotWidget()
        self.plot.setTitle(title, color=MUTED, size="10pt")
        self.plot.setLabel("left", left_label)
        self.plot.setLabel("bottom", "session time (s)")
        self.plot.showGrid(x=True, y=grid_y, alpha=0.15)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        lay.addWidget(self.plot)
