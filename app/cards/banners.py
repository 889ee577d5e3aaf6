"""The two message strips above the cards: the message banner (errors and warnings) and the
source banner (why the source asked for is not shown, with the ways out)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton

from app.cards.theme import FG, INFO, LEVEL_COLOURS, PANEL, set_style
from app.session_model import SessionModel


class _Banner(QFrame):
    """A strip styled by its object name: a selectable, wrapping label, room for buttons, and a
    close cross that emits ``dismissed``."""

    dismissed = Signal()

    def __init__(self, object_name: str) -> None:
        super().__init__()
        self.setObjectName(object_name)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(10, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.row.addWidget(self.label, 1)
        self.hide()

    def add_dismiss(self) -> None:
        close = QToolButton()
        close.setText("\u2715")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismissed)
        self.row.addWidget(close)

    def show_text(self, text: str, colour: str) -> None:
        self.label.setText(text)
        set_style(self.label, f"color: {FG}; font-size: 13px;")
        set_style(self, f"#{self.objectName()} {{ background: {PANEL}; border-left: 4px solid {colour};"
                        f" border-radius: 4px; }}")
        self.show()


class MessageBanner(_Banner):
    def __init__(self) -> None:
        super().__init__("banner")
        self.add_dismiss()

    def refresh(self, session: SessionModel) -> None:
        b = session.banner
        if b.visible:
            self.show_text(b.text, LEVEL_COLOURS.get(b.level, LEVEL_COLOURS["warning"]))
        else:
            self.hide()


class SourceBanner(_Banner):
    """Its buttons are wired by the window: another file, the demo, the source again."""

    def __init__(self) -> None:
        super().__init__("sourceBanner")
        self.btn_open_file = QPushButton("Open video file...")
        self.btn_demo = QPushButton("Use the demo")
        self.btn_retry = QPushButton("Try again")
        for b in (self.btn_open_file, self.btn_demo, self.btn_retry):
            self.row.addWidget(b)
        self.add_dismiss()

    def refresh(self, session: SessionModel) -> None:
        b = session.source_banner
        if not b.visible:
            self.hide()
            return
        self.btn_retry.setVisible(b.offer_retry)
        if b.retry is not None:
            self.btn_retry.setText(b.retry_text())
        self.btn_demo.setVisible(b.offer_demo)
        self.show_text(b.text, LEVEL_COLOURS.get(b.level, INFO))
