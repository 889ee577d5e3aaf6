"""Session recording: a folder of CSV files written as the session goes.

Layout of one session folder (``<parent>/<YYYYmmdd-HHMMSS>``, never an existing folder):

* ``bvp.csv``    ``t_s,bvp``             one row per frame, the BVP as the live estimator first knew it
                                         (``analyze`` format; ``bvp`` empty where there is no signal)
* ``hr.csv``     ``t_s,hr_bpm,quality``  one row per HR update (``analyze`` format; ``hr_bpm`` empty
                                         while the quality gate withholds the reading)
* ``faces.csv``  ``t_s,x,y,w,h``         one row per frame, the tracked face box in pixels (empty
                                         when no face)
* ``events.csv`` ``t_s,wall_time,event,detail``  start/stop, source and method changes, face
                                         lost/found, errors
* ``video.avi``  only with video on (``video=True``): the frames the worker processed, MJPG at
                 high JPEG quality (good enough to train on); the container's fixed frame rate
                 (the source's nominal one) cannot hold real timestamps, so
* ``frames.csv`` ``frame,t_s,source_frame``  one row per video frame: its index in ``video.avi`` and
                 its time (same clock as ``bvp.csv``); written only with the video
* ``session.json``  what was measured with what (source, method, tracker, versions, ``"video"``),
                    rewritten at the end with the counts

Times are seconds from the start of the recording on the source clock. Every file is flushed at
least once a second (:meth:`SessionRecorder.maybe_flush`), so killing the app loses at most the
last second of measured values (a frame's ``bvp.csv`` row waits while its value is still to come,
at most one estimator window while the pulse is being acquired; see :meth:`bvp_update`). The MJPG
writer appends each frame to the file as it comes (only the AVI index is written at the end; a
killed recording's video is still readable). Any write error (full disk, no permission, folder removed) is turned into one
:class:`RecordingError` with a message for users; the recorder then stops writing and the
measurement goes on.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from model.analyze import BVP_HEADER, HR_HEADER, bvp_row, hr_row
from model.types import Face, HrReading

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.5  # well inside the one-second promise
VIDEO_NAME = "video.avi"
FRAMES_NAME = "frames.csv"
VIDEO_JPEG_QUALITY = 95  # MJPG quality (0-100): near-lossless for the pulse signal
MIN_FREE_BYTES = 64 * 1024 * 1024  # the video stops (reported) before the disk is full


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
                 video: bool = False, video_fps: float = 30.0):
        self.video = bool(video)
        self.video_fps = float(video_fps) if video_fps and math.isfinite(video_fps) and video_fps > 0 else 30.0
        self._vw: cv2.VideoWriter | None = None
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
        self._fh: dict[str, IO[str]] = {}
        self._w: dict[str, csv.writer] = {}
        self._last_flush = time.monotonic()
        self._pending_t: list[float] = []  # frame times waiting for their BVP value
        self._started_wall = datetime.now()

    # ---- life cycle -------------------------------------------------------------------
    def start(self) -> Path:
        """Create the folder and the files. Raises RecordingError."""
        try:
            self.path.mkdir(parents=True, exist_ok=False)
            for key, (name, header) in self.FILES.items():
                fh = self._open_file(self.path / name)
                self._fh[key] = fh
                self._w[key] = csv.writer(fh, lineterminator="\n")
                self._w[key].writerow(header)
            if self.video:
                fh = self._open_file(self.path / FRAMES_NAME)
                self._fh["frames"] = fh
                self._w["frames"] = csv.writer(fh, lineterminator="\n")
                self._w["frames"].writerow(["frame", "t_s", "source_frame"])
            self._write_meta(final=False)
            self.flush()
        except OSError as exc:
            self._fail(exc, "cannot start recording in")
        self.event(self.t0_s, "record_start", str(self.path))
        log.info("recording to %s", self.path)
        return self.path

    def _open_file(self, path: Path) -> IO[str]:
        return open(path, "w", newline="", encoding="utf-8")

    def _write_meta(self, final: bool) -> None:
        meta = {
            **self.meta,
            "started": self._started_wall.isoformat(timespec="seconds"),
            "t0_source_s": self.t0_s,
            "files": {k: v[0] for k, v in self.FILES.items()},
            **({"video": VIDEO_NAME, "frames_file": FRAMES_NAME, "video_codec": "MJPG",
                "video_container_fps": self.video_fps, "video_quality": VIDEO_JPEG_QUALITY,
                "video_note": "real frame times are in frames.csv (the container's frame rate is "
                              "nominal)"} if self.video else {}),
            "bvp_note": "BVP as shown live (causal); fcus-rppg analyze on a recorded video gives "
                        "the refined offline stream",
        }
        if final:
            meta.update(ended=datetime.now().isoformat(timespec="seconds"),
                        frames=self.n_frames, hr_updates=self.n_readings)
            if self.video:
                meta.update(video_frames=self.n_video_frames,
                            video_size=list(self._video_size) if self._video_size else None)
        tmp = self.path / "session.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.path / "session.json")

    def close(self, t_s: float | None = None) -> None:
        """Write the pending frames (BVP still unknown: empty), the stop event, flush, close."""
        if self.closed:
            return
        try:
            if self.error is None:
                self._flush_pending_bvp(None)
                if t_s is not None:
                    self.event(t_s, "record_stop", "")
                self.flush()
                self._write_meta(final=True)
        except (OSError, RecordingError) as exc:
            log.warning("recording close: %s", exc)
        finally:
            self.closed = True
            self._close_files()

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
        # Never hold more than ~20 s of frames (e.g. no HR updates because the estimator was
        # rebuilt): their BVP is written empty.
        if len(self._pending_t) > 600 and self._pending_t[-1] - self._pending_t[0] > 20.0:
            self._flush_pending_bvp(None, upto_t_s=self._pending_t[-1] - 15.0)

    def _video_frame(self, rel: float, bgr: np.ndarray, source_index: int | None) -> None:
        if bgr.ndim == 2:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
        h, w = bgr.shape[:2]
        if self._vw is None:
            self._open_video(w, h)
        vw, vh = self._video_size
        if (w, h) != (vw, vh):  # the source changed size mid-recording: keep one video size
            if not self._resize_noted:
                self._resize_noted = True
                self.event(rel + self.t0_s, "video_resized", f"{w}x{h} -> {vw}x{vh}")
            bgr = cv2.resize(bgr, (vw, vh), interpolation=cv2.INTER_AREA)
        try:
            self._vw.write(np.ascontiguousarray(bgr, dtype=np.uint8))
        except cv2.error as exc:
            self._fail(OSError(str(exc)), "recording stopped: cannot write the video to")
        self._row("frames", [self.n_video_frames, f"{rel:.4f}", "" if source_index is None else int(source_index)])
        self.n_video_frames += 1

    def _open_video(self, w: int, h: int) -> None:
        path = self.path / VIDEO_NAME
        try:
            vw = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                                 self.video_fps, (int(w), int(h)))
            ok = vw.isOpened()
        except cv2.error as exc:
            ok, vw = False, None
            log.warning("video writer: %s", exc)
        if not ok:
            why = "no write permission" if not path.parent.exists() or not _writable(path.parent) \
                else "the video writer could not be opened"
            self._fail(OSError(why), "recording stopped: cannot write the video to")
        vw.set(cv2.VIDEOWRITER_PROP_QUALITY, VIDEO_JPEG_QUALITY)
        self._vw = vw
        self._video_size = (int(w), int(h))

    def _release_video(self) -> None:
        vw, self._vw = self._vw, None
        if vw is not None:
            try:
                vw.release()
            except cv2.error as exc:
                log.warning("video writer release: %s", exc)

    def bvp_update(self, tg: np.ndarray, vg: np.ndarray, t_now_s: float, hold_s: float = 10.0) -> None:
        """The BVP stream as known now on its grid (tg, vg): write the rows of the pending frames.

        A frame waits while its BVP is still unknown but may yet arrive: the estimator fills a
        window of up to ``hold_s`` (its window length) once enough signal exists, so the first
        seconds after the face appears are written when the first window covers them. A frame
        is written as soon as its value is known, when a later frame has a value (it will never
        get one: a gap), or once it is older than ``hold_s``. So a kill loses only the last
        second of known values, never rows that are already measured."""
        if not self._pending_t or self.error is not None:
            return
        t = np.asarray(self._pending_t)
        v = values_at(np.asarray(tg, dtype=np.float64), np.asarray(vg, dtype=np.float64), t)
        finite = np.flatnonzero(np.isfinite(v))
        n = int(finite[-1]) + 1 if len(finite) else 0
        while n < len(t) and t[n] < t_now_s - hold_s:
            n += 1
        self._write_bvp(t[:n], v[:n])

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
        self._row("hr", hr_row(self._rel(r.t_s), r))

    def event(self, t_s: float, name: str, detail: str = "") -> None:
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

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def _fail(self, exc: OSError, what: str) -> None:
        reason = exc.strerror or str(exc)
        self.error = f"{what} {self.path}: {reason}"
        log.error("%s", self.error)
        self._close_files()
        self.closed = True
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
