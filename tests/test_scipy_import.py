"""model.scipy_import: importing model.signal leaves scipy.stats unimported, and everything of
scipy.signal and scipy.stats still works afterwards (in a fresh interpreter each)."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_importing_model_signal_leaves_scipy_stats_for_later_and_both_still_work():
    code = (
        "import sys, numpy as np, model.signal\n"
        "assert 'scipy.signal' in sys.modules and 'scipy.stats' not in sys.modules, sorted(sys.modules)\n"
        "from scipy.signal import find_peaks, find_peaks_cwt\n"
        "x = np.sin(np.linspace(0, 20 * np.pi, 2000)) + 1.0\n"
        "assert len(find_peaks(x)[0]) == 10\n"
        "assert 'scipy.stats' not in sys.modules\n"
        "assert len(find_peaks_cwt(x, np.arange(20, 80))) >= 9  # the one caller of the deferred name\n"
        "import scipy.stats\n"
        "assert isinstance(scipy.stats, type(sys)) and abs(scipy.stats.norm.cdf(0.0) - 0.5) < 1e-12\n"
        "assert scipy.stats.scoreatpercentile([1, 2, 3], 50) == 2\n"
        "import scipy; assert scipy.stats is sys.modules['scipy.stats']\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stdout + r.stderr


def test_scipy_stats_imported_first_is_left_alone():
    r = _run("import sys, scipy.stats; import model.signal; assert sys.modules['scipy.stats'] is scipy.stats; "
             "from scipy.signal._peak_finding import scoreatpercentile; "
             "assert scoreatpercentile is scipy.stats.scoreatpercentile")
    assert r.returncode == 0, r.stdout + r.stderr
