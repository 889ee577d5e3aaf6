"""The main window: live video with the face overlay, the heart rate and its state, the BVP and HR
trend plots, HRV and respiration, and a status line. It only draws; the worker measures."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QImage, QKeySequence, QPalette, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.capture import DEMO_HR_BPM, SourceSpec
from app.settings import PRIVACY_MODES, Settings, default_record_dir, save_settings
from app.worker import (
    FrameResult,
    MethodInfo,
    ReadingResult,
    SourceFailure,
    SourceInfo,
    Worker,
    available_methods,
    fcus_status,
)

log = logging.getLogger(__name__)

BG = "#0f1317"
PANEL = "#161b21"
FG = "#e6e9ee"
MUTED = "#8a949f"
ACCENT = "#ff5a6e"  # the pulse
STATE_STYLE = {
    # state: (text, colour)
    "starting": ("Starting...", MUTED),
    "acquiring": ("Acquiring: hold still", "#f0b429"),
    "reading": ("Reading", "#3ddc84"),
    "unreliable": ("No reliable reading", "#f08c29"),
    "no_face": ("No face", "#ff5a5a"),
    "no_signal": ("No signal", "#ff5a5a"),
}
METHOD_LABELS = {"fcus": "FCUS (model)", "pos": "POS", "chrom": "CHROM", "green": "GREEN"}
PRIVACY_LABELS = {"off": "Show video", "blur": "Blur video", "hide": "Hide video"}
VIDEO_DIST_W, VIDEO_DIST_H = 640, 480


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in [
        (QPalette.Window, BG), (QPalette.WindowText, FG), (QPalette.Base, PANEL),
        (QPalette.AlternateBase, BG), (QPalette.ToolTipBase, PANEL), (QPalette.ToolTipText, FG),
        (QPalette.Text, FG), (QPalette.Button, PANEL), (QPalette.ButtonText, FG),
        (QPalette.BrightText, "#ffffff"), (QPalette.Highlight, "#2d6cdf"),
        (QPalette.HighlightedText, "#ffffff"), (QPalette.PlaceholderText, MUTED),
    ]:
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.Disabled, QPalette.Text, QColor(MUTED))
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(MUTED))
    app.setPalette(pal)
    pg.setConfigOptions(antialias=True, background=PANEL, foreground=MUTED)


class VideoView(QLabel):
    """The live picture, scaled to fit with its aspect ratio; a text when there is none."""

    def __init__(self) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setStyleSheet(f"background: #000; color: {MUTED}; font-size: 15px; border-radius: 6px;")
        self._pix: QPixmap | None = None
        self.setText("Starting...")

    def sizeHint(self) -> QSize:
        return QSize(VIDEO_DIST_W, VIDEO_DIST_H)

    def show_rgb(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        img = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()  # own the pixels
        self._pix = QPixmap.fromImage(img)
        self._rescale()

    def show_text(self, text: str) -> None:
        self._pix = None
        self.clear()
        self.setText(text)

    def _rescale(self) -> None:
        if self._pix is not None:
            self.setPixmap(self._pix.scaled(self.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()


class _Card(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("card")
        self.setStyleSheet(f"#card {{ background: {PANEL}; border-radius: 8px; }}")


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


def _banner_frame(object_name: str) -> tuple[QFrame, QHBoxLayout, QLabel]:
    """A message strip: the frame (styled by ``object_name``), its row layout and its
    selectable, wrapping label."""
    frame = QFrame()
    frame.setObjectName(object_name)
    row = QHBoxLayout(frame)
    row.setContentsMargins(10, 4, 4, 4)
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    row.addWidget(label, 1)
    return frame, row, label


def _dismiss_button(on_click) -> QToolButton:
    """The banner's close cross."""
    close = QToolButton()
    close.setText("\u2715")
    close.setToolTip("Dismiss")
    close.setAutoRaise(True)
    close.clicked.connect(on_click)
    return close


