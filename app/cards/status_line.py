"""The permanent parts of the status bar: recording, source, fps, drops, latency, tracker,
method and device."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from app.cards.theme import BAD, MUTED, set_style
from app.session_model import SessionModel

PART_STYLE = f"color: {MUTED}; padding: 0 6px;"


class StatusLine:
    """Labels added to a window's status bar (the bar keeps its transient messages)."""

    def __init__(self, bar: QStatusBar) -> None:
        bar.setStyleSheet(f"QStatusBar {{ color: {MUTED}; }} QStatusBar::item {{ border: none; }}")
        self.sb_rec, self.sb_source, self.sb_fps, self.sb_drop, self.sb_latency, self.sb_tracker, \
            self.sb_device = (QLabel() for _ in range(7))
        for w in (self.sb_rec, self.sb_source, self.sb_fps, self.sb_drop, self.sb_latency,
                  self.sb_tracker, self.sb_device):
            w.setStyleSheet(PART_STYLE)
            bar.addPermanentWidget(w)

    def refresh(self, session: SessionModel) -> None:
        s = session.status_line()
        self.sb_source.setText(s.source)
        self.sb_fps.setText(s.fps)
        self.sb_drop.setText(s.dropped)
        self.sb_latency.setText(s.latency)
        self.sb_tracker.setText(s.tracker)
        self.sb_tracker.setToolTip(session.tracker_note)
        if s.device is not None:
            self.sb_device.setText(s.device)
        self.sb_rec.setText(s.recording)
        if session.recording_path is not None:
            set_style(self.sb_rec, f"color: {BAD}; font-weight: 700; padding: 0 6px;")
            self.sb_rec.setToolTip(str(session.recording_path))
