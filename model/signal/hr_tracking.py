"""Heart rate over time: a Viterbi track through the sequence of window spectra.

Each HR update brings the power spectrum of the current BVP window. Read window by window, one
window whose strongest peak is motion, a flicker or the pulse's own second harmonic makes the
reading jump by tens of bpm. The tracker instead keeps, for every rate on a grid of states
(``step_bpm`` apart over the HR search range), the log-probability of the best path of rates that
ends there, and moves it forward at each update (the max-product recursion of Viterbi):

* **Transition prior.** Between two updates ``dt_s`` apart the rate moves by a Gaussian step of
  ``rate_sd_bpm_per_s * dt_s`` (resting and everyday heart rates change by a few bpm a second
  at most), mixed with a small uniform ``jump_prob`` so the track can re-lock when it was wrong.
* **Emission.** A rate's evidence is its share of the in-band spectral power, plus
  ``harmonic_weight`` times the share at twice the rate (a PPG carries its 2nd harmonic), so a
  window whose 2nd harmonic is strongest still supports the fundamental the track is on.
* **Reading.** The state at the end of the best path (causal: usable live), refined to the
  interpolated spectral peak within ``refine_bpm`` of it when there is one. ``path()`` backtracks
  the whole best path (for a whole-clip figure offline).

A gap longer than ``reset_after_s`` (face lost, no signal) forgets the track. The same code runs
in the live app and in ``analyze`` (through :class:`model.estimator.StreamingEstimator`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.signal.heart_rate import parabolic_peak_hz


@dataclass(frozen=True)
class HrTrackerConfig:
    lo_bpm: float = 42.0
    hi_bpm: float = 200.0
    step_bpm: float = 1.0  # grid of states
    rate_sd_bpm_per_s: float = 3.0  # sd of the rate's change per second between updates
    jump_prob: float = 0.01  # per update: the track may re-lock anywhere in the band
    harmonic_weight: float = 0.5  # share of the power at 2f that counts as evidence for f
    floor_share: float = 1e-3  # emission floor, relative to a flat spectrum's share
    refine_bpm: float = 2.0  # snap to the spectral peak within this distance of the state
    reset_after_s: float = 10.0  # a gap longer than this starts a new track


@dataclass(frozen=True)
class TrackedHr:
    t_s: float
    hr_bpm: float  # the reading: the state, refined to the nearby spectral peak
    state_bpm: float  # the grid state the best path ends in
    peak_bpm: float  # the window's own strongest in-band rate (what a window-by-window read gives)


class HrTracker:
    """Online Viterbi over HR states; see the module docstring."""

    def __init__(self, config: HrTrackerConfig | None = None) -> None:
        self.cfg = config or HrTrackerConfig()
        c = self.cfg
        if not (0 < c.lo_bpm < c.hi_bpm) or c.step_bpm <= 0:
            raise ValueError(f"bad HR tracker range {c.lo_bpm}-{c.hi_bpm} bpm step {c.step_bpm}")
        self.states_bpm = np.arange(c.lo_bpm, c.hi_bpm + 1e-9, c.step_bpm)
        self._diff = self.states_bpm[None, :] - self.states_bpm[:, None]  # (from, to)
        self.reset()

    def reset(self) -> None:
        """Forget the track (a new face, a long gap)."""
        self._delta: np.ndarray | None = None  # log-prob of the best path ending in each state
        self._t_s: float | None = None
        self._back: list[np.ndarray | None] = []  # per update: best predecessor of each state
        self._times: list[float] = []

    def _log_transition(self, dt_s: float) -> np.ndarray:
        c = self.cfg
        sd = max(c.rate_sd_bpm_per_s * max(dt_s, 0.0), c.step_bpm)
        kern = np.exp(-0.5 * (self._diff / sd) ** 2)
        kern /= kern.sum(axis=1, keepdims=True)
        n = len(self.states_bpm)
        return np.log((1.0 - c.jump_prob) * kern + c.jump_prob / n)

    def _log_emission(self, freqs_hz: np.ndarray, power: np.ndarray) -> np.ndarray:
        c = self.cfg
        f_bpm = np.asarray(freqs_hz, dtype=np.float64) * 60.0
        p = np.clip(np.asarray(power, dtype=np.float64), 0.0, None)
        at = np.interp(self.states_bpm, f_bpm, p, right=0.0)
        at2 = np.interp(2.0 * self.states_bpm, f_bpm, p, right=0.0)
        total = float(at.sum())
        n = len(self.states_bpm)
        if not math.isfinite(total) or total <= 0:
            return np.zeros(n)  # no evidence: the prior alone moves the track
        share = (at + c.harmonic_weight * at2) / total
        return np.log(share + c.floor_share / n)

    def update(self, t_s: float, freqs_hz: np.ndarray, power: np.ndarray) -> TrackedHr:
        """Move the track to time ``t_s`` with this window's spectrum (``freqs_hz``, ``power``:
        one-sided power, e.g. :func:`model.signal.heart_rate.power_spectrum` of the BVP)."""
        gap = None if self._t_s is None else t_s - self._t_s
        if gap is not None and gap > self.cfg.reset_after_s:
            self.reset()
            gap = None
        emis = self._log_emission(freqs_hz, power)
        if self._delta is None:
            delta, back = emis, None
        else:
            scores = self._delta[:, None] + self._log_transition(gap)  # (from, to)
            back = np.argmax(scores, axis=0)
            delta = scores[back, np.arange(len(back))] + emis
        self._delta = delta - float(np.max(delta))
        self._t_s = float(t_s)
        self._back.append(back)
        self._times.append(float(t_s))
        state = float(self.states_bpm[int(np.argmax(self._delta))])
        return TrackedHr(t_s=float(t_s), hr_bpm=self.refine(state, freqs_hz, power), state_bpm=state,
                         peak_bpm=self._strongest(freqs_hz, power))

    def skip(self, t_s: float) -> None:
        """An update without a usable spectrum: the track waits (and resets after a long gap)."""
        if self._t_s is not None and t_s - self._t_s > self.cfg.reset_after_s:
            self.reset()

    def _band_mask(self, f_bpm: np.ndarray) -> np.ndarray:
        return (f_bpm >= self.cfg.lo_bpm) & (f_bpm <= self.cfg.hi_bpm)

    def _strongest(self, freqs_hz: np.ndarray, power: np.ndarray) -> float:
        f_bpm = np.asarray(freqs_hz) * 60.0
        idx = np.flatnonzero(self._band_mask(f_bpm))
        if idx.size == 0:
            return math.nan
        i = int(idx[np.argmax(np.asarray(power)[idx])])
        return 60.0 * parabolic_peak_hz(np.asarray(freqs_hz), np.asarray(power), i)

    def refine(self, state_bpm: float, freqs_hz: np.ndarray, power: np.ndarray) -> float:
        """``state_bpm`` snapped to the spectrum's local peak within ``refine_bpm`` of it, if any."""
        f = np.asarray(freqs_hz, dtype=np.float64)
        p = np.asarray(power, dtype=np.float64)
        near = np.flatnonzero(np.abs(f * 60.0 - state_bpm) <= self.cfg.refine_bpm)
        if near.size == 0:
            return state_bpm
        i = int(near[np.argmax(p[near])])
        if 0 < i < len(p) - 1 and p[i] >= p[i - 1] and p[i] >= p[i + 1]:  # a real local peak
            return 60.0 * parabolic_peak_hz(f, p, i)
        return state_bpm

    def path(self) -> tuple[np.ndarray, np.ndarray]:
        """The best path of the current track, backtracked: (t_s, state_bpm) per update."""
        if self._delta is None:
            return np.zeros(0), np.zeros(0)
        k = int(np.argmax(self._delta))
        out = [k]
        for back in reversed(self._back[1:]):
            k = int(back[k])
            out.append(k)
        return np.asarray(self._times), self.states_bpm[np.asarray(out[::-1])]
