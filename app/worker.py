"""The inference worker: one thread that owns the source, the face tracker, the streaming estimator
and the recorder. The UI thread only draws what the worker posts.

Threads and queues::

    capture thread --(FrameQueue: bounded, drops the oldest, counts drops)--> worker thread
    UI thread --(command queue: set_method / set_source / overlay / privacy / record / calibrate / quit)--> worker
    calibration thread (app.calibration: a child process adapting the model) --(command queue)--> worker
    worker --(Qt signals, queued to the UI thread)--> window

Per processed frame the worker posts a :class:`FrameResult` through a one-slot mailbox
(``frame_ready`` is emitted only when the UI has taken the previous one, so a slow UI skips
pictures instead of piling up events). HR updates (about once a second) go out as
:class:`ReadingResult` on ``reading_ready`` and are never coalesced: the HR trend is complete.

Everything slow happens here: opening a camera or a file, loading the face tracker or an ONNX
model, so the window never freezes. Source and method switches are transactional: the new one is
opened first; when that fails the old one keeps running and a message says why.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

from app.calibration import INSTALL_HINT as CALIBRATE_INSTALL_HINT
from app.calibration import MIN_FACE_S, CalibrationJob, CalibrationOutcome, torch_available
from app.capture import CaptureThread, FrameQueue, OpenedSource, SourceSpec, open_source, source_sentence
from app.recording import PERSON_EVENT, RecordingError, SessionRecorder, recorder_span_s
from app.session_model import BVP_SPAN_S
from model.analyze import model_record
from model.estimator import STATE_ACQUIRING, EstimatorConfig, StreamingEstimator
from model.fcus_contract import weights_beside
from model.frame_crops import CropBuffer
from model.keyframe_tracking import KeyframeConfig, KeyframeTracking, create_keyframe_tracker
from model.pulse_methods import (
    FALLBACK_METHOD,
    estimator_config,
    method_spec,
    roi_extractor_for,
)
from model.roi import RoiExtractor
from model.types import Face, Frame, HrReading, HrvMetrics, HrvWithheld
from model.video_source import SourceError

log = logging.getLogger(__name__)

# Face tracking live as in analyze: the detector on key frames, the face interpolated between them.
KEYFRAMES = KeyframeConfig()

DISPLAY_MAX_WIDTH = 960
OVERLAY_BOX_BGRA = (0, 200, 0, 255)
OVERLAY_SKIN_BGRA = (255, 160, 0, 255)
MAX_METHOD_FAILURES = 3


# ---- methods (the registry in model.pulse_methods says what each one is) ------------------
def _gate_of(method, base: EstimatorConfig | None = None) -> tuple[float, float]:
    """The method's quality gate (open at, close below): its estimator config's gate_open, gate_close."""
    cfg = estimator_config(method.name, base)
    return (cfg.gate_open, cfg.gate_close)


def method_device(method) -> str:
    """The inference device a method runs on, for the status line."""
    return str(getattr(method, "device", "") or "CPU")


def build_method(name: str, model_path: str | None = None):
    """The pulse method ``name``; raises ValueError/OSError/RuntimeError with a message."""
    spec = method_spec(name)
    ok, why = spec.status(model_path if spec.takes_model else None)
    if not ok:
        raise RuntimeError(why)
    return spec.make(model_path=model_path)


# ---- what travels to the UI --------------------------------------------------------------
@dataclass
class Stats:
    fps_hz: float = 0.0
    dropped: int = 0
    latency_ms: float = 0.0
    frames: int = 0


@dataclass
class FrameResult:
    t_s: float
    # (H, W, 4) uint8 bytes B, G, R, 255: QImage's RGB32 on a little-endian CPU, which the window
    # paints without a conversion; None when privacy hides the video
    image_bgra: np.ndarray | None
    state: str
    face_ok: bool
    n_faces: int
    stats: Stats


@dataclass
class ReadingResult:
    t_s: float
    reading: HrReading
    state: str
    hrv: HrvMetrics | None
    resp_bpm: float | None
    bvp_t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bvp: np.ndarray = field(default_factory=lambda: np.zeros(0))
    method: str = ""
    hrv_why: HrvWithheld | None = None  # why hrv is None (the estimator's hrv_why)
    # the first reading since the tracker moved to another person (Face.new_person): the time of that
    # person's first frame; None: the same person as the reading before
    new_person_t_s: float | None = None
    source_t_s: float | None = None  # t_s within the current source's session (seconds since its first frame)


@dataclass
class SourceInfo:
    spec: SourceSpec
    label: str
    size: tuple[int, int]
    nominal_fps_hz: float
    fallback: bool = False  # opened because the requested source failed (not remembered)


@dataclass
class SourceFailure:
    """A source that could not be opened: what was asked, why, and the whole message (with what
    is shown instead)."""
    spec: SourceSpec
    reason: str
    text: str
    level: str = "error"  # "error" | "warning" | "info" (a first-run camera probe)


@dataclass
class MethodInfo:
    name: str
    device: str
    note: str = ""
    gate: tuple[float, float] | None = None  # the method's quality gate: (open at, close below)
    calibrated: bool = False  # the model was adapted to this face (the Calibrate action)
    model_file: str = ""  # the user's own model file (--model, Open model file): its name; "" for the shipped one


@dataclass(frozen=True)
class CalibrationState:
    """What the Calibrate action can do now: ``state`` "unavailable" (the method has no model),
    "collecting" (too little of the face seen yet: ``text`` says how many more seconds), "ready",
    "running", "done" or "failed"; ``text`` says why or what happened."""

    state: str
    text: str = ""
    progress: tuple[int, int] | None = None  # "running": (fine-tuning steps done, steps), once the child says


@dataclass(frozen=True)
class CropSpec:
    """The face crops Calibrate adapts the model on, as the model's contract cuts them."""

    size: int
    scale: float
    masked: bool
    background: bool  # whether the fine-tune reads background crops (FcusPulseMethod.adapt_reads_background)

    @classmethod
    def of(cls, method) -> CropSpec | None:
        """The crops of a method that takes a model and reads crops; None for any other."""
        if not method_spec(method.name).takes_model or not getattr(method, "crop_size", None):
            return None
        return cls(int(method.crop_size), float(getattr(method, "crop_scale", 1.2)),
                   bool(getattr(method, "crop_masked", False)), bool(getattr(method, "adapt_reads_background", True)))


