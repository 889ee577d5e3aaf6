"""Session recording: a folder of CSV files written as the session goes.

Layout of one session folder (``<parent>/<YYYYmmdd-HHMMSS>``, never an existing folder):

* ``bvp.csv``    ``t_s,bvp``             one row per frame, the BVP once the live estimator finished it
                                         (``analyze`` format; ``bvp`` empty where there is no signal)
* ``hr.csv``     ``t_s,hr_bpm,quality,withheld,person``  one row per HR update (``analyze`` format;
                                         ``hr_bpm`` empty while the quality gate withholds the
                                         reading, ``withheld`` then says why; ``person`` 1, then 2
                                         from the first ``person`` event, ...)
* ``faces.csv``  ``t_s,x,y,w,h``         one row per frame, the tracked face box in pixels (empty
                                         when no face)
* ``events.csv`` ``t_s,wall_time,event,detail``  start/stop, source and method changes, face
                                         lost/found, ``person`` (another face measured), errors
* ``video.avi``  only with video on (``video=True``): the frames the worker processed, in one of
                 :data:`VIDEO_CODECS`: ``mjpg`` (default: JPEG quality 95, near-lossless, about
                 10 GB an hour at 640x480 30 fps) or ``mp4v`` (MPEG-4 part 2, about 0.3-0.5 GB an
                 hour). The container's fixed frame rate cannot hold real timestamps (OpenCV's MJPG
                 writer even rounds it to a whole number: 12.5 -> 12), so it is nominal
                 (:class:`model.session_source.SessionSource` replays a session on frames.csv) and
* ``frames.csv`` ``frame,t_s,source_frame``  one row per video frame, written by the encoder
                 thread right after the frame went into the video: its index in ``video.avi``
                 and its time (same clock as ``bvp.csv``); written only with the video
* ``session.json``  what was measured with what (source, method, tracker, versions, ``"video"``,
                    the requested and the container frame rate), rewritten at the end with the
                    counts and ``"ended"`` (the end marker)
* ``summary.json``  written at the end: the ``analyze`` summary's fields, from these files

The video is encoded on its own thread (:class:`VideoEncoderThread`) fed by a bounded queue, so
encoding never holds up the capture or the measurement. A session killed before its end (no
``"ended"`` in session.json) is repaired when the next recording starts under the same folder
(:func:`repair_sessions`): frames.csv is cut to the frames the video really holds, session.json
is finished (``"repaired"``, counts) and summary.json written.

Times are seconds from the start of the recording on the source clock. Every file is flushed at
least once a second (:meth:`SessionRecorder.maybe_flush`), so killing the app loses at most the
last second of measured values, and of ``bvp.csv`` the last estimator window (a frame's row waits
until no later window can change its value, the value ``analyze`` writes; see :meth:`bvp_update`). The MJPG
writer appends each frame to the file as it comes (only the AVI index is written at the end; a
killed recording's video is still readable). Any write error (full disk, no permission, folder
removed) is turned into one :class:`RecordingError` with a message for users; the recorder then
stops writing and the measurement goes on.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import queue
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from model.analyze import (
    BVP_HEADER,
    HR_HEADER,
    bvp_row,
    clip_hr_fields,
    clip_hr_reliability,
    hr_row,
    with_people,
    withheld_counts,
)
from model.clip_hr import ClipHr, whole_clip_hr
from model.session_source import RECORDING_QUIET_S, files_quiet_s
from model.types import Face, HrReading

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.5  # well inside the one-second promise
VIDEO_NAME = "video.avi"
FRAMES_NAME = "frames.csv"
VIDEO_JPEG_QUALITY = 95  # MJPG quality (0-100): near-lossless for the pulse signal
MIN_FREE_BYTES = 64 * 1024 * 1024  # the video stops (reported) before the disk is full
ENCODER_QUEUE_FRAMES = 45  # 1.5 s at 30 fps (40 MB at 640x480) between the worker and the encoder
SUMMARY_NAME = "summary.json"
PERSON_EVENT = "person"  # events.csv: the tracker moved to another person (Face.new_person)
#: What session.json and summary.json say of bvp.csv.
BVP_NOTE = ("each frame's finished BVP, as analyze computes it from the frames the app measured (the last "
            "estimator window at the stop: the values known then); fcus-rppg analyze on the session folder "
            "reads video.avi, whose encoding changes the frames a little, so its BVP is close, not equal")
SESSION_NAME = "session.json"


@dataclass(frozen=True)
class VideoCodec:
    """How ``video.avi`` is written: an OpenCV back end and FourCC."""
    name: str
    api: int
    fourcc: str
    exact_rate: bool  # whether the container keeps a fractional frame rate (12.5 fps)
    note: str


VIDEO_CODECS = {
    "mjpg": VideoCodec("mjpg", cv2.CAP_OPENCV_MJPEG, "MJPG", False,
                       "MJPG, JPEG quality 95: near-lossless, large (about 10 GB an hour at 640x480 30 fps)"),
    "mp4v": VideoCodec("mp4v", cv2.CAP_FFMPEG, "mp4v", True,
                       "MPEG-4 part 2 (FFmpeg): compact (about 0.3-0.5 GB an hour at 640x480 30 fps), lossy"),
}
DEFAULT_VIDEO_CODEC = "mjpg"


class RecordingError(RuntimeError):
    """Recording failed; the message is meant for users."""


def values_at(tg: np.ndarray, vg: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """A uniform-grid signal (tg, vg) at times ``t_s``: linear interpolation where both
    neighbouring grid samples are finite, NaN elsewhere (and outside the grid)."""
    t_s = np.asarray(t_s, dtype=np.float64)
    out = np.full(len(t_s), np.nan)
    if len(tg) == 0 or len(t_s) == 0:
        return out
    if len(tg) == 1:
        on = np.isclose(t_s, tg[0]) & np.isfinite(vg[0])
        out[on] = vg[0]
        return out
    ok = np.isfinite(vg)
    vi = np.interp(t_s, tg, np.where(ok, vg, 0.0))
    j = np.clip(np.searchsorted(tg, t_s), 1, len(tg) - 1)
    inside = (t_s >= tg[0] - 1e-9) & (t_s <= tg[-1] + 1e-9)
    on_left = np.isclose(tg[j - 1], t_s) & ok[j - 1]
    on_right = np.isclose(tg[j], t_s) & ok[j]
    mask = inside & ((ok[j - 1] & ok[j]) | on_left | on_right)
    out[mask] = vi[mask]
    return out


#: Frames without a BVP update after which the recorder stops waiting for one (20 s at 30 fps;
#: updates come about once a second while the estimator runs).
STOPPED_UPDATES_FRAMES = 600

#: The longest stream handed to the recorder: frames that waited longer (a source stalled for
#: minutes) get the values known then, or none.
RECORDER_MAX_SPAN_S = 300.0


def recorder_span_s(hold_s: float, newest_t_s: float | None = None, oldest_pending_t_s: float | None = None) -> float:
    """How much of the BVP stream (seconds back from the newest sample, ``newest_t_s``) to hand
    :meth:`SessionRecorder.bvp_update` when its frames wait ``hold_s``: twice that, so that a frame
    which came of age between two updates still lies inside the stream it is looked up in (updates
    come a little more than a second apart, so a stream only ``hold_s`` + 1 s long left a frame now
    and then outside it, and its row without a value); and at least back to the oldest frame still
    waiting (:attr:`SessionRecorder.oldest_pending_t_s`), up to :data:`RECORDER_MAX_SPAN_S`: after a
    source that stalled (a camera that froze, a laptop that slept) the frames from before the stall
    still get their values."""
    span_s = 2.0 * float(hold_s) + 1.0
    if newest_t_s is not None and oldest_pending_t_s is not None:
        span_s = max(span_s, min(float(newest_t_s) - float(oldest_pending_t_s) + 1.0, RECORDER_MAX_SPAN_S))
    return span_s


def bvp_rows_ready(t: np.ndarray, v: np.ndarray, t_now_s: float, hold_s: float, settle_s: float = 0.0) -> int:
    """How many of the pending frames (times ``t``, BVP known now ``v``, NaN: not yet) get their
    ``bvp.csv`` row now: the rule of :meth:`SessionRecorder.bvp_update`."""
    finite = np.flatnonzero(np.isfinite(v))
    n = int(finite[-1]) + 1 if len(finite) else 0
    if settle_s > 0:
        n = min(n, int(np.searchsorted(t, t_now_s - settle_s, side="right")))
    while n < len(t) and t[n] < t_now_s - hold_s:
        n += 1
    return n


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def new_session_dir(parent: Path, now: datetime | None = None) -> Path:
    """A fresh folder name under ``parent`` (not created)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    p = parent / stamp
    n = 2
    while p.exists():
        p = parent / f"{stamp}-{n}"
        n += 1
    return p


