"""Signal processing: resampling, filters, heart rate, quality, beats/HRV, respiration."""

from model.signal.beats import IbiSeries, detect_beats, hrv_from_beats, ibi_ms
from model.signal.filters import PULSE_HI_HZ, PULSE_LO_HZ, bandpass, detrend, pulse_band_hz, smoothness_lambda
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
from model.signal.resample import UniformSignal, resample_uniform, valid_segments
from model.signal.respiration import RespirationEstimate, RespSource, estimate_respiration

__all__ = [
    "HrCandidate",
    "IbiSeries",
    "QualityGate",
    "RespSource",
    "RespirationEstimate",
    "SpectralHr",
    "Spectrum",
    "UniformSignal",
    "PULSE_HI_HZ",
    "PULSE_LO_HZ",
    "bandpass",
    "pulse_band_hz",
    "detect_beats",
    "detrend",
    "estimate_hr",
    "estimate_respiration",
    "hrv_from_beats",
    "ibi_ms",
    "parabolic_peak_hz",
    "power_spectrum",
    "quality_from_snr",
    "resample_uniform",
    "smoothness_lambda",
    "snr_db",
    "spectral_snr_db",
    "valid_segments",
]
