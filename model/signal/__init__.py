"""Signal processing: resampling, filters, heart rate, quality, beats/HRV, respiration.

scipy.signal is imported first, without scipy.stats (:mod:`model.scipy_import`).
"""

import model.scipy_import  # noqa: F401  (first: it imports scipy.signal)
from model.signal.band import (
    HR_RANGE_BPM,
    PULSE_BAND_HZ,
    PULSE_HI_HZ,
    PULSE_LO_HZ,
    check_band,
)
from model.signal.beats import IbiSeries, detect_beats, hrv_from_beats, ibi_ms
from model.signal.filters import bandpass, detrend, smoothness_lambda
from model.signal.heart_rate import (
    HrCandidate,
    SpectralHr,
    Spectrum,
    estimate_hr,
    parabolic_peak_hz,
    power_spectrum,
    spectral_snr_db,
)
from model.signal.quality import QualityGate, quality_from_snr, snr_db
from model.signal.respiration import (
    RespirationEstimate,
    RespSource,
    estimate_respiration,
)

__all__ = [
    "HrCandidate",
    "IbiSeries",
    "QualityGate",
    "RespSource",
    "RespirationEstimate",
    "SpectralHr",
    "Spectrum",
    "HR_RANGE_BPM",
    "PULSE_BAND_HZ",
    "PULSE_HI_HZ",
    "PULSE_LO_HZ",
    "bandpass",
    "check_band",
    "detect_beats",
    "detrend",
    "estimate_hr",
    "estimate_respiration",
    "hrv_from_beats",
    "ibi_ms",
    "parabolic_peak_hz",
    "power_spectrum",
    "quality_from_snr",
    "smoothness_lambda",
    "snr_db",
    "spectral_snr_db",
]
