"""The HR trend of the whole session."""

from __future__ import annotations

import pyqtgraph as pg

from app.cards.card import PlotCard
from app.cards.theme import GOOD
from app.session_model import TREND_Y_BPM, SessionModel


class TrendCard(PlotCard):
    def __init__(self) -> None:
        super().__init__("HR trend (session)", "bpm", grid_y=True)
        self.plot.setYRange(*TREND_Y_BPM)
        self.curve = self.plot.plot(pen=pg.mkPen(GOOD, width=2), symbol="o", symbolSize=4,
                                    symbolBrush=GOOD, symbolPen=None, connect="finite")
        self._ranges: tuple[tuple[float, float] | None, tuple[float, float] | None] = (None, None)

    def refresh(self, session: SessionModel) -> None:
        trend = session.trend
        self.curve.setData(*trend.points())
        y, x = trend.y_range(), trend.x_range()
        if (y, x) != self._ranges:  # only when they move: each move redraws the axes
            if y is not None:
                self.plot.setYRange(*y, padding=0)
            if x is not None:
                self.plot.setXRange(*x, padding=0.02)
            self._ranges = (y, x)