class SessionRecorder:
    """Writes one session folder. Used from the worker thread only."""

    FILES = {
        "bvp": ("bvp.csv", BVP_HEADER),
        "hr": ("hr.csv", HR_HEADER),
        "faces": ("faces.csv", ["t_s", "x", "y", "w", "h"]),
        "events": ("events.csv", ["t_s", "wall_time", "event", "detail"]),
    }

    def __init__(self, parent_dir: str | Path, meta: dict | None = None, *, t0_s: float = 0.0,
                 video: bool = False, video_fps: float = 30.0, codec: str = DEFAULT_VIDEO_CODEC):
        self.video = bool(video)
        self.video_fps = float(video_fps) if video_fps and math.isfinite(video_fps) and video_fps > 0 else 30.0
        if codec not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {codec!r} (one of {', '.join(VIDEO_CODECS)})")
        self.codec = VIDEO_CODECS[codec]
        self._vw: VideoEncoderThread | None = None
        self._video_size: tuple[int, int] | None = None  # (w, h) of the video, set by its first frame
        self.n_video_frames = 0
        self._resize_noted = False
        self.parent_dir = Path(parent_dir).expanduser()
        self.path = new_session_dir(self.parent_dir)
        self.meta = dict(meta or {})
        self.t0_s = float(t0_s)  # source-clock time that becomes t_s = 0
        self.error: str | None = None
        self.closed = False
        self.n_frames = 0
        self.n_readings = 0
        self.person = 1  # the people measured one after the other (PERSON_EVENT)
        self._fh: dict[str, IO[str]] = {}
        self._w: dict[str, csv.writer] = {}
        self._last_flush = time.monotonic()
        self._pending_t: list[float] = []  # frame times waiting for their BVP value
        self._frames_since_update = 0  # frames since the last bvp_update
        self._started_wall = datetime.now()

    # ---- life cycle -------------------------------------------------------------------
    def start(self) -> Path:
        """Create the folder and the files (after repairing sessions a killed run left in the same
        parent folder). Raises RecordingError."""
        try:
            repair_sessions(self.parent_dir)
        except OSError as exc:
            log.warning("could not repair earlier sessions in %s: %s", self.parent_dir, exc)
        try:
            self.path.mkdir(parents=True, exist_ok=False)
            _OPEN_SESSIONS.add(self.path.resolve())
            for key, (name, header) in self.FILES.items():
                fh = self._open_file(self.path / name)
                self._fh[key] = fh
                self._w[key] = csv.writer(fh, lineterminator="\n")
                self._w[key].writerow(header)
            self._write_meta(final=False)
            self.flush()
        except OSError as exc:
            self._fail(exc, "cannot start recording in")
        self.event(self.t0_s, "record_start", str(self.path))
        log.info("recording to %s", self.path)
        return self.path

    def _open_file(self, path: Path) -> IO[str]:
        return open(path, "w", newline="", encoding="utf-8")

    def _write_meta(self, final: bool) -> dict:
        """Write session.json; returns what it holds."""
        meta = {
            **self.meta,
            "started": self._started_wall.isoformat(timespec="seconds"),
            # who is writing it: another app's repair leaves a session alone while this process lives
            "recorder": {"pid": os.getpid(), "host": socket.gethostname(), "boot": _boot_id()},
            "t0_source_s": self.t0_s,
            "files": {k: v[0] for k, v in self.FILES.items()},
            **({"video": VIDEO_NAME, "frames_file": FRAMES_NAME, "video_codec": self.codec.fourcc,
                "video_requested_fps_hz": self.video_fps,
                "video_container_fps": self.video_fps if self.codec.exact_rate else float(round(self.video_fps)),
                **({"video_quality": VIDEO_JPEG_QUALITY} if self.codec.name == "mjpg" else {}),
                "video_note": "real frame times are in frames.csv (the container's frame rate is "
                              "nominal)"} if self.video else {}),
            "bvp_note": BVP_NOTE,
        }
        if final:
            meta.update(ended=datetime.now().isoformat(timespec="seconds"),
                        frames=self.n_frames, hr_updates=self.n_readings)
            if self.video:
                meta.update(video_frames=self.n_video_frames,
                            video_size=list(self._video_size) if self._video_size else None)
        _write_json(self.path / SESSION_NAME, meta)
        return meta

    def close(self, t_s: float | None = None, stream: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Write the pending frames (their values in ``stream`` = (tg, vg), the BVP as known now;
        empty where unknown or without it), the stop event, flush, close."""
        if self.closed:
            return
        try:
            if self.error is None:
                self._flush_pending_bvp(stream)
                if t_s is not None:
                    self.event(t_s, "record_stop", "")
                self.flush()
                self._release_video()  # every queued frame encoded, frames.csv complete
                if self.error is None:
                    _write_json(self.path / SUMMARY_NAME, session_summary(self.path, self._write_meta(final=True)))
        except (OSError, RecordingError) as exc:
            log.warning("recording close: %s", exc)
        finally:
            self.closed = True
            self._close_files()
            _OPEN_SESSIONS.discard(self.path.resolve())

    # ---- rows ---------------------------------------------------------------------------
    def _rel(self, t_s: float) -> float:
        return float(t_s) - self.t0_s

    def _row(self, key: str, row: list) -> None:
        if self.error is not None or self.closed:
            return
        try:
            self._w[key].writerow(row)
        except OSError as exc:
            self._fail(exc, "recording stopped: cannot write to")

    def frame(self, t_s: float, face: Face | None, bgr: np.ndarray | None = None,
              source_index: int | None = None) -> None:
        """One processed frame: its face box now, its BVP once known (:meth:`bvp_update`), and
        with the video on its picture (``bgr``) in ``video.avi`` and a row in ``frames.csv``."""
        if self.error is not None or self.closed:
            return
        self.n_frames += 1
        rel = self._rel(t_s)
        if self.video and bgr is not None:
            self._video_frame(rel, bgr, source_index)
        if face is not None and face.ok and face.box is not None:
            b = face.box
            self._row("faces", [f"{rel:.4f}", f"{b.x:.1f}", f"{b.y:.1f}", f"{b.w:.1f}", f"{b.h:.1f}"])
        else:
            self._row("faces", [f"{rel:.4f}", "", "", "", ""])
        self._pending_t.append(float(t_s))
        self._frames_since_update += 1
        # Never hold frames for long once the BVP updates have stopped coming (e.g. the estimator
        # was rebuilt): those older than 15 s are written empty. Counted in frames since the last
        # update, not in time: after a stalled source the frames from before it are still waiting
        # for the next update, which brings their values (recorder_span_s).
        if self._frames_since_update > STOPPED_UPDATES_FRAMES and self._pending_t[-1] - self._pending_t[0] > 20.0:
            self._flush_pending_bvp(None, upto_t_s=self._pending_t[-1] - 15.0)

    def _video_frame(self, rel: float, bgr: np.ndarray, source_index: int | None) -> None:
        if bgr.ndim == 2:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
        h, w = bgr.shape[:2]
        if self._vw is None:
            self._open_video(w, h)
        if self._vw.error is not None:
            self._fail(self._vw.error, "recording stopped: cannot write the video to")
        vw, vh = self._video_size
        if (w, h) != (vw, vh):  # the source changed size mid-recording: keep one video size
            if not self._resize_noted:
                self._resize_noted = True
                self.event(rel + self.t0_s, "video_resized", f"{w}x{h} -> {vw}x{vh}")
            bgr = cv2.resize(bgr, (vw, vh), interpolation=cv2.INTER_AREA)
        # the encoder thread writes the frame, then its frames.csv row
        self._vw.put(np.ascontiguousarray(bgr, dtype=np.uint8),
                     [self.n_video_frames, f"{rel:.4f}", "" if source_index is None else int(source_index)])
        self.n_video_frames += 1

    def _open_video(self, w: int, h: int) -> None:
        path = self.path / VIDEO_NAME
        try:
            vw = cv2.VideoWriter(str(path), self.codec.api, cv2.VideoWriter_fourcc(*self.codec.fourcc),
                                 self.video_fps, (int(w), int(h)))
            ok = vw.isOpened()
        except cv2.error as exc:
            ok, vw = False, None
            log.warning("video writer: %s", exc)
        if not ok:
            why = "no write permission" if not path.parent.exists() or not _writable(path.parent) \
                else f"the {self.codec.fourcc} video writer could not be opened"
            self._fail(OSError(why), "recording stopped: cannot write the video to")
        if self.codec.name == "mjpg":
            vw.set(cv2.VIDEOWRITER_PROP_QUALITY, VIDEO_JPEG_QUALITY)
        try:
            frames_fh = self._open_file(self.path / FRAMES_NAME)
            frames_fh.write("frame,t_s,source_frame\n")
        except OSError as exc:
            vw.release()
            self._fail(exc, "recording stopped: cannot write to")
        self._vw = VideoEncoderThread(vw, frames_fh)
        self._vw.start()
        self._video_size = (int(w), int(h))

    def _release_video(self) -> None:
        """Encode what is queued, close the video and frames.csv (waits for the encoder)."""
        vw, self._vw = self._vw, None
        if vw is not None:
            vw.close()
            if vw.error is not None and self.error is None:
                self.error = f"recording stopped: cannot write the video to {self.path}: {vw.error}"
                log.error("%s", self.error)

    def bvp_update(self, tg: np.ndarray, vg: np.ndarray, t_now_s: float, hold_s: float = 10.0,
                   settle_s: float = 0.0) -> None:
        """The BVP stream as known now on its grid (tg, vg): write the rows of the pending frames.

        A frame waits while its BVP is still unknown but may yet arrive: the estimator fills a
        window of up to ``hold_s`` (its window length) once enough signal exists, so the first
        seconds after the face appears are written when the first window covers them. A frame
        is written once it is ``settle_s`` old and its value is known, when a later frame has a
        value (it will never get one: a gap), or once it is older than ``hold_s``. With
        ``settle_s`` 0 a frame gets the value the stream first had for it; the app passes its
        estimator's window, so that every row holds the finished value (the one ``analyze``
        writes: the overlap of all the windows that cover the frame) and a kill loses at most
        that window's rows, never rows that are already measured."""
        self._frames_since_update = 0
        if not self._pending_t or self.error is not None:
            return
        t = np.asarray(self._pending_t)
        v = values_at(np.asarray(tg, dtype=np.float64), np.asarray(vg, dtype=np.float64), t)
        n = bvp_rows_ready(t, v, t_now_s, hold_s, settle_s)
        self._write_bvp(t[:n], v[:n])

    @property
    def oldest_pending_t_s(self) -> float | None:
        """The time of the oldest frame still waiting for its ``bvp.csv`` row (None: none waits)."""
        return self._pending_t[0] if self._pending_t and self.error is None else None

    def flush_bvp(self, stream: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Write every pending frame now, with its value in ``stream`` = (tg, vg), the BVP as
        known now (empty where unknown): the estimator that measures them is being replaced, and
        the next one will never measure frames before it started."""
        self._flush_pending_bvp(stream)

    def _flush_pending_bvp(self, stream, upto_t_s: float | None = None) -> None:
        """Write pending frames up to ``upto_t_s`` (all when None) with no value (``stream``
        None) or the values of ``stream`` = (tg, vg)."""
        if not self._pending_t or self.error is not None:
            return
        t = np.asarray(self._pending_t)
        n = len(t) if upto_t_s is None else int(np.searchsorted(t, upto_t_s + 1e-9, side="right"))
        v = values_at(stream[0], stream[1], t[:n]) if stream is not None else np.full(n, np.nan)
        self._write_bvp(t[:n], v)

    def _write_bvp(self, t: np.ndarray, v: np.ndarray) -> None:
        if len(t) == 0:
            return
        for ti, vi in zip(t, v):
            self._row("bvp", bvp_row(self._rel(ti), vi))
        del self._pending_t[:len(t)]

    def reading(self, r: HrReading) -> None:
        self.n_readings += 1
        self._row("hr", hr_row(self._rel(r.t_s), r, self.person))

    def event(self, t_s: float, name: str, detail: str = "") -> None:
        self.person += name == PERSON_EVENT  # hr.csv's person column: the readings from here on are the next one's
        self._row("events", [f"{self._rel(t_s):.3f}", datetime.now().isoformat(timespec="milliseconds"),
                             name, detail])

    # ---- durability ---------------------------------------------------------------------
    def flush(self) -> None:
        if self.error is not None or self.closed:
            return
        try:
            for fh in self._fh.values():
                fh.flush()
            if self._vw is not None:
                if self._vw.error is not None:
                    raise self._vw.error
                self._vw.flush_rows()
                self._check_video()
        except OSError as exc:
            self._fail(exc, "recording stopped: cannot write to")
        self._last_flush = time.monotonic()

    def _check_video(self) -> None:
        """cv2.VideoWriter reports no write errors: look at the file and the free space."""
        path = self.path / VIDEO_NAME
        if not path.is_file():
            raise OSError(f"{VIDEO_NAME} disappeared")
        if shutil.disk_usage(self.path).free < MIN_FREE_BYTES:
            raise OSError(28, "No space left on device (the disk is almost full)")

    def wait_video(self, timeout_s: float = 10.0) -> bool:
        """Wait until the encoder has written every frame given so far (not used while
        measuring: the worker never waits for the encoder)."""
        return self._vw.wait_idle(timeout_s) if self._vw is not None else True

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def _fail(self, exc: OSError, what: str) -> None:
        reason = exc.strerror or str(exc)
        self.error = f"{what} {self.path}: {reason}"
        log.error("%s", self.error)
        self._close_files()
        self.closed = True
        _OPEN_SESSIONS.discard(self.path.resolve())
        raise RecordingError(self.error) from exc

    def _close_files(self) -> None:
        """Close every open CSV and the video writer (errors while closing are ignored)."""
        for fh in self._fh.values():
            try:
                fh.close()
            except OSError:
                pass
        self._fh.clear()
        self._release_video()


class VideoEncoderThread(threading.Thread):
    """Encodes the video off the worker thread: ``put`` queues a frame and its frames.csv row
    (bounded: when the encoder is more than :data:`ENCODER_QUEUE_FRAMES` behind, ``put`` waits,
    which the capture queue then absorbs as counted drops); the thread writes the frame, then the
    row, so frames.csv never lists a frame the video does not hold. Errors are kept in
    ``error`` (an OSError) for the recorder to report."""

    def __init__(self, writer: cv2.VideoWriter, frames_fh: IO[str], maxsize: int = ENCODER_QUEUE_FRAMES):
        super().__init__(name="video-encoder", daemon=True)
        self._vw = writer
        self._fh = frames_fh
        self._csv = csv.writer(frames_fh, lineterminator="\n")
        self._q: queue.Queue = queue.Queue(maxsize)
        self._flush_due = threading.Event()
        self.error: OSError | None = None
        self.n_written = 0

    def put(self, bgr: np.ndarray, row: list) -> None:
        if self.error is None:
            self._q.put((bgr, row))

    def flush_rows(self) -> None:
        """Ask the thread to flush frames.csv (it owns the file)."""
        self._flush_due.set()

    def run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                self._q.task_done()
                break
            try:
                if self.error is None:  # else drain: a failed video takes no more frames
                    bgr, row = item
                    self._vw.write(bgr)
                    self._csv.writerow(row)
                    self.n_written += 1
                    if self._flush_due.is_set() or self._q.empty():  # caught up: rows to the OS
                        self._flush_due.clear()
                        self._fh.flush()
            except (cv2.error, OSError) as exc:
                self.error = exc if isinstance(exc, OSError) else OSError(str(exc))
            finally:
                self._q.task_done()
        try:
            self._vw.release()
        except cv2.error as exc:
            log.warning("video writer release: %s", exc)
        try:
            self._fh.close()
        except OSError as exc:
            self.error = self.error or exc

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued frame is encoded (and its row flushed); for tests and tools."""
        deadline = time.monotonic() + timeout_s
        while self._q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.002)
        return not self._q.unfinished_tasks

    def close(self, timeout_s: float = 30.0) -> None:
        self._q.put(None)
        self.join(timeout_s)
        if self.is_alive():
            log.warning("the video encoder did not finish within %.0f s", timeout_s)


