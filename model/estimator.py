"""The streaming estimator: frames in, BVP, heart rate, quality, HRV and respiration out.

One object serves the live app and the offline ``analyze`` command, so the numbers seen live are
the numbers measured offline. Stages per frame: face tracker -> ROI -> buffers. Once per
``update_every_s`` of source time: resample the trailing window to a uniform grid, run the pulse
method on its last gap-free stretch, estimate the HR from the spectrum, gate it on quality, and
overlap-add the window's BVP into the BVP stream.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from model.method_api import PulseMethod, RoiWindow, WindowCrops
from model.methods import CLASSIC_METHODS, run_classic
from model.signal import (
    HR_RANGE_BPM,
    PULSE_BAND_HZ,
    QualityGate,
    bandpass,
    check_band,
    detect_beats,
    estimate_hr,
    estimate_respiration,
    filters,
    hrv_from_beats,
    power_spectrum,
    quality_from_snr,
    spectral_snr_db,
)
from model.signal.face_coherence import GRID, face_pulse_of_regions, region_colours
from model.signal.heart_rate import SNR_WINDOW
from model.signal.hr_posterior import HrPosterior, HrPosteriorConfig
from model.signal.hr_tracking import HrTracker, HrTrackerConfig
from model.signal.quality import GATE_HYSTERESIS, GATE_THRESHOLD
from model.signal.reading_features import SPREAD_HRS, ReadingFeatures, reading_features, signal_hr_bpm
from model.signal.reading_quality import ReadingQualityModel
from model.types import (
    HRV_BEATS,
    HRV_GAP,
    HRV_NO_HR,
    HRV_SHORT,
    HRV_WEAK,
    Face,
    Frame,
    HrReading,
    HrvMetrics,
    HrvWithheld,
    RoiSample,
)

log = logging.getLogger(__name__)

STATE_NO_FACE = "no_face"
STATE_ACQUIRING = "acquiring"
STATE_READING = "reading"
STATE_UNRELIABLE = "unreliable"

# Why an HR update shows no reading (HrReading.withheld, hr.csv's last column, the app's HR card).
WITHHELD_NO_FACE = "no_face"  # no face at the latest frame
WITHHELD_ACQUIRING = "acquiring"  # the face is there, but its gap-free signal is still too short
WITHHELD_TOO_DARK = "too_dark"  # the gate withheld it, and the skin is too dark to carry a pulse
WITHHELD_SATURATED = "saturated"  # the gate withheld it, and the skin is clipped at white
WITHHELD_MOTION = "motion"  # the gate withheld it, and the face moved a lot in the window
WITHHELD_WEAK = "weak_signal"  # the gate withheld it: the pulse does not stand out of the noise
# the steadiness or the cross-check withheld it: the last window HRs disagree (EstimatorConfig.steady_n),
# or other methods read another rate in the window (check_methods); with the HR posterior: its belief
# is split between rates although the window itself shows a clear peak (SNR >= UNSURE_SNR_DB)
WITHHELD_UNSURE = "unsure"
# the spatial coherence withheld it: the face's regions do not change colour in step at the rate
# (EstimatorConfig.coherence_min): a photo, a screen, or noise on a real face
WITHHELD_INCOHERENT = "incoherent"
# the face has not moved at all over the window, as a photograph does and a live face never does
# (EstimatorConfig.still_spread_max)
WITHHELD_STILL = "still_face"
# the skin has no colour (a greyscale or infrared camera, or the colour turned off): every method reads
# the pulse from the change of the skin's colour, so whatever the window shows is noise
WITHHELD_NO_COLOUR = "no_colour"
WITHHELD_REASONS = (WITHHELD_NO_FACE, WITHHELD_ACQUIRING, WITHHELD_NO_COLOUR, WITHHELD_TOO_DARK, WITHHELD_SATURATED,
                    WITHHELD_MOTION, WITHHELD_UNSURE, WITHHELD_INCOHERENT, WITHHELD_STILL, WITHHELD_WEAK)
DARK_LUMA = 30.0  # mean skin luma (0..255) below which the camera's noise swamps a pulse
SATURATED_LEVEL = 240.0  # a mean skin channel above this is clipped on much of the skin
MOTION_SHARE = 0.06  # sd of the face box centre over the window, as a share of the box width
# the skin's channels closer than this share of their mean, on average over the window: no colour. A
# grey frame decodes to equal channels within the codec's rounding (MJPG: green 2 levels above red and
# blue at a mean of 118, 0.017); lit skin's red lies 0.19-0.39 of the mean above its lowest channel
# (the 8 dev subjects' least colourful 10 s windows)
GREY_CHANNELS_SHARE = 0.05
# With the HR posterior, a reading withheld for too little belief is "unsure" where its window's SNR
# reaches this (dB; the SNR gate's opening before the posterior), else "weak_signal"
UNSURE_SNR_DB = -0.5


def _exposure_problem(rgb: np.ndarray) -> str:
    """Why the skin means ``rgb`` (frames x RGB, 0..255) are badly exposed for a pulse: too dark
    (``DARK_LUMA``) or clipped at white (``SATURATED_LEVEL``), judged on their mean; "" otherwise."""
    r, g, b = np.mean(rgb, axis=0)
    if 0.299 * r + 0.587 * g + 0.114 * b < DARK_LUMA:
        return WITHHELD_TOO_DARK
    if max(r, g, b) > SATURATED_LEVEL:
        return WITHHELD_SATURATED
    return ""


def colourless(rgb: np.ndarray) -> bool:
    """Whether the skin means ``rgb`` (frames x RGB, 0..255) carry no colour: the spread of red,
    green and blue under ``GREY_CHANNELS_SHARE`` of their mean, on average over the frames. Not
    said of a skin clipped at white or too dark to tell (:func:`_exposure_problem`): those lose their
    colour to the exposure, and are named as such."""
    rgb = np.asarray(rgb, dtype=np.float64)
    rgb = rgb[np.isfinite(rgb).all(axis=1)]
    if not len(rgb) or _exposure_problem(rgb):
        return False
    share = (np.max(rgb, axis=1) - np.min(rgb, axis=1)) / np.maximum(np.mean(rgb, axis=1), 1e-9)
    return float(np.mean(share)) < GREY_CHANNELS_SHARE


#: The HR window's allowed length (s): at least two beats at the lowest rate searched (42 bpm), at
#: most the HRV window.
WINDOW_S_RANGE = (4.0, 60.0)


@dataclass(frozen=True)
class EstimatorConfig:
    fs_hz: float = 30.0  # uniform rate the ROI traces are resampled to
    window_s: float = 10.0  # HR window
    min_window_s: float = 6.0  # first reading once this much gap-free signal exists
    update_every_s: float = 1.0
    lo_bpm: float = HR_RANGE_BPM[0]  # HR search range, 42-200 bpm
    hi_bpm: float = HR_RANGE_BPM[1]
    # The pulse band (Hz), owned here: the one band-pass of every method's BVP, the band CHROM
    # filters X and Y to before its alpha (RoiWindow.band_hz), and the SNR's band. Default 0.6-3.6
    # Hz: the HR search range with a margin at each end, so that a Butterworth edge does not damp
    # a 45 bpm fundamental below its second harmonic (model/signal/band.py has the figures).
    band_hz: tuple[float, float] = PULSE_BAND_HZ
    max_gap_s: float = 0.5  # face lost longer than this breaks the signal
    hrv_window_s: float = 60.0
    hrv_min_s: float = 20.0
    # HRV only from a strong pulse: the median SNR of the readings over the HRV window must reach
    # this (dB; None: always). Beat times from a weak pulse jitter by tens of ms, and RMSSD grows
    # with the jitter: on 60 s synthetic clips with known beats (true RMSSD 29 ms, pulse strength
    # and sensor noise varied) analyze read 33-35 ms at a median SNR of 12.1-12.4 dB, 42-48 ms at
    # 9.2-10.0 dB and 69-119 ms at 3.3-6.9 dB; on the 8 UBFC dev clips (median SNR -3.5 to 1.2 dB)
    # it read 147 ms (median of held-out 30-60 s windows) against 17 ms from the contact PPG's beats
    # (benchmarks/hrv_check.py; docs/fcus_study.md, session 19).
    hrv_min_snr_db: float | None = 11.0
    hr_median_n: int = 3  # median over the last n accepted readings (0/1: none)
    # HR across windows: a Viterbi track through the window spectra (model/signal/hr_tracking.py),
    # so one bad window cannot make the reading jump; False reads each window's own peak (with a
    # soft prior at the last shown reading). Off by default: on held-out UBFC subjects with
    # fold-trained FCUS models it did not improve the shown readings (1.48 against 1.37 bpm), and
    # narrowing the stream around the track made MAE@20s worse (3.82 -> 6.70; docs/accuracy.md,
    # "Choices made in nested folds").
    hr_tracking: bool = False
    # HR over time as a belief (model/signal/hr_posterior.py): each update's reading is the mode of a
    # forward filter through the window spectra, and the quality the gate compares with
    # gate_open/gate_close is the filter's mass within ``mass_bpm`` of it (0..1) instead of the
    # logistic of the SNR. None: off. Measured in benchmarks/check_choices.py --space posterior.
    hr_posterior: HrPosteriorConfig | None = None
    # A floor under the gate (dB): a reading is shown only where the window's SNR at it reaches this,
    # whatever its quality (with the HR posterior, whose quality is not the SNR). None: off.
    gate_min_snr_db: float | None = None
    # With the HR posterior: a reading is also shown where the SNR's gate would show it (its quality
    # from the SNR's logistic opening at the first value, closing below the second, and the steadiness
    # check, which then applies to this gate alone): the posterior's belief takes many windows to
    # gather, one clear window with steady neighbours comes sooner. None: the posterior's gate alone.
    posterior_snr_gate: tuple[float, float] | None = None
    # Offline, with the HR posterior (``finish()``: analyze and the studies' replays, never the live
    # display): each update with a reading is read again from the posterior smoothed over its whole
    # stretch, before and after it (HrPosterior.smoothed), and shown where that belief's mass reaches
    # the first value (closing below the second, over consecutive updates) and the update passed the
    # face's pulse checks; with ``smooth_or_live`` also where the live gate showed it. None: the live
    # readings stay. Measured in benchmarks/check_choices.py --space smoothed.
    smooth_gate: tuple[float, float] | None = None
    smooth_or_live: bool = False
    # With smooth_gate: the smoothed belief's evidence is the spectrum of the finished BVP stream
    # (bvp.csv) over each update's window instead of the window's own BVP: offline every sample of
    # the stream has all its windows' contributions, so hr.csv is read from what bvp.csv holds.
    # HRV and respiration (and summary.json's hrv_withheld) stay those of the live last update.
    smooth_from_stream: bool = False
    # With HR tracking: the BVP stream (bvp.csv, the plot, HRV) is narrowed to the tracked HR
    # +- this many Hz (a zero-phase band-pass inside the pulse band, after the HR is read), so the
    # stream's pulse is the one the reading follows; None leaves the stream at the pulse band.
    track_half_width_hz: float | None = None
    # Context narrowing: each window's BVP enters the stream narrowed to +- ``context_half_width_hz``
    # around the HR of the trailing ``context_s`` seconds of the un-narrowed stream (a longer window,
    # whose peak one noisy short window cannot move; the HR of the window itself is not changed).
    # None: off. Measured in benchmarks/fold_choices.py (streams "context*").
    context_s: float | None = None
    context_half_width_hz: float = 0.4
    # With context_s: the window's reading is also searched only within +- context_half_width_hz of
    # the context HR (a peak the longer window does not back cannot become the reading).
    context_reading: bool = False
    # With context_s: each update's reading is the median of the HRs of the trailing L seconds of
    # the un-narrowed stream, one for each L here (all of the signal's gap-free stretch where it is
    # shorter than L); the SNR is then measured at it on the window. Windows of
    # different lengths err on different stretches (a short one on noise, a long one on a changing
    # HR), so their median errs less often than any one of them. Empty (the default): the window's
    # own HR. Held out (docs/accuracy.md, "Choices made in nested folds"): more raw readings right, but not
    # more shown at the same share right (benchmarks/raw_readings.py --reading-windows,
    # benchmarks/check_choices.py --space windows), so it stays off.
    reading_windows_s: tuple[float, ...] = ()
    # The quality gate (model/signal/quality.py): a reading is shown once the quality reaches
    # gate_open and withheld again below gate_close (quality = logistic of the SNR at the HR).
    gate_open: float = GATE_THRESHOLD + GATE_HYSTERESIS / 2.0
    gate_close: float = GATE_THRESHOLD - GATE_HYSTERESIS / 2.0
    history_s: float = 70.0  # raw samples kept (covers the HRV window)
    # Cross-check: classic methods (model.methods: "chrom", "pos", "green") read the HR of the same
    # window from its skin colour; a reading passes the gate only when at least ``check_min_agree``
    # of them are within ``check_bpm`` of it (errors of independent methods rarely coincide). Empty:
    # no cross-check. Chosen per method in nested folds (benchmarks/check_choices.py).
    check_methods: tuple[str, ...] = ()
    check_bpm: float = 3.0
    check_min_agree: int = 1
    # Steadiness: a reading passes the gate only when the last ``steady_n`` window HRs (this one
    # included, consecutive updates) lie within ``steady_bpm`` of each other (a noise peak moves
    # from window to window, a pulse stays). 0: off. Measured in benchmarks/check_choices.py.
    steady_n: int = 0
    steady_bpm: float = 5.0
    # Until the face's signal shows its first reading (since it began, or came back after a gap),
    # and at most until it is ``acquire_until_s`` old, judged updates come this often instead of
    # every ``update_every_s``, so that the steady window HRs a first reading needs come sooner.
    # None: always every ``update_every_s``. Measured in benchmarks/check_choices.py --space cadence.
    acquire_every_s: float | None = None
    acquire_until_s: float = math.inf
    # A reading quality learned on real faces (model/signal/reading_quality.py): the quality the
    # gate compares with gate_open/gate_close is then the model's probability that the reading is
    # within 5 bpm, from the window's evidence (model/signal/reading_features.py), instead of the
    # logistic of the SNR. None: the SNR's. Measured in benchmarks/learned_gate.py.
    reading_quality: ReadingQualityModel | None = None
    # Spatial coherence (model/signal/face_coherence.py): a reading the gate would show passes only
    # when the skin regions of the masked face crop change colour in step at its rate (the mean
    # pairwise correlation of their POS signals narrowed to it reaches ``coherence_min``): a pulse
    # reaches the whole face at once, the noise of a photo or a screen does not. None: off. Needs
    # the method's crops (FCUS); without them the check passes. Measured in
    # benchmarks/check_choices.py --space coherence.
    coherence_min: float | None = None
    # With the crops: a reading the gate would show passes only when the pooled skin colour changes
    # by at least this much at its rate (the POS signal's standard deviation narrowed to it, relative
    # colour change: 1e-4 is 0.01 %; model/signal/face_coherence.py). None: off.
    pulse_amplitude_min: float | None = None
    # A face that does not move at all is not a live face: a reading the gate would show is withheld
    # ("still_face") where the spread of the face landmarks' centroid over the window is under
    # ``still_spread_max`` of the face's width. Real faces, even sitting still, moved 1.36e-3 or more
    # in every 10 s window of the 8 dev subjects; photos filmed with noise and coded as MPEG-4
    # 0.26-0.45e-3, and their codec's flicker passed the other checks (docs/fcus_study.md, session
    # 20). None: off; needs the faces' landmarks (MediaPipe).
    still_spread_max: float | None = None
    keep_features: bool = False  # compute each reading's features (HrReading.features) even without it

    def __post_init__(self) -> None:
        check_band(self.band_hz, (self.lo_bpm, self.hi_bpm))
        lo_s, hi_s = WINDOW_S_RANGE
        if not lo_s <= self.window_s <= min(hi_s, self.history_s):
            raise ValueError(f"window_s must be {lo_s:g}-{min(hi_s, self.history_s):g} s (got {self.window_s:g})")
        if not 0 < self.min_window_s <= self.window_s:
            raise ValueError(f"min_window_s must be positive and at most window_s (got {self.min_window_s:g})")
        if self.context_s is not None and (self.context_s <= 0 or self.context_half_width_hz <= 0):
            raise ValueError(f"context_s and context_half_width_hz must be positive (got {self.context_s}, "
                             f"{self.context_half_width_hz})")
        if self.update_every_s <= 0 or (self.acquire_every_s is not None and self.acquire_every_s <= 0):
            raise ValueError(f"update intervals must be positive (update_every_s {self.update_every_s}, "
                             f"acquire_every_s {self.acquire_every_s})")
        if self.reading_windows_s and (self.context_s is None or min(self.reading_windows_s) <= 0
                                       or max(self.reading_windows_s) > self.context_s):
            raise ValueError(f"reading_windows_s {self.reading_windows_s}: each must be positive and at most "
                             f"context_s (got {self.context_s})")
        if self.hr_posterior is not None and (self.hr_tracking or self.context_reading or self.reading_windows_s
                                              or self.reading_quality is not None):
            raise ValueError("hr_posterior gives the reading and its quality: not with hr_tracking, context_reading, "
                             "reading_windows_s or reading_quality")
        snr_gate = self.posterior_snr_gate
        smooth = self.smooth_gate
        if self.smooth_from_stream and smooth is None:
            raise ValueError("smooth_from_stream needs smooth_gate")
        if smooth is not None and (self.hr_posterior is None or not 0 <= smooth[1] <= smooth[0] <= 1
                                   or smooth[0] - smooth[1] >= 1):
            raise ValueError(f"smooth_gate {smooth}: (open, close) masses, 0 <= close <= open <= 1, less than 1 "
                             "apart (a QualityGate's hysteresis), and only with hr_posterior")
        if snr_gate is not None and (self.hr_posterior is None or not 0 <= snr_gate[1] <= snr_gate[0]):
            raise ValueError(f"posterior_snr_gate {self.posterior_snr_gate}: (open, close) qualities, close <= open, "
                             "and only with hr_posterior")
        if self.reading_windows_s and (self.hr_tracking or self.context_reading):
            raise ValueError("reading_windows_s replaces the window's own reading: not with hr_tracking or "
                             "context_reading")
        unknown = [m for m in self.check_methods if m not in CLASSIC_METHODS]
        if unknown:
            raise ValueError(f"check_methods: unknown {unknown}; valid: {sorted(CLASSIC_METHODS)}")
        if self.coherence_min is not None and not -1.0 <= self.coherence_min <= 1.0:
            raise ValueError(f"coherence_min is a correlation, -1..1 (got {self.coherence_min})")
        if self.still_spread_max is not None and not self.still_spread_max >= 0:
            raise ValueError(f"still_spread_max must be >= 0 (got {self.still_spread_max})")
        if self.pulse_amplitude_min is not None and not self.pulse_amplitude_min >= 0:
            raise ValueError(f"pulse_amplitude_min must be >= 0 (got {self.pulse_amplitude_min})")
        if self.check_methods and not 1 <= self.check_min_agree <= len(self.check_methods):
            raise ValueError(f"check_min_agree must be 1..{len(self.check_methods)} (got {self.check_min_agree})")


def snr_gated(cfg: EstimatorConfig) -> EstimatorConfig:
    """``cfg`` read window by window and gated on the SNR alone: the HR posterior off, its SNR gate
    (``posterior_snr_gate``) as the gate, the median of the last 3 shown readings; ``cfg`` itself
    without the posterior. The setting the studies of the SNR gate, made before session 22, vary."""
    if cfg.hr_posterior is None:
        return cfg
    gate = cfg.posterior_snr_gate or (cfg.gate_open, cfg.gate_close)
    return replace(cfg, hr_posterior=None, posterior_snr_gate=None, gate_open=gate[0], gate_close=gate[1],
                   hr_median_n=3)


@dataclass(frozen=True)
class EstimatorUpdate:
    """What one frame produced. ``reading`` is set on the frames where an HR update happened."""

    frame_t_s: float
    face: Face | None
    roi: RoiSample
    state: str
    reading: HrReading | None = None
    hrv: HrvMetrics | None = None
    resp_bpm: float | None = None


@dataclass
class _BvpStream:
    """Overlap-add of Hann-weighted, unit-variance BVP windows on the global uniform grid."""

    acc: dict[int, list[float]] = field(default_factory=dict)  # grid index -> [sum, weight]

    def add(self, k0: int, bvp: np.ndarray) -> None:
        n = len(bvp)
        if n < 2:
            return
        x = bvp - np.mean(bvp)
        sd = float(np.std(x))
        if sd <= 0 or not math.isfinite(sd):
            return
        x = x / sd
        w = np.hanning(n + 2)[1:-1]
        for i in range(n):
            cell = self.acc.get(k0 + i)
            if cell is None:
                self.acc[k0 + i] = [float(w[i] * x[i]), float(w[i])]
            else:
                cell[0] += float(w[i] * x[i])
                cell[1] += float(w[i])

    def values(self, k_from: int, k_to: int) -> np.ndarray:
        """BVP on grid indices k_from..k_to-1 (NaN where no window covered the sample)."""
        out = np.full(max(k_to - k_from, 0), np.nan)
        for j, k in enumerate(range(k_from, k_to)):
            cell = self.acc.get(k)
            if cell is not None and cell[1] > 1e-9:
                out[j] = cell[0] / cell[1]
        return out

    def drop_before(self, k: int) -> dict[int, float]:
        """Remove and return the finished samples before grid index k."""
        done = {}
        for key in sorted(kk for kk in self.acc if kk < k):
            s, w = self.acc.pop(key)
            done[key] = s / w if w > 1e-9 else float("nan")
        return done


class StreamingEstimator:
    """Frames (or ROI samples) in, pulse out. See module docstring.

    ``tracker`` and ``roi`` may be None when the caller pushes ROI samples itself
    (:meth:`push_roi`), as benchmarks do to reuse one tracking pass for several methods.
    """

    def __init__(self, method: PulseMethod, config: EstimatorConfig | None = None, *,
                 tracker=None, roi=None, keep_bvp: bool = True):
        self.method = method
        self.cfg = config or EstimatorConfig()
        self.tracker = tracker
        self.roi = roi
        self.keep_bvp = keep_bvp
        if self.cfg.smooth_from_stream and not keep_bvp:
            raise ValueError("smooth_from_stream reads the whole finished stream: it needs keep_bvp")
        self.gate = QualityGate((self.cfg.gate_open + self.cfg.gate_close) / 2.0,
                                self.cfg.gate_open - self.cfg.gate_close)
        snr_gate = self.cfg.posterior_snr_gate
        self.snr_gate = (QualityGate((snr_gate[0] + snr_gate[1]) / 2.0, snr_gate[0] - snr_gate[1])
                         if snr_gate is not None else None)
        self._t: deque[float] = deque()
        self._rgb: deque[np.ndarray] = deque()
        self._box: deque[tuple[float, float, float]] = deque()  # face box centre x, y and width (NaN: none)
        self._centroid: deque[tuple[float, float]] = deque()  # the face landmarks' mean x, y (NaN: none)
        self._crop: deque[np.ndarray | None] = deque()
        # each frame's crop's region colours (face_coherence.region_colours), computed the first time
        # the face's pulse checks read the frame, kept as long as its crop (None: not yet)
        self._regions: deque[tuple[np.ndarray, np.ndarray] | None] = deque()
        self._track_id = 0  # the person the samples are from (Face.track_id; 0: not told)
        self._last_face_t: float | None = None  # the latest sample with a face
        self._miss_end_t = -math.inf  # where the latest miss of the face ended (HRV's stretch starts after)
        self._face_back_t = -math.inf  # where the current signal began (after a gap, or another person)
        self._t0: float | None = None
        self._next_update_t: float | None = None
        self._stream = _BvpStream()
        # context narrowing: the un-narrowed stream (pending, and its finished samples of the last context_s)
        self._raw_stream = _BvpStream()
        n_ctx = int(math.ceil((self.cfg.context_s or 0.0) * self.cfg.fs_hz)) + 1
        self._raw_final: deque[tuple[int, float]] = deque(maxlen=n_ctx)
        self.last_context_hr_bpm: float | None = None
        self._windows_hr_bpm: float | None = None  # the median of the reading windows' HRs (reading_windows_s)
        self._final_k: list[int] = []
        self._final_v: list[float] = []
        self._accepted_hr: deque[float] = deque(maxlen=max(self.cfg.hr_median_n, 1))
        # the window HRs of the latest consecutive updates (steadiness, reading features)
        self._recent_raw: deque[float] = deque(maxlen=max(self.cfg.steady_n, SPREAD_HRS))
        self._shown_since_start = False  # a reading was shown since the signal began
        self._signal_t0: float | None = None  # where the current gap-free signal began (once judged)
        self._last_hr: float | None = None
        self.hr_tracker = (HrTracker(HrTrackerConfig(lo_bpm=self.cfg.lo_bpm, hi_bpm=self.cfg.hi_bpm))
                           if self.cfg.hr_tracking else None)
        post = self.cfg.hr_posterior
        self.hr_posterior = (HrPosterior(replace(post, lo_bpm=self.cfg.lo_bpm, hi_bpm=self.cfg.hi_bpm),
                                         keep_history=self.cfg.smooth_gate is not None)
                             if post is not None else None)
        # with smooth_gate: (reading's index, posterior history's index, passed the face's checks) per
        # update the posterior read
        self._judged: list[tuple[int, int, bool]] = []
        self.readings: list[HrReading] = []
        self.n_frames = 0
        self.n_face_frames = 0
        self.last_hrv: HrvMetrics | None = None
        self.hrv_why: HrvWithheld | None = None  # why last_hrv is None after a reading
        self.last_resp_bpm: float | None = None

    # ---- input -------------------------------------------------------------------------
    def push(self, frame: Frame) -> EstimatorUpdate:
        if self.tracker is None or self.roi is None:
            raise RuntimeError("push(frame) needs a tracker and an ROI extractor; use push_roi")
        return self.push_face(frame, self.tracker.process(frame))

    def push_face(self, frame: Frame, face: Face) -> EstimatorUpdate:
        """A frame whose face was tracked elsewhere (``analyze``'s key-frame tracking thread)."""
        if self.roi is None:
            raise RuntimeError("push_face needs an ROI extractor; use push_roi")
        return self.push_roi(self.roi.extract(frame, face), face)

    def push_roi(self, sample: RoiSample, face: Face | None = None) -> EstimatorUpdate:
        t = float(sample.t_s)
        if self._t and t <= self._t[-1]:
            t = self._t[-1] + 1e-3
        if self._t0 is None:
            self._t0 = t
            self._next_update_t = t + self.cfg.update_every_s
        self.n_frames += 1
        ok = bool(sample.face_ok) and bool(np.all(np.isfinite(sample.rgb_mean)))
        self.n_face_frames += int(ok)
        if ok and face is not None:
            if face.track_id != self._track_id and self._track_id != 0:
                self._start_afresh()  # another person: their signal starts afresh, as after a gap
            self._track_id = face.track_id
        if ok:
            if self._last_face_t is not None and t - self._last_face_t > 1.5 / self.cfg.fs_hz:
                self._miss_end_t = t  # a miss of the face ends here (bridged or not): HRV restarts after it
            if self._last_face_t is None or t - self._last_face_t > self.cfg.max_gap_s:
                self._face_back_t = t  # a signal starts here: the readings before it are not this one's
            self._last_face_t = t
        self._t.append(t)
        self._rgb.append(np.asarray(sample.rgb_mean, dtype=np.float64) if ok else np.full(3, np.nan))
        b = sample.box
        self._box.append((b.x + b.w / 2.0, b.y + b.h / 2.0, float(b.w)) if (ok and b is not None)
                         else (math.nan, math.nan, math.nan))
        self._crop.append(sample.crop if (ok and self.method.needs_crops) else None)
        self._regions.append(None)
        lm = face.landmarks if (ok and face is not None and self.cfg.still_spread_max is not None) else None
        self._centroid.append(tuple(np.mean(lm, axis=0)[:2]) if lm is not None and len(lm) else (math.nan, math.nan))
        while self._t and self._t[0] < t - self.cfg.history_s:
            self._t.popleft()
            self._rgb.popleft()
            self._box.popleft()
            self._centroid.popleft()
            self._crop.popleft()
            self._regions.popleft()
        reading = None
        if t >= self._next_update_t:
            reading = self._update(t, to_stream=self._on_stream_grid(self._next_update_t))
            self._next_update_t = self._next_on_grid(
                t, self.cfg.acquire_every_s if self._acquiring_fast(t) else self.cfg.update_every_s)
        return EstimatorUpdate(frame_t_s=t, face=face, roi=sample, state=self._state(ok, reading),
                               reading=reading, hrv=self.last_hrv if reading else None,
                               resp_bpm=self.last_resp_bpm if reading else None)

    # ---- helpers -----------------------------------------------------------------------
    def _start_afresh(self) -> None:
        """Another person followed: drop the frames' samples kept so far (the next window starts with
        the next sample) and what the readings carried from them (the belief, the track, the last HR)."""
        for samples in (self._t, self._rgb, self._box, self._centroid, self._crop, self._regions):
            samples.clear()
        self._last_face_t, self._last_hr = None, None
        if self.hr_posterior is not None:
            self.hr_posterior.reset()
        if self.hr_tracker is not None:
            self.hr_tracker.reset()

    def _next_on_grid(self, t: float, step_s: float) -> float:
        """The first time after ``t`` on the grid of ``step_s`` from the first sample: updates keep
        their phase whenever the cadence changes (e.g. when the first reading ends the faster
        updates of ``acquire_every_s``)."""
        return self._t0 + (math.floor((t - self._t0) / step_s + 1e-9) + 1) * step_s

    def _on_stream_grid(self, t_update: float) -> bool:
        """Whether an update scheduled at ``t_update`` lies on the grid of ``update_every_s``: only
        those add their window to the BVP stream, so the stream (bvp.csv) is the same whatever the
        gate shows and however often it is judged until the first reading."""
        n = (t_update - self._t0) / self.cfg.update_every_s
        return abs(n - round(n)) < 1e-6

    def _state(self, face_ok: bool, reading: HrReading | None) -> str:
        """The frame's state; a miss of the face still short enough to bridge (``max_gap_s``) keeps
        the reading's state (its signal goes on), a longer one is "no face"."""
        if not face_ok and (self._last_face_t is None or self._t[-1] - self._last_face_t > self.cfg.max_gap_s):
            return STATE_NO_FACE
        last = reading or (self.readings[-1] if self.readings else None)
        if last is None or last.hr_raw_bpm is None or last.t_s < self._face_back_t:
            return STATE_ACQUIRING
        return STATE_READING if last.hr_bpm is not None else STATE_UNRELIABLE

    def _grid(self, t_from: float, t_to: float) -> np.ndarray:
        fs = self.cfg.fs_hz
        k0 = math.ceil((t_from - self._t0) * fs - 1e-9)
        k1 = math.floor((t_to - self._t0) * fs + 1e-9)
        return np.arange(k0, k1 + 1, dtype=np.int64)

    def _uniform_window(self, t_now: float, span_s: float):
        """Trailing gap-free stretch (at most span_s) resampled on the global grid. A gap is more
        than ``max_gap_s`` between two samples with a face: a shorter miss (the detector dropped
        the face for a few frames, no other person followed meanwhile) is bridged, and a miss at
        the end, still that short, ends the stretch at the last sample with a face."""
        t = np.fromiter(self._t, float)
        rgb = np.asarray(self._rgb)
        valid_raw = np.isfinite(rgb[:, 0])
        tv, rv = t[valid_raw], rgb[valid_raw]
        if len(tv) < 2 or t_now - tv[-1] > self.cfg.max_gap_s:
            return None
        ks = self._grid(max(t_now - span_s, t[0]), tv[-1])
        if len(ks) < 2:
            return None
        tg = self._t0 + ks / self.cfg.fs_hz
        # A grid point is valid between two samples with a face close enough in time (or on one).
        j = np.clip(np.searchsorted(tv, tg, side="right"), 1, len(tv) - 1)
        lo, hi = j - 1, j
        exact = np.isclose(tv[lo], tg) | (tg <= tv[lo])
        hi = np.where(exact, lo, hi)
        ok = ((tv[hi] - tv[lo]) <= self.cfg.max_gap_s) & (tg >= tv[0] - 1e-9)
        # Trailing run of valid points.
        if not ok[-1]:
            return None
        bad = np.flatnonzero(~ok)
        start = bad[-1] + 1 if len(bad) else 0
        ks, tg = ks[start:], tg[start:]
        if len(ks) < 2:
            return None
        rgb_u = np.stack([np.interp(tg, tv, rv[:, c]) for c in range(3)], axis=1)
        crops = None
        if self.method.needs_crops:
            crops = self._nearest_crops(t, tg)
        return ks, tg, rgb_u, crops

    def _nearest_crops(self, t: np.ndarray, tg: np.ndarray) -> WindowCrops | None:
        """The crop of the frame with one nearest in time to each grid point (a bridged miss
        repeats its neighbours' crops); None without any."""
        crops = list(self._crop)
        have = np.flatnonzero([c is not None for c in crops])
        if not len(have):
            return None
        th = t[have]
        idx = np.clip(np.searchsorted(th, tg), 0, len(th) - 1)
        prev = np.clip(idx - 1, 0, len(th) - 1)
        idx = np.where(np.abs(th[prev] - tg) < np.abs(th[idx] - tg), prev, idx)
        return WindowCrops(crops, have[idx])

    def _update(self, t_now: float, to_stream: bool = True) -> HrReading:
        """One HR update at ``t_now``; its window's BVP enters the stream when ``to_stream``."""
        cfg = self.cfg
        win = self._uniform_window(t_now, cfg.window_s)
        min_s = max(cfg.min_window_s, getattr(self.method, "min_window_s", 0.0))
        if win is None or (len(win[0]) - 1) / cfg.fs_hz < min_s:
            return self._no_window(t_now)
        ks, tg, rgb_u, crops = win
        window = RoiWindow(t_s=tg, rgb=rgb_u, fs_hz=cfg.fs_hz, crops=crops, band_hz=cfg.band_hz, grid_k0=int(ks[0]))
        bvp = self.method.window_bvp(window)
        # The one band-pass on the BVP's way to the HR (methods return their output unfiltered).
        bvp_f = bandpass(np.asarray(bvp, dtype=np.float64), cfg.fs_hz, *cfg.band_hz)
        hr_ctx = self._add_context(int(ks[0]), bvp_f) if to_stream else self.last_context_hr_bpm
        hr_raw, snr = self._heart_rate(t_now, bvp_f, hr_ctx if cfg.context_reading else None)
        if hr_raw is not None and self._windows_hr_bpm is not None:
            hr_raw = self._windows_hr_bpm
            snr = self._snr_db(bvp_f, hr_raw)
        if to_stream:
            self._stream.add(int(ks[0]), self._stream_bvp(bvp_f, hr_raw, hr_ctx))
        if hr_raw is None:
            self._recent_raw.clear()
        else:
            self._recent_raw.append(hr_raw)
        feats = self._features(bvp_f, rgb_u, hr_raw, snr)
        quality = self._quality(feats, hr_raw, snr)
        checks = self._check_hrs(rgb_u) if hr_raw is not None else ()
        steady = self._steady(hr_raw)
        # with the SNR gate beside the posterior's, the steadiness is that gate's alone
        agreed = self._agreed(hr_raw, checks) and (steady or self.snr_gate is not None)
        show, not_a_pulse, passed = self._gate(hr_raw, quality, snr, agreed, steady, rgb_u, crops, t_now)
        if self.cfg.smooth_gate is not None and hr_raw is not None:
            self._judged.append((len(self.readings), len(self.hr_posterior.history) - 1, passed))
        hr_out = None
        if not show:  # the median runs over consecutive shown readings, never stale ones
            self._accepted_hr.clear()
        if hr_raw is not None and show:
            self._accepted_hr.append(hr_raw)
            hr_out = float(np.median(self._accepted_hr)) if cfg.hr_median_n > 1 else hr_raw
            self._last_hr = hr_out
        self._shown_since_start = self._shown_since_start or hr_out is not None
        if self._signal_t0 is None:  # the first judged window starts where the signal began
            self._signal_t0 = float(tg[0])
        # with a learned quality the steadiness is one of its features: a withheld reading whose last
        # 3 window HRs disagree is "unsure", as with the steadiness rule
        settled = agreed and (cfg.reading_quality is None or feats is None or feats.spread3_bpm <= cfg.steady_bpm)
        settled = settled and not self._belief_split(quality, snr)
        withheld = "" if hr_out is not None else self._why_withheld(rgb_u, t_now, settled, not_a_pulse)
        reading = HrReading(t_s=t_now, hr_bpm=hr_out, quality=self._reported_quality(quality, snr),
                            hr_raw_bpm=hr_raw, snr_db=snr, withheld=withheld, check_hr_bpm=checks, features=feats)
        self.readings.append(reading)
        self._vitals(float(tg[-1]), hr_out, withheld)  # the window's end: a bridged miss at the end has no stream yet
        self._finalise(t_now)
        return reading

    def _gate(self, hr_raw: float | None, quality: float, snr: float, agreed: bool, steady: bool,
              rgb_u: np.ndarray, crops: np.ndarray | None, t_now: float) -> tuple[bool, str, bool]:
        """Whether the reading is shown, why the face's colour change is not taken for a pulse
        ("" when it is, or was not asked), and whether the reading passed all but the gate's
        threshold: the gate on ``quality`` (and, with ``posterior_snr_gate``, or the SNR gate with
        the steadiness check), the SNR floor, the face's pulse checks (measured on every reading
        with ``smooth_gate``, whose offline gate decides later)."""
        cfg = self.cfg
        strong = cfg.gate_min_snr_db is None or (math.isfinite(snr) and snr >= cfg.gate_min_snr_db)
        snr_q = float(quality_from_snr(snr)) if math.isfinite(snr) else 0.0
        by_snr = self.snr_gate is not None and steady and self.snr_gate.would_show(snr_q)
        # the face's pulse is measured only where it can decide: a settled reading the gate would show;
        # a skin without colour carries no reading at all
        not_a_pulse = WITHHELD_NO_COLOUR if colourless(rgb_u) else ""
        if (not not_a_pulse and hr_raw is not None and agreed and strong
                and (self.gate.would_show(quality) or by_snr or cfg.smooth_gate is not None)):
            not_a_pulse = self._not_a_pulse(crops, hr_raw, t_now)
        if hr_raw is None:
            return False, not_a_pulse, False
        passed = agreed and strong and not not_a_pulse
        show = self.gate.update(quality if passed else 0.0)
        if self.snr_gate is not None:
            show = self.snr_gate.update(snr_q if passed and steady else 0.0) or show
        return show, not_a_pulse, passed

    def _reported_quality(self, quality: float, snr: float) -> float:
        """The quality a reading reports (hr.csv, the app's bar): the gate's own; with the SNR's gate
        beside the posterior's, the larger of the belief's mass and the SNR's quality mapped onto the
        mass's scale (piecewise linear, the SNR gate's opening onto ``gate_open``), so that it reaches
        ``gate_open`` where either gate would open."""
        if self.snr_gate is None or not math.isfinite(snr):
            return quality
        snr_q, snr_open, mass_open = float(quality_from_snr(snr)), self.snr_gate.open_at, self.cfg.gate_open
        if snr_q <= snr_open:
            mapped = mass_open * snr_q / snr_open if snr_open > 0 else mass_open
        else:
            mapped = mass_open + (1.0 - mass_open) * (snr_q - snr_open) / max(1.0 - snr_open, 1e-12)
        return max(quality, min(mapped, 1.0))

    def _belief_split(self, quality: float, snr: float) -> bool:
        """With the HR posterior: its belief too spread for the gate although the window shows a
        clear peak at the reading (SNR >= UNSURE_SNR_DB): the rate has not settled."""
        return (self.hr_posterior is not None and not self.gate.would_show(quality)
                and math.isfinite(snr) and snr >= UNSURE_SNR_DB)

    def _quality(self, feats: ReadingFeatures | None, hr_raw: float | None, snr: float) -> float:
        """The reading's quality (0..1) the gate compares with gate_open/gate_close: the learned
        quality's probability, the HR posterior's mass at the reading, or the SNR's logistic."""
        if self.cfg.reading_quality is not None:
            return self.cfg.reading_quality.probability(feats) if feats is not None else 0.0
        if self.hr_posterior is not None:
            last = self.hr_posterior.last
            return last.mass if hr_raw is not None and last is not None else 0.0
        return float(quality_from_snr(snr)) if math.isfinite(snr) else 0.0

    def _no_window(self, t_now: float) -> HrReading:
        """The update without a long enough gap-free window: no face, or still acquiring; the
        gate, the median and the steadiness start again."""
        no_face = not np.isfinite(self._rgb[-1][0])
        reading = HrReading(t_s=t_now, hr_bpm=None, quality=0.0, hr_raw_bpm=None,
                            withheld=WITHHELD_NO_FACE if no_face else WITHHELD_ACQUIRING)
        self.gate.reset()
        if self.snr_gate is not None:
            self.snr_gate.reset()
        self._accepted_hr.clear()
        self._shown_since_start = False
        self._signal_t0 = None
        self._recent_raw.clear()
        if self.hr_tracker is not None:
            self.hr_tracker.skip(t_now)
        if self.hr_posterior is not None:
            self.hr_posterior.skip(t_now)
        self._vitals(t_now, None, reading.withheld)  # no HRV or respiration from before the face left
        self._finalise(t_now)
        self.readings.append(reading)
        return reading

    def _heart_rate(self, t_now: float, bvp_f: np.ndarray,
                    context_bpm: float | None = None) -> tuple[float | None, float]:
        """(HR, SNR dB) of the band-passed window: the tracked HR and the SNR at it, or (without
        tracking) the window's own spectral peak, searched within ``context_half_width_hz`` of
        ``context_bpm`` when given; (None, NaN) when the window has no estimate."""
        cfg = self.cfg
        tracking = self.hr_tracker is not None
        lo_bpm, hi_bpm = cfg.lo_bpm, cfg.hi_bpm
        if context_bpm is not None:
            hw_bpm = 60.0 * cfg.context_half_width_hz
            lo_bpm, hi_bpm = max(lo_bpm, context_bpm - hw_bpm), min(hi_bpm, context_bpm + hw_bpm)
        own_prior = not tracking and self.hr_posterior is None  # a track or a belief brings its own
        est = estimate_hr(bvp_f, cfg.fs_hz, lo_bpm=lo_bpm, hi_bpm=hi_bpm,
                          prior_bpm=self._last_hr if own_prior else None, snr_band_hz=cfg.band_hz)
        if not est.ok:
            if tracking:
                self.hr_tracker.skip(t_now)
            if self.hr_posterior is not None:
                self.hr_posterior.skip(t_now)
            return None, math.nan
        if self.hr_posterior is not None:
            post = self.hr_posterior.update(t_now, est.freqs_hz, est.power)
            if post is None:
                return None, math.nan
            return post.hr_bpm, self._snr_db(bvp_f, post.hr_bpm)
        if not tracking:
            return float(est.hr_bpm), float(est.snr_db)
        tracked = self.hr_tracker.update(t_now, est.freqs_hz, est.power)
        return tracked.hr_bpm, self._snr_db(bvp_f, tracked.hr_bpm)

    def _snr_db(self, bvp_f: np.ndarray, hr_bpm: float) -> float:
        """The SNR of the band-passed window at ``hr_bpm`` when the reading is not the window's own
        peak (tracked, or the reading windows' median): on a Hann window, in the config band."""
        cfg = self.cfg
        return spectral_snr_db(power_spectrum(bvp_f, cfg.fs_hz, window=SNR_WINDOW), hr_bpm / 60.0, band=cfg.band_hz)

    def _features(self, bvp_f: np.ndarray, rgb_u: np.ndarray, hr_raw: float | None,
                  snr: float) -> ReadingFeatures | None:
        """The reading's features when a learned quality needs them (or ``keep_features``); None
        without them or without an HR."""
        cfg = self.cfg
        if hr_raw is None or (cfg.reading_quality is None and not cfg.keep_features):
            return None
        return reading_features(bvp_f, rgb_u, cfg.fs_hz, hr_raw, snr, self._recent_raw, cfg.band_hz,
                                cfg.lo_bpm, cfg.hi_bpm)

    def _check_hrs(self, rgb_u: np.ndarray) -> tuple[float | None, ...]:
        """The cross-check methods' HRs of the window (``EstimatorConfig.check_methods``)."""
        cfg = self.cfg
        return tuple(signal_hr_bpm(run_classic(name, rgb_u, cfg.fs_hz, cfg.band_hz), cfg.fs_hz, cfg.band_hz,
                                   cfg.lo_bpm, cfg.hi_bpm) for name in cfg.check_methods)

    def _acquiring_fast(self, t_now: float) -> bool:
        """Whether the next update comes after ``acquire_every_s``: the signal has been judged,
        shown no reading yet, and is younger than ``acquire_until_s``."""
        return (self.cfg.acquire_every_s is not None and self._signal_t0 is not None
                and not self._shown_since_start and t_now - self._signal_t0 < self.cfg.acquire_until_s)

    def _steady(self, hr_bpm: float | None) -> bool:
        """Whether the last ``steady_n`` window HRs agree within ``steady_bpm`` (True when off)."""
        n = self.cfg.steady_n
        if hr_bpm is None or n <= 1:
            return True
        last = list(self._recent_raw)[-n:]
        return len(last) >= n and max(last) - min(last) <= self.cfg.steady_bpm

    def _agreed(self, hr_bpm: float | None, checks: tuple[float | None, ...]) -> bool:
        """Whether enough cross-check HRs are within ``check_bpm`` of ``hr_bpm`` (True without a
        cross-check)."""
        cfg = self.cfg
        if not cfg.check_methods or hr_bpm is None:
            return True
        n = sum(c is not None and abs(c - hr_bpm) <= cfg.check_bpm for c in checks)
        return n >= cfg.check_min_agree

    def _still(self, t_now: float) -> bool:
        """Whether the face has not moved at all over the window (``still_spread_max``): the spread
        of its landmarks' centroid, relative to the face's width, under it (False without
        landmarks for most of the window)."""
        if self.cfg.still_spread_max is None:
            return False
        t = np.fromiter(self._t, float)
        recent = t >= t_now - self.cfg.window_s
        c = np.asarray(self._centroid, dtype=np.float64)[recent]
        width = np.asarray(self._box, dtype=np.float64)[recent, 2]
        good = np.isfinite(c[:, 0]) & np.isfinite(width)
        if good.sum() < max(3, 0.8 * len(c)):
            return False
        spread = float(np.hypot(np.std(c[good, 0]), np.std(c[good, 1])))
        return spread < self.cfg.still_spread_max * float(np.median(width[good]))

    def _not_a_pulse(self, crops: WindowCrops | None, hr_bpm: float, t_now: float | None = None) -> str:
        """Why the face's colour change at ``hr_bpm`` is not taken for a pulse: the face does not move
        at all (``still_spread_max``: "still_face"), its regions do not
        change in step (``coherence_min``: "incoherent", also when too little of the face is skin
        to tell) or it is too faint (``pulse_amplitude_min``: "weak_signal"); "" when it passes,
        when both checks are off, or without crops."""
        cfg = self.cfg
        if t_now is not None and self._still(t_now):
            return WITHHELD_STILL
        if (cfg.coherence_min is None and cfg.pulse_amplitude_min is None) or crops is None:
            return ""
        means, counts = self._window_regions(crops)
        block_px = (crops.shape[1] // GRID) ** 2
        pulse = face_pulse_of_regions(means, counts, block_px, cfg.fs_hz, hr_bpm / 60.0, cfg.band_hz)
        if cfg.coherence_min is not None and (pulse is None or pulse.coherence < cfg.coherence_min):
            return WITHHELD_INCOHERENT
        if cfg.pulse_amplitude_min is not None and (pulse is None or pulse.amplitude < cfg.pulse_amplitude_min):
            return WITHHELD_WEAK
        return ""

    def _window_regions(self, crops: WindowCrops) -> tuple[np.ndarray, np.ndarray]:
        """The region colours of the window's crops (``region_colours``), each frame's computed once:
        successive windows share nine tenths of their frames."""
        frames = np.unique(crops.index)
        todo = [int(i) for i in frames if self._regions[int(i)] is None]
        if todo:
            means, counts = region_colours(np.stack([self._crop[i] for i in todo]), GRID)
            for j, i in enumerate(todo):
                self._regions[i] = (means[j], counts[j])
        regions = [self._regions[int(i)] for i in crops.index]
        return np.stack([m for m, _ in regions]), np.stack([c for _, c in regions])

    def _why_withheld(self, rgb_u: np.ndarray, t_now: float, agreed: bool = True, not_a_pulse: str = "") -> str:
        """Why the gate withheld this window's reading: the skin too dark or clipped, the face
        moving, the rate not settled (steadiness, cross-check), the face's regions not pulsing
        together, else a weak signal. A reason only labels the withheld reading; the gate alone
        decides; a skin without colour is withheld as that, whatever the gate says."""
        if not_a_pulse == WITHHELD_NO_COLOUR:
            return not_a_pulse
        exposure = _exposure_problem(rgb_u)
        if exposure:
            return exposure
        t = np.fromiter(self._t, float)
        boxes = np.asarray(self._box, dtype=np.float64)[t >= t_now - self.cfg.window_s]
        boxes = boxes[np.isfinite(boxes[:, 2])]
        if len(boxes) > 2:
            width = float(np.median(boxes[:, 2]))
            spread = float(np.hypot(np.std(boxes[:, 0]), np.std(boxes[:, 1])))
            if width > 0 and spread > MOTION_SHARE * width:
                return WITHHELD_MOTION
        if not agreed:
            return WITHHELD_UNSURE
        return not_a_pulse or WITHHELD_WEAK

    def _narrowed(self, bvp_f: np.ndarray, hr_bpm: float, half_width_hz: float) -> np.ndarray:
        """``bvp_f`` band-passed (order 2, zero phase) to ``hr_bpm`` +- ``half_width_hz``, inside
        the pulse band: the window's BVP as it enters a narrowed stream."""
        lo_band, hi_band = self.cfg.band_hz
        f = hr_bpm / 60.0
        return filters.bandpass(bvp_f, self.cfg.fs_hz, max(lo_band, f - half_width_hz),
                                min(hi_band, f + half_width_hz), order=2)

    def _add_context(self, k0: int, bvp_f: np.ndarray) -> float | None:
        """With ``context_s``: add the window to the un-narrowed stream and return the context HR
        (None without it, or while the stretch is too short)."""
        if self.cfg.context_s is None:
            return None
        self._raw_stream.add(k0, bvp_f)
        run = self._context_run(k0 + len(bvp_f))
        self.last_context_hr_bpm = self._context_hr(run)
        self._windows_hr_bpm = self._windows_hr(run)
        return self.last_context_hr_bpm

    def _stream_bvp(self, bvp_f: np.ndarray, hr_bpm: float | None, hr_ctx: float | None) -> np.ndarray:
        """The window's BVP for the stream: narrowed around the context HR (``context_s``), or
        around the tracked HR (``track_half_width_hz``), or as it is."""
        cfg = self.cfg
        if cfg.context_s is not None:
            return bvp_f if hr_ctx is None else self._narrowed(bvp_f, hr_ctx, cfg.context_half_width_hz)
        if cfg.track_half_width_hz is None or hr_bpm is None or self.hr_tracker is None:
            return bvp_f
        return self._narrowed(bvp_f, hr_bpm, cfg.track_half_width_hz)

    def _context_run(self, k_end: int) -> np.ndarray:
        """The un-narrowed stream's last gap-free stretch of at most ``context_s`` up to grid index
        ``k_end``."""
        cfg = self.cfg
        k_from = k_end - int(round(cfg.context_s * cfg.fs_hz))
        vals = self._raw_stream.values(k_from, k_end)
        for k, v in self._raw_final:
            if k_from <= k < k_end and not math.isfinite(vals[k - k_from]):
                vals[k - k_from] = v
        bad = np.flatnonzero(~np.isfinite(vals))
        return vals[(bad[-1] + 1) if len(bad) else 0:]

    def _context_hr(self, run: np.ndarray) -> float | None:
        """HR of the stretch ``run`` (:meth:`_context_run`); None while it is shorter than 3/4 of
        ``context_s``."""
        cfg = self.cfg
        if len(run) < 0.75 * cfg.context_s * cfg.fs_hz:
            return None
        return self._stretch_hr(run)

    def _stretch_hr(self, x: np.ndarray) -> float | None:
        """The spectral HR of a stretch of the un-narrowed stream in the config's range; None
        without an estimate."""
        cfg = self.cfg
        est = estimate_hr(x, cfg.fs_hz, lo_bpm=cfg.lo_bpm, hi_bpm=cfg.hi_bpm, snr_band_hz=cfg.band_hz)
        return float(est.hr_bpm) if est.ok else None

    def _windows_hr(self, run: np.ndarray) -> float | None:
        """The median of the HRs of the trailing ``reading_windows_s`` of ``run``, each cut to the
        stretch when longer (a young signal: the longer windows read all of it); None without
        reading windows or an estimate (an empty or too short run has none)."""
        cfg = self.cfg
        hrs = []
        for length_s in cfg.reading_windows_s:
            hr = self._stretch_hr(run[-int(round(length_s * cfg.fs_hz)):])
            if hr is not None:
                hrs.append(hr)
        # the lower median: with an even count (an estimate failed) one of the HRs, never a rate
        # between two peaks that neither window read
        return sorted(hrs)[(len(hrs) - 1) // 2] if hrs else None

    def _vitals(self, t_now: float, hr_bpm: float | None, hr_withheld: str = "") -> None:
        """HRV and respiration from the trailing stretch of the BVP stream (``hr_withheld``: why
        the update showed no HR, when it did not)."""
        self.hrv_why = None
        if hr_bpm is None:
            self.last_hrv, self.last_resp_bpm = None, None
            why = {WITHHELD_NO_FACE: "no face is in view", WITHHELD_ACQUIRING: "the face's signal is still too short"}
            withheld = f"withheld: {hr_withheld or WITHHELD_WEAK}".replace("_", " ")
            self.hrv_why = HrvWithheld(HRV_NO_HR, "it comes with a heart rate, and the last update showed none "
                                       f"({why.get(hr_withheld) or withheld})", hr_withheld=hr_withheld)
            return
        vals = self._values_on(self._grid(t_now - self.cfg.hrv_window_s, t_now))
        finite = np.isfinite(vals)
        if not finite[-1]:
            self.last_hrv, self.last_resp_bpm = None, None
            self.hrv_why = HrvWithheld(HRV_GAP, "the signal ends in a gap", need_s=self.cfg.hrv_min_s)
            return
        bad = np.flatnonzero(~finite)
        seg = vals[(bad[-1] + 1) if len(bad) else 0:]
        # a bridged miss of the face carries interpolated colour, not beats: the stretch starts after it
        after_miss = t_now - self._miss_end_t < len(seg) / self.cfg.fs_hz
        if after_miss:
            seg = seg[-(int(math.floor((t_now - self._miss_end_t) * self.cfg.fs_hz)) + 1):]
        if len(seg) / self.cfg.fs_hz < self.cfg.hrv_min_s:
            self.last_hrv, self.last_resp_bpm = None, None
            self.hrv_why = (HrvWithheld(HRV_GAP, f"the face was missed {t_now - self._miss_end_t:.0f} s ago: under "
                                        f"{self.cfg.hrv_min_s:g} s of signal since", need_s=self.cfg.hrv_min_s)
                            if after_miss else
                            HrvWithheld(HRV_SHORT, f"under {self.cfg.hrv_min_s:g} s of signal without a gap",
                                        need_s=self.cfg.hrv_min_s))
            return
        beats = detect_beats(seg, self.cfg.fs_hz, hr_hint_bpm=hr_bpm)
        snr_db = self._median_snr_db(t_now - len(seg) / self.cfg.fs_hz)
        if self.cfg.hrv_min_snr_db is not None and not snr_db >= self.cfg.hrv_min_snr_db:
            self.last_hrv = None
            over_s = len(seg) / self.cfg.fs_hz
            self.hrv_why = HrvWithheld(
                HRV_WEAK, f"the pulse is too weak for beat-to-beat times (median SNR {snr_db:.1f} dB over the last "
                f"{over_s:.0f} s, HRV needs {self.cfg.hrv_min_snr_db:g})",
                snr_db=snr_db, over_s=over_s, need_snr_db=self.cfg.hrv_min_snr_db)
        else:
            self.last_hrv = hrv_from_beats(beats)
            self.hrv_why = None if self.last_hrv is not None else HrvWithheld(HRV_BEATS, "too few clean beats")
        resp = estimate_respiration(seg, self.cfg.fs_hz, beat_t_s=beats)
        self.last_resp_bpm = float(resp.rate_bpm) if resp is not None else None

    def _median_snr_db(self, t_from: float) -> float:
        """The median SNR of the readings since ``t_from`` (NaN: none with an SNR)."""
        snrs = []
        for r in reversed(self.readings):
            if r.t_s < t_from:
                break
            if math.isfinite(r.snr_db):
                snrs.append(r.snr_db)
        return float(np.median(snrs)) if snrs else math.nan

    def _finalise(self, t_now: float) -> None:
        """Samples older than one window can receive no more contributions: move them out."""
        k_done = self._grid(t_now - self.cfg.window_s, t_now)
        if len(k_done) == 0:
            return
        self._store_final(self._stream.drop_before(int(k_done[0])))
        if self.cfg.context_s is not None:
            self._raw_final.extend(self._raw_stream.drop_before(int(k_done[0])).items())

    def _store_final(self, done: dict[int, float]) -> None:
        if not self.keep_bvp and len(self._final_k) > self.cfg.hrv_window_s * self.cfg.fs_hz * 2:
            n_keep = int(self.cfg.hrv_window_s * self.cfg.fs_hz)
            self._final_k, self._final_v = self._final_k[-n_keep:], self._final_v[-n_keep:]
        for k, v in done.items():
            self._final_k.append(k)
            self._final_v.append(v)

    # ---- output ------------------------------------------------------------------------
    @property
    def hrv_withheld(self) -> str:
        """Why ``last_hrv`` is None after an update, in the estimator's words ("" with an HRV)."""
        return self.hrv_why.text if self.hrv_why is not None else ""

    @property
    def t0_s(self) -> float | None:
        """Time of the first sample pushed (the origin of the uniform grid)."""
        return self._t0

    def finish(self) -> None:
        """Flush at the end of a file: one last update, then every pending sample."""
        if self._t0 is None:
            return
        if not self.readings or self.readings[-1].t_s < self._t[-1]:
            self._update(self._t[-1])
        self._store_final(self._stream.drop_before(2**62))
        if self.cfg.smooth_gate is not None and self._judged:
            self._smooth_readings()
            self._judged = []  # once: a second finish() leaves the readings as they are

    def _stream_posterior(self) -> tuple[HrPosterior, list[int | None]]:
        """A posterior run over the finished BVP stream's window at each judged update
        (``smooth_from_stream``), and each judged update's index in its history (None: no window)."""
        cfg = self.cfg
        post = HrPosterior(self.hr_posterior.cfg, keep_history=True)
        tg, vg = self.bvp_stream()
        index: list[int | None] = []
        for i, h, _ in self._judged:
            t_s = self.readings[i].t_s
            if self.hr_posterior.history[h][1] is None:  # the live belief started anew here (a gap, another person)
                post.reset()
            y = vg[(tg > t_s - cfg.window_s) & (tg <= t_s + 0.5 / cfg.fs_hz)]
            gaps = np.flatnonzero(~np.isfinite(y))
            y = y[gaps[-1] + 1:] if len(gaps) else y  # the trailing stretch without a gap
            est = (estimate_hr(y, cfg.fs_hz, lo_bpm=cfg.lo_bpm, hi_bpm=cfg.hi_bpm, snr_band_hz=cfg.band_hz)
                   if len(y) >= cfg.min_window_s * cfg.fs_hz else None)
            got = post.update(t_s, est.freqs_hz, est.power) if est is not None and est.ok else None
            if got is None:
                post.skip(t_s)
            index.append(len(post.history) - 1 if got is not None else None)
        return post, index

    def _smooth_readings(self) -> None:
        """Read every judged update again from the smoothed posterior (``smooth_gate``)."""
        if self.cfg.smooth_from_stream:
            post, index = self._stream_posterior()
        else:
            post, index = self.hr_posterior, [h for _, h, _ in self._judged]
        smoothed = post.smoothed()
        open_at, close_below = self.cfg.smooth_gate
        gate = QualityGate((open_at + close_below) / 2.0, open_at - close_below)  # as the live gate is built
        last_i = None
        for (i, _, passed), h in zip(self._judged, index):
            r = self.readings[i]
            if last_i != i - 1:  # the hysteresis runs over consecutive updates only
                gate.reset()
            last_i = i
            if h is None:  # no stream window here: no smoothed reading (the live one kept with smooth_or_live)
                gate.reset()
                if r.hr_bpm is not None and not self.cfg.smooth_or_live:
                    self.readings[i] = replace(r, hr_bpm=None, withheld=WITHHELD_WEAK)
                continue
            belief = smoothed[h]
            showing = gate.update(belief.mass if passed else math.nan)  # NaN closes it
            live = self.cfg.smooth_or_live and r.hr_bpm is not None
            hr_bpm = belief.hr_bpm if showing else (r.hr_bpm if live else None)
            withheld = r.withheld
            if hr_bpm is None and not withheld:  # shown live, not by the smoothed belief
                withheld = WITHHELD_UNSURE if math.isfinite(r.snr_db) and r.snr_db >= UNSURE_SNR_DB else WITHHELD_WEAK
            self.readings[i] = replace(r, hr_bpm=hr_bpm, hr_raw_bpm=belief.hr_bpm,
                                       withheld="" if hr_bpm is not None else withheld,
                                       quality=max(belief.mass, r.quality) if live else belief.mass)

    def bvp_stream(self) -> tuple[np.ndarray, np.ndarray]:
        """Finished BVP on the uniform grid: (t_s, bvp); NaN where no signal (face lost)."""
        if not self._final_k:
            return np.zeros(0), np.zeros(0)
        k = np.asarray(self._final_k)
        v = np.asarray(self._final_v)
        order = np.argsort(k, kind="stable")
        k, v = k[order], v[order]
        full_k = np.arange(k[0], k[-1] + 1)
        full_v = np.full(len(full_k), np.nan)
        full_v[k - k[0]] = v
        return self._t0 + full_k / self.cfg.fs_hz, full_v

    def recent_bvp(self, span_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The last ``span_s`` of BVP including samples still being refined (for live plots)."""
        if self._t0 is None or not self._t:
            return np.zeros(0), np.zeros(0)
        ks = self._grid(max(self._t[-1] - span_s, self._t0), self._t[-1])
        if len(ks) == 0:
            return np.zeros(0), np.zeros(0)
        return self._t0 + ks / self.cfg.fs_hz, self._values_on(ks)

    def _values_on(self, ks: np.ndarray) -> np.ndarray:
        """BVP on grid indices ``ks`` (consecutive, non-empty): finished samples where they exist,
        else the overlap-add still being refined (NaN where nothing covers a sample)."""
        live = self._stream.values(int(ks[0]), int(ks[-1]) + 1)
        n_final = min(len(self._final_k), len(ks))
        final = dict(zip(self._final_k[-n_final:], self._final_v[-n_final:])) if n_final else {}
        return np.array([final.get(int(k), v) for k, v in zip(ks, live)])

    def bvp_at(self, t_s: np.ndarray) -> np.ndarray:
        """Finished BVP interpolated at arbitrary times (e.g. the frames' own timestamps);
        NaN where the stream has no signal."""
        tg, vg = self.bvp_stream()
        out = np.full(len(t_s), np.nan)
        if len(tg) < 2:
            return out
        ok = np.isfinite(vg)
        vi = np.interp(t_s, tg, np.where(ok, vg, 0.0))
        # A frame gets a value only when both neighbouring grid samples are finite.
        j = np.clip(np.searchsorted(tg, t_s), 1, len(tg) - 1)
        inside = (t_s >= tg[0] - 1e-9) & (t_s <= tg[-1] + 1e-9)
        both = ok[j - 1] & ok[j]
        on_grid = np.isclose(tg[np.clip(j - 1, 0, None)], t_s) & ok[j - 1]
        mask = inside & (both | on_grid)
        out[mask] = vi[mask]
        # A frame less than one grid step after the last grid sample (the clip's last frame, at a
        # frame rate below the grid's) keeps that sample's value instead of none.
        tail = (t_s > tg[-1] + 1e-9) & (t_s < tg[-1] + 1.0 / self.cfg.fs_hz) & ok[-1]
        out[tail] = vg[-1]
        return out
