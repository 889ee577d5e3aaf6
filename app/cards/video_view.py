"""The live picture, scaled to fit with its aspect ratio; a text when there is none."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QRegion
from PySide6.QtWidgets import QLabel, QSizePolicy

from app.cards.theme import MUTED
from app.session_model import SessionModel

VIDEO_DIST_W, VIDEO_DIST_H = 640, 480
VIDEO_BG = QColor(0, 0, 0)
TEXT_PX = 15


class VideoView(QLabel):
    def __init__(self) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        # No style sheet, and every pixel painted here (opaque): the styled widget and the window's
        # background painted beneath it made a repaint cost 0.8-1.0 ms of CPU instead of 0.32 ms
        # (640x480 into 853x640, offscreen, this 2-core CPU), about 2 % of a core at 30 fps.
        pal = self.palette()
        pal.setColor(QPalette.WindowText, QColor(MUTED))
        self.setPalette(pal)
        font = self.font()
        font.setPixelSize(TEXT_PX)
        self.setFont(font)
        self.setAttribute(Qt.WA_OpaquePaintEvent, True)
        self._pixels: np.ndarray | None = None  # the picture's pixels (the QImage below points into them)
        self._img: QImage | None = None
        self.setText("Starting...")

    def sizeHint(self) -> QSize:
        return QSize(VIDEO_DIST_W, VIDEO_DIST_H)

    def refresh(self, session: SessionModel) -> None:
        """The last frame's picture, or the session's text in its place."""
        frame = session.last_frame
        if session.video_text is None and frame is not None and frame.image_bgra is not None:
            self.show_bgra(frame.image_bgra)
        else:
            self.show_text(session.video_text or "")

    def show_bgra(self, bgra: np.ndarray) -> None:
        """Paint ``bgra`` ((H, W, 4) bytes B, G, R, 255) at the next repaint, straight from its
        pixels: no QPixmap, no scaled copy and no format conversion per frame. Those bytes are
        QImage's RGB32 on a little-endian CPU, the format the window paints into; scaling it into
        place cost 0.3-0.5 ms a frame against 1.8 ms for RGB888 (640x480 to 853x640, this CPU)."""
        bgra = np.ascontiguousarray(bgra)
        h, w = bgra.shape[:2]
        self._pixels = bgra
        self._img = QImage(bgra.data, w, h, 4 * w, QImage.Format_RGB32)
        if self.text():
            self.setText("")
        self.update()

    def show_text(self, text: str) -> None:
        self._pixels = self._img = None
        self.setText(text)
        self.update()

    def target_rect(self) -> QRect | None:
        """Where the picture goes: as large as fits, its aspect kept, centred."""
        img = self._img
        if img is None or img.width() < 1 or img.height() < 1:
            return None
        f = min(self.width() / img.width(), self.height() / img.height())
        w, h = max(int(round(img.width() * f)), 1), max(int(round(img.height() * f)), 1)
        return QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        rect = self.target_rect()
        painter = QPainter(self)
        if rect is None:  # the text on black (QLabel draws the text)
            painter.fillRect(self.rect(), VIDEO_BG)
            painter.end()
            super().paintEvent(event)
            return
        for bar in QRegion(self.rect()).subtracted(QRegion(rect)):  # the letterbox around the picture
            painter.fillRect(bar, VIDEO_BG)
        # Near the picture's own size a plain (nearest-pixel) scaling looks the same and costs a
        # fraction of a smooth one (0.3 ms against 2.3 ms a frame at 640x480, this 2-core CPU).
        f = rect.width() / self._img.width()
        painter.setRenderHint(QPainter.SmoothPixmapTransform, not 0.75 <= f <= 1.5)
        painter.drawImage(rect, self._img)
        painter.end()