# ---- the worker --------------------------------------------------------------------------
class Worker(QObject):
    frame_ready = Signal()
    reading_ready = Signal(object)  # ReadingResult
    source_changed = Signal(object)  # SourceInfo
    source_lost = Signal(str)  # message (end of file, camera unplugged, capture error)
    source_failed = Signal(object)  # SourceFailure: a source did not open
    method_changed = Signal(object)  # MethodInfo
    tracker_changed = Signal(str, str)  # name, message
    recording_changed = Signal(object)  # Path | None
    calibration_changed = Signal(object)  # CalibrationState
    message = Signal(str, str)  # level ("info" | "warning" | "error"), text

    def __init__(self, *, method: str = FALLBACK_METHOD, model_path: str | None = None,
                 face_model: str | None = None, allow_download: bool = True,
                 overlay: bool = True, privacy: str = "off", queue_size: int = 4,
                 estimator_config: EstimatorConfig | None = None, parent: QObject | None = None,
                 record_video: bool = True, record_codec: str = "mjpg", calibrate_steps: int | None = None):
        super().__init__(parent)
        self._init_calibration(calibrate_steps, model_path)
        self.record_video = bool(record_video)  # write video.avi + frames.csv when recording
        self.record_codec = record_codec  # app.recording.VIDEO_CODECS
        self._method_name = method
        self._model_path = model_path
        self._face_model = face_model
        self._allow_download = allow_download
        self.overlay = overlay
        self.privacy = privacy
        self.est_cfg = estimator_config or EstimatorConfig()
        self.frames = FrameQueue(queue_size)
        self._cmds: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._mail_lock = threading.Lock()
        self._mail: FrameResult | None = None
        self._posted = False
        # worker-thread state
        self._capture: CaptureThread | None = None
        self._capture_go = threading.Event()  # set: the capture may play past its first frame
        self._source: OpenedSource | None = None
        self._spec: SourceSpec | None = None
        self._gen = 0
        self._tracker = None
        self._keyframes: KeyframeTracking | None = None  # the tracker on key frames (model.keyframe_tracking)
        self._state = ""  # the estimator's state at the last measured frame
        self._roi = None
        self._method = None
        self._est: StreamingEstimator | None = None
        self._rec: SessionRecorder | None = None
        self._t_shift: float | None = None
        self._last_t: float | None = None
        self._source_t0: float | None = None  # the session clock at the current source's first frame
        self._face_ok_prev: bool | None = None
        self._fps_times: deque[float] = deque()
        self._lat_ms: deque[float] = deque(maxlen=30)
        self._drop_base = 0
        self._n_frames = 0
        self._method_failures = 0
        self.tracker_name = ""
        # for the exit status: the source asked for on the command line, and whether it opened
        self.asked_spec: SourceSpec | None = None
        self.asked_failure: str | None = None  # why it did not open (None once it did)
        self.record_failure: str | None = None  # the first recording error of this run
        self.recorded: list[Path] = []  # the session folders this run recorded into

    def _init_calibration(self, calibrate_steps: int | None, model_path: str | None) -> None:
        """The Calibrate action's state (worker thread)."""
        self.calibrate_steps = calibrate_steps  # None: fcus-rppg adapt's default
        self.min_calibrate_face_s = MIN_FACE_S
        self._crops: CropBuffer | None = None  # the last minute of model crops (Calibrate)
        # the crops Calibrate needs (known once the model method ran): cut whatever method is shown, and
        # kept across a method switch, so the face seen before the switch counts
        self._crop_spec: CropSpec | None = None
        self._crops_spec: CropSpec | None = None  # the spec self._crops was made for
        self._calib_failure: str | None = None  # why the last calibration failed (until another starts)
        self._calib_shown: CalibrationState | None = None  # the state last said to the window
        self._calib: CalibrationJob | None = None
        self._calib_progress: tuple[int, int] | None = None  # the running calibration's steps done, of all
        self._new_person: float | None = None  # the time the tracker moved to another person, since the last reading
        self._calib_dir: str | None = None  # where calibrated models are written (removed at the end)
        self._calibrated = False
        self._base_model_path = model_path  # what a calibration adapts (its weights) and falls back to

    # ---- UI-thread API (all non-blocking) -------------------------------------------
    def start(self, spec: SourceSpec | None, *, fallback_to_demo: bool = True,
              record_dir: str | None = None, explicit: bool = True) -> None:
        """Start the worker thread on ``spec``. When it cannot be opened and ``fallback_to_demo``,
        the demo runs instead; ``explicit`` (the user asked for this source) reports the failure
        as an error, otherwise (last source, first-run camera probe) as a note."""
        self._thread = threading.Thread(
            target=self._run, args=(spec, fallback_to_demo, record_dir, explicit), name="worker", daemon=True)
        self._thread.start()

    def _post(self, *cmd) -> None:
        self._cmds.put(cmd)
        self.frames.wake()

    def set_method(self, name: str, model_path: str | None = None) -> None:
        self._post("method", name, model_path)

    def set_source(self, spec: SourceSpec) -> None:
        self._post("source", spec)

    def set_overlay(self, on: bool) -> None:
        self._post("overlay", bool(on))

    def set_privacy(self, mode: str) -> None:
        self._post("privacy", mode)

    def start_recording(self, parent_dir: str) -> None:
        self._post("record", parent_dir)

    def stop_recording(self) -> None:
        self._post("record", None)

    def set_record_video(self, on: bool) -> None:
        """Whether the next recording also writes the video (a running one keeps its choice)."""
        self._post("record_video", bool(on))

    def set_record_codec(self, codec: str) -> None:
        """The video codec of the next recording (app.recording.VIDEO_CODECS)."""
        self._post("record_codec", codec)

    def calibrate(self) -> None:
        """Adapt the model to the face of the last minute, in the background (``app.calibration``)."""
        self._post("calibrate")

    def take_frame(self) -> FrameResult | None:
        with self._mail_lock:
            r, self._mail, self._posted = self._mail, None, False
        return r

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._post("quit")
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("worker thread did not stop within %.1f s", timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- worker thread ------------------------------------------------------------------
    def _run(self, spec: SourceSpec | None, fallback_to_demo: bool, record_dir: str | None,
             explicit: bool) -> None:
        try:
            first = self._startup(spec, fallback_to_demo, record_dir, explicit)
            if first is not None and first[0] == self._gen:
                self._process(first[1])  # the frame the tracker warmed up on is measured too
            while True:
                if not self._drain_commands():
                    break
                item = self.frames.get(timeout=0.2)
                if item is None:
                    continue
                gen, frame = item
                if gen != self._gen:
                    continue  # a frame of the previous source
                self._process(frame)
        except Exception as exc:  # noqa: BLE001 - last resort: say it, never die silently
            log.exception("worker failed")
            self.message.emit("error", f"internal error in the worker: {exc}")
        finally:
            self._shutdown()

    def _startup(self, spec: SourceSpec | None, fallback_to_demo: bool, record_dir: str | None,
                 explicit: bool) -> tuple[int, Frame] | None:
        """Method, source, tracker and recording; returns the source's first frame (the tracker's
        warm-up frame, still to be measured), None without one. A file or the demo waits at its
        first frame until all is ready (``CaptureThread.go``), so none of its frames is lost."""
        # Method first (cheap for classic ones; says so when FCUS cannot run).
        self._apply_method(self._method_name, self._model_path, initial=True)
        # Source next, so that the picture appears while the tracker loads.
        opened = False
        fallback = fallback_to_demo and (spec is None or spec.kind != "demo")
        if spec is not None:
            if explicit:
                self.asked_spec = spec
            level = "error" if explicit else ("info" if spec.kind == "camera" else "warning")
            opened = self._apply_source(spec, level=level,
                                        instead="Showing the built-in demo instead." if fallback else "")
        if not opened and fallback:
            opened = self._apply_source(SourceSpec("demo"), fallback=True)
        if not opened:
            self.source_lost.emit("no source: choose a camera or open a video file")
        self._load_tracker()
        first = self._warm_up_tracker()
        self._reset_pipeline()
        self._drop_base = self.frames.dropped
        if record_dir:
            self._start_recording(record_dir)
        self._capture_go.set()
        return first

    def _drain_commands(self) -> bool:
        while True:
            try:
                cmd = self._cmds.get_nowait()
            except queue.Empty:
                return True
            kind = cmd[0]
            try:
                if kind == "quit":
                    return False
                if kind == "method":
                    self._apply_method(cmd[1], cmd[2])
                elif kind == "source":
                    self._apply_source(cmd[1])
                elif kind == "overlay":
                    self.overlay = cmd[1]
                elif kind == "privacy":
                    self.privacy = cmd[1]
                elif kind == "record_video":
                    self.record_video = cmd[1]
                elif kind == "record_codec":
                    self.record_codec = cmd[1]
                elif kind == "record":
                    if cmd[1] is None:
                        self._stop_recording()
                    else:
                        self._start_recording(cmd[1])
                elif kind == "capture":
                    self._on_capture_event(*cmd[1:])
                elif kind == "calibrate":
                    self._start_calibration()
                elif kind == "calibrated":
                    self._finish_calibration(cmd[1], cmd[2])
                elif kind == "calibration_progress":
                    if cmd[1] is self._calib:
                        self._calib_progress = (cmd[2], cmd[3])
                        self._emit_calibration_state(changed_only=True)
            except Exception as exc:  # noqa: BLE001 - a failed command must not kill the worker
                log.exception("command %s failed", kind)
                self.message.emit("error", f"{kind}: {exc}")

    # ---- tracker / method / estimator ------------------------------------------------------
    def _load_tracker(self) -> None:
        from model.face_tracking import FaceTrackerRequestError

        self.message.emit("info", "Loading the face tracker...")
        level = ""
        try:
            keyframes, msg = create_keyframe_tracker(self._face_model, allow_download=self._allow_download,
                                                     config=KEYFRAMES)
        except FaceTrackerRequestError as exc:  # the asked-for model failed after the start check
            keyframes, _ = create_keyframe_tracker(prefer="opencv", config=KEYFRAMES)
            msg, level = f"Face tracking: OpenCV fallback. {exc}", "error"
        except Exception as exc:  # noqa: BLE001
            log.exception("face tracker failed")
            keyframes, _ = create_keyframe_tracker(prefer="opencv", config=KEYFRAMES)
            msg = f"Face tracking: OpenCV fallback because the tracker failed ({exc})"
        self._keyframes = keyframes
        self._tracker = keyframes.tracker
        self.tracker_name = keyframes.name
        level = level or ("info" if keyframes.name == "mediapipe" else "warning")
        self.tracker_changed.emit(keyframes.name, msg)
        self.message.emit(level, msg)

    def _warm_up_tracker(self) -> tuple[int, Frame] | None:
        """Run the tracker once on the source's first frame: its first call is slow (graph
        set-up), and paying that before the clock starts keeps the first seconds free of dropped
        frames. Returns that frame's queue item (to be measured like the others), None without one."""
        item = self.frames.get(timeout=2.0)
        if item is None or self._tracker is None:
            return item
        try:
            self._tracker.process(Frame(index=-1, t_s=-1.0, bgr=item[1].bgr))
        except Exception:  # noqa: BLE001 - the real frames will say what is wrong
            log.debug("tracker warm-up failed", exc_info=True)
        finally:
            self._tracker.reset()
        return item

    def _apply_method(self, name: str, model_path: str | None, initial: bool = False) -> bool:
        """``model_path`` None keeps the model in use (a calibrated one too); a path is the user's
        model, which drops a calibration."""
        note = ""
        given_model = model_path
        try:
            spec = method_spec(name)
            if spec.takes_model:
                model_path = model_path or self._model_path
                self.message.emit("info", f"Loading the {name.upper()} model...")
            method = build_method(name, model_path)
        except Exception as exc:  # noqa: BLE001 - wrong/corrupt model, missing runtime, ...
            why = str(exc) or type(exc).__name__
            if self._method is not None and not initial:
                self.message.emit("error", f"Cannot use method {name.upper()}: {why}. "
                                           f"Still measuring with {self._method.name.upper()}.")
                self.method_changed.emit(MethodInfo(self._method.name, method_device(self._method),
                                                    f"{name.upper()} failed: {why}",
                                                    _gate_of(self._method, self.est_cfg)))
                return False
            note = f"{name.upper()} unavailable ({why}); using {FALLBACK_METHOD.upper()}"
            self.message.emit("warning", note)
            method = build_method(FALLBACK_METHOD)
        self._method = method
        self._method_name = method.name
        takes_model = method_spec(method.name).takes_model
        if model_path and takes_model:
            self._model_path = model_path
            if given_model:
                self._base_model_path, self._calibrated = given_model, False
                self._cancel_calibration("another model")
        self._method_failures = 0
        if self._tracker is not None:
            self._reset_pipeline(keep_tracker_state=True)
        self._rec_event("method", method.name)
        self.method_changed.emit(MethodInfo(method.name, method_device(method), note, _gate_of(method, self.est_cfg),
                                            calibrated=self._calibrated and takes_model,
                                            model_file=self._model_file_name(takes_model)))
        self._emit_calibration_state()
        return True

    def _model_file_name(self, takes_model: bool) -> str:
        """The user's own model file's name for the status line ("" for the shipped model)."""
        return Path(self._base_model_path).name if takes_model and self._base_model_path else ""

    def _recent_stream(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The BVP stream as the estimator knows it now, over its last window (None without one)."""
        if self._est is None:
            return None
        return self._est.recent_bvp(self._est.cfg.window_s + 1.0)

    def _reset_pipeline(self, keep_tracker_state: bool = False) -> None:
        """A fresh estimator for the method in use; ``keep_tracker_state``: the same source and face
        (a method switch), whose tracking and Calibrate crops go on."""
        if self._rec is not None and self._est is not None:
            # the recording's frames still waiting for their BVP get the values known now: the
            # next estimator will not cover them
            stream = self._recent_stream()
            self._rec_call(self._rec.flush_bvp, stream)
        self._crop_spec = CropSpec.of(self._method) or self._crop_spec
        self._roi = self._roi_extractor()
        if self._keyframes is not None and not keep_tracker_state:
            self._keyframes.reset()
        cfg = estimator_config(self._method.name, self.est_cfg)
        self._est = StreamingEstimator(self._method, cfg, roi=self._roi)
        self._face_ok_prev = None
        self._crops = self._crop_buffer(keep=keep_tracker_state)

    def _calibration_possible(self) -> bool:
        return self._crop_spec is not None and torch_available()

    def _roi_extractor(self):
        """The method's ROI extractor; for a classic method, once Calibrate's crops are known, one that
        also cuts them (the skin mean it measures is the same)."""
        roi = roi_extractor_for(self._method)
        spec = self._crop_spec
        if roi.crop_size is None and self._calibration_possible():
            roi = RoiExtractor(crop_size=spec.size, crop_scale=spec.scale, crop_masked=spec.masked)
        return roi

    def _crop_buffer(self, keep: bool) -> CropBuffer | None:
        """The last minute of crops, for Calibrate (only where it can run: a model, and torch): the
        one running when ``keep`` and its crops are cut the same way, else a new one."""
        spec = self._crop_spec
        if not self._calibration_possible() or self._roi.crop_size != spec.size:
            self._crops_spec = None
            return None
        if keep and self._crops is not None and self._crops_spec == spec:
            return self._crops
        self._crops_spec = spec
        # background crops only where the calibration's fine-tune reads them (a net with the
        # Conv3d learned path): about 1 % of a core otherwise spent on every frame
        return CropBuffer(spec.size, spec.scale, with_background=spec.background)

    # ---- sources ---------------------------------------------------------------------------
    def _apply_source(self, spec: SourceSpec, *, level: str = "error", instead: str = "",
                      fallback: bool = False) -> bool:
        self.message.emit("info", f"Opening {spec.label}...")
        try:
            opened = open_source(spec)
        except Exception as exc:  # noqa: BLE001 - SourceError, or a decoder/driver surprise
            if not isinstance(exc, SourceError):
                log.exception("opening %s failed", spec)
            why = str(exc) if isinstance(exc, SourceError) else f"cannot open {spec.label}: {exc}"
            why = why.rstrip(".") + "."
            if not instead and self._spec is not None:
                instead = f"Still showing {self._spec.label}."
            if spec == self.asked_spec and self.asked_failure is None:
                self.asked_failure = why
            self.source_failed.emit(SourceFailure(spec, why, f"{source_sentence(why, spec)} {instead}".strip(),
                                                  level))
            return False
        if spec == self.asked_spec:
            self.asked_spec = None  # the asked source opened (now or on a retry)
            self.asked_failure = None
        self._stop_capture()
        self._gen += 1
        self._source, self._spec = opened, spec
        self.frames.clear()
        self._t_shift = None  # the next frame re-anchors the session clock
        if self._tracker is not None:
            self._reset_pipeline()
        # a file or the demo waits at its first frame while the tracker is still to load (_startup)
        self._capture_go = threading.Event()
        if self._tracker is not None:
            self._capture_go.set()
        self._capture = CaptureThread(opened, self.frames, self._capture_callback(self._gen), self._gen,
                                      go=self._capture_go)
        self._capture.start()
        self._drop_base = self.frames.dropped
        self._fps_times.clear()
        self._lat_ms.clear()
        self._rec_event("source", spec.to_text())
        self._calib_failure = None
        self._cancel_calibration("another source")
        if self._calibrated:  # another source, perhaps another face: back to the model as given
            self._calibrated, self._model_path = False, self._base_model_path
            self._apply_method(self._method_name, self._base_model_path)
            self.message.emit("info", "Calibration dropped for the new source; calibrate again for this face.")
        self.source_changed.emit(SourceInfo(spec, opened.label, opened.size, opened.nominal_fps_hz, fallback))
        self.message.emit("info", f"Source: {opened.label}")
        return True

    def _capture_callback(self, gen: int):
        def on_event(kind: str, msg: str) -> None:  # runs on the capture thread
            self._post("capture", gen, kind, msg)
        return on_event

    def _on_capture_event(self, gen: int, kind: str, msg: str) -> None:
        if gen != self._gen:
            return
        if kind in ("error", "eof"):
            # the frames captured before the end come first: else they would be shown after the
            # "no signal", which they would hide again
            while (item := self.frames.get(timeout=0)) is not None:
                if item[0] == self._gen:
                    self._process(item[1])
            self._flush_tracking()
        self._rec_event(f"source_{kind}", msg)
        text = source_sentence(msg, self._spec)
        if kind in ("error", "eof"):
            self.source_lost.emit(text)
            self.message.emit("error" if kind == "error" else "info", text)
        else:
            self.message.emit(kind if kind == "ok" else "info", text)
        if kind == "eof" and self._rec is not None:
            # the file is over: nothing more will come, so the recording ends with it (summary.json
            # now, not when the window closes); a camera's error keeps it, the camera may come back
            self._stop_recording()

    def _stop_capture(self) -> None:
        if self._capture is not None:
            self._capture.stop()
            self._capture = None

    # ---- recording --------------------------------------------------------------------------
    def _start_recording(self, parent_dir: str) -> None:
        if self._rec is not None:
            self._stop_recording()
        meta = {
            "app": "fcus-rppg",
            "source": self._spec.to_text() if self._spec else None,
            "source_label": self._spec.label if self._spec else None,
            "method": getattr(self._method, "name", None),
            "face_tracker": self.tracker_name,
            # the model file in use when the recording started (shipped, the user's, calibrated), as analyze
            # names it; a later change of method or a calibration is in events.csv
            "model": model_record(getattr(self._method, "model_path", None)),
            "estimator": dataclasses.asdict(self._est.cfg if self._est is not None else self.est_cfg),
        }
        t0 = self._last_t if self._last_t is not None else 0.0
        fps = getattr(self._source, "nominal_fps_hz", 0.0) or 30.0
        rec = SessionRecorder(parent_dir, meta, t0_s=t0, video=self.record_video, video_fps=fps,
                              codec=self.record_codec)
        try:
            path = rec.start()
        except RecordingError as exc:
            self.record_failure = self.record_failure or str(exc)
            self.message.emit("error", f"{exc}. Measuring goes on without recording.")
            self.recording_changed.emit(None)
            return
        self._rec = rec
        self.recorded.append(Path(path))
        self.recording_changed.emit(path)
        self.message.emit("info", f"Recording to {path}")

    def _stop_recording(self) -> None:
        if self._rec is not None:
            self._flush_tracking()  # the frames up to now belong in the recording
        rec, self._rec = self._rec, None
        if rec is None:
            return
        rec.close(self._last_t, self._recent_stream())
        self.recording_changed.emit(None)
        if rec.error is None:
            self.message.emit("info", f"Recording saved in {rec.path}")

    def _rec_event(self, name: str, detail: str) -> None:
        """An event in the recording (if one runs), at the last frame's time; a failed write stops
        the recording like any other recorder error (``_rec_call``)."""
        if self._rec is not None and self._last_t is not None:
            self._rec_call(self._rec.event, self._last_t, name, detail)

    def _rec_call(self, fn, *args) -> None:
        try:
            fn(*args)
        except RecordingError as exc:
            self._rec = None
            self.record_failure = self.record_failure or str(exc)
            self.recording_changed.emit(None)
            self.message.emit("error", f"{exc}. Measuring goes on without recording.")

    # ---- calibration (app.calibration) --------------------------------------------------------
    def _calibration_state(self) -> CalibrationState:
        if self._calib is not None:  # until the worker takes its outcome (its progress comes first)
            done = self._calib_progress
            if done is None:
                return CalibrationState("running", "Calibrating to your face: starting...")
            return CalibrationState("running", f"Calibrating to your face: step {done[0]} of {done[1]}"
                                               f"{' (saving the model)' if done[0] >= done[1] else ''}...", done)
        if self._method is None or not method_spec(self._method.name).takes_model:
            return CalibrationState("unavailable", "Calibrate adapts the FCUS model: choose FCUS")
        if not torch_available():
            return CalibrationState("unavailable", CALIBRATE_INSTALL_HINT)
        need_s = self.min_calibrate_face_s
        have_s = self._crops.face_s if self._crops is not None else 0.0
        if have_s < need_s:
            more_s = max(math.ceil(need_s - have_s), 1)
            return CalibrationState("collecting", f"Calibrate needs {need_s:.0f} s of your face in view: "
                                                  f"{more_s} s more")
        if self._calib_failure is not None:
            return CalibrationState("failed", self._calib_failure)
        if self._calibrated:
            return CalibrationState("done", "Calibrated to this face (calibrate again to redo it)")
        return CalibrationState("ready", f"Adapt the model to your face (needs {need_s:.0f} s of it, "
                                         "uses the last minute)")

    def _emit_calibration_state(self, changed_only: bool = False) -> None:
        state = self._calibration_state()
        if changed_only and state == self._calib_shown:
            return
        self._calib_shown = state
        self.calibration_changed.emit(state)

    def _start_calibration(self) -> None:
        state = self._calibration_state()
        if state.state in ("unavailable", "running"):
            self.message.emit("warning", state.text)
            return
        have_s = self._crops.face_s if self._crops is not None else 0.0
        if have_s < self.min_calibrate_face_s:
            self.message.emit("warning", f"Calibrate needs {self.min_calibrate_face_s:.0f} s of your face; it has "
                                         f"seen {have_s:.0f} s. Stay in view and try again.")
            return
        self._calib_failure = None
        if self._calib_dir is None:
            self._calib_dir = tempfile.mkdtemp(prefix="fcus-calibration-")
        weights = weights_beside(self._base_model_path) if self._base_model_path else None
        self._calib_progress = None
        self._calib = CalibrationJob(self._crops.snapshot(), Path(self._calib_dir),
                                     lambda job, outcome: self._post("calibrated", job, outcome),
                                     weights=weights, steps=self.calibrate_steps,
                                     on_progress=lambda job, k, n: self._post("calibration_progress", job, k, n))
        self._calib.start()
        self._rec_event("calibration", "started")
        self.message.emit("info", f"Calibrating to your face on the last {have_s:.0f} s; the reading goes on.")
        self._emit_calibration_state()

    def _cancel_calibration(self, why: str) -> None:
        """Stop a running calibration: its result would belong to another face or model."""
        if self._calib is None:
            return
        self._calib.cancel(timeout_s=0.5)
        self._calib = None
        self._rec_event("calibration", f"cancelled: {why}")
        self.message.emit("info", f"Calibration cancelled: {why}.")
        self._emit_calibration_state()

    def _finish_calibration(self, job: CalibrationJob, outcome: CalibrationOutcome) -> None:
        """Swap the adapted model into the running estimator (no restart: the readings go on)."""
        if job is not self._calib:  # cancelled, or an older job: its result is not wanted
            return
        self._calib = None
        if not outcome.ok:
            self._rec_event("calibration", f"failed: {outcome.message}")
            self.message.emit("error", f"Calibration failed: {outcome.message}")
            self._calib_failure = outcome.message
            self._emit_calibration_state()
            return
        name = self._method.name
        if not method_spec(name).takes_model:  # the user left FCUS meanwhile: used when FCUS returns
            self._model_path, self._calibrated = str(outcome.model_path), True
            self._emit_calibration_state()
            return
        try:
            method = build_method(name, str(outcome.model_path))
        except Exception as exc:  # noqa: BLE001 - a bad export must not stop the reading
            self.message.emit("error", f"Calibration failed: the adapted model did not load ({exc})")
            self._calib_failure = str(exc)
            self._emit_calibration_state()
            return
        self._method, self._model_path, self._calibrated = method, str(outcome.model_path), True
        if self._est is not None:
            self._est.method = method  # the estimator's next update runs the adapted model
        self._rec_event("calibration", f"done in {outcome.seconds:.1f} s on {outcome.face_s:.0f} s of face")
        self.method_changed.emit(MethodInfo(method.name, method_device(method), "", _gate_of(method, self.est_cfg),
                                            calibrated=True, model_file=self._model_file_name(True)))
        self.message.emit("info", f"Calibrated in {outcome.seconds:.0f} s on {outcome.face_s:.0f} s of your face.")
        self._emit_calibration_state()

    # ---- per frame -----------------------------------------------------------------------
    def _process(self, frame: Frame) -> None:
        """One frame from the source: tracked on key frames (the frames between two key frames
        are measured when the second one is detected, a fraction of a second later: their face
        is interpolated, as in ``analyze``), then shown at once with the latest key frame's face."""
        f = self._on_session_clock(frame)
        t0 = time.perf_counter()
        try:
            resolved = self._keyframes.push(f) if self._keyframes is not None else []
        except Exception as exc:  # noqa: BLE001 - a tracker failing on a frame must not stop the app
            log.exception("face tracking failed")
            self.message.emit("error", f"face tracking error: {exc}")
            return
        for rf, face in resolved:
            self._measure(rf, face)
        self._count_frame((time.perf_counter() - t0) * 1000.0)
        face = self._keyframes.latest_face if self._keyframes is not None else None
        face_ok = bool(face is not None and face.ok)
        self._post_frame(FrameResult(t_s=f.t_s, image_bgra=self._display_image(frame.bgr, face),
                                     state=self._state or STATE_ACQUIRING, face_ok=face_ok,
                                     n_faces=face.n_faces if face is not None else 0, stats=self._stats()))

    def _measure(self, f: Frame, face: Face):
        """A tracked frame through the estimator, the recording and the readings."""
        upd = self._push(f, face)
        if upd is None:
            return None
        t = f.t_s
        self._state = upd.state
        face_ok = bool(face is not None and face.ok)
        if face_ok and face.new_person:
            self._new_person = t
            # the followed face was not seen for switch_after_s while another was: it may have left, or
            # the detector may have lost it (as MediaPipe does now and then with two faces in view)
            self._rec_event(PERSON_EVENT, "another face measured (the one measured before was not seen for 1 s)")
            # short enough for the status bar beside the recording's label (the event says why)
            self.message.emit("info", "Now measuring another face: its reading starts afresh.")
        if self._face_ok_prev is not None and face_ok != self._face_ok_prev and self._rec is not None:
            self._rec_call(self._rec.event, t, "face_found" if face_ok else "face_lost", "")
        self._face_ok_prev = face_ok
        if self._rec is not None:
            self._rec_call(self._rec.frame, t, face, f.bgr, f.index)
        if upd.reading is not None:
            self._emit_reading(t, upd)
        if self._rec is not None:
            self._rec_call(self._rec.maybe_flush)
        return upd

    def _flush_tracking(self) -> None:
        """Measure the frames still waiting for a key frame (the source ended, a recording stops)."""
        if self._keyframes is not None and self._est is not None:
            for rf, face in self._keyframes.flush():
                self._measure(rf, face)

    def _on_session_clock(self, frame: Frame) -> Frame:
        """The frame on the session's clock: sources switched mid-session keep the time rising."""
        first = self._t_shift is None
        if first:
            self._t_shift = (self._last_t + 1.0 / 30.0 - frame.t_s) if self._last_t is not None else -frame.t_s
        t = frame.t_s + self._t_shift
        if self._last_t is not None and t <= self._last_t:
            t = self._last_t + 1e-3
        self._last_t = t
        if first:
            self._source_t0 = t  # the source's own session starts here (the HR trend's zero)
        return Frame(index=frame.index, t_s=t, bgr=frame.bgr)

    def _push(self, f: Frame, face: Face):
        """The estimator's update for the tracked frame; None when the method failed on it (after
        a few failures in a row the fallback method takes over)."""
        try:
            sample = self._roi.extract(f, face)
            if self._crops is not None:
                self._crops.push(f.bgr, sample)
            upd = self._est.push_roi(sample, face)
        except Exception as exc:  # noqa: BLE001 - a method failing at run time
            log.exception("estimator failed")
            self._method_failures += 1
            if self._method_failures >= MAX_METHOD_FAILURES and self._method.name != FALLBACK_METHOD:
                failed = self._method.name.upper()
                self.message.emit("error", f"{failed} failed repeatedly ({exc}); switching to "
                                           f"{FALLBACK_METHOD.upper()}")
                self._apply_method(FALLBACK_METHOD, None)
            elif self._method_failures == 1:
                self.message.emit("error", f"measurement error: {exc}")
            return None
        self._method_failures = 0
        return upd

    def _count_frame(self, lat_ms: float) -> None:
        now = time.monotonic()
        self._n_frames += 1
        self._fps_times.append(now)
        while self._fps_times and self._fps_times[0] < now - 2.0:
            self._fps_times.popleft()
        self._lat_ms.append(lat_ms)

    def _stats(self) -> Stats:
        span = (self._fps_times[-1] - self._fps_times[0]) if len(self._fps_times) > 1 else 0.0
        return Stats(
            fps_hz=(len(self._fps_times) - 1) / span if span > 0 else 0.0,
            dropped=self.frames.dropped - self._drop_base,
            latency_ms=float(np.mean(self._lat_ms)) if self._lat_ms else 0.0,
            frames=self._n_frames,
        )

    def _emit_reading(self, t: float, upd) -> None:
        window_s = self._est.cfg.window_s
        tg, vg = self._est.recent_bvp(max(BVP_SPAN_S, window_s) + 1.0)
        if self._rec is not None:
            self._rec_call(self._rec.reading, upd.reading)
            if self._rec is not None:  # each frame's finished value: what analyze writes
                t_now = float(upd.reading.t_s)
                tr, vr = self._est.recent_bvp(recorder_span_s(window_s, t_now, self._rec.oldest_pending_t_s))
                self._rec_call(self._rec.bvp_update, tr, vr, t_now, window_s, window_s)
        self.reading_ready.emit(ReadingResult(
            t_s=t, reading=upd.reading, state=upd.state, hrv=upd.hrv, resp_bpm=upd.resp_bpm,
            bvp_t_s=tg, bvp=vg, method=self._method.name, hrv_why=self._est.hrv_why,
            new_person_t_s=self._new_person,
            source_t_s=t - self._source_t0 if self._source_t0 is not None else t))
        self._new_person = None
        self._emit_calibration_state(changed_only=True)  # the face seconds Calibrate needs, once a second

    def _post_frame(self, result: FrameResult) -> None:
        """Hand the newest frame to the window (one pending at a time: the window takes the latest)."""
        with self._mail_lock:
            self._mail = result
            post = not self._posted
            self._posted = True
        if post:
            self.frame_ready.emit()

    def _display_image(self, bgr: np.ndarray, face: Face | None) -> np.ndarray | None:
        if self.privacy == "hide":
            return None
        h, w = bgr.shape[:2]
        if self.privacy == "blur":
            small = cv2.resize(bgr, (max(w // 24, 1), max(h // 24, 1)), interpolation=cv2.INTER_AREA)
            bgr = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        # A new picture (the frame itself is still to be measured) in the window's own pixel format;
        # a picture wider than the display stays BGR until it is scaled down, so that the
        # conversion runs on the smaller one (the overlay's 4-value colours draw on either).
        big = w > DISPLAY_MAX_WIDTH
        img = bgr.copy() if big else cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
        if self.overlay and face is not None and face.ok:
            from model.roi import draw_overlay

            mask = self._roi.last_mask if (self._roi is not None and self.privacy != "blur") else None
            thick = max(2, int(round(w / 320)))
            try:
                if mask is None and self.privacy == "blur":
                    x, y, bw, bh = face.box.as_int()
                    cv2.rectangle(img, (x, y), (x + bw, y + bh), OVERLAY_BOX_BGRA, thick)
                else:
                    draw_overlay(img, face, mask, thickness=thick, box_color=OVERLAY_BOX_BGRA,
                                 skin_color=OVERLAY_SKIN_BGRA)
            except Exception:  # noqa: BLE001 - an overlay problem must not stop the measurement
                log.debug("overlay failed", exc_info=True)
        if big:
            small = cv2.resize(img, (DISPLAY_MAX_WIDTH, int(round(h * DISPLAY_MAX_WIDTH / w))),
                               interpolation=cv2.INTER_AREA)
            img = cv2.cvtColor(small, cv2.COLOR_BGR2BGRA)
        return img

    def _shutdown(self) -> None:
        self._stop_capture()
        if self._calib is not None:
            self._calib.cancel()
        if self._calib_dir is not None:
            shutil.rmtree(self._calib_dir, ignore_errors=True)
        if self._rec is not None:
            try:
                self._flush_tracking()
            except Exception:  # noqa: BLE001
                log.exception("measuring the last frames failed")
            try:
                self._rec.close(self._last_t, self._recent_stream())
            except Exception:  # noqa: BLE001
                log.exception("closing the recording failed")
            self._rec = None
        if self._tracker is not None:
            try:
                self._tracker.close()
            except Exception:  # noqa: BLE001
                log.debug("tracker close failed", exc_info=True)
