"""The Viterbi HR tracker on synthetic window spectra: it follows a changing rate, ignores one bad
window, rejects a 2nd harmonic that wins one window's peak, re-locks after a wrong start, and
backtracks a whole path."""

from __future__ import annotations

import numpy as np
import pytest

from model.signal.hr_tracking import HrTracker, HrTrackerConfig
from tests.window_spectra import window_spectrum as _window


def _run(tracker, windows):
    return [tracker.update(float(i), f, p) for i, (f, p) in enumerate(windows)]


def test_one_bad_window_does_not_move_the_reading():
    rng = np.random.default_rng(0)
    wins = [_window(rng, [(72, 1.0)]) for _ in range(12)]
    wins[8] = _window(rng, [(72, 0.5), (110, 1.0)])  # a motion burst wins this window's peak
    out = _run(HrTracker(), wins)
    assert abs(out[8].peak_bpm - 110) < 2  # window by window, the reading would jump by 38 bpm
    assert all(abs(o.hr_bpm - 72) < 1.5 for o in out)


def test_a_dominant_second_harmonic_is_rejected():
    rng = np.random.default_rng(1)
    wins = [_window(rng, [(60, 1.0), (120, 0.5)]) for _ in range(10)]
    wins += [_window(rng, [(60, 0.6), (120, 1.0)]) for _ in range(2)]  # harmonic stronger, twice
    wins += [_window(rng, [(60, 1.0), (120, 0.5)]) for _ in range(3)]
    out = _run(HrTracker(), wins)
    assert abs(out[10].peak_bpm - 120) < 2
    assert all(abs(o.hr_bpm - 60) < 1.5 for o in out)


def test_harmonic_evidence_matters():
    """Without the harmonic term the same windows pull the track to 120 sooner or later; with it
    the fundamental holds (the test above): the term is what rejects the harmonic."""
    rng = np.random.default_rng(1)
    wins = [_window(rng, [(60, 1.0), (120, 0.5)]) for _ in range(3)]
    wins += [_window(rng, [(60, 0.6), (120, 1.0)]) for _ in range(8)]
    with_h = _run(HrTracker(), wins)
    without = _run(HrTracker(HrTrackerConfig(harmonic_weight=0.0)), wins)
    assert abs(with_h[-1].hr_bpm - 60) < 1.5
    assert abs(without[-1].hr_bpm - 120) < 1.5


def test_follows_a_ramp():
    rng = np.random.default_rng(2)
    bpm = np.linspace(70, 100, 31)  # 1 bpm a second
    out = _run(HrTracker(), [_window(rng, [(b, 1.0)]) for b in bpm])
    err = np.abs(np.array([o.hr_bpm for o in out]) - bpm)
    assert err.max() < 2.0


def test_relocks_after_a_wrong_start():
    rng = np.random.default_rng(3)
    wins = [_window(rng, [(150, 1.0), (80, 0.3)]) for _ in range(3)]
    wins += [_window(rng, [(80, 1.0)]) for _ in range(12)]
    out = _run(HrTracker(), wins)
    assert abs(out[0].hr_bpm - 150) < 2
    assert all(abs(o.hr_bpm - 80) < 1.5 for o in out[-6:])


def test_backtracked_path_repairs_the_start():
    rng = np.random.default_rng(4)
    wins = [_window(rng, [(90, 0.6), (130, 1.0)])]  # the first window is misled
    wins += [_window(rng, [(90, 1.0)]) for _ in range(10)]
    tr = HrTracker()
    out = _run(tr, wins)
    assert abs(out[0].hr_bpm - 130) < 2
    t, path = tr.path()
    assert len(t) == len(wins) and np.all(np.abs(path - 90) <= 1.0)


def test_long_gap_starts_a_new_track():
    rng = np.random.default_rng(5)
    tr = HrTracker(HrTrackerConfig(reset_after_s=5.0))
    for i in range(6):
        tr.update(float(i), *_window(rng, [(60, 1.0)]))
    tr.skip(20.0)
    o = tr.update(21.0, *_window(rng, [(140, 1.0)]))
    assert abs(o.hr_bpm - 140) < 2  # a new person: no pull from the old track
    assert len(tr.path()[0]) == 1


def test_flat_spectrum_keeps_the_track():
    rng = np.random.default_rng(6)
    tr = HrTracker()
    for i in range(5):
        tr.update(float(i), *_window(rng, [(75, 1.0)]))
    f, p = _window(rng, [(75, 1.0)])
    o = tr.update(5.0, f, np.zeros_like(p))
    assert o.state_bpm == pytest.approx(75, abs=1.0)


def test_bad_range_is_refused():
    with pytest.raises(ValueError):
        HrTracker(HrTrackerConfig(lo_bpm=100, hi_bpm=50))
