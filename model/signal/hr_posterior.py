"""Heart rate over time as a belief: a forward (sum-product) filter through the window spectra,
whose posterior gives both the reading and how sure it is.

:mod:`model.signal.hr_tracking` keeps the best path of rates (max-product Viterbi). Here every
rate on a grid of states (``step_bpm`` apart over the HR search range) keeps instead the
probability that the heart beats at it now, given every window so far (the forward recursion of
a hidden Markov model), so the filter can say how much of its belief lies near its reading:

* **Transition.** Between two updates ``dt_s`` apart the rate moves by a Gaussian step of
  ``rate_sd_bpm_per_s * sqrt(dt_s)`` (a random walk), mixed with a jump anywhere in the band
  (``jump_prob_per_s``, compounded over ``dt_s``) so the belief can move to a new rate.
* **Evidence.** A window's normalised power spectrum on the grid, raised to
  ``evidence_per_s * dt_s``: successive windows share most of their samples, so an update that
  comes sooner carries less new evidence. An update after a gap (the face was lost, the updates
  were skipped) counts at most ``max_evidence_s`` seconds': the belief has spread over the gap,
  and one window must not settle it at once (a window 9 s after the last one would otherwise
  count 9 times a steady update's, and a lone peak at half the rate read as sure).
* **Reading.** The posterior's mode (causal: usable live). **Quality:** the posterior's mass within
  ``mass_bpm`` of it, a number from 0 to 1 that a gate can threshold: a pulse that stays at one
  rate window after window gathers the belief around it, a noise peak that moves does not.

A gap longer than ``reset_after_s`` (face lost, no signal) forgets the belief. The same code runs
in the live app and in ``analyze`` (through :class:`model.estimator.StreamingEstimator`,
``EstimatorConfig.hr_posterior``).

**Offline** (``keep_history=True``), :meth:`HrPosterior.smoothed` runs the recursion backwards too
(forward-backward): each update's belief then rests on every window of its stretch, after it as
well as before, which a file's analysis can use and a live display cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.signal.band import HR_RANGE_BPM

_DT_STEP_S = 0.05
_KEPT_TRANSITIONS = 8


@dataclass(frozen=True)
class HrPosteriorConfig:
    lo_bpm: float = HR_RANGE_BPM[0]
    hi_bpm: float = HR_RANGE_BPM[1]
    step_bpm: float = 0.5  # grid of states
    rate_sd_bpm_per_s: float = 4.0  # sd of the rate's change over one second between updates
    jump_prob_per_s: float = 0.05  # the belief may move anywhere in the band
    evidence_per_s: float = 1.0  # exponent of a window's spectrum per second between updates
    mass_bpm: float = 5.0  # the quality: the posterior's mass within this of its mode
    reset_after_s: float = 10.0  # a gap longer than this starts a new belief
    first_dt_s: float = 1.0  # the evidence of the first update counts as this many seconds'
    # an update after a gap counts at most this many seconds' evidence (None: the whole gap's)
    max_evidence_s: float | None = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.lo_bpm < self.hi_bpm) or self.step_bpm <= 0:
            raise ValueError(f"bad HR posterior range {self.lo_bpm}-{self.hi_bpm} bpm step {self.step_bpm}")
        if self.rate_sd_bpm_per_s <= 0 or not 0 <= self.jump_prob_per_s < 1 or self.evidence_per_s <= 0:
            raise ValueError("rate_sd_bpm_per_s and evidence_per_s must be positive, jump_prob_per_s in [0, 1)")
        if self.mass_bpm <= 0 or self.reset_after_s <= 0 or self.first_dt_s <= 0:
            raise ValueError("mass_bpm, reset_after_s and first_dt_s must be positive")
        if self.max_evidence_s is not None and self.max_evidence_s <= 0:
            raise ValueError(f"max_evidence_s must be positive or None, got {self.max_evidence_s}")


@dataclass(frozen=True)
class PosteriorHr:
    t_s: float
    hr_bpm: float  # the posterior's mode
    mass: float  # the posterior's mass within mass_bpm of the mode (0..1)


class HrPosterior:
    """Forward filter over HR states; see the module docstring."""

    def __init__(self, config: HrPosteriorConfig | None = None, *, keep_history: bool = False) -> None:
        self.cfg = config or HrPosteriorConfig()
        c = self.cfg
        self.states_bpm = np.arange(c.lo_bpm, c.hi_bpm + 1e-9, c.step_bpm)
        self._transitions: dict[float, np.ndarray] = {}
        # with keep_history, every update's (t_s, time step from the previous one (None: a new
        # belief), evidence, filtered belief), for smoothed(); a float64 vector of the grid each
        self.history: list[tuple[float, float | None, np.ndarray, np.ndarray]] | None = [] if keep_history else None
        self.reset()

    def reset(self) -> None:
        """Forget the belief (a new face, a long gap)."""
        self._belief: np.ndarray | None = None
        self._t_s: float | None = None
        self.last: PosteriorHr | None = None  # the latest update's mode and mass

    def _transition(self, dt_s: float) -> np.ndarray:
        """(to, from) probabilities of the rate's move over ``dt_s``, rounded to 50 ms (a few kept:
        updates come at one or two steady intervals)."""
        key = max(round(dt_s / _DT_STEP_S), 1) * _DT_STEP_S
        kern = self._transitions.get(key)
        if kern is None:
            if len(self._transitions) >= _KEPT_TRANSITIONS:
                self._transitions.clear()
            c = self.cfg
            sd = max(c.rate_sd_bpm_per_s * math.sqrt(key), 0.5 * c.step_bpm)
            d = self.states_bpm[:, None] - self.states_bpm[None, :]
            kern = np.exp(-0.5 * (d / sd) ** 2)
            kern /= kern.sum(axis=0, keepdims=True)
            jump = 1.0 - (1.0 - c.jump_prob_per_s) ** key
            kern = (1.0 - jump) * kern + jump / len(self.states_bpm)
            self._transitions[key] = kern
        return kern

    def _evidence(self, freqs_hz: np.ndarray, power: np.ndarray, dt_s: float) -> np.ndarray | None:
        """The window's spectrum on the grid, normalised, raised to its weight; None without power."""
        p = np.interp(self.states_bpm / 60.0, np.asarray(freqs_hz, dtype=np.float64),
                      np.clip(np.asarray(power, dtype=np.float64), 0.0, None), left=0.0, right=0.0)
        total = float(p.sum())
        if not math.isfinite(total) or total <= 0:
            return None
        return (p / total + 1e-12) ** (self.cfg.evidence_per_s * dt_s)

    def update(self, t_s: float, freqs_hz: np.ndarray, power: np.ndarray) -> PosteriorHr | None:
        """Move the belief to time ``t_s`` with this window's spectrum (``freqs_hz``, ``power``:
        one-sided power, e.g. :func:`model.signal.heart_rate.power_spectrum` of the BVP). None when
        the spectrum has no power in the band (the belief waits)."""
        self.skip(t_s)
        dt_s = self.cfg.first_dt_s if self._t_s is None else max(t_s - self._t_s, 0.0)
        cap_s = self.cfg.max_evidence_s
        evidence = self._evidence(freqs_hz, power, dt_s if cap_s is None else min(dt_s, cap_s))
        if evidence is None:
            return None
        step: float | None = None if self._belief is None else dt_s
        prior = (np.full(len(self.states_bpm), 1.0 / len(self.states_bpm)) if step is None
                 else self._transition(step) @ self._belief)
        belief = prior * evidence
        total = float(belief.sum())
        if not math.isfinite(total) or total <= 0:  # no overlap at all: start again from this window
            belief, total, step = evidence, float(evidence.sum()), None
        self._belief = belief / total
        self._t_s = float(t_s)
        if self.history is not None:
            self.history.append((float(t_s), step, evidence, self._belief))
        self.last = self._read(float(t_s), self._belief)
        return self.last

    def _read(self, t_s: float, belief: np.ndarray) -> PosteriorHr:
        mode = float(self.states_bpm[int(np.argmax(belief))])
        near = np.abs(self.states_bpm - mode) <= self.cfg.mass_bpm
        return PosteriorHr(t_s=t_s, hr_bpm=mode, mass=float(belief[near].sum()))

    def smoothed(self) -> list[PosteriorHr]:
        """Every kept update's mode and mass given all the windows of its stretch, before and after
        it (the backward recursion over ``history``; a stretch ends where a belief started anew).
        Needs ``keep_history``."""
        if self.history is None:
            raise RuntimeError("smoothed() needs HrPosterior(keep_history=True)")
        out: list[PosteriorHr] = [None] * len(self.history)  # type: ignore[list-item]
        backward = np.ones(len(self.states_bpm))
        for i in range(len(self.history) - 1, -1, -1):
            t_s, _, _, forward = self.history[i]
            nxt = self.history[i + 1] if i + 1 < len(self.history) else None
            if nxt is None or nxt[1] is None:  # the last update of a stretch
                backward = np.ones(len(self.states_bpm))
            else:  # what the later windows say of the rate at this update
                backward = self._transition(nxt[1]).T @ (nxt[2] * backward)
                backward /= float(backward.sum())
            belief = forward * backward
            total = float(belief.sum())
            out[i] = self._read(t_s, belief / total if math.isfinite(total) and total > 0 else forward)
        return out

    def skip(self, t_s: float) -> None:
        """An update without a usable spectrum: the belief waits (and is forgotten after a long gap)."""
        if self._t_s is not None and t_s - self._t_s > self.cfg.reset_after_s:
            self.reset()
