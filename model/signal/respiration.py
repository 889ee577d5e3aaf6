"""Breathing rate from the respiratory modulations of the BVP (Karlen et al. 2013, Charlton et
al. 2016): breathing modulates the baseline (RIIV: per-beat midpoint of peak and trough), the
amplitude (RIAV: per-beat peak minus trough) and the beat rate (RIFV: inter-beat interval,
respiratory sinus arrhythmia).

Each per-beat series is interpolated to 4 Hz and its spectral peak is taken in 0.1-0.5 Hz (6-30
breaths/min, capped below the beat series' Nyquist rate), with a "concentration": the share of
the band's power within +-1.5/duration of the peak, rescaled so that a flat spectrum scores 0 and
all power at the peak scores 1 (~0.9 for a clean sinusoidal modulation, mostly < 0.3 for noise,
whose raw share in a short window is large). Modulations whose rates agree within ``AGREE_BPM``
are fused (concentration-weighted mean); the quality is the summed concentration of the agreeing
modulations divided by three.

A band-passed BVP (0.6 Hz high-pass, ``PULSE_BAND_HZ``) keeps only a strongly attenuated
baseline, so RIIV weakens there; RIAV and RIFV are unaffected. A BVP that is only detrended gives
RIIV its full strength.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from model.signal.band import PULSE_BAND_HZ
from model.signal.beats import detect_beats
from model.signal.filters import bandpass
from model.signal.heart_rate import detrended_periodogram, parabolic_peak_hz

log = logging.getLogger(__name__)

RESP_BAND_HZ = (0.1, 0.5)
SERIES_FS_HZ = 4.0
MIN_DURATION_S = 20.0
MIN_BEATS = 15
AGREE_BPM = 2.0  # modulations whose rates differ by at most this agree
MIN_CONCENTRATION = 0.4  # a modulation's peak below this is ignored
SINGLE_MIN_CONCENTRATION = 0.85  # one modulation alone is trusted only above this
MODULATIONS = ("riiv", "riav", "rifv")


@dataclass(frozen=True)
class RespSource:
    """One respiratory modulation's spectral estimate."""

    name: str
    rate_bpm: float
    concentration: float


@dataclass(frozen=True)
class RespirationEstimate:
    """Breathing rate (breaths/min) and quality 0..1; ``sources`` are the modulations fused."""

    rate_bpm: float
    quality: float
    sources: tuple[RespSource, ...] = ()


def _series_estimate(
    name: str, t_s: np.ndarray, v: np.ndarray, band_hz: tuple[float, float]
) -> RespSource | None:
    """Spectral peak of one per-beat series (irregular times ``t_s``) within ``band_hz``."""
    if v.size < 4 or not np.all(np.isfinite(v)):
        return None
    scale = float(np.max(np.abs(v))) or 1.0
    if float(np.std(v)) <= 1e-9 * scale:
        return None
    grid = np.arange(t_s[0], t_s[-1], 1.0 / SERIES_FS_HZ)
    if grid.size < 16:
        return None
    u = np.interp(grid, t_s, v)
    n = u.size
    f, p = detrended_periodogram(u, SERIES_FS_HZ, "hann", max(8 * n, 1024))
    in_band = (f >= band_hz[0]) & (f <= band_hz[1])
    total = float(p[in_band].sum())
    if total <= 0:
        return None
    pk, _ = find_peaks(p)
    pk = pk[in_band[pk]]
    if pk.size == 0:
        return None
    i = int(pk[np.argmax(p[pk])])
    f_hz = parabolic_peak_hz(f, p, i)
    hw = max(1.5 / (n / SERIES_FS_HZ), 0.02)
    near = in_band & (np.abs(f - f_hz) <= hw)
    share = float(np.count_nonzero(near)) / float(np.count_nonzero(in_band))  # flat-spectrum value
    raw = float(p[near].sum()) / total
    conc = max(0.0, (raw - share) / (1.0 - share)) if share < 1.0 else 0.0
    return RespSource(name=name, rate_bpm=60.0 * f_hz, concentration=conc)


def _beat_series(
    x: np.ndarray, fs_hz: float, beat_t_s: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-beat RIIV, RIAV and RIFV at the times of beats 1..n-1."""
    idx = np.clip(np.round(beat_t_s * fs_hz).astype(np.int64), 0, x.size - 1)
    half = max(1, int(round(0.1 * fs_hz)))
    peaks = np.array([x[max(i - half, 0): i + half + 1].max() for i in idx])
    troughs = np.array([x[a: b + 1].min() for a, b in zip(idx[:-1], idx[1:])])
    t = beat_t_s[1:]
    pk = peaks[1:]
    return {
        "riiv": (t, 0.5 * (pk + troughs)),
        "riav": (t, pk - troughs),
        "rifv": (t, np.diff(beat_t_s)),
    }


def estimate_respiration(
    bvp: np.ndarray, fs_hz: float, beat_t_s: np.ndarray | None = None
) -> RespirationEstimate | None:
    """Breathing rate from ``bvp`` (uniform at ``fs_hz``, at least 20 s). ``beat_t_s`` are beat
    times in seconds from the first sample (``detect_beats``); found here when omitted. Returns
    None when the window is too short, has too few beats, or no modulation shows a consistent
    peak (two agreeing, or one very concentrated)."""
    x = np.asarray(bvp, dtype=np.float64).ravel()
    if fs_hz <= 0 or x.size / fs_hz < MIN_DURATION_S or not np.all(np.isfinite(x)):
        return None
    if beat_t_s is None:
        beat_t_s = detect_beats(bandpass(x, fs_hz, *PULSE_BAND_HZ), fs_hz)
    beats = np.sort(np.asarray(beat_t_s, dtype=np.float64).ravel())
    beats = beats[np.isfinite(beats) & (beats >= 0) & (beats <= (x.size - 1) / fs_hz)]
    if beats.size < MIN_BEATS:
        log.debug("estimate_respiration: %d beats, need %d", beats.size, MIN_BEATS)
        return None
    if beats[-1] <= beats[0]:
        return None
    beat_rate_hz = (beats.size - 1) / (beats[-1] - beats[0])
    band = (RESP_BAND_HZ[0], min(RESP_BAND_HZ[1], 0.45 * beat_rate_hz))
    if band[1] <= band[0]:
        return None

    sources = []
    for name, (t, v) in _beat_series(x, fs_hz, beats).items():
        s = _series_estimate(name, t, v, band)
        if s is not None and s.concentration >= MIN_CONCENTRATION:
            sources.append(s)
    if not sources:
        return None

    best: list[RespSource] = []
    for s in sources:
        group = [o for o in sources if abs(o.rate_bpm - s.rate_bpm) <= AGREE_BPM]
        key = (len(group), sum(o.concentration for o in group))
        if not best or key > (len(best), sum(o.concentration for o in best)):
            best = group
    if len(best) < 2 and best[0].concentration < SINGLE_MIN_CONCENTRATION:
        return None
    w = np.array([s.concentration for s in best])
    rate = float(np.sum(w * np.array([s.rate_bpm for s in best])) / np.sum(w))
    quality = float(min(1.0, np.sum(w) / len(MODULATIONS)))
    if not math.isfinite(rate):
        return None
    return RespirationEstimate(rate_bpm=rate, quality=quality, sources=tuple(best))
