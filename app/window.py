"""The main window: it lays out the cards (video, heart rate, HR trend, BVP, banners, status
line), wires the worker to the session model and the cards, and holds the menus and actions.
What is shown is decided in ``app.session_model`` (no Qt); the worker measures."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.capture import SourceSpec
from app.cards.banners import MessageBanner, SourceBanner
from app.cards.bvp_card import BvpCard
from app.cards.hr_card import HrCard
from app.cards.status_line import StatusLine
from app.cards.theme import apply_dark_theme
from app.cards.trend_card import TrendCard
from app.cards.video_view import VideoView
from app.session_model import SessionModel
from app.settings import PRIVACY_MODES, Settings, default_record_dir, save_settings
from app.worker import (
    FrameResult,
    MethodInfo,
    ReadingResult,
    SourceFailure,
    SourceInfo,
    Worker,
)
from model.pulse_methods import available_methods, method_label, method_status, model_file_method

__all__ = ["MainWindow", "apply_dark_theme", "probe_cameras"]

log = logging.getLogger(__name__)

PRIVACY_LABELS = {"off": "Show video", "blur": "Blur video", "hide": "Hide video"}
STATUS_EVERY_S = 0.25  # the status line follows the frames at most this often
BANNER_MS = 15000  # how long the status bar repeats a banner's message (and a warning stays)
NOTE_MS = 6000  # how long the status bar shows a note


def probe_cameras(max_index: int = 4, skip: frozenset[int] = frozenset()) -> list[int]:
    """Indices of the cameras OpenCV can open and read, without touching those in ``skip``
    (the one in use: opening it twice fails or glitches on some platforms)."""
    import cv2

    from app.capture import camera_present

    found = []
    for i in range(max_index):
        if i in skip or camera_present(i) is False:
            continue
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened() and cap.read()[0]:
                found.append(i)
        finally:
            cap.release()
    return found


class _CameraLister(QObject):
    """Lists cameras on a background thread (probing devices can take a moment)."""

    found = Signal(list)

    def start(self, skip: frozenset[int] = frozenset()) -> None:
        threading.Thread(target=self._run, args=(skip,), name="list-cameras", daemon=True).start()

    def _run(self, skip: frozenset[int]) -> None:
        try:
            cams = probe_cameras(skip=skip)
        except Exception:  # noqa: BLE001
            log.debug("listing cameras failed", exc_info=True)
            cams = []
        self.found.emit(sorted(set(cams) | set(skip)))


class MainWindow(QMainWindow):
    def __init__(self, worker: Worker, settings: Settings, *, model_path: str | None = None,
                 list_cameras: bool = True, loop: bool | None = None) -> None:
        super().__init__()
        self.worker = worker
        self.settings = settings
        # whether file sources loop in this run (a command-line --loop is not saved; the menu's is)
        self.loop = settings.loop if loop is None else loop
        self.model_path = model_path
        self.calibration_state = None  # the worker's CalibrationState, once it says
        self.setWindowTitle("fcus-rppg: live pulse")
        self.resize(1280, 800)
        self.session = SessionModel()
        self._status_due = 0.0
        self._closing = False

        self._build_ui()
        self._build_toolbar()
        self._build_menus()
        self._rebuild_source_controls()
        self._connect_worker()
        self._refresh_method_combo()
        self._message_timer = QTimer(self, singleShot=True, timeout=self._clear_banner)
        self._list_cameras_pending = list_cameras  # once the first source is open (see below)
        self._lister = _CameraLister(self)
        self._lister.found.connect(self._on_cameras, Qt.QueuedConnection)
        self._refresh(self.hr_card, self.status_line)

    # ---- what the session model holds, by the names tests and scripts use ---------------------
    @property
    def state(self) -> str:
        return self.session.state

    @property
    def messages(self) -> list[tuple[str, str]]:
        return self.session.messages

    @property
    def source_info(self) -> SourceInfo | None:
        return self.session.source_info

    @property
    def method_info(self) -> MethodInfo | None:
        return self.session.method_info

    @property
    def recording_path(self) -> Path | None:
        return self.session.recording_path

    @property
    def _last_frame(self) -> FrameResult | None:
        return self.session.last_frame

    # ---- layout ----------------------------------------------------------------------------
    def _build_ui(self) -> None:
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(10, 8, 10, 6)
        root.setSpacing(8)
        self._build_banners(root)

        top = QHBoxLayout()
        top.setSpacing(10)
        self.video = VideoView()
        top.addWidget(self.video, 3)
        side = QVBoxLayout()
        side.setSpacing(10)
        self.hr_card = HrCard()
        side.addWidget(self.hr_card)
        self.trend_card = TrendCard()
        self.trend_plot = self.trend_card.plot
        side.addWidget(self.trend_card, 1)
        top.addLayout(side, 2)
        root.addLayout(top, 3)

        self.bvp_card = BvpCard()
        self.bvp_plot = self.bvp_card.plot
        root.addWidget(self.bvp_card, 1)
        self.setCentralWidget(central)

        self.status_line = StatusLine(self.statusBar())
        for name in ("sb_rec", "sb_source", "sb_fps", "sb_drop", "sb_latency", "sb_tracker", "sb_device"):
            setattr(self, name, getattr(self.status_line, name))

    def _build_banners(self, root: QVBoxLayout) -> None:
        self.banner = MessageBanner()
        self.banner.dismissed.connect(self._clear_banner)
        root.addWidget(self.banner)
        self.source_banner = sb = SourceBanner()
        sb.dismissed.connect(self._hide_source_banner)
        self.btn_open_file, self.btn_demo, self.btn_retry = sb.btn_open_file, sb.btn_demo, sb.btn_retry
        self.btn_open_file.clicked.connect(self.open_file_dialog)
        self.btn_demo.clicked.connect(lambda: self.set_source(SourceSpec("demo")))
        self.btn_retry.clicked.connect(self.retry_source)
        root.addWidget(sb)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setMovable(False)
        tb.setIconSize(QSize(16, 16))
        tb.setStyleSheet("QToolBar { spacing: 6px; padding: 4px; }")
        self.addToolBar(tb)

        tb.addWidget(QLabel(" Source "))
        self.source_combo = QComboBox()
        self.source_combo.setMinimumWidth(180)  # with Record and Calibrate, fits the smallest window
        self.source_combo.activated.connect(self._on_source_combo)
        tb.addWidget(self.source_combo)
        tb.addWidget(QLabel("  Method "))
        self.method_combo = QComboBox()
        self.method_combo.setMinimumWidth(130)
        self.method_combo.activated.connect(self._on_method_combo)
        tb.addWidget(self.method_combo)
        tb.addSeparator()

        # Record and Calibrate come first: a narrow window's toolbar hides its last items behind the
        # overflow arrow, and the overlay and privacy are in the View menu as well
        self.act_record = QAction("\u25cf Record", self, checkable=True)
        self.act_record.setShortcut(QKeySequence("Ctrl+R"))
        self.act_record.setToolTip("Record bvp.csv, hr.csv, faces.csv and events into a session folder")
        self.act_record.toggled.connect(self._on_record_toggled)
        tb.addAction(self.act_record)
        rec_button = tb.widgetForAction(self.act_record)
        if rec_button is not None:
            rec_button.setStyleSheet(
                "QToolButton { color: #ff5a6e; font-weight: 600; padding: 2px 8px; }"
                "QToolButton:checked { background: #5a1f27; color: #ffffff; border-radius: 4px; }")

        self.act_calibrate = QAction("Calibrate", self)
        self.act_calibrate.setShortcut(QKeySequence("Ctrl+K"))
        self.act_calibrate.setEnabled(False)
        self.act_calibrate.setToolTip("Adapt the model to your face on the last minute (the reading goes on)")
        self.act_calibrate.triggered.connect(self.calibrate)
        tb.addAction(self.act_calibrate)
        tb.addSeparator()

        self.act_overlay = QAction("Face overlay", self, checkable=True)
        self.act_overlay.setChecked(self.settings.overlay)
        self.act_overlay.setShortcut(QKeySequence("Ctrl+L"))
        self.act_overlay.toggled.connect(self._on_overlay)
        tb.addAction(self.act_overlay)

        tb.addWidget(QLabel(" Privacy "))
        self.privacy_combo = QComboBox()
        for mode in PRIVACY_MODES:
            self.privacy_combo.addItem(PRIVACY_LABELS[mode], mode)
        self.privacy_combo.setCurrentIndex(PRIVACY_MODES.index(self.settings.privacy))
        self.privacy_combo.activated.connect(
            lambda i: self.set_privacy(self.privacy_combo.itemData(i)))
        tb.addWidget(self.privacy_combo)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        self._build_file_menu(mb.addMenu("&File"))
        self.menu_method = mb.addMenu("&Method")
        self.method_group = QActionGroup(self)
        self.menu_method.aboutToShow.connect(self._rebuild_method_menu)

        m_view = mb.addMenu("&View")
        m_view.addAction(self.act_overlay)
        self.privacy_group = QActionGroup(self)
        for mode in PRIVACY_MODES:
            a = QAction(PRIVACY_LABELS[mode], self, checkable=True)
            a.setData(mode)
            a.setChecked(mode == self.settings.privacy)
            a.triggered.connect(lambda _=False, m=mode: self.set_privacy(m))
            self.privacy_group.addAction(a)
            m_view.addAction(a)

        m_help = mb.addMenu("&Help")
        m_help.addAction("About", self._about)

    def _build_file_menu(self, m_file) -> None:
        act_open = m_file.addAction("Open video file...", self.open_file_dialog)
        act_open.setShortcut(QKeySequence.Open)
        m_file.addAction("Built-in demo", lambda: self.set_source(SourceSpec("demo")))
        self.menu_cameras = m_file.addMenu("Camera")
        self.act_loop = QAction("Loop video files", self, checkable=True)
        self.act_loop.setChecked(self.loop)
        self.act_loop.toggled.connect(self._on_loop)
        m_file.addAction(self.act_loop)
        m_file.addSeparator()
        m_file.addAction(self.act_record)
        self.act_record_video = QAction("Record video too", self, checkable=True)
        self.act_record_video.setToolTip("Also write the video (video.avi + frames.csv) into the "
                                         "session folder, for replay and training")
        self.act_record_video.setChecked(bool(self.settings.record_video))
        self.act_record_video.toggled.connect(self._on_record_video)
        m_file.addAction(self.act_record_video)
        self.act_record_compact = QAction("Compact video (MPEG-4)", self, checkable=True)
        self.act_record_compact.setToolTip("Record the video as MPEG-4 (about 0.3-0.5 GB an hour at "
                                           "640x480) instead of near-lossless MJPG (about 10 GB an hour)")
        self.act_record_compact.setChecked(self.settings.record_codec == "mp4v")
        self.act_record_compact.toggled.connect(self._on_record_compact)
        m_file.addAction(self.act_record_compact)
        m_file.addAction("Recording folder...", self.choose_record_dir)
        m_file.addSeparator()
        act_quit = m_file.addAction("Quit", self.close)
        act_quit.setShortcut(QKeySequence.Quit)

    # ---- worker wiring ------------------------------------------------------------------------
    def _connect_worker(self) -> None:
        w = self.worker
        q = Qt.QueuedConnection
        w.frame_ready.connect(self._on_frame_ready, q)
        w.reading_ready.connect(self._on_reading, q)
        w.source_changed.connect(self._on_source_changed, q)
        w.source_lost.connect(self._on_source_lost, q)
        w.source_failed.connect(self._on_source_failed, q)
        w.method_changed.connect(self._on_method_changed, q)
        w.tracker_changed.connect(self._on_tracker_changed, q)
        w.recording_changed.connect(self._on_recording_changed, q)
        w.calibration_changed.connect(self._on_calibration_changed, q)
        w.message.connect(self.show_message, q)

    def _refresh(self, *cards) -> None:
        for card in cards:
            card.refresh(self.session)

    def _refresh_banners(self) -> None:
        self._refresh(self.banner, self.source_banner)

    def _on_frame_ready(self) -> None:
        r = self.worker.take_frame()
        if r is None or self._closing:
            return
        self.session.on_frame(r)
        self._refresh(self.video, self.hr_card)
        self._refresh_banners()
        now = time.monotonic()
        if now >= self._status_due:
            self._status_due = now + STATUS_EVERY_S
            self.status_line.refresh(self.session)

    def _on_reading(self, rr: ReadingResult) -> None:
        if self._closing:
            return
        self.session.on_reading(rr)
        self._refresh(self.hr_card, self.trend_card, self.bvp_card)

    def refresh_cameras(self) -> None:
        in_use = self.session.camera_in_use()
        self._lister.start(frozenset() if in_use is None else frozenset({in_use}))

    def _on_source_changed(self, info: SourceInfo) -> None:
        remember = self.session.on_source_changed(info)  # a stand-in demo is not remembered
        if self._list_cameras_pending:
            self._list_cameras_pending = False
            self.refresh_cameras()
        if remember:
            self.settings.source = info.spec.to_text()
            self._save_settings()
        self._rebuild_source_controls()
        self._refresh(self.trend_card, self.bvp_card, self.status_line)
        self._refresh_banners()

    def _on_source_lost(self, msg: str) -> None:
        self.session.on_source_lost(msg)
        self._refresh(self.hr_card, self.video)
        self._refresh_banners()

    def _on_source_failed(self, f: SourceFailure) -> None:
        self.session.on_source_failed(f)
        self.statusBar().showMessage(f.text, BANNER_MS)
        self._refresh_banners()

    def _on_method_changed(self, info: MethodInfo) -> None:
        if self.session.on_method_changed(info):
            self._refresh(self.trend_card, self.bvp_card)
        self._refresh_method_combo()
        self.status_line.refresh(self.session)

    def _on_tracker_changed(self, name: str, msg: str) -> None:
        self.session.on_tracker_changed(name, msg)
        self.status_line.refresh(self.session)

    def _on_recording_changed(self, path) -> None:
        self.session.on_recording_changed(path)
        self.act_record.blockSignals(True)
        self.act_record.setChecked(path is not None)
        self.act_record.blockSignals(False)
        self.status_line.refresh(self.session)

    # ---- user actions ----------------------------------------------------------------------
    def set_source(self, spec: SourceSpec) -> None:
        self.worker.set_source(spec)

    def set_method(self, name: str, model_path: str | None = None) -> None:
        """Switch to ``name``, remembered as the user's choice (a fallback, e.g. to POS when the
        FCUS model cannot load, is shown but never saved: the choice stays for the next run)."""
        self.settings.method = name
        self._save_settings()
        self.worker.set_method(name, model_path)  # None: the worker keeps its model (a calibrated one too)

    def calibrate(self) -> None:
        self.worker.calibrate()

    def _on_calibration_changed(self, st) -> None:
        """``st``: the worker's CalibrationState."""
        self.calibration_state = st
        self.act_calibrate.setEnabled(st.state in ("ready", "done", "failed"))
        running = f"Calibrating {st.progress[0]}/{st.progress[1]}" if st.progress else "Calibrating..."
        self.act_calibrate.setText({"running": running, "done": "Recalibrate"}.get(st.state, "Calibrate"))
        self.act_calibrate.setToolTip(st.text)

    def set_privacy(self, mode: str) -> None:
        if mode not in PRIVACY_MODES:
            return
        self.settings.privacy = mode
        self.worker.set_privacy(mode)
        self.privacy_combo.setCurrentIndex(PRIVACY_MODES.index(mode))
        for a in self.privacy_group.actions():
            a.setChecked(a.data() == mode)
        self._save_settings()

    def set_recording(self, on: bool, parent_dir: str | None = None) -> None:
        """Start or stop recording (``parent_dir``: where the session folder goes, this time)."""
        if on:
            self.worker.start_recording(str(parent_dir or self.settings.record_dir or default_record_dir()))
        else:
            self.worker.stop_recording()

    def _on_record_video(self, on: bool) -> None:
        self.settings.record_video = bool(on)
        self.worker.set_record_video(on)
        self._save_settings()

    def _on_record_compact(self, on: bool) -> None:
        self.settings.record_codec = "mp4v" if on else "mjpg"
        self.worker.set_record_codec(self.settings.record_codec)
        self._save_settings()

    def _on_record_toggled(self, on: bool) -> None:
        self.set_recording(on)

    def _on_overlay(self, on: bool) -> None:
        self.settings.overlay = on
        self.worker.set_overlay(on)
        self._save_settings()

    def _on_loop(self, on: bool) -> None:
        self.loop = self.settings.loop = on
        self._save_settings()

    def open_file_dialog(self) -> None:
        on_file = self.source_info is not None and self.source_info.spec.kind == "file"
        start = str(Path(self.settings.source).parent) if on_file else ""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a video", start, "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v);;All files (*)")
        if path:
            self.set_source(SourceSpec.parse(path, loop=self.loop))

    def choose_record_dir(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder for recorded sessions",
                                             self.settings.record_dir or str(Path.home()))
        if d:
            self.settings.record_dir = d
            self._save_settings()
            self.show_message("info", f"Sessions will be recorded under {d}")

    def _on_source_combo(self, index: int) -> None:
        data = self.source_combo.itemData(index)
        if data == "__file__":
            self._rebuild_source_controls()  # put the current source back while the dialog is open
            self.open_file_dialog()
        elif data:
            self.set_source(SourceSpec.parse(data, loop=self.loop))

    def _on_method_combo(self, index: int) -> None:
        name = self.method_combo.itemData(index)
        if name == "__model__":
            self._refresh_method_combo()
            self.open_model_dialog()
        elif name:
            self.set_method(name)

    def open_model_dialog(self) -> None:
        spec = model_file_method()
        path, _ = QFileDialog.getOpenFileName(self, f"{spec.label} (ONNX)", "", "ONNX models (*.onnx);;All files (*)")
        if path:
            self.model_path = path
            self.set_method(spec.name, path)

    def _on_cameras(self, cams: list) -> None:
        self.session.cameras = list(cams)
        self._rebuild_source_controls()

    def _rebuild_source_controls(self) -> None:
        choices, current = self.session.source_choices()
        combo = self.source_combo
        combo.blockSignals(True)
        combo.clear()
        for label, text in choices:
            combo.addItem(label, text)
        combo.addItem("Open video file...", "__file__")
        idx = combo.findData(current) if current else 0
        combo.setCurrentIndex(max(idx, 0))
        combo.blockSignals(False)

        self.menu_cameras.clear()
        if not self.session.cameras:
            a = self.menu_cameras.addAction("No camera found")
            a.setEnabled(False)
        for i in self.session.cameras:
            self.menu_cameras.addAction(f"Camera {i}",
                                        lambda i=i: self.set_source(SourceSpec("camera", camera_index=i)))
        self.menu_cameras.addSeparator()
        self.menu_cameras.addAction("Look for cameras again", self.refresh_cameras)

    def _refresh_method_combo(self) -> None:
        combo = self.method_combo
        combo.blockSignals(True)
        combo.clear()
        current = self.method_info.name if self.method_info else self.settings.method
        for n in available_methods(self.model_path):
            combo.addItem(method_label(n), n)
        combo.addItem(f"{model_file_method().name.upper()} model file...", "__model__")
        idx = combo.findData(current)
        combo.setCurrentIndex(max(idx, 0))
        combo.blockSignals(False)

    def _rebuild_method_menu(self) -> None:
        self.menu_method.clear()
        for a in self.method_group.actions():
            self.method_group.removeAction(a)
        current = self.method_info.name if self.method_info else ""
        for n in available_methods(self.model_path):
            a = QAction(method_label(n), self, checkable=True)
            a.setChecked(n == current)
            a.triggered.connect(lambda _=False, n=n: self.set_method(n))
            self.method_group.addAction(a)
            self.menu_method.addAction(a)
        spec = model_file_method()
        ok, why = method_status(spec.name, self.model_path)
        if not ok:
            a = self.menu_method.addAction(f"{spec.name.upper()}: not available")
            a.setToolTip(why)
            a.setEnabled(False)
        self.menu_method.addSeparator()
        self.menu_method.addAction(f"Open {spec.name.upper()} model file...", self.open_model_dialog)
        self.menu_method.addSeparator()
        self.menu_method.addAction(self.act_calibrate)  # also on the toolbar (Ctrl+K)

    # ---- messages and banners ----------------------------------------------------------------
    def show_message(self, level: str, text: str) -> None:
        """A message for the user: errors and warnings in the banner (and the status bar),
        information in the status bar."""
        route = self.session.post_message(level, text)
        if not route:
            return
        if route == "banner":  # errors stay until dismissed or resolved; warnings fade
            if level == "warning":
                self._message_timer.start(BANNER_MS)
            else:
                self._message_timer.stop()
        self.statusBar().showMessage(text, NOTE_MS if route == "note" else BANNER_MS)
        self._refresh_banners()

    def _clear_banner(self) -> None:
        self.session.clear_banner()
        self.banner.refresh(self.session)

    def _hide_source_banner(self) -> None:
        self.session.hide_source_banner()
        self.source_banner.refresh(self.session)

    def source_banner_text(self) -> str:
        """The source banner's text, empty when it is hidden (for tests and scripted runs)."""
        b = self.session.source_banner
        return b.text if b.visible else ""

    def retry_source(self) -> None:
        spec = self.session.source_banner.retry
        if spec is not None:
            self.set_source(spec)

    def _save_settings(self) -> None:
        save_settings(self.settings)

    def _about(self) -> None:
        QMessageBox.about(self, "About fcus-rppg",
                          "fcus-rppg: the pulse from an ordinary camera (remote photoplethysmography).\n\n"
                          "Not a medical device. Readings are withheld when the signal quality is low.")

    # ---- helpers for tests and scripted runs -------------------------------------------------
    def hr_text(self) -> str:
        return self.hr_card.hr_label.text()

    def state_text(self) -> str:
        return self.hr_card.state_label.text()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._closing = True
        self._save_settings()
        self.worker.stop()
        super().closeEvent(event)
