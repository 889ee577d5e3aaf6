"""A recorded session folder (:mod:`app.recording`) as a frame source, on its real frame times.

A session's ``video.avi`` has a nominal, fixed frame rate (a camera that delivered 24 fps into a
30 fps container would replay 25 % fast); its ``frames.csv`` (``frame,t_s,source_frame``) holds
each video frame's real time. :class:`SessionSource` gives frame ``i`` of the video the ``t_s``
of the row ``frame=i``: video frames that frames.csv does not list are skipped, rows for frames
the video does not hold are ignored, and unreadable rows (a killed recording's last line) are
skipped with a warning. A session without frames.csv (or with an empty one: recorded before
frames.csv existed, or killed before its first row) replays on the container's times, with a
logged warning and ``frame_times == "container"`` saying so. Times start at 0 s at the first
frame; ``t_origin_s`` is that frame's time on the session's clock.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model.types import Frame
from model.video_source import SHORT_READ_SHARE, VIDEO_SUFFIXES, SourceError, VideoFileSource, loop_passes

log = logging.getLogger(__name__)

SESSION_NAME = "session.json"
FRAMES_NAME = "frames.csv"


def is_session_dir(path: str | Path) -> bool:
    """Whether ``path`` is a recorded session folder (it holds ``session.json``)."""
    return (Path(path) / SESSION_NAME).is_file()


def session_video(folder: str | Path) -> Path | None:
    """The session's video: the file ``session.json`` names, else ``video.*``, else any video
    file in the folder (not ``*.partial*``); None without one."""
    d = Path(folder)
    meta_video = None
    try:
        meta = json.loads((d / SESSION_NAME).read_text(encoding="utf-8"))
        if isinstance(meta, dict):
            v = meta.get("video") or meta.get("video_file")
            if isinstance(v, dict):
                v = v.get("path") or v.get("file")
            if isinstance(v, str) and v:
                meta_video = Path(v) if Path(v).is_absolute() else d / v
    except (OSError, json.JSONDecodeError):
        log.warning("%s: unreadable %s", d, SESSION_NAME)
    if meta_video is not None and meta_video.is_file():
        return meta_video
    vids = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                  and ".partial" not in p.name)
    named = [p for p in vids if p.stem == "video"]
    return (named or vids or [None])[0]


def read_frame_times(path: str | Path) -> dict[int, float]:
    """frames.csv as ``{video frame index: t_s}``; empty when the file is missing or lists no
    frame. Rows that do not parse (or repeat an index) are skipped with one warning; a header
    without ``frame`` and ``t_s`` raises SourceError."""
    p = Path(path)
    if not p.is_file():
        return {}
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"cannot read {p}: {exc}") from exc
    if rows and not {"frame", "t_s"} <= set(header):
        raise SourceError(f"{p}: expected the columns frame,t_s (a session's frames.csv)")
    times: dict[int, float] = {}
    bad = 0
    for r in rows:
        try:
            i, t = int(r["frame"]), float(r["t_s"])
        except (TypeError, ValueError):
            bad += 1
            continue
        if i < 0 or not math.isfinite(t) or i in times:
            bad += 1
            continue
        times[i] = t
    if bad:
        log.warning("%s: skipped %d unreadable row(s)", p, bad)
    return times


class TimedVideoSource:
    """A video file whose frames get their times from a table (``times``: video frame index ->
    t_s on the recording's clock) instead of the container: frames the table does not list are
    skipped, rows for frames the video does not hold are ignored, a repeated or backwards time
    is nudged 1 ms past the previous one. Times start at 0 s at the first listed frame
    (``t_origin_s`` is its time on the table's clock). An empty table replays on the container's
    times (``frame_times == "container"``). ``Frame.index`` is the frame's index in the video;
    ``loop=True`` repeats the pass with rising times (:func:`loop_passes`)."""

    kind = "video"

    def __init__(self, video: str | Path, times: dict[int, float], *, frame_times: str,
                 path: str | Path | None = None, loop: bool = False):
        self.video = VideoFileSource(video)
        self.path = Path(path) if path is not None else Path(video)
        self.info = self.video.info
        self.loop = loop
        self.corrupt_frames = 0
        self._times = dict(times)
        self.frame_times = frame_times if self._times else "container"
        # the listed frames the video holds (as far as its container's frame count tells)
        n_video = self.info.n_frames
        held = np.array(sorted(t for i, t in self._times.items() if n_video <= 0 or i < n_video))
        self.n_frames = len(held) if self._times else n_video
        self.t_origin_s = float(held[0]) if len(held) else 0.0
        span_s = float(held[-1] - held[0]) if len(held) > 1 else 0.0
        self.fps_hz = (len(held) - 1) / span_s if span_s > 0 else self.info.fps_hz

    @property
    def size(self) -> tuple[int, int]:
        return self.video.size

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "video": str(self.info.path),
                "frame_times": self.frame_times, "container_fps_hz": self.info.fps_hz,
                "t_origin_s": self.t_origin_s}

    def _one_pass(self) -> Iterator[Frame]:
        if not self._times:
            yield from self.video
            return
        t_first: float | None = None
        last = -math.inf
        for f in self.video:
            t_raw = self._times.get(f.index)
            if t_raw is None:  # not listed: not a valid frame of the recording
                continue
            if t_first is None:
                t_first = self.t_origin_s = t_raw
            t = t_raw - t_first
            if t <= last:  # a repeated or backwards time: keep the clock monotonic
                t = last + 1e-3
            last = t
            yield Frame(index=f.index, t_s=t, bgr=f.bgr)

    def __iter__(self) -> Iterator[Frame]:
        if self.loop:
            return loop_passes(self._one_pass, 1.0 / self.fps_hz if self.fps_hz > 0 else 1.0 / 30.0)
        return self._one_pass()


# An unfinished session (no end marker) whose files changed within this many seconds is taken as
# still being recorded where its recorder cannot be asked (app.recording's repair, training's
# dataset scan); a live recorder flushes its files every half second while frames come.
RECORDING_QUIET_S = 60.0


def files_quiet_s(folder: Path) -> float:
    """Seconds since any file of ``folder`` last changed (inf without files or when unreadable)."""
    try:
        newest = max(p.stat().st_mtime for p in Path(folder).iterdir() if p.is_file())
    except (OSError, ValueError):
        return math.inf
    return time.time() - newest


def _cut_frames_warning(folder: Path, n_listed: int) -> str:
    """A user's warning when frames.csv lists far fewer frames than session.json says the video
    holds (frames.csv cut by a repair while the session was still being recorded, or damaged): only
    the listed frames are read; "" otherwise."""
    try:
        meta = json.loads((folder / SESSION_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return ""
    n_video = meta.get("video_frames") if isinstance(meta, dict) else None
    if not isinstance(n_video, int) or n_listed <= 0 or n_listed >= SHORT_READ_SHARE * n_video:
        return ""
    return (f"{FRAMES_NAME} lists {n_listed} frames but {SESSION_NAME} says the video holds {n_video}: only the "
            f"listed frames are read (was {FRAMES_NAME} cut or damaged?)")


class SessionSource(TimedVideoSource):
    """Replays a recorded session folder's video on frames.csv's times (see the module's notes and
    :class:`TimedVideoSource`). Raises SourceError when the folder is no session, has no video,
    or its video or frames.csv cannot be read."""

    kind = "session"

    def __init__(self, folder: str | Path, *, loop: bool = False):
        folder = Path(folder)
        if not is_session_dir(folder):
            raise SourceError(f"{folder} is not a recorded session folder (no {SESSION_NAME})")
        video = session_video(folder)
        if video is None:
            raise SourceError(f"session {folder} holds no video (it was recorded with the video off)")
        times = read_frame_times(folder / FRAMES_NAME)
        super().__init__(video, times, frame_times=FRAMES_NAME, path=folder, loop=loop)
        self.listed_warning = _cut_frames_warning(folder, len(times))
        if not times:
            log.warning("session %s: no frame times in %s; replaying on the video's nominal %.3g fps, "
                        "which may not be the rate it was recorded at", folder, FRAMES_NAME, self.info.fps_hz)
