"""The HR posterior (a forward filter through window spectra) on synthetic window spectra: its mode
follows a changing rate and holds through one bad window and a harmonic that wins two windows'
peaks; its mass at the mode is high on a steady pulse and low on noise; it is forgotten after a
long gap; and through the streaming estimator its mass is the quality the gate reads."""

from __future__ import annotations

import numpy as np
import pytest

from model.signal.hr_posterior import HrPosterior, HrPosteriorConfig
from tests.window_spectra import window_spectrum as _window


def _peak_bpm(f, p):
    return 60.0 * float(f[np.argmax(p)])


def _run(post, windows, t0: float = 0.0, dt: float = 1.0):
    return [post.update(t0 + i * dt, f, p) for i, (f, p) in enumerate(windows)]


def test_a_steady_pulse_gathers_the_belief():
    rng = np.random.default_rng(0)
    out = _run(HrPosterior(), [_window(rng, [(72, 1.0)], noise=1.0) for _ in range(10)])
    assert all(abs(o.hr_bpm - 72) <= 1.0 for o in out)
    assert out[-1].mass > 0.8
    assert out[-1].mass >= out[0].mass  # evidence adds up


def test_noise_leaves_the_belief_spread():
    rng = np.random.default_rng(2)
    out = _run(HrPosterior(), [_window(rng, [], noise=1.0) for _ in range(20)])
    masses = np.array([o.mass for o in out])
    assert np.median(masses) < 0.5
    pulse = _run(HrPosterior(), [_window(rng, [(80, 0.5)], noise=1.0) for _ in range(20)])
    assert np.median([o.mass for o in pulse]) > np.median(masses) + 0.3


def test_one_bad_window_does_not_move_the_reading():
    rng = np.random.default_rng(0)
    wins = [_window(rng, [(72, 1.0)]) for _ in range(12)]
    wins[8] = _window(rng, [(72, 0.5), (110, 1.0)])  # a motion burst wins this window's peak
    out = _run(HrPosterior(), wins)
    assert abs(_peak_bpm(*wins[8]) - 110) < 2  # window by window, the reading would jump by 38 bpm
    assert all(abs(o.hr_bpm - 72) <= 1.0 for o in out)


def test_a_harmonic_that_wins_two_windows_is_rejected():
    rng = np.random.default_rng(1)
    wins = [_window(rng, [(60, 1.0), (120, 0.5)]) for _ in range(10)]
    wins += [_window(rng, [(60, 0.6), (120, 1.0)]) for _ in range(2)]  # harmonic stronger, twice
    wins += [_window(rng, [(60, 1.0), (120, 0.5)]) for _ in range(3)]
    out = _run(HrPosterior(), wins)
    assert abs(_peak_bpm(*wins[10]) - 120) < 2
    assert all(abs(o.hr_bpm - 60) <= 1.0 for o in out)


def test_it_follows_a_changing_rate_and_moves_to_a_new_one():
    rng = np.random.default_rng(3)
    ramp = [_window(rng, [(70 + 1.5 * i, 1.0)]) for i in range(20)]  # 1.5 bpm a second
    out = _run(HrPosterior(), ramp)
    assert all(abs(o.hr_bpm - (70 + 1.5 * i)) <= 2.5 for i, o in enumerate(out))
    post = HrPosterior()
    out = _run(post, [_window(rng, [(60, 1.0)]) for _ in range(10)] + [_window(rng, [(100, 1.0)]) for _ in range(10)])
    assert abs(out[-1].hr_bpm - 100) <= 1.0  # the jump probability lets the belief move


def test_updates_sooner_carry_less_evidence():
    """Two updates half a second apart weigh what one a second apart does (overlapping windows)."""
    rng = np.random.default_rng(4)
    f, p = _window(rng, [(90, 1.0)], noise=2.0)
    a, b = HrPosterior(), HrPosterior()
    a.update(0.0, f, p)
    b.update(0.0, f, p)
    one = a.update(1.0, f, p)
    b.update(0.5, f, p)
    two = b.update(1.0, f, p)
    assert one.hr_bpm == two.hr_bpm
    assert two.mass == pytest.approx(one.mass, abs=0.05)


