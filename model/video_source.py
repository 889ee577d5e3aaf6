"""Frame sources: video files (container timestamps) and live cameras.

Timestamps come from the source: the container's presentation time for files, the capture clock
for cameras. A frame rate is never assumed where the source gives times. A recorded session
folder replays on its own frame times (:mod:`model.session_source`); :func:`model.frame_source.
open_frame_source` opens any path (video file, session folder, folder of frame images).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from model.types import Frame

log = logging.getLogger(__name__)


# what a folder scan takes for a video (any file OpenCV's FFmpeg opens can also be named directly)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".3gp", ".mpg", ".mpeg", ".mjpeg", ".mjpg",
                  ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".ogv")


# FFmpeg opens text files as video (its "tty" demuxer draws the characters: a 25 fps picture of the
# text); files of these suffixes are refused as the text they are
#: Frames read (or listed) below this share of those announced: the source is said to be cut short
#: (model.analyze.short_read_warning for a file, model.session_source for a session's frames.csv).
SHORT_READ_SHARE = 0.95
TEXT_SUFFIXES = (".txt", ".ans", ".art", ".asc", ".diz", ".ice", ".nfo", ".vt", ".csv", ".json", ".md", ".log")


class SourceError(RuntimeError):
    """A source could not be opened or read; the message is meant for users."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps_hz: float
    n_frames: int  # as the container reports it (may be approximate)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps_hz if self.fps_hz > 0 else float("nan")


#: FFmpeg decoder threads for a file source. Its default (one per core) spends 25-30 % more CPU on
#: the same frames (UBFC subject 3, 1802 frames: 1.37-1.45 s against 1.06-1.10 s, this 2-core CPU)
#: and is no faster here: analyze's other stages keep the second core busy, and the app reads a file
#: at its own pace.
DECODE_THREADS = 1


def probe_video(path: str | Path) -> VideoInfo:
    """Open a video file and read its first frame; raise SourceError with a clear message if it
    is missing, not a video, or corrupt."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"video file not found: {p}")
    if not p.is_file():
        raise SourceError(f"not a file: {p}")
    if p.suffix.lower() in TEXT_SUFFIXES:
        raise SourceError(f"cannot open {p} as a video: a text file ({p.suffix})")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise SourceError(f"cannot open {p} as a video (unknown format or corrupt file)")
        ok, frame = cap.read()
        if not ok or frame is None or frame.size == 0:
            raise SourceError(f"{p} holds no readable video frames (corrupt or empty file)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        h, w = frame.shape[:2]
        return VideoInfo(path=p, width=w, height=h, fps_hz=fps if math.isfinite(fps) else 0.0, n_frames=n)
    finally:
        cap.release()


def loop_passes(one_pass: Callable[[], Iterator[Frame]], step_s: float) -> Iterator[Frame]:
    """Repeat a source end to end: ``one_pass()`` restarts it (times from 0 s); each pass is offset
    to start ``step_s`` after the previous one ended and the indices keep counting, so downstream
    stages see one monotonic clock. Ends when a pass yields nothing."""
    offset_s = 0.0
    index = 0
    while True:
        last_s: float | None = None
        for f in one_pass():
            last_s = f.t_s + offset_s
            yield Frame(index=index, t_s=last_s, bgr=f.bgr)
            index += 1
        if last_s is None:
            return
        offset_s = last_s + step_s


class VideoFileSource:
    """Reads a video file frame by frame with the container's timestamps, starting at 0 s.
    ``Frame.index`` is the frame's position in the file. Iterating again restarts at the first
    frame.

    With ``loop=True`` the file restarts at its end and the timestamps keep increasing (each pass
    is offset by the duration of the previous ones), so downstream stages see one monotonic clock.
    """

    kind = "video"
    frame_times = "container"

    def __init__(self, path: str | Path, *, loop: bool = False):
        self.info = probe_video(path)
        self.path = self.info.path
        self.loop = loop
        self.corrupt_frames = 0

    @property
    def n_frames(self) -> int:
        return self.info.n_frames

    @property
    def fps_hz(self) -> float:
        return self.info.fps_hz

    @property
    def size(self) -> tuple[int, int]:
        return (self.info.width, self.info.height)

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "frame_times": self.frame_times,
                "container_fps_hz": self.info.fps_hz}

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.info.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, DECODE_THREADS])
        if not cap.isOpened():  # not a file FFmpeg opens: OpenCV's choice of backend, its defaults
            cap = cv2.VideoCapture(str(self.info.path))
        if not cap.isOpened():
            raise SourceError(f"cannot open {self.info.path} as a video")
        return cap

    def _step_s(self) -> float:
        return 1.0 / self.info.fps_hz if self.info.fps_hz > 0 else 1.0 / 30.0

    def _frame_time_s(self, cap: cv2.VideoCapture, index: int) -> float:
        t_ms = float(cap.get(cv2.CAP_PROP_POS_MSEC))
        if not math.isfinite(t_ms) or (t_ms <= 0.0 and index > 0):
            return index * self._step_s()  # the container gave no time: its nominal rate
        return t_ms / 1000.0

    def _one_pass(self) -> Iterator[Frame]:
        cap = self._open()
        index = 0
        t_first_s: float | None = None
        t_last_s = -math.inf
        try:
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    return
                t_raw = self._frame_time_s(cap, index)
                if t_first_s is None:
                    t_first_s = t_raw
                t_s = t_raw - t_first_s
                if t_s <= t_last_s:  # repeated or backwards stamp: keep the clock monotonic
                    t_s = t_last_s + 1e-3
                t_last_s = t_s
                yield Frame(index=index, t_s=t_s, bgr=bgr)
                index += 1
        finally:
            cap.release()

    def __iter__(self) -> Iterator[Frame]:
        if self.loop:
            return loop_passes(self._one_pass, self._step_s())
        return self._one_pass()


class CameraSource:
    """A live camera through OpenCV; timestamps from the capture clock (monotonic, seconds from
    the first frame)."""

    def __init__(self, index: int = 0, *, width: int | None = 640, height: int | None = 480,
                 fps_hz: float | None = 30.0, backend: int = cv2.CAP_ANY):
        cap = cv2.VideoCapture(index, backend)
        if not cap.isOpened():
            raise SourceError(f"camera {index} is not available (none connected, or in use)")
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps_hz:
            cap.set(cv2.CAP_PROP_FPS, fps_hz)
        self._cap = cap
        self.index = index
        self._t0: float | None = None
        self._n = 0

    def read(self) -> Frame:
        ok, bgr = self._cap.read()
        t = time.monotonic()
        if not ok or bgr is None:
            raise SourceError(f"camera {self.index} stopped delivering frames (unplugged?)")
        if self._t0 is None:
            self._t0 = t
        frame = Frame(index=self._n, t_s=t - self._t0, bgr=bgr)
        self._n += 1
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while True:
            yield self.read()

    def close(self) -> None:
        self._cap.release()