# ---- end of a session: summary, repair ---------------------------------------------------------
def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _read_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return [r for r in rows[1:] if r]


def _float(x: str) -> float:
    try:
        return float(x)
    except ValueError:
        return math.nan


def session_summary(folder: Path, meta: dict) -> dict:
    """The ``analyze`` summary's fields for a recorded session, from its CSV files (``video``: the
    session's video when ``meta``, session.json, names one). ``hr_reliable`` uses the share of all
    updates that passed the gate (the judged share analyze uses is not recorded) and the reliability
    rule of the method the session started with (``meta["method"]``)."""
    est = meta.get("estimator") or {}
    fs_hz = float(est.get("fs_hz", 30.0))
    lo, hi = float(est.get("lo_bpm", 42.0)), float(est.get("hi_bpm", 200.0))
    bvp = [(_float(r[0]), _float(r[1]) if len(r) > 1 and r[1] else math.nan) for r in _read_rows(folder / "bvp.csv")]
    t = np.array([b[0] for b in bvp]) if bvp else np.zeros(0)
    v = np.array([b[1] for b in bvp]) if bvp else np.zeros(0)
    hr_rows = _read_rows(folder / "hr.csv")
    shown = [_float(r[1]) for r in hr_rows if len(r) > 1 and r[1]]
    shown_t = [_float(r[0]) for r in hr_rows if len(r) > 1 and r[1]]
    faces = _read_rows(folder / "faces.csv")
    n_face = sum(1 for r in faces if len(r) > 1 and r[1])
    duration_s = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    clip = ClipHr(None, None, 0.0, "", 0)
    if len(t) > 1 and np.isfinite(v).any():
        grid = np.arange(t[0], t[-1], 1.0 / fs_hz)
        clip = whole_clip_hr(grid, values_at_frames(t, v, grid), fs_hz, lo_bpm=lo, hi_bpm=hi)
    # the people measured one after the other (the worker's "person" events, Face.new_person)
    people = 1 + sum(1 for r in _read_rows(folder / "events.csv") if len(r) > 2 and r[2] == PERSON_EVENT)
    reliability = with_people(clip_hr_reliability(shown, len(hr_rows), clip.hr_bpm, meta.get("method"),
                                                  clip.gap_to(shown_t, shown)), people)
    return {
        "video": meta.get("video") and str(folder / VIDEO_NAME),
        "source": meta.get("source"),
        "method": meta.get("method"),
        **clip_hr_fields(clip, reliability["hr_reliable"]),  # no interval for an HR that is not reliable
        "hr_bpm_median_of_readings": float(np.median(shown)) if shown else None,
        "frames": int(len(t)),
        "fps_hz": float((len(t) - 1) / duration_s) if duration_s > 0 else None,
        "duration_s": duration_s,
        "face_share": n_face / max(len(faces), 1),
        "people_measured": people,
        "readings": len(hr_rows),
        "readings_shown_share": len(shown) / max(len(hr_rows), 1),
        # why the updates without a reading had none (hr.csv's withheld column counted, as analyze's)
        "withheld_counts": withheld_counts((_float(r[1]) if len(r) > 1 and r[1] else None, r[3] if len(r) > 3 else "")
                                           for r in hr_rows),
        **reliability,
        "tracker": meta.get("face_tracker"),
        "model": meta.get("model"),  # the model file at the start (path, sha256), as analyze's summary.json
        "estimator": est or None,
        "bvp_note": BVP_NOTE,
    }


