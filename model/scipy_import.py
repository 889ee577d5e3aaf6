"""scipy.signal without scipy.stats at start-up.

``scipy.signal`` imports ``scipy.stats`` for one name, ``scoreatpercentile``, which only its
``find_peaks_cwt`` calls (nothing here does). Importing scipy.stats costs about 0.2 s of CPU at
every start of ``analyze``, the app and each ``--jobs`` worker on this 2-core machine (``analyze``
of dev subject 3: 5.42 s of CPU against 5.63; of a 15-frame clip: 0.76 against 0.97), about 0.2 of
the speed issue's decode-relative CPU ratio on a one-minute clip. While scipy.signal is imported,
a placeholder stands in for scipy.stats: ``scoreatpercentile`` becomes a function that imports the
real module when called; any other name read from it imports the real module at once. The placeholder is gone once
scipy.signal is imported, so ``import scipy.stats`` anywhere later gets the real module.

Importing this module does it (``model.signal`` imports it first); nothing happens when
scipy.signal or scipy.stats is already imported. It runs after ``model.blas_threads`` has capped
the BLAS threads (``app.cli`` imports that first): importing scipy before the cap cost more CPU
than the deferral saved.
"""

from __future__ import annotations

import importlib
import sys
import types

_STATS = "scipy.stats"


def _scoreatpercentile(*args, **kwargs):
    """scipy.stats.scoreatpercentile, imported when first called."""
    return importlib.import_module(_STATS).scoreatpercentile(*args, **kwargs)


class _StatsPlaceholder(types.ModuleType):
    """Stands in for scipy.stats while scipy.signal is imported."""

    def __getattr__(self, attr: str):
        if attr == "scoreatpercentile":
            return _scoreatpercentile
        if attr.startswith("__"):
            raise AttributeError(attr)
        if sys.modules.get(_STATS) is self:  # another name: the real module, now
            del sys.modules[_STATS]
        return getattr(importlib.import_module(_STATS), attr)


def import_scipy_signal() -> None:
    """Import scipy.signal with scipy.stats left for later (see the module docstring)."""
    if "scipy.signal" in sys.modules or _STATS in sys.modules:
        return
    placeholder = _StatsPlaceholder(_STATS)
    sys.modules[_STATS] = placeholder
    try:
        import scipy.signal  # noqa: F401
    finally:
        if sys.modules.get(_STATS) is placeholder:
            del sys.modules[_STATS]


import_scipy_signal()
