"""Frame capture: one thread per running source, feeding a bounded queue to the worker.

* camera: frames at the camera's own pace (``read()`` blocks); when the camera stops delivering
  (unplugged) the thread reports it and tries to reopen it every couple of seconds;
* file: a video file, a recorded session folder or a folder of frame images
  (:func:`model.frame_source.open_frame_source`), paced at the frames' real times (the container's
  timestamps; a session's frames.csv), optionally looping (timestamps keep rising);
* demo: the synthetic clip with a known pulse (``model.synthetic``, imported only here and only
  when the demo is chosen), looped with continuing timestamps, paced in real time.

:class:`FrameQueue` holds at most a few frames; when it is full the oldest frame is dropped and
counted, so a slow worker sees fresh frames and never an ever-growing backlog.

Opening a source (:func:`open_source`) may block (a camera takes up to a second); the worker
calls it on its own thread, never the UI thread.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from model.frame_source import open_frame_source, source_kind
from model.types import Frame
from model.video_source import CameraSource, SourceError

log = logging.getLogger(__name__)

DEMO_HR_BPM = 72.0
DEMO_PASS_S = 60.0  # the demo clip is rendered in passes of this length, seamlessly re-seeded
CAMERA_RETRY_S = 2.0

EventCallback = Callable[[str, str], None]  # (kind: "info" | "error" | "eof" | "ok", message)


# ---- what to open ----------------------------------------------------------------------
#: scheme://... (two letters at least: C:/ is a Windows drive)
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: str) -> bool:
    return bool(_URL_RE.match(text.strip()))


def source_sentence(text: str, spec: SourceSpec | None) -> str:
    """A message about ``spec`` as a sentence for the window: its first letter capitalised, unless
    the message starts with the source's path or address, which is shown exactly as it is."""
    if not text:
        return text
    if spec is not None and spec.kind == "file" and spec.path and text.startswith(spec.path):
        return text
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "demo" | "camera" | "file" (a video file, a session folder or an image folder)
    camera_index: int = 0
    path: str = ""
    loop: bool = True
    width: int = 640
    height: int = 480
    fps_hz: float = 30.0

    @classmethod
    def parse(cls, text: str, *, loop: bool = True) -> "SourceSpec":
        """``demo``, ``camera`` / ``camera:N`` (or a bare number that is not a file here, as OpenCV
        numbers cameras), or the path of a video file, a recorded session folder or a folder of
        frame images."""
        t = text.strip()
        low = t.lower()
        if low == "demo":
            return cls("demo")
        if low == "camera" or low.startswith("camera:"):
            idx_text = low.partition(":")[2] or "0"
            try:
                idx = int(idx_text)
            except ValueError:
                raise ValueError(f"bad camera index in {text!r}: use camera:0, camera:1, ...") from None
            if idx < 0:
                raise ValueError(f"bad camera index in {text!r}")
            return cls("camera", camera_index=idx)
        if not t:
            raise ValueError("empty source")
        if t.isdigit() and not Path(t).exists():
            return cls("camera", camera_index=int(t))
        url = urlparse(t) if is_url(t) else None
        if url is not None and url.scheme.lower() == "file":  # file:///home/me/clip.mp4: a local path
            return cls("file", path=url2pathname(unquote(url.path)), loop=loop)
        if url is not None:  # kept as given (a Path would make http:/host of http://host); it will not open
            return cls("file", path=t, loop=loop)
        return cls("file", path=str(Path(t).expanduser()), loop=loop)

    @property
    def is_url(self) -> bool:
        """A network address (scheme://...): the app opens local files only, and says so."""
        return self.kind == "file" and is_url(self.path)

    def to_text(self) -> str:
        if self.kind == "camera":
            return f"camera:{self.camera_index}"
        if self.is_url:
            return self.path
        if self.kind == "file":  # absolute: a saved setting must open from any working folder
            return str(Path(self.path).expanduser().absolute())
        return "demo"

    @property
    def label(self) -> str:
        if self.kind == "camera":
            return f"Camera {self.camera_index}"
        if self.is_url:
            return f"Stream {self.path}"
        if self.kind == "file":
            what = {"session": "Session", "images": "Images"}.get(source_kind(self.path), "File")
            return f"{what} {Path(self.path).name}" + (" (loop)" if self.loop else "")
        return f"Demo (synthetic face, pulse {DEMO_HR_BPM:.0f} bpm)"


