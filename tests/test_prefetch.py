"""model.prefetch: a stage of the analyze pipeline in its own thread, with a bounded queue."""

from __future__ import annotations

import threading
import time

import pytest

from model.prefetch import prefetch


def test_items_in_order_from_another_thread():
    seen_threads = set()

    def produce():
        for i in range(100):
            seen_threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(produce(), depth=4, name="stage")) == list(range(100))
    assert seen_threads == {"stage"}


def test_depth_zero_runs_in_the_callers_thread():
    names = []

    def produce():
        names.append(threading.current_thread().name)
        yield 1

    assert list(prefetch(produce(), depth=0)) == [1]
    assert names == [threading.current_thread().name]


def test_the_queue_is_bounded():
    produced = []

    def produce():
        for i in range(1000):
            produced.append(i)
            yield i

    it = prefetch(produce(), depth=5)
    next(it)
    time.sleep(0.2)
    assert len(produced) <= 5 + 2  # the queue, the item taken and the one waiting to be put
    it.close()


def test_an_error_in_the_producer_is_raised_in_the_consumer_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetch(produce(), depth=2):
            got.append(item)
    assert got == [1, 2]


def test_closing_early_stops_the_producer():
    stopped = threading.Event()

    def produce():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            stopped.set()

    it = prefetch(produce(), depth=2, name="endless")
    assert next(it) == 0
    it.close()
    assert stopped.is_set()
    assert not any(t.name == "endless" and t.is_alive() for t in threading.enumerate())
