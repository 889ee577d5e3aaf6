"""Synthetic photoplethysmogram (PPG) with heart-rate variability.

The waveform is a periodic function of the *beat phase* (cycles): each beat is a systolic peak
plus a smaller, wider diastolic wave, so the dicrotic notch falls between them. The phase advances
at the instantaneous heart rate, so heart-rate variability (respiratory sinus arrhythmia plus a
slow random walk) stretches and squeezes beats the way it does in a real PPG. Beat times are the
systolic peaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

# (centre, width, amplitude) of the Gaussians that make one beat, in beat-phase units (0..1).
# Phase 0 is near the foot of the upstroke.
_BEAT_COMPONENTS: tuple[tuple[float, float, float], ...] = (
    (0.22, 0.075, 1.0),  # systolic peak
    (0.50, 0.100, 0.45),  # diastolic (reflected) wave; the notch lies between the two
)
_FINE_FS_HZ = 250.0  # internal grid on which the phase is integrated
_HR_LIMITS_BPM = (20.0, 250.0)


def _raw_template(phase: np.ndarray) -> np.ndarray:
    frac = np.mod(phase, 1.0)
    out = np.zeros_like(frac, dtype=np.float64)
    for centre, width, amp in _BEAT_COMPONENTS:
        for wrap in (-1.0, 0.0, 1.0):  # neighbouring beats' tails
            out += amp * np.exp(-0.5 * ((frac - centre - wrap) / width) ** 2)
    return out


def _template_constants() -> tuple[float, float, float]:
    grid = np.linspace(0.0, 1.0, 20001)
    raw = _raw_template(grid)
    return float(raw.min()), float(raw.max()), float(grid[int(np.argmax(raw))])


_TEMPLATE_MIN, _TEMPLATE_MAX, SYSTOLIC_PHASE = _template_constants()


def pulse_template(phase: np.ndarray) -> np.ndarray:
    """One beat's shape at ``phase`` (cycles, periodic with period 1), scaled to 0 at the
    diastolic trough and 1 at the systolic peak (which lies at phase ``SYSTOLIC_PHASE``)."""
    raw = _raw_template(np.asarray(phase, dtype=np.float64))
    return (raw - _TEMPLATE_MIN) / (_TEMPLATE_MAX - _TEMPLATE_MIN)


@dataclass(frozen=True)
class PulseWave:
    """A PPG sampled at ``t_s``.

    ``bvp``: zero-mean, unit-std waveform (the ground truth to compare with).
    ``pulse``: the same waveform before standardisation, zero-mean, in units of one beat's
    trough-to-peak height (so a renderer can give it a physical amplitude).
    ``hr_bpm``: instantaneous heart rate at ``t_s``. ``beat_t_s``: systolic peak times inside
    ``[t_s[0], t_s[-1]]``.
    """

    t_s: np.ndarray
    bvp: np.ndarray
    pulse: np.ndarray
    hr_bpm: np.ndarray
    beat_t_s: np.ndarray

    @property
    def mean_hr_bpm(self) -> float:
        return float(np.mean(self.hr_bpm))


def heart_rate_trace(
    t_s: np.ndarray,
    hr_bpm: float,
    hrv_std_bpm: float,
    resp_rate_bpm: float,
    rng: np.random.Generator,
    *,
    rsa_share: float = 0.6,
    walk_tau_s: float = 6.0,
    window_s: tuple[float, float] | None = None,
) -> np.ndarray:
    """Instantaneous HR on the uniform grid ``t_s``: ``hr_bpm`` plus a variability term with
    standard deviation ``hrv_std_bpm`` made of respiratory sinus arrhythmia (a sine at the
    breathing rate, ``rsa_share`` of the variance) and an Ornstein-Uhlenbeck random walk (time
    constant ``walk_tau_s``). The variability is zero-mean with exactly that std over
    ``window_s`` (default: the whole grid), so the clip's mean HR is ``hr_bpm``."""
    t = np.asarray(t_s, dtype=np.float64)
    if t.ndim != 1 or t.size < 2:
        raise ValueError("t_s must be a 1-D grid of at least two samples")
    if hrv_std_bpm < 0:
        raise ValueError(f"hrv_std_bpm must be >= 0, got {hrv_std_bpm}")
    if hrv_std_bpm == 0:
        return np.full_like(t, float(hr_bpm))
    lo, hi = window_s if window_s is not None else (t[0], t[-1])
    inside = (t >= lo) & (t <= hi)
    if inside.sum() < 2:
        inside[:] = True

    rsa = np.sin(2.0 * np.pi * resp_rate_bpm / 60.0 * t + rng.uniform(0.0, 2.0 * np.pi))
    dt = float(np.median(np.diff(t)))
    a = float(np.exp(-dt / walk_tau_s))
    shocks = rng.standard_normal(t.size) * np.sqrt(1.0 - a * a)
    # AR(1) walk[i] = a * walk[i-1] + shock[i], started from its stationary distribution
    walk, _ = lfilter([1.0], [1.0, -a], shocks, zi=[a * rng.standard_normal()])

    def unit(x: np.ndarray) -> np.ndarray:
        x = x - x[inside].mean()
        sd = x[inside].std()
        return x / sd if sd > 1e-12 else np.zeros_like(x)

    var = np.sqrt(rsa_share) * unit(rsa) + np.sqrt(1.0 - rsa_share) * unit(walk)
    var = unit(var) * hrv_std_bpm
    return np.clip(hr_bpm + var, *_HR_LIMITS_BPM)


