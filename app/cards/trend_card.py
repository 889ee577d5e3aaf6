"""The HR trend of the current source's session, with a marker where each method's stretch begins."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.cards.card import PlotCard
from app.cards.theme import FG, GOOD, MUTED
from app.session_model import TREND_Y_BPM, SessionModel, TrendMark

MARK_LABEL_AT = 0.92  # a marker's label, from the bottom of the plot (0) to its top (1)


class TrendCard(PlotCard):
    def __init__(self) -> None:
        # x: the time within the current source's session (seconds since its first frame; a new source starts anew)
        super().__init__("HR trend (session)", "bpm", grid_y=True)
        self.plot.setYRange(*TREND_Y_BPM)
        self.curve = self.plot.plot(pen=pg.mkPen(GOOD, width=2), symbol="o", symbolSize=4,
                                    symbolBrush=GOOD, symbolPen=None, connect="finite")
        self._ranges: tuple[tuple[float, float] | None, tuple[float, float] | None] = (None, None)
        self.mark_lines: list[pg.InfiniteLine] = []
        self._marks: list[TrendMark] = []

    def refresh(self, session: SessionModel) -> None:
        trend = session.trend
        self.curve.setData(*trend.points())
        if trend.marks != self._marks:  # rarely: a new source or method
            self._draw_marks(trend.marks)
        y, x = trend.y_range(), trend.x_range()
        if (y, x) != self._ranges:  # only when they move: each move redraws the axes
            if y is not None:
                self.plot.setYRange(*y, padding=0)
            if x is not None:
                self.plot.setXRange(*x, padding=0.02)
            self._ranges = (y, x)

    def _draw_marks(self, marks: list[TrendMark]) -> None:
        """A dashed vertical line, labelled with the method, where each method's readings begin."""
        for line in self.mark_lines:
            self.plot.removeItem(line)
        self.mark_lines = []
        for m in marks:
            line = pg.InfiniteLine(pos=m.t_s, angle=90, movable=False,
                                   pen=pg.mkPen(MUTED, width=1, style=Qt.PenStyle.DashLine),
                                   label=m.label, labelOpts={"position": MARK_LABEL_AT, "color": FG,
                                                             "anchors": [(0, 0.5), (0, 0.5)]})
            self.plot.addItem(line)
            self.mark_lines.append(line)
        self._marks = list(marks)