def test_a_long_gap_forgets_the_belief():
    rng = np.random.default_rng(5)
    post = HrPosterior(HrPosteriorConfig(reset_after_s=10.0))
    _run(post, [_window(rng, [(60, 1.0)]) for _ in range(10)])
    first = post.update(30.0, *_window(rng, [(100, 1.0)]))
    assert abs(first.hr_bpm - 100) <= 1.0  # a new belief from this window alone, not a move from 60
    assert post.update(30.0 + 11.0, *_window(rng, [(130, 1.0)])).hr_bpm == pytest.approx(130, abs=1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_one_window_after_a_gap_does_not_settle_the_belief(seed):
    """A face back after 8 s: its first window, with a peak at half the rate, counts at most
    max_evidence_s seconds' evidence, so the belief is not sure of it at once (it counted the whole
    gap's before: sure of the half rate from one window, as subject 5 was after a 2 s cover)."""
    def after_gap(cap):
        rng = np.random.default_rng(seed)
        post = HrPosterior(HrPosteriorConfig(max_evidence_s=cap))
        _run(post, [_window(rng, [(100, 1.0)], noise=1.0) for _ in range(20)])
        return post.update(19.0 + 8.0, *_window(rng, [(50, 1.0), (100, 0.4)], noise=1.0))

    assert after_gap(None).mass > 0.99
    assert after_gap(HrPosteriorConfig().max_evidence_s).mass < 0.85


def test_no_power_gives_no_reading():
    post = HrPosterior()
    f = np.linspace(0, 15, 100)
    assert post.update(0.0, f, np.zeros_like(f)) is None


@pytest.mark.parametrize("bad", [dict(step_bpm=0), dict(rate_sd_bpm_per_s=0), dict(jump_prob_per_s=1.0),
                                 dict(mass_bpm=0), dict(lo_bpm=100, hi_bpm=90), dict(max_evidence_s=0)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        HrPosteriorConfig(**bad)


def test_irregular_updates_keep_few_transition_matrices():
    """Live frame times make every interval a little different: the kept matrices stay few."""
    rng = np.random.default_rng(6)
    post = HrPosterior()
    f, p = _window(rng, [(70, 1.0)])
    t = 0.0
    for _ in range(200):
        t += rng.uniform(0.4, 1.6)
        post.update(t, f, p)
    assert len(post._transitions) <= 8


def test_smoothed_reads_the_start_from_the_windows_after_it():
    """Offline the belief of an update also rests on the windows after it: a start where a noise
    peak is the stronger one is read at the rate that the later windows settle on; live it is not."""
    rng = np.random.default_rng(7)
    wins = [_window(rng, [(66, 1.0), (98, 1.4)], noise=0.5) for _ in range(3)]  # a burst at 98 leads at first
    wins += [_window(rng, [(66, 1.0)], noise=0.5) for _ in range(12)]
    post = HrPosterior(keep_history=True)
    live = _run(post, wins)
    assert abs(live[0].hr_bpm - 98) <= 1.0  # the filter alone reads the stronger peak at first
    smooth = post.smoothed()
    assert len(smooth) == len(wins) and [s.t_s for s in smooth] == [o.t_s for o in live]
    assert all(abs(s.hr_bpm - 66) <= 1.0 for s in smooth)
    assert smooth[0].mass > live[0].mass
    # the last update has nothing after it (the same belief, up to the last bits of its normalisation)
    assert smooth[-1].t_s == live[-1].t_s and smooth[-1].hr_bpm == live[-1].hr_bpm
    assert smooth[-1].mass == pytest.approx(live[-1].mass, rel=1e-9)


def test_smoothed_does_not_carry_a_belief_across_a_reset():
    rng = np.random.default_rng(8)
    post = HrPosterior(HrPosteriorConfig(reset_after_s=5.0), keep_history=True)
    first = _run(post, [_window(rng, [(60, 1.2), (120, 1.0)], noise=0.5) for _ in range(3)])
    _run(post, [_window(rng, [(120, 1.0)], noise=0.5) for _ in range(10)], t0=20.0)  # after a long gap
    smooth = post.smoothed()
    assert abs(first[0].hr_bpm - 60) <= 1.0
    assert all(abs(s.hr_bpm - 60) <= 1.0 for s in smooth[:3])  # the first stretch's own reading
    assert all(abs(s.hr_bpm - 120) <= 1.0 for s in smooth[3:])
    with pytest.raises(RuntimeError):
        HrPosterior().smoothed()  # without the history kept