HrSpec = float | np.ndarray | Callable[[np.ndarray], np.ndarray]


def _phase_from_beats(fine_t: np.ndarray, beat_t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beat phase and HR on the fine grid, the phase interpolated between the systolic peaks
    ``beat_t_s`` (extrapolated at the first and last interval's rate)."""
    beats = np.asarray(beat_t_s, dtype=np.float64)
    if beats.ndim != 1 or beats.size < 2 or np.any(np.diff(beats) <= 0):
        raise ValueError("beat_t_s must be strictly increasing with at least two beats")
    k = np.arange(beats.size, dtype=np.float64) + SYSTOLIC_PHASE
    ibi0, ibi1 = beats[1] - beats[0], beats[-1] - beats[-2]
    fine_phase = np.interp(fine_t, beats, k)
    early, late = fine_t < beats[0], fine_t > beats[-1]
    fine_phase[early] = k[0] + (fine_t[early] - beats[0]) / ibi0
    fine_phase[late] = k[-1] + (fine_t[late] - beats[-1]) / ibi1
    fine_hr = 60.0 / np.gradient(fine_t, fine_phase)
    return fine_phase, fine_hr


def _phase_from_hr(fine_t: np.ndarray, t: np.ndarray, hr_bpm: HrSpec,
                   phase0: float) -> tuple[np.ndarray, np.ndarray]:
    """Beat phase and HR on the fine grid, the phase integrated from ``hr_bpm`` (a constant, one
    value per ``t`` sample, or a function of time) and ``phase0`` at ``t[0]``."""
    if callable(hr_bpm):
        fine_hr = np.asarray(hr_bpm(fine_t), dtype=np.float64)
    elif np.ndim(hr_bpm) == 0:
        fine_hr = np.full_like(fine_t, float(hr_bpm))
    else:
        hr_arr = np.asarray(hr_bpm, dtype=np.float64)
        if hr_arr.shape != t.shape:
            raise ValueError("an hr_bpm array must have one value per t_s sample")
        fine_hr = np.interp(fine_t, t, hr_arr)
    if fine_hr.shape != fine_t.shape or np.any(fine_hr <= 0) or not np.all(np.isfinite(fine_hr)):
        raise ValueError("heart rate must be positive and finite")
    inc = (fine_hr[1:] + fine_hr[:-1]) / 2.0 / 60.0 / _FINE_FS_HZ
    fine_phase = np.concatenate([[0.0], np.cumsum(inc)])
    fine_phase += phase0 - np.interp(t[0], fine_t, fine_phase)
    return fine_phase, fine_hr


def _sample(fine_t: np.ndarray, fine_pulse: np.ndarray, t: np.ndarray, exposure_s: float) -> np.ndarray:
    """The fine-grid waveform at the times ``t``, averaged over ``exposure_s`` when > 0."""
    if exposure_s > 0:
        cum = np.concatenate([[0.0], np.cumsum((fine_pulse[1:] + fine_pulse[:-1]) / 2.0)]) / _FINE_FS_HZ
        half = exposure_s / 2.0
        return (np.interp(t + half, fine_t, cum) - np.interp(t - half, fine_t, cum)) / exposure_s
    return np.interp(t, fine_t, fine_pulse)


def ppg_waveform(
    t_s: np.ndarray,
    hr_bpm: HrSpec | None = None,
    *,
    beat_t_s: np.ndarray | None = None,
    phase0: float = 0.0,
    resp_rate_bpm: float = 15.0,
    resp_baseline: float = 0.0,
    resp_phase: float = 0.0,
    exposure_s: float = 0.0,
) -> PulseWave:
    """PPG at the (sorted, not necessarily uniform) sample times ``t_s``.

    Drive it either by ``hr_bpm`` (a constant, an array of HR at each ``t_s``, or a function of
    time) or by ``beat_t_s`` (systolic peak times; the phase is interpolated between them).
    ``phase0`` is the beat phase at ``t_s[0]`` (HR drive only). ``resp_baseline`` adds a
    respiratory baseline wander at ``resp_rate_bpm`` with that amplitude, relative to one beat's
    trough-to-peak. ``exposure_s`` > 0 averages the waveform over a box of that length centred on
    each sample, as a camera's exposure does.
    """
    t = np.asarray(t_s, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("t_s must be a strictly increasing 1-D array of at least two samples")
    if (hr_bpm is None) == (beat_t_s is None):
        raise ValueError("give exactly one of hr_bpm or beat_t_s")
    pad = max(exposure_s, 0.0) + 2.0 / _FINE_FS_HZ
    n_fine = int(np.ceil((t[-1] - t[0] + 2 * pad) * _FINE_FS_HZ)) + 1
    fine_t = t[0] - pad + np.arange(n_fine) / _FINE_FS_HZ

    if beat_t_s is not None:
        fine_phase, fine_hr = _phase_from_beats(fine_t, beat_t_s)
    else:
        fine_phase, fine_hr = _phase_from_hr(fine_t, t, hr_bpm, phase0)

    fine_pulse = pulse_template(fine_phase)
    if resp_baseline:
        fine_pulse = fine_pulse + resp_baseline * np.sin(
            2.0 * np.pi * resp_rate_bpm / 60.0 * fine_t + resp_phase
        )
    pulse = _sample(fine_t, fine_pulse, t, exposure_s)
    pulse = pulse - pulse.mean()
    sd = pulse.std()
    bvp = pulse / sd if sd > 1e-12 else np.zeros_like(pulse)

    first = int(np.ceil(np.interp(t[0], fine_t, fine_phase) - SYSTOLIC_PHASE))
    last = int(np.floor(np.interp(t[-1], fine_t, fine_phase) - SYSTOLIC_PHASE))
    targets = np.arange(first, last + 1, dtype=np.float64) + SYSTOLIC_PHASE
    beats_out = np.interp(targets, fine_phase, fine_t) if targets.size else np.zeros(0)
    return PulseWave(
        t_s=t,
        bvp=bvp,
        pulse=pulse,
        hr_bpm=np.interp(t, fine_t, fine_hr),
        beat_t_s=beats_out,
    )


def synth_pulse(
    t_s: np.ndarray,
    hr_bpm: float,
    *,
    hrv_std_bpm: float = 2.0,
    resp_rate_bpm: float = 15.0,
    resp_baseline: float = 0.0,
    exposure_s: float = 0.0,
    rng: np.random.Generator | None = None,
) -> PulseWave:
    """A PPG with mean heart rate ``hr_bpm`` over ``t_s`` and variability as in
    :func:`heart_rate_trace`; the first beat's phase and the breathing phase are random."""
    rng = rng if rng is not None else np.random.default_rng()
    t = np.asarray(t_s, dtype=np.float64)
    trace_fs_hz = 20.0  # HRV lives below ~0.5 Hz
    span = (t[0] - 1.0, t[-1] + 1.0)
    trace_t = np.arange(span[0], span[1] + 1.0 / trace_fs_hz, 1.0 / trace_fs_hz)
    trace_hr = heart_rate_trace(
        trace_t, hr_bpm, hrv_std_bpm, resp_rate_bpm, rng, window_s=(float(t[0]), float(t[-1]))
    )
    return ppg_waveform(
        t,
        lambda tt: np.interp(tt, trace_t, trace_hr),
        phase0=float(rng.uniform(0.0, 1.0)),
        resp_rate_bpm=resp_rate_bpm,
        resp_baseline=resp_baseline,
        resp_phase=float(rng.uniform(0.0, 2.0 * np.pi)),
        exposure_s=exposure_s,
    )
