"""The rounded panel every card sits on, and the one for a plot over time."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QFrame, QGraphicsItem, QVBoxLayout

from app.cards.theme import MUTED, PANEL


class Card(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("card")
        self.setStyleSheet(f"#card {{ background: {PANEL}; border-radius: 8px; }}")


class PlotCard(Card):
    """A card holding one static plot over time (no mouse zoom, no context menu)."""

    def __init__(self, title: str, left_label: str, *, grid_y: bool, bottom_label: str = "session time (s)") -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        self.plot = pg.PlotWidget()
        self.plot.setTitle(title, color=MUTED, size="10pt")
        self.plot.setLabel("left", left_label)
        self.plot.setLabel("bottom", bottom_label)
        self.plot.showGrid(x=True, y=grid_y, alpha=0.15)
        # Each axis (its ticks, labels and grid lines) painted once into a cached pixmap until its
        # range or size changes: replaying it for every repaint of the plot was most of the plot's
        # cost (the curves' updates once a second took 11-15 ms of CPU per card).
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        lay.addWidget(self.plot)