class MainWindow(QMainWindow):
    def __init__(self, worker: Worker, settings: Settings, *, model_path: str | None = None,
                 list_cameras: bool = True, loop: bool | None = None) -> None:
        super().__init__()
        self.worker = worker
        self.settings = settings
        # whether file sources loop in this run (a command-line --loop is not saved; the menu's is)
        self.loop = settings.loop if loop is None else loop
        self.model_path = model_path
        self.setWindowTitle("fcus-rppg: live pulse")
        self.resize(1280, 800)
        self.state = "starting"
        self.source_info: SourceInfo | None = None
        self.method_info: MethodInfo | None = None
        self.tracker_name = ""
        self.recording_path: Path | None = None
        self.messages: list[tuple[str, str]] = []  # (level, text), for tests and diagnostics
        self.last_hr_bpm: float | None = None
        self.source_lost_msg: str | None = None
        self.cameras: list[int] = []
        self._last_frame: FrameResult | None = None
        self._trend_t: list[float] = []
        self._trend_hr: list[float] = []
        self._status_due = 0.0
        self._closing = False

        self._build_ui()
        self._build_actions()
        self._connect_worker()
        self._refresh_method_combo()
        self._set_state("starting")
        self._message_timer = QTimer(self, singleShot=True, timeout=self._clear_banner)
        self._list_cameras_pending = list_cameras  # once the first source is open (see below)
        self._lister = _CameraLister(self)
        self._lister.found.connect(self._on_cameras, Qt.QueuedConnection)

    # ---- layout ----------------------------------------------------------------------------
    def _build_ui(self) -> None:
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(10, 8, 10, 6)
        root.setSpacing(8)

        self.banner, bl0, self.banner_label = _banner_frame("banner")
        bl0.addWidget(_dismiss_button(self._clear_banner))
        self.banner.hide()
        root.addWidget(self.banner)
        self._build_source_banner()
        root.addWidget(self.source_banner)

        top = QHBoxLayout()
        top.setSpacing(10)
        self.video = VideoView()
        top.addWidget(self.video, 3)

        side = QVBoxLayout()
        side.setSpacing(10)
        hr_card = _Card()
        hr_l = QVBoxLayout(hr_card)
        hr_l.setContentsMargins(18, 12, 18, 14)
        cap = QLabel("HEART RATE")
        cap.setStyleSheet(f"color: {MUTED}; font-size: 12px; letter-spacing: 2px; font-weight: 600;")
        hr_l.addWidget(cap)
        row = QHBoxLayout()
        self.hr_label = QLabel("--")
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
        hr_l.addLayout(row)
        self.state_label = QLabel()
        self.state_label.setAlignment(Qt.AlignCenter)
        self.state_label.setWordWrap(True)
        hr_l.addWidget(self.state_label)

        q_row = QHBoxLayout()
        ql = QLabel("Signal quality")
        ql.setStyleSheet(f"color: {MUTED};")
        q_row.addWidget(ql)
        self.quality_bar = QProgressBar()
        self.quality_bar.setRange(0, 100)
        self.quality_bar.setValue(0)
        self.quality_bar.setTextVisible(False)
        self.quality_bar.setFixedHeight(8)
        self.quality_bar.setStyleSheet("QProgressBar { background: #252c35; border: none; border-radius: 4px; }")
        q_row.addWidget(self.quality_bar, 1)
        hr_l.addLayout(q_row)

        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        self.sdnn_label = self._metric(grid, 0, "HRV SDNN")
        self.rmssd_label = self._metric(grid, 1, "HRV RMSSD")
        self.resp_label = self._metric(grid, 2, "Respiration")
        for w in (self.sdnn_label, self.rmssd_label, self.resp_label):
            w.setToolTip("Shown after about 20 s of steady reading")
        hr_l.addLayout(grid)
        side.addWidget(hr_card)

        trend_card, self.trend_plot = self._plot_card("HR trend (session)", "bpm", grid_y=True)
        self.trend_plot.setYRange(50, 110)
        self.trend_curve = self.trend_plot.plot(
            pen=pg.mkPen("#3ddc84", width=2), symbol="o", symbolSize=4, symbolBrush="#3ddc84",
            symbolPen=None, connect="finite")
        side.addWidget(trend_card, 1)
        top.addLayout(side, 2)
        root.addLayout(top, 3)

        bvp_card, self.bvp_plot = self._plot_card("Blood volume pulse (last 10 s)", "BVP (a.u.)", grid_y=False)
        self.bvp_plot.getAxis("left").setStyle(showValues=False)
        self.bvp_plot.setYRange(-3, 3)
        self.bvp_plot.setXRange(0, 10)
        self.bvp_curve = self.bvp_plot.plot(pen=pg.mkPen(ACCENT, width=2), connect="finite")
        bvp_card.setMinimumHeight(170)
        root.addWidget(bvp_card, 1)
        self.setCentralWidget(central)

        sb = self.statusBar()
        sb.setStyleSheet(f"QStatusBar {{ color: {MUTED}; }} QStatusBar::item {{ border: none; }}")
        self.sb_source = QLabel()
        self.sb_fps = QLabel()
        self.sb_drop = QLabel()
        self.sb_latency = QLabel()
        self.sb_tracker = QLabel()
        self.sb_device = QLabel()
        self.sb_rec = QLabel()
        for w in (self.sb_rec, self.sb_source, self.sb_fps, self.sb_drop, self.sb_latency,
                  self.sb_tracker, self.sb_device):
            w.setStyleSheet(f"color: {MUTED}; padding: 0 6px;")
            sb.addPermanentWidget(w)
        self._update_status_line(None)

    def _build_source_banner(self) -> None:
        """The banner that says why the window does not show the source asked for (it did not
        open, it was lost, it ended), with the ways out: another file, the demo, try again."""
        self.source_banner, lay, self.source_banner_label = _banner_frame("sourceBanner")
        self.btn_open_file = QPushButton("Open video file...")
        self.btn_open_file.clicked.connect(self.open_file_dialog)
        self.btn_demo = QPushButton("Use the demo")
        self.btn_demo.clicked.connect(lambda: self.set_source(SourceSpec("demo")))
        self.btn_retry = QPushButton("Try again")
        self.btn_retry.clicked.connect(self.retry_source)
        for b in (self.btn_open_file, self.btn_demo, self.btn_retry):
            lay.addWidget(b)
        lay.addWidget(_dismiss_button(self._hide_source_banner))
        self.source_banner.hide()
        self._retry_spec: SourceSpec | None = None
        self._source_banner_kind: str | None = None  # "failed" | "lost" while shown

    def _show_source_banner(self, kind: str, text: str, level: str, retry: SourceSpec | None) -> None:
        colour = {"error": "#ff5a5a", "warning": "#f0b429"}.get(level, "#5aa9ff")
        self.source_banner_label.setText(text)
        self.source_banner_label.setStyleSheet(f"color: {FG}; font-size: 13px;")
        self.source_banner.setStyleSheet(
            f"#sourceBanner {{ background: {PANEL}; border-left: 4px solid {colour}; border-radius: 4px; }}")
        self._retry_spec = retry
        self.btn_retry.setVisible(retry is not None and retry.kind != "demo")
        if retry is not None:
            self.btn_retry.setText(f"Try {retry.label.split(' (')[0].lower()} again"
                                   if retry.kind == "camera" else "Try the file again")
        on_demo = self.source_info is not None and self.source_info.spec.kind == "demo"
        self.btn_demo.setVisible(not on_demo or self.source_lost_msg is not None)
        self._source_banner_kind = kind
        self.source_banner.show()
        if self.banner.isVisible() and self.banner_label.text() == text:
            self.banner.hide()  # one banner for one problem

    def _hide_source_banner(self) -> None:
        self._source_banner_kind = None
        self.source_banner.hide()

    def source_banner_text(self) -> str:
        """The source banner's text, empty when it is hidden (for tests and scripted runs)."""
        return self.source_banner_label.text() if self._source_banner_kind else ""

    def retry_source(self) -> None:
        if self._retry_spec is not None:
            self.set_source(self._retry_spec)

    @staticmethod
    def _plot_card(title: str, left_label: str, *, grid_y: bool) -> tuple["_Card", pg.PlotWidget]:
        """A card holding one static plot over session time (no mouse zoom, no context menu)."""
        card = _Card()
        lay = QVBoxLayout(card)
        lay.setContentsMargins(8, 6, 8, 6)
        plot = pg.PlotWidget()
        plot.setTitle(title, color=MUTED, size="10pt")
        plot.setLabel("left", left_label)
        plot.setLabel("bottom", "session time (s)")
        plot.showGrid(x=True, y=grid_y, alpha=0.15)
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        lay.addWidget(plot)
        return card, plot

    @staticmethod
    def _metric(grid: QGridLayout, col: int, name: str) -> QLabel:
        n = QLabel(name)
        n.setStyleSheet(f"color: {MUTED}; font-size: 11px;")
        v = QLabel("--")
        v.setStyleSheet(f"color: {FG}; font-size: 17px; font-weight: 600;")
        grid.addWidget(n, 0, col)
        grid.addWidget(v, 1, col)
        return v

    def _build_actions(self) -> None:
        tb = QToolBar("Main")
        tb.setMovable(False)
        tb.setIconSize(QSize(16, 16))
        tb.setStyleSheet("QToolBar { spacing: 6px; padding: 4px; }")
        self.addToolBar(tb)

        tb.addWidget(QLabel(" Source "))
        self.source_combo = QComboBox()
        self.source_combo.setMinimumWidth(220)
        self.source_combo.activated.connect(self._on_source_combo)
        tb.addWidget(self.source_combo)
        tb.addWidget(QLabel("  Method "))
        self.method_combo = QComboBox()
        self.method_combo.setMinimumWidth(130)
        self.method_combo.activated.connect(self._on_method_combo)
        tb.addWidget(self.method_combo)
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
        tb.addSeparator()

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

        # menus
        mb = self.menuBar()
        m_file = mb.addMenu("&File")
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
        self._rebuild_source_controls()

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
        w.message.connect(self.show_message, q)

    def _on_frame_ready(self) -> None:
        r = self.worker.take_frame()
        if r is None or self._closing:
            return
        self._last_frame = r
        self.source_lost_msg = None
        if self._source_banner_kind == "lost":  # frames again (the camera is back)
            self._hide_source_banner()
        if r.image_rgb is not None:
            self.video.show_rgb(r.image_rgb)
        else:
            self.video.show_text("Video hidden (privacy)\nmeasuring goes on")
        if r.state != self.state:
            self._set_state(r.state)
        now = time.monotonic()
        if now >= self._status_due:
            self._status_due = now + 0.25
            self._update_status_line(r)

    def _on_reading(self, rr: ReadingResult) -> None:
        if self._closing:
            return
        r = rr.reading
        q = max(0.0, min(1.0, r.quality)) if math.isfinite(r.quality) else 0.0
        self.quality_bar.setValue(int(round(100 * q)))
        colour = "#3ddc84" if q >= 0.6 else ("#f0b429" if q >= 0.3 else "#ff5a5a")
        self.quality_bar.setStyleSheet(
            f"QProgressBar {{ background: #252c35; border: none; border-radius: 4px; }}"
            f"QProgressBar::chunk {{ background: {colour}; border-radius: 4px; }}")
        if r.hr_bpm is not None:
            self.last_hr_bpm = r.hr_bpm
        self._trend_t.append(rr.t_s)
        self._trend_hr.append(r.hr_bpm if r.hr_bpm is not None else math.nan)
        t = np.asarray(self._trend_t)
        hr = np.asarray(self._trend_hr)
        fin = hr[np.isfinite(hr)]
        if len(fin):
            self.trend_curve.setData(t, hr)
        else:
            self.trend_curve.setData([], [])
        if len(fin):
            lo, hi = float(fin.min()), float(fin.max())
            self.trend_plot.setYRange(min(50.0, lo - 5), max(110.0, hi + 5), padding=0)
        self.trend_plot.setXRange(0.0, max(float(t[-1]), 60.0), padding=0.02)  # the whole session
        if rr.hrv is not None and rr.hrv.n_beats > 2:
            self.sdnn_label.setText(f"{rr.hrv.sdnn_ms:.0f} ms")
            self.rmssd_label.setText(f"{rr.hrv.rmssd_ms:.0f} ms")
        else:
            self.sdnn_label.setText("--")
            self.rmssd_label.setText("--")
        self.resp_label.setText(f"{rr.resp_bpm:.0f} /min" if rr.resp_bpm else "--")
        if len(rr.bvp_t_s):
            tb, vb = rr.bvp_t_s, rr.bvp
            t_end = float(tb[-1])
            keep = tb >= t_end - 10.0
            tb, vb = tb[keep], vb[keep]
            if np.isfinite(vb).any():
                self.bvp_curve.setData(tb, vb)
            else:
                self.bvp_curve.setData([], [])
            t_end = max(t_end, 10.0)
            self.bvp_plot.setXRange(t_end - 10.0, t_end, padding=0)
            fin = vb[np.isfinite(vb)]
            if len(fin) > 10:
                a = float(np.percentile(np.abs(fin), 99)) * 1.15
                self.bvp_plot.setYRange(-max(a, 0.5), max(a, 0.5), padding=0)
        self._set_state(rr.state)

    def refresh_cameras(self) -> None:
        in_use = self.source_info.spec.camera_index if (self.source_info and self.source_info.spec.kind == "camera") else None
        self._lister.start(frozenset() if in_use is None else frozenset({in_use}))

    def _on_source_changed(self, info: SourceInfo) -> None:
        self.source_info = info
        if self._list_cameras_pending:
            self._list_cameras_pending = False
            self.refresh_cameras()
        self.source_lost_msg = None
        if not info.fallback:  # a stand-in demo does not replace the remembered source
            self.settings.source = info.spec.to_text()
            self._save_settings()
            self._hide_source_banner()  # what was asked for is shown now
        elif self._source_banner_kind == "failed":
            self.btn_demo.setVisible(False)  # the demo is what runs
        self._rebuild_source_controls()
        self._trend_break()
        self.bvp_curve.setData([], [])
        self._update_status_line(self._last_frame)

    def _on_source_lost(self, msg: str) -> None:
        self.source_lost_msg = msg
        self._set_state("no_signal")
        self.video.show_text(f"No signal\n{msg}")
        spec = self.source_info.spec if self.source_info else None
        label = self.source_info.label if self.source_info else "the source"
        text = msg if spec is None or label.lower() in msg.lower() else f"{label}: {msg}"
        self._show_source_banner("lost", text, "info" if msg.lower().startswith("end of") else "error", spec)

    def _on_source_failed(self, f: SourceFailure) -> None:
        self.messages.append((f.level, f.text))
        del self.messages[:-200]
        log.log({"error": logging.ERROR, "warning": logging.WARNING}.get(f.level, logging.INFO), "%s", f.text)
        self.statusBar().showMessage(f.text, 15000)
        self._show_source_banner("failed", f.text, f.level, f.spec)

    def _on_method_changed(self, info: MethodInfo) -> None:
        changed = self.method_info is None or self.method_info.name != info.name
        self.method_info = info  # the method in use; settings.method keeps the user's choice
        self._refresh_method_combo()
        if changed:
            self.bvp_curve.setData([], [])
            self._trend_break()
        self._update_status_line(self._last_frame)

    def _on_tracker_changed(self, name: str, msg: str) -> None:
        self.tracker_name = name
        self.sb_tracker.setToolTip(msg)
        self._update_status_line(self._last_frame)

    def _on_recording_changed(self, path) -> None:
        self.recording_path = Path(path) if path is not None else None
        self.act_record.blockSignals(True)
        self.act_record.setChecked(path is not None)
        self.act_record.blockSignals(False)
        self._update_status_line(self._last_frame)

    # ---- user actions ----------------------------------------------------------------------
    def set_source(self, spec: SourceSpec) -> None:
        self.worker.set_source(spec)

    def set_method(self, name: str, model_path: str | None = None) -> None:
        """Switch to ``name``, remembered as the user's choice (a fallback, e.g. to POS when the
        FCUS model cannot load, is shown but never saved: the choice stays for the next run)."""
        self.settings.method = name
        self._save_settings()
        self.worker.set_method(name, model_path or self.model_path)

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
        start = str(Path(self.settings.source).parent) if self.source_info and self.source_info.spec.kind == "file" else ""
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
        path, _ = QFileDialog.getOpenFileName(self, "FCUS model (ONNX)", "", "ONNX models (*.onnx);;All files (*)")
        if path:
            self.model_path = path
            self.set_method("fcus", path)

    def _on_cameras(self, cams: list) -> None:
        self.cameras = list(cams)
        self._rebuild_source_controls()

    def _rebuild_source_controls(self) -> None:
        current = self.source_info.spec.to_text() if self.source_info else ""
        combo = self.source_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(f"Demo ({DEMO_HR_BPM:.0f} bpm synthetic)", "demo")
        cams = set(self.cameras)
        if self.source_info and self.source_info.spec.kind == "camera":
            cams.add(self.source_info.spec.camera_index)
        for i in sorted(cams):
            combo.addItem(f"Camera {i}", f"camera:{i}")
        if self.source_info and self.source_info.spec.kind == "file":
            combo.addItem(Path(current).name, current)
        combo.addItem("Open video file...", "__file__")
        idx = combo.findData(current) if current else 0
        combo.setCurrentIndex(max(idx, 0))
        combo.blockSignals(False)

        self.menu_cameras.clear()
        if not self.cameras:
            a = self.menu_cameras.addAction("No camera found")
            a.setEnabled(False)
        for i in self.cameras:
            self.menu_cameras.addAction(f"Camera {i}", lambda i=i: self.set_source(SourceSpec("camera", camera_index=i)))
        self.menu_cameras.addSeparator()
        self.menu_cameras.addAction("Look for cameras again", self.refresh_cameras)

    def _refresh_method_combo(self) -> None:
        combo = self.method_combo
        combo.blockSignals(True)
        combo.clear()
        names = available_methods(self.model_path)
        current = self.method_info.name if self.method_info else self.settings.method
        for n in names:
            combo.addItem(METHOD_LABELS.get(n, n.upper()), n)
        combo.addItem("FCUS model file...", "__model__")
        idx = combo.findData(current)
        combo.setCurrentIndex(max(idx, 0))
        combo.blockSignals(False)

    def _rebuild_method_menu(self) -> None:
        self.menu_method.clear()
        for a in self.method_group.actions():
            self.method_group.removeAction(a)
        current = self.method_info.name if self.method_info else ""
        for n in available_methods(self.model_path):
            a = QAction(METHOD_LABELS.get(n, n.upper()), self, checkable=True)
            a.setChecked(n == current)
            a.triggered.connect(lambda _=False, n=n: self.set_method(n))
            self.method_group.addAction(a)
            self.menu_method.addAction(a)
        ok, why = fcus_status(self.model_path)
        if not ok:
            a = self.menu_method.addAction("FCUS: not available")
            a.setToolTip(why)
            a.setEnabled(False)
        self.menu_method.addSeparator()
        self.menu_method.addAction("Open FCUS model file...", self.open_model_dialog)

    # ---- state / messages --------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if self.source_lost_msg is not None and state != "no_signal":
            return  # the source is gone: keep saying so until frames come back
        self.state = state
        text, colour = STATE_STYLE.get(state, (state, MUTED))
        if state == "no_signal" and self.source_lost_msg:
            text = f"No signal: {self.source_lost_msg}"
        if state == "no_face" and self._last_frame is not None and self._last_frame.n_faces == 0:
            text = "No face in view"
        if state == "reading" and self._last_frame is not None and self._last_frame.n_faces > 1:
            text = f"Reading ({self._last_frame.n_faces} faces: measuring the boxed one)"
        self.state_label.setText(text)
        self.state_label.setStyleSheet(
            f"color: {colour}; font-size: 15px; font-weight: 600; padding: 4px 10px;"
            f"border: 1px solid {colour}; border-radius: 11px;")
        if state == "reading" and self.last_hr_bpm is not None:
            self.hr_label.setText(f"{self.last_hr_bpm:.0f}")
            self.hr_label.setStyleSheet(f"color: {FG};")
        else:
            self.hr_label.setText("--")
            self.hr_label.setStyleSheet(f"color: {MUTED};")

    def show_message(self, level: str, text: str) -> None:
        """A message for the user: errors and warnings in the banner (and the status bar),
        information in the status bar."""
        if not text:
            return
        self.messages.append((level, text))
        del self.messages[:-200]
        log.log({"error": logging.ERROR, "warning": logging.WARNING}.get(level, logging.INFO), "%s", text)
        if level in ("error", "warning") and self._source_banner_kind and text in self.source_banner_label.text():
            self.statusBar().showMessage(text, 15000)  # the source banner says it already
        elif level in ("error", "warning"):
            colour = "#ff5a5a" if level == "error" else "#f0b429"
            self.banner_label.setText(text)
            self.banner_label.setStyleSheet(f"color: {FG}; font-size: 13px;")
            self.banner.setStyleSheet(
                f"#banner {{ background: {PANEL}; border-left: 4px solid {colour}; border-radius: 4px; }}")
            self.banner.show()
            # Errors stay until dismissed or resolved; warnings fade after a while.
            if level == "warning":
                self._message_timer.start(15000)
            else:
                self._message_timer.stop()
            self.statusBar().showMessage(text, 15000)
        else:
            if level == "ok":  # a problem resolved itself (e.g. the camera is back)
                self._clear_banner()
                if self._source_banner_kind == "lost":
                    self._hide_source_banner()
            self.statusBar().showMessage(text, 6000)

    def _clear_banner(self) -> None:
        self.banner.hide()

    def _update_status_line(self, r: FrameResult | None) -> None:
        src = self.source_info.label if self.source_info else "no source"
        if self.source_info is not None and self.source_info.fallback and self._retry_spec is not None:
            src = f"{src}, standing in for {self._retry_spec.label}"
        self.sb_source.setText(src)
        if r is not None:
            self.sb_fps.setText(f"{r.stats.fps_hz:4.1f} fps")
            self.sb_drop.setText(f"dropped {r.stats.dropped}")
            self.sb_latency.setText(f"{r.stats.latency_ms:4.1f} ms/frame")
        else:
            self.sb_fps.setText("-- fps")
            self.sb_drop.setText("dropped 0")
            self.sb_latency.setText("-- ms/frame")
        self.sb_tracker.setText(f"face: {self.tracker_name or '...'}")
        if self.method_info is not None:
            self.sb_device.setText(f"{METHOD_LABELS.get(self.method_info.name, self.method_info.name)} on "
                                   f"{self.method_info.device}")
        if self.recording_path is not None:
            self.sb_rec.setText(f"\u25cf REC {self.recording_path.name}")
            self.sb_rec.setStyleSheet("color: #ff5a5a; font-weight: 700; padding: 0 6px;")
            self.sb_rec.setToolTip(str(self.recording_path))
        else:
            self.sb_rec.setText("")

    def _trend_break(self) -> None:
        if self._trend_t:
            self._trend_t.append(self._trend_t[-1] + 1e-3)
            self._trend_hr.append(math.nan)

    def _save_settings(self) -> None:
        save_settings(self.settings)

    def _about(self) -> None:
        QMessageBox.about(self, "About fcus-rppg",
                          "fcus-rppg: the pulse from an ordinary camera (remote photoplethysmography).\n\n"
                          "Not a medical device. Readings are withheld when the signal quality is low.")

    # ---- helpers for tests and scripted runs -------------------------------------------------
    def hr_text(self) -> str:
        return self.hr_label.text()

    def state_text(self) -> str:
        return self.state_label.text()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._closing = True
        self._save_settings()
        self.worker.stop()
        super().closeEvent(event)
