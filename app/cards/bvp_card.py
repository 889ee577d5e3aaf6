"""The blood volume pulse of the last seconds."""

from __future__ import annotations

import pyqtgraph as pg

from app.cards.card import PlotCard
from app.cards.theme import ACCENT
from app.session_model import BVP_SPAN_S, BvpTrace, SessionModel


class BvpCard(PlotCard):
    def __init__(self) -> None:
        super().__init__(f"Blood volume pulse (last {BVP_SPAN_S:.0f} s)", "BVP (a.u.)",
                         bottom_label="time (s, 0 = now)", grid_y=False)
        self.plot.getAxis("left").setStyle(showValues=False)
        self.curve = self.plot.plot(pen=pg.mkPen(ACCENT, width=2), connect="finite")
        self.setMinimumHeight(170)
        unframed = BvpTrace()
        self.plot.setXRange(*unframed.x_range, padding=0)
        self.plot.setYRange(*unframed.y_range, padding=0)
        self._y_range = unframed.y_range

    def refresh(self, session: SessionModel) -> None:
        bvp = session.bvp
        self.curve.setData(bvp.t_rel_s, bvp.bvp)
        if bvp.y_range != self._y_range:  # rarely (the trace holds its scale): an axis redraw
            self._y_range = bvp.y_range
            self.plot.setYRange(*bvp.y_range, padding=0)
