"""NumPy's and SciPy's BLAS (OpenBLAS) on one thread, for analyze and the app.

Nothing on their path multiplies matrices large enough to gain from a second BLAS thread: the
pulse methods' projections are 3x3, the detrend is a banded solve, FCUS runs in ONNX Runtime with
its own threads, and the pipeline's own threads already keep both cores busy. Yet each of the two
OpenBLAS libraries (NumPy's and SciPy's) starts a pool of one thread per core when it is loaded,
and its idle threads spin before they sleep. Measured on this 2-core CPU: importing NumPy, SciPy's
signal module and ``model.analyze`` took 1.08 s of CPU with the default and 0.78 s with
``OPENBLAS_NUM_THREADS=1`` (two runs each); ``benchmarks/speed_pair.py`` on UBFC subject 3 with the variable set for the
whole run, two alternating rounds each: analyze used 6.11 and 6.29 s of CPU against 6.77 and 6.81 s
(docs/speed.md, "Speed", for this code against the session before it).

OpenBLAS reads the variable once, when it is loaded, so :func:`limit_blas_threads` must run before
the first ``import numpy`` of the process; ``fcus-rppg`` calls it before it imports analyze or the
app. A value the user has set is kept. Child processes inherit it (the ``adapt`` fine-tune that
``analyze --adapt`` and the app's Calibrate start): their torch computes with MKL and OpenMP, which
the variable does not touch.
"""

from __future__ import annotations

import os
import sys

BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"
BLAS_THREADS = 1


def limit_blas_threads(n: int = BLAS_THREADS) -> bool:
    """Ask OpenBLAS for ``n`` threads (unless the user has set the variable). False when NumPy is
    already imported, so the setting would come too late for this process (its children still get it)."""
    os.environ.setdefault(BLAS_THREADS_ENV, str(int(n)))
    return "numpy" not in sys.modules
