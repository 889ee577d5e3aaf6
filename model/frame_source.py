"""One way to open any path as a frame source: a video file, a recorded session folder or a
folder of frame images. ``analyze``, the app's file source and training's dataset readers all
open their input here, so they see the same frames on the same times.

Every source yields :class:`~model.types.Frame` objects whose ``t_s`` are its real times, in
seconds from its first frame: the container's timestamps for a video file, ``frames.csv`` for a
session (:mod:`model.session_source`), the stamps in the file names for an image folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from model.image_source import ImageFolderSource, has_images
from model.session_source import SessionSource, is_session_dir
from model.types import Frame
from model.video_source import SourceError, VideoFileSource


class FrameSource(Protocol):
    """What every file-backed source offers."""

    kind: str  # "video" | "session" | "images"
    path: Path
    frame_times: str  # where the times come from: "container", "frames.csv", "file names", ...
    corrupt_frames: int

    @property
    def n_frames(self) -> int: ...  # expected frames (a video's container count may be approximate)

    @property
    def fps_hz(self) -> float: ...  # measured from the real times where known, else nominal

    @property
    def size(self) -> tuple[int, int]: ...  # (width, height)

    def describe(self) -> dict: ...  # kind, path, frame_times, ... (for summaries)

    def __iter__(self) -> Iterator[Frame]: ...


def source_kind(path: str | Path) -> str:
    """"session", "images" or "video": what :func:`open_frame_source` opens ``path`` as."""
    p = Path(path).expanduser()
    if p.is_dir():
        return "session" if is_session_dir(p) else "images"
    return "video"


def open_frame_source(path: str | Path, *, loop: bool = False, images_fps_hz: float | None = None) -> FrameSource:
    """Open ``path`` as a frame source: a folder with ``session.json`` is a recorded session,
    another folder a folder of frame images, anything else a video file. ``loop=True`` repeats
    it with rising times; ``images_fps_hz`` is the frame rate of a folder of images whose names
    carry no time stamps (default 30 Hz). Raises SourceError with a message for users."""
    p = Path(path).expanduser()
    kind = source_kind(p)
    if kind == "session":
        return SessionSource(p, loop=loop)
    if kind == "images":
        if not has_images(p):
            raise SourceError(f"{p} is neither a recorded session (no session.json) nor a folder of "
                              "frame images")
        return ImageFolderSource(p, loop=loop, **({"fps_hz": images_fps_hz} if images_fps_hz else {}))
    return VideoFileSource(p, loop=loop)
