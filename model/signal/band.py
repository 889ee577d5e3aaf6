"""The pulse band: the heart-rate search range and the pass-band around it, defined once.

``model.estimator.EstimatorConfig`` defaults to these two values and hands its own (possibly
changed) band to everything on its way to the HR: the pulse method (``RoiWindow.band_hz``, used by
CHROM's band-pass before its alpha), the one band-pass of the BVP, and the SNR of the spectral
peak. Functions that are called without a config (``estimate_hr``, ``snr_db``, CHROM, the
training metrics) default to the same two values.
"""

from __future__ import annotations

# Heart rates searched for (bpm): 42 bpm (0.70 Hz) to 200 bpm (3.33 Hz).
HR_RANGE_BPM: tuple[float, float] = (42.0, 200.0)

# The pass-band (Hz) of the BVP: the HR search range with a margin at each end, so that a
# Butterworth edge does not damp the fundamental of a slow pulse below its second harmonic (a
# 45 bpm pulse would then read 90). The zero-phase order-4 band-pass passes 0.94 of the power at
# 45 bpm, 0.86 at 42 bpm and 0.73 at 200 bpm (-6 dB at 0.6 and 3.6 Hz, the edges themselves).
PULSE_BAND_HZ: tuple[float, float] = (0.6, 3.6)
PULSE_LO_HZ, PULSE_HI_HZ = PULSE_BAND_HZ  # its two edges by name (the same definition)


def check_band(band_hz: tuple[float, float], hr_range_bpm: tuple[float, float]) -> None:
    """Raise ValueError unless ``band_hz`` is an increasing pair of positive edges that encloses
    the HR search range ``hr_range_bpm`` with a margin at both ends."""
    lo_hz, hi_hz = (float(v) for v in band_hz)
    lo_bpm, hi_bpm = (float(v) for v in hr_range_bpm)
    if not 0 < lo_hz < hi_hz:
        raise ValueError(f"pulse band must be 0 < lo < hi Hz, got {band_hz}")
    if not 0 < lo_bpm < hi_bpm:
        raise ValueError(f"HR search range must be 0 < lo < hi bpm, got {hr_range_bpm}")
    if not (lo_hz < lo_bpm / 60.0 and hi_hz > hi_bpm / 60.0):
        raise ValueError(f"pulse band {lo_hz:g}-{hi_hz:g} Hz must enclose the HR search range "
                         f"{lo_bpm:g}-{hi_bpm:g} bpm ({lo_bpm / 60:.3g}-{hi_bpm / 60:.3g} Hz) with a margin")