# ---- opened sources ----------------------------------------------------------------------
class OpenedSource:
    """A source that opened successfully. ``frames(stop, on_event)`` yields Frames until the
    source ends, ``stop`` is set, or it raises SourceError."""

    paced = False
    label = ""
    size = (0, 0)
    nominal_fps_hz = 0.0

    def frames(self, stop: threading.Event, on_event: EventCallback) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileOpened(OpenedSource):
    paced = True

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        if spec.is_url:
            raise SourceError(f"network streams are not supported: {spec.path} (save the video to a file and "
                              "open that)")
        self.video = open_frame_source(spec.path, loop=spec.loop)  # probes: SourceError if bad
        self.size = self.video.size
        self.nominal_fps_hz = self.video.fps_hz  # a session's: measured from its frame times
        self.label = spec.label

    def frames(self, stop, on_event):
        n = 0
        for frame in self.video:
            n += 1
            yield frame
            if stop.is_set():
                return
        if n == 0:
            raise SourceError(f"{self.spec.path} holds no readable video frames (corrupt file?)")


def camera_present(index: int) -> bool | None:
    """False when the camera surely does not exist (Linux: no /dev/videoN), else None (unknown:
    only opening it tells). Saves OpenCV's noisy probing of absent devices."""
    if sys.platform.startswith("linux"):
        return True if Path(f"/dev/video{index}").exists() else False
    return None


class CameraOpened(OpenedSource):
    paced = False

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        if camera_present(spec.camera_index) is False:
            raise SourceError(f"camera {spec.camera_index} is not available (none connected)")
        self.cam: CameraSource | None = CameraSource(
            spec.camera_index, width=spec.width, height=spec.height, fps_hz=spec.fps_hz)
        first = self.cam.read()  # a camera that opens but gives nothing is no camera
        self._first: Frame | None = first
        h, w = first.bgr.shape[:2]
        self.size = (w, h)
        self.nominal_fps_hz = spec.fps_hz
        self.label = spec.label

    def frames(self, stop, on_event):
        t_offset = 0.0
        last_t = 0.0
        idx = 0
        if self._first is not None:
            f, self._first = self._first, None
            last_t = f.t_s
            idx = 1
            yield f
        while not stop.is_set():
            try:
                if self.cam is None:
                    raise SourceError("camera closed")
                f = self.cam.read()
            except SourceError as exc:
                on_event("error", f"{exc} Reconnecting...")
                self._close_cam()
                # Reopen until it comes back or we are stopped.
                while not stop.wait(CAMERA_RETRY_S):
                    try:
                        self.cam = CameraSource(self.spec.camera_index, width=self.spec.width,
                                                height=self.spec.height, fps_hz=self.spec.fps_hz)
                        self.cam.read()
                    except SourceError:
                        self._close_cam()
                        continue
                    on_event("ok", f"camera {self.spec.camera_index} reconnected")
                    t_offset = last_t + CAMERA_RETRY_S  # the new capture clock starts at 0
                    break
                continue
            t = f.t_s + t_offset
            last_t = t
            yield Frame(index=idx, t_s=t, bgr=f.bgr)
            idx += 1

    def _close_cam(self) -> None:
        if self.cam is not None:
            try:
                self.cam.close()
            except Exception:  # noqa: BLE001 - releasing a vanished device may throw anything
                pass
            self.cam = None

    def close(self) -> None:
        self._close_cam()


class DemoOpened(OpenedSource):
    paced = True

    def __init__(self, spec: SourceSpec, *, hr_bpm: float = DEMO_HR_BPM, pass_s: float = DEMO_PASS_S):
        try:
            from model.synthetic.config import SynthConfig  # only for the demo
            from model.synthetic.frames import generate_frames
        except ImportError as exc:
            raise SourceError(f"the built-in demo is unavailable ({exc})") from exc
        self._SynthConfig = SynthConfig
        self._generate = generate_frames
        self.hr_bpm = hr_bpm
        self.pass_s = pass_s
        self.spec = spec
        self.label = spec.label
        cfg = self._config(0)
        self.size = (cfg.width, cfg.height)
        self.nominal_fps_hz = cfg.fs_hz

    def _config(self, k: int):
        return self._SynthConfig(duration_s=self.pass_s, hr_bpm=self.hr_bpm, hrv_std_bpm=1.5,
                                 seed=1000 + k)

    def frames(self, stop, on_event):
        offset = 0.0
        idx = 0
        k = 0
        while not stop.is_set():
            cfg = self._config(k)
            last = offset
            for t_s, bgr in self._generate(cfg):
                last = offset + t_s
                yield Frame(index=idx, t_s=last, bgr=bgr)
                idx += 1
                if stop.is_set():
                    return
            offset = last + 1.0 / cfg.fs_hz
            k += 1


