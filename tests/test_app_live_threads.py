"""benchmarks/app_live.py's CPU by thread: each thread's CPU seconds, summed by name."""

import sys
import threading
import time

import pytest

from tests.benchmark_modules import load_benchmark


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_thread_cpu_counts_a_busy_thread_under_its_name():
    mod = load_benchmark("app_live")
    before = mod.thread_cpu_s()
    done = threading.Event()

    def spin():
        t_end = time.monotonic() + 5.0
        while time.monotonic() < t_end and not done.is_set():
            sum(range(1000))

    t = threading.Thread(target=spin, name="busy-probe")
    t.start()
    during: dict = {}
    for _ in range(60):  # until the kernel has counted a tick of it (10 ms at 100 Hz), at most 3 s
        time.sleep(0.05)
        during = mod.thread_cpu_s()
        if during.get("busy-probe", 0.0) > 0.0:
            break
    done.set()
    t.join()
    assert "MainThread" in before and before["MainThread"] >= 0.0
    assert during.get("busy-probe", 0.0) > 0.0
