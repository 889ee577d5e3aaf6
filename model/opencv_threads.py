"""OpenCV's own thread pool, set once per process by analyze and the app.

The per-frame work (colour conversions, the skin mask, crops of a few hundred pixels) is too small
to gain from OpenCV splitting it over both cores: the split's hand-offs cost more CPU than they
save, and the pipeline's own threads (decode, tracking, the method) already keep both cores busy.
Measured on this 2-core CPU: ``analyze`` on UBFC subject 3 (1802 frames) used 0.3-1.9 s less CPU
in each of four alternating pairs (median 0.5 s of 9.7 s, ``OPENCV_FOR_THREADS_NUM=1`` against
the default), and the live app's unnamed native threads went from 1.7 % to 0.5 % of a core (two
runs each of ``benchmarks/app_live.py``, per-thread CPU clocks).
"""

from __future__ import annotations

import cv2

OPENCV_THREADS = 1


def limit_opencv_threads(n: int = OPENCV_THREADS) -> None:
    """Run OpenCV's parallel loops on ``n`` threads (the calling process, every thread)."""
    cv2.setNumThreads(int(n))
