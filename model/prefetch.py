"""Run a stage of an iterator pipeline in its own thread, with a bounded queue after it.

``analyze`` chains decode -> face tracking -> (ROI, method, HR): OpenCV's decode, MediaPipe's
detector and ONNX Runtime release the GIL, so with each stage in its own thread the two cores
work at once, and the bounded queue keeps memory flat (a stage that runs ahead waits).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int = 16, name: str = "prefetch") -> Iterator[T]:
    """The items of ``items``, produced by a background thread at most ``depth`` ahead.

    An exception in the producer is raised here, in the consumer, at the point it happened; when
    the consumer stops early (``close()``, an exception, garbage collection) the producer stops at
    its next item. ``depth`` < 1 iterates in the caller's thread."""
    if depth < 1:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    source = iter(items)

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(_Failed(e))
        finally:
            close = getattr(source, "close", None)  # a generator stage: its own clean-up runs now
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=5.0)
