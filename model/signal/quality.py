"""Signal quality: spectral SNR, its map to a 0..1 quality, and the gate that decides whether a
heart-rate reading is shown.

Calibration (``tests/test_signal_hr.py`` and the report): on band-passed 10 s windows at 30 Hz,
the SNR that ``estimate_hr`` measures at its own peak is, for white noise, -4.2 dB median,
-0.9 dB at the 95th and +0.1 dB at the 99th percentile (20 s windows: -2.9 dB at the 95th); for a
pulse (fundamental plus a 0.3 2nd harmonic) in white noise of the same total power (0 dB
broadband SNR) it is +8.7 dB median, +5.5 dB at the 1st percentile, and at -3 dB broadband still
+3.5 dB at the 5th. The logistic midpoint (2 dB) and the gate's opening point (2.6 dB) sit
between the two populations.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from model.signal.band import PULSE_BAND_HZ
from model.signal.heart_rate import SNR_HALF_WIDTH_HZ, power_spectrum, spectral_snr_db

log = logging.getLogger(__name__)

SNR_MID_DB = 2.0  # quality 0.5
SNR_SCALE_DB = 1.5  # logistic slope: quality 0.21 at 0 dB, 0.88 at 5 dB, 0.98 at 8 dB
GATE_THRESHOLD = 0.5
GATE_HYSTERESIS = 0.2  # open at quality >= 0.6 (SNR >= 2.6 dB), close below 0.4 (SNR < 1.4 dB)


def snr_db(
    x: np.ndarray,
    fs_hz: float,
    hr_hz: float,
    band: tuple[float, float] = PULSE_BAND_HZ,
    half_width_hz: float = SNR_HALF_WIDTH_HZ,
) -> float:
    """SNR (dB) of de Haan & Jeanne (2013) of the BVP ``x`` for a heart rate of ``hr_hz``: power
    within +-``half_width_hz`` of ``hr_hz`` and ``2*hr_hz`` against the rest of ``band``. NaN when
    it cannot be computed (no finite HR, non-finite or too short input)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 4 or not np.all(np.isfinite(x)) or fs_hz <= 0:
        return math.nan
    return spectral_snr_db(power_spectrum(x, fs_hz), hr_hz, band=band, half_width_hz=half_width_hz)


def quality_from_snr(snr_db: float) -> float:
    """Monotone logistic map of SNR (dB) to 0..1: ``1 / (1 + exp(-(snr - 2.0) / 1.5))``.
    NaN maps to 0."""
    if snr_db is None or math.isnan(snr_db):
        return 0.0
    if math.isinf(snr_db):
        return 1.0 if snr_db > 0 else 0.0
    z = (snr_db - SNR_MID_DB) / SNR_SCALE_DB
    if z < -50:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


class QualityGate:
    """Shows a reading once quality reaches ``threshold + hysteresis/2`` and withholds it again
    only when quality falls below ``threshold - hysteresis/2``, so a quality hovering around the
    threshold does not make the display flicker. Starts closed; NaN quality closes it."""

    def __init__(self, threshold: float = GATE_THRESHOLD, hysteresis: float = GATE_HYSTERESIS) -> None:
        if not 0.0 <= hysteresis < 1.0:
            raise ValueError(f"hysteresis must be in [0, 1), got {hysteresis}")
        self.threshold = float(threshold)
        self.hysteresis = float(hysteresis)
        self.open_at = self.threshold + self.hysteresis / 2.0
        self.close_below = self.threshold - self.hysteresis / 2.0
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def would_show(self, quality: float) -> bool:
        """Whether :meth:`update` with ``quality`` would show the reading (the gate is not changed)."""
        if quality is None or not math.isfinite(quality):
            return False
        return quality >= (self.close_below if self._open else self.open_at)

    def update(self, quality: float) -> bool:
        """Feed the latest quality; returns whether the reading is to be shown."""
        self._open = self.would_show(quality)
        return self._open

    def reset(self) -> None:
        self._open = False