def values_at_frames(t: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per-frame values (t, v; NaN = no signal) on a uniform grid: linear between two finite
    neighbours, NaN where either neighbour is NaN."""
    out = np.full(len(grid), np.nan)
    j = np.clip(np.searchsorted(t, grid, side="right"), 1, len(t) - 1)
    a, b = v[j - 1], v[j]
    ok = np.isfinite(a) & np.isfinite(b)
    w = (grid - t[j - 1]) / np.maximum(t[j] - t[j - 1], 1e-9)
    out[ok] = (a + w * (b - a))[ok]
    return out


def count_video_frames(path: Path) -> int:
    """How many frames a (possibly unfinished) video really holds, by decoding it."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while cap.isOpened() and cap.grab():
            n += 1
    finally:
        cap.release()
    return n


# The sessions this process is recording (a session left unfinished by this process is no longer being
# written: its recorder failed or was dropped).
_OPEN_SESSIONS: set[Path] = set()
# A session whose recorder's pid is gone is taken as dead once its files have been quiet this long
# (a live recorder in another pid namespace, a container or a sandbox, can show a pid that is gone here).
# Where the pid cannot be asked, model.session_source.RECORDING_QUIET_S of quiet files.
DEAD_QUIET_S = 3.0


def _boot_id() -> str | None:
    """This boot's id (Linux): a pid is only worth asking about within the boot that gave it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def recording_alive(folder: Path, meta: dict) -> bool:
    """Whether the unfinished session ``folder`` is still being recorded: by this process; by a
    process of this machine and boot whose pid lives (session.json's ``recorder``; POSIX), or whose
    pid is gone but whose files changed within ``DEAD_QUIET_S``; by a recorder on this machine in an
    earlier boot: never; else (another machine, Windows, an older session) when its files changed
    within ``RECORDING_QUIET_S``."""
    folder = Path(folder)
    if folder.resolve() in _OPEN_SESSIONS:
        return True
    rec = meta.get("recorder") if isinstance(meta.get("recorder"), dict) else {}
    pid, boot, now_boot = rec.get("pid"), rec.get("boot"), _boot_id()
    here = rec.get("host") == socket.gethostname()
    if here and boot and now_boot and boot != now_boot:
        return False  # this machine has restarted since: its recorder is gone
    if (here and boot and boot == now_boot and os.name == "posix" and isinstance(pid, int)
            and not isinstance(pid, bool) and pid > 0):
        if pid == os.getpid():  # not in _OPEN_SESSIONS: not ours any more, or another pid namespace's
            return files_quiet_s(folder) < DEAD_QUIET_S
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
            return True
        except PermissionError:  # it exists, under another user
            return True
        except ProcessLookupError:
            return files_quiet_s(folder) < DEAD_QUIET_S
    return files_quiet_s(folder) < RECORDING_QUIET_S


def repair_session(folder: Path) -> bool:
    """Finish a session a killed run left without its end marker: cut frames.csv to the frames
    the video holds (and the video's extra frames are listed as not valid), finish session.json
    (``"repaired"``, counts) and write summary.json. Returns whether it repaired anything."""
    meta_path = folder / SESSION_NAME
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if meta.get("ended") or recording_alive(folder, meta):
        return False
    if meta.get("video"):
        rows = _read_rows(folder / FRAMES_NAME)
        n_video = count_video_frames(folder / VIDEO_NAME) if (folder / VIDEO_NAME).is_file() else 0
        n_valid = min(len(rows), n_video)
        with open(folder / (FRAMES_NAME + ".tmp"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["frame", "t_s", "source_frame"])
            w.writerows(rows[:n_valid])
        (folder / (FRAMES_NAME + ".tmp")).replace(folder / FRAMES_NAME)
        meta.update(video_frames=n_valid, video_frames_decodable=n_video, frames_csv_rows_found=len(rows),
                    video_note=meta.get("video_note", "") + f"; repaired: the first {n_valid} video "
                    "frames are the ones listed in frames.csv, any later ones are not valid")
    bvp_rows = _read_rows(folder / "bvp.csv")
    repaired = datetime.now().isoformat(timespec="seconds")
    meta.update(ended=f"killed (repaired {repaired})", repaired=repaired,
                frames=len(bvp_rows), hr_updates=len(_read_rows(folder / "hr.csv")),
                repair_note="the recording was killed before it ended: the last second of values "
                            "(of bvp.csv, the last estimator window) may be missing")
    _write_json(folder / SUMMARY_NAME, session_summary(folder, meta))
    _write_json(meta_path, meta)  # the end marker last
    log.warning("repaired the unfinished session %s", folder)
    return True


def repair_sessions(parent: Path) -> list[Path]:
    """Repair every unfinished session folder directly under ``parent``."""
    parent = Path(parent).expanduser()
    if not parent.is_dir():
        return []
    return [p for p in sorted(parent.iterdir()) if p.is_dir() and repair_session(p)]