def open_source(spec: SourceSpec) -> OpenedSource:
    """Open ``spec``; raises SourceError with a message for users."""
    if spec.kind == "camera":
        return CameraOpened(spec)
    if spec.kind == "file":
        return FileOpened(spec)
    if spec.kind == "demo":
        return DemoOpened(spec)
    raise SourceError(f"unknown source kind {spec.kind!r}")


# ---- queue and thread ------------------------------------------------------------------
class FrameQueue:
    """Bounded FIFO between capture and worker: a full queue drops its OLDEST item."""

    def __init__(self, maxsize: int = 4):
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._dq: deque = deque()
        self._cv = threading.Condition()
        self.dropped = 0

    def put(self, item) -> None:
        with self._cv:
            if len(self._dq) >= self.maxsize:
                self._dq.popleft()
                self.dropped += 1
            self._dq.append(item)
            self._cv.notify()

    def get(self, timeout: float | None = None):
        """The oldest item, or None after ``timeout`` seconds."""
        with self._cv:
            if not self._dq:
                self._cv.wait(timeout)
            return self._dq.popleft() if self._dq else None

    def wake(self) -> None:
        """Make a waiting :meth:`get` return (None) now, e.g. when a command arrives."""
        with self._cv:
            self._cv.notify_all()

    def clear(self) -> None:
        with self._cv:
            self._dq.clear()

    def __len__(self) -> int:
        with self._cv:
            return len(self._dq)


class CaptureThread(threading.Thread):
    """Pulls frames from an opened source and puts ``(generation, Frame)`` into the queue,
    paced at the frames' timestamps for files and the demo.

    A paced source can wait at its first frame until ``go`` is set: the picture appears at once,
    and the frames after it wait instead of playing on while the worker still loads its face
    tracker (the small queue would drop them), so a file is measured from its first frame on its
    own times."""

    #: When pacing falls further behind than this, re-anchor instead of bursting to catch up.
    MAX_LAG_S = 0.25

    def __init__(self, source: OpenedSource, queue: FrameQueue, on_event: EventCallback,
                 generation: int = 0, go: threading.Event | None = None):
        super().__init__(name=f"capture-{generation}", daemon=True)
        self.source = source
        self.queue = queue
        self.on_event = on_event
        self.generation = generation
        self.stop_event = threading.Event()
        self.go = go

    def run(self) -> None:
        stop = self.stop_event
        anchor_wall: float | None = None
        anchor_t = 0.0
        try:
            for frame in self.source.frames(stop, self.on_event):
                if stop.is_set():
                    break
                if self.source.paced:
                    if anchor_wall is not None and self.go is not None and not self.go.is_set():
                        while not self.go.wait(0.1):  # the first frame is out; the rest waits for the worker
                            if stop.is_set():
                                return
                        anchor_wall, anchor_t = time.monotonic(), frame.t_s
                    now = time.monotonic()
                    if anchor_wall is None:
                        anchor_wall, anchor_t = now, frame.t_s
                    due = anchor_wall + (frame.t_s - anchor_t)
                    if due - now > 0:
                        if stop.wait(min(due - now, 1.0)):
                            break
                    elif now - due > self.MAX_LAG_S:
                        anchor_wall, anchor_t = now, frame.t_s
                self.queue.put((self.generation, frame))
            else:
                if not stop.is_set():
                    self.on_event("eof", f"end of {self.source.label}")
        except SourceError as exc:
            if not stop.is_set():
                self.on_event("error", str(exc))
        except Exception as exc:  # noqa: BLE001 - a decoder may raise anything; report, don't die
            log.exception("capture thread failed")
            if not stop.is_set():
                self.on_event("error", f"{self.source.label}: capture failed ({exc})")
        finally:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001
                log.debug("source close failed", exc_info=True)

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
