"""The heart-rate card: the number, the state, the signal quality, HRV and respiration."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QVBoxLayout,
)

from app.cards.card import Card
from app.cards.theme import FG, MUTED, QUALITY_COLOURS, STATE_COLOURS, set_style
from app.session_model import BAR_OPEN_MARK, HRV_SHOWN_TIP, HRV_TIP, NO_VALUE, RESP_TIP, SessionModel

QUALITY_TRACK = "QProgressBar { background: #252c35; border: none; border-radius: 4px; }"
QUALITY_TIP = (f"How clearly the pulse shows in the face. Past {100 * BAR_OPEN_MARK:.0f} % (green) a heart rate "
               "can be shown; amber: borderline, or the reading is held back for another reason; red: too weak.")
STATE_FONT_PX, STATE_PAD_PX, STATE_BORDER_PX = 15, 4, 1
STATE_LINES = 2  # the state's box is at least this many lines high


def _metric(grid: QGridLayout, col: int, name: str, tip: str) -> QLabel:
    n = QLabel(name)
    n.setStyleSheet(f"color: {MUTED}; font-size: 11px;")
    v = QLabel(NO_VALUE)
    v.setStyleSheet(f"color: {FG}; font-size: 17px; font-weight: 600;")
    v.setToolTip(tip)
    grid.addWidget(n, 0, col)
    grid.addWidget(v, 1, col)
    return v


class HrCard(Card):
    def __init__(self) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 12, 18, 14)
        cap = QLabel("HEART RATE")
        cap.setStyleSheet(f"color: {MUTED}; font-size: 12px; letter-spacing: 2px; font-weight: 600;")
        lay.addWidget(cap)
        lay.addLayout(self._hr_row())
        self.state_label = QLabel()
        self.state_label.setAlignment(Qt.AlignCenter)
        self.state_label.setWordWrap(True)
        # At least two lines of its text high whatever it says: a state that wrapped to a second line
        # and back resized the card, moved the trend card below it and made the window repaint and
        # re-lay out both (10-20 ms of the UI thread at a reading, this 2-core CPU). A longer text
        # (a lost source's message in a narrow window) still gets the lines it needs.
        font = QFont(self.state_label.font())
        font.setPixelSize(STATE_FONT_PX)
        font.setWeight(QFont.DemiBold)
        self.state_label.setMinimumHeight(STATE_LINES * QFontMetrics(font).lineSpacing()
                                          + 2 * (STATE_PAD_PX + STATE_BORDER_PX))
        lay.addWidget(self.state_label)
        lay.addLayout(self._quality_row())
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        self.sdnn_label = _metric(grid, 0, "HRV SDNN", HRV_TIP)
        self.rmssd_label = _metric(grid, 1, "HRV RMSSD", HRV_TIP)
        self.resp_label = _metric(grid, 2, "Respiration", RESP_TIP)
        lay.addLayout(grid)

    def _hr_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.hr_label = QLabel(NO_VALUE)
        f = QFont()
        f.setPointSize(64)
        f.setBold(True)
        self.hr_label.setFont(f)
        self.hr_label.setMinimumWidth(200)
        self.hr_label.setAlignment(Qt.AlignRight | Qt.AlignBottom)
        row.addWidget(self.hr_label, 1)
        unit = QLabel("bpm")
        unit.setStyleSheet(f"color: {MUTED}; font-size: 22px; padding-bottom: 14px;")
        unit.setAlignment(Qt.AlignLeft | Qt.AlignBottom)
        row.addWidget(unit)
        row.addStretch(1)
        return row

    def _quality_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        name = QLabel("Signal quality")
        name.setStyleSheet(f"color: {MUTED};")
        row.addWidget(name)
        self.quality_bar = QProgressBar()
        self.quality_bar.setRange(0, 100)
        self.quality_bar.setValue(0)
        self.quality_bar.setTextVisible(False)
        self.quality_bar.setFixedHeight(8)
        self.quality_bar.setStyleSheet(QUALITY_TRACK)
        self.quality_bar.setToolTip(QUALITY_TIP)
        name.setToolTip(QUALITY_TIP)
        row.addWidget(self.quality_bar, 1)
        return row

    def refresh(self, session: SessionModel) -> None:
        colour = STATE_COLOURS.get(session.state, MUTED)
        self.state_label.setText(session.state_text)
        set_style(self.state_label, f"color: {colour}; font-size: {STATE_FONT_PX}px; font-weight: 600;"
                                    f"padding: {STATE_PAD_PX}px 10px; border: {STATE_BORDER_PX}px solid {colour};"
                                    "border-radius: 11px;")
        self.hr_label.setText(session.hr_text)
        set_style(self.hr_label, f"color: {FG if session.hr_text != NO_VALUE else MUTED};")
        if session.quality is not None:  # its length: the method's gate opens at BAR_OPEN_MARK, as its colour
            self.quality_bar.setValue(round(100 * session.quality_bar))
            chunk = QUALITY_COLOURS[session.quality_level]
            set_style(self.quality_bar, f"{QUALITY_TRACK}"
                                        f"QProgressBar::chunk {{ background: {chunk}; border-radius: 4px; }}")
        else:  # nothing measured now (no face, no signal): an empty bar, not the last reading's
            self.quality_bar.setValue(0)
        self.sdnn_label.setText(session.sdnn_text)
        self.rmssd_label.setText(session.rmssd_text)
        hrv_tip = session.hrv_note or (HRV_SHOWN_TIP if session.sdnn_text != NO_VALUE else HRV_TIP)
        for label in (self.sdnn_label, self.rmssd_label):
            label.setToolTip(hrv_tip)
        self.resp_label.setText(session.resp_text)
        self.resp_label.setToolTip(session.resp_note or RESP_TIP)
