"""What the window shows, without Qt: the state and its words, the heart rate, quality, HRV and
respiration, the HR trend of the session, the BVP of the last seconds, the status line, the
messages and the two banners.

The window feeds it the worker's payloads (``app.worker``'s FrameResult, ReadingResult,
SourceInfo, MethodInfo, SourceFailure) through plain methods and the cards read it, so every
rule of what is shown lives here and is tested without a display. This module imports no Qt
(``app.worker`` only for type names)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.capture import DEMO_HR_BPM, SourceSpec
from model.estimator import (
    STATE_ACQUIRING,
    STATE_NO_FACE,
    STATE_READING,
    STATE_UNRELIABLE,
    WITHHELD_INCOHERENT,
    WITHHELD_MOTION,
    WITHHELD_NO_COLOUR,
    WITHHELD_SATURATED,
    WITHHELD_STILL,
    WITHHELD_TOO_DARK,
    WITHHELD_UNSURE,
    WITHHELD_WEAK,
)
from model.pulse_methods import method_label
from model.signal.quality import QualityGate
from model.signal.respiration import AGREE_BPM as RESP_AGREE_BPM
from model.signal.respiration import MIN_BEATS as RESP_MIN_BEATS
from model.signal.respiration import MIN_DURATION_S as RESP_MIN_S
from model.types import HRV_BEATS, HRV_GAP, HRV_NO_HR, HRV_SHORT, HRV_WEAK, HrvWithheld

if TYPE_CHECKING:
    from app.worker import (
        FrameResult,
        MethodInfo,
        ReadingResult,
        SourceFailure,
        SourceInfo,
    )

log = logging.getLogger(__name__)

# The window's own states, beside the estimator's (model.estimator.STATE_*).
STATE_STARTING = "starting"  # nothing measured yet
STATE_NO_SIGNAL = "no_signal"  # the source is gone: ended, unplugged, never opened
STATE_TEXT = {
    STATE_STARTING: "Starting...",
    STATE_ACQUIRING: "Acquiring: hold still",
    STATE_READING: "Reading",
    STATE_UNRELIABLE: "No reliable reading",
    STATE_NO_FACE: "No face",
    STATE_NO_SIGNAL: "No signal",
}

# Why the state is "no reliable reading", from the last reading's HrReading.withheld.
WITHHELD_TEXT = {
    WITHHELD_NO_COLOUR: "the picture has no colour (a greyscale or infrared camera)",
    WITHHELD_TOO_DARK: "too dark: more light on the face",
    WITHHELD_SATURATED: "too bright: the skin is clipped",
    WITHHELD_MOTION: "too much motion: hold still",
    WITHHELD_UNSURE: "unsure: the rate has not settled",
    WITHHELD_INCOHERENT: "no pulse across the face (or too little of it in view)",
    WITHHELD_STILL: "the face does not move at all, as a photo",
    WITHHELD_WEAK: "weak signal",
}

# Quality levels from the gate's own points: "good" where it shows a reading, "fair" in its
# hysteresis band, "poor" where it withholds the reading.
_GATE = QualityGate()
QUALITY_GOOD = _GATE.open_at
QUALITY_FAIR = _GATE.close_below

BVP_SPAN_S = 10.0  # the BVP card's window (the worker sends a little more)
BVP_SCALE_HEADROOM = 1.15  # the BVP's y axis: its 99th percentile of |BVP| times this ...
BVP_SCALE_SHRINK_BELOW = 0.6  # ... kept until the wave outgrows it or falls below this share of it
TREND_MIN_SPAN_S = 60.0  # the trend's x axis shows at least this much session time ...
TREND_STEP_S = 30.0  # ... and grows in steps of this (an axis that moves every second is redrawn every second)
TREND_MAX_POINTS = 300  # the trend draws at most this many points (longer sessions: run means)
TREND_Y_BPM = (50.0, 110.0)  # the trend's y axis covers at least this range ...
TREND_Y_MARGIN_BPM = 5.0  # ... and the readings with this margin
NO_VALUE = "--"
MAX_MESSAGES = 200
PRIVACY_TEXT = "Video hidden (privacy)\nmeasuring goes on"

# The quality bar: its length is the quality placed on a scale where the running method's gate opens
# at BAR_OPEN_MARK and closes at BAR_CLOSE_MARK (FCUS's gate opens at quality 0.16, POS's at 0.6: a raw
# bar showed FCUS green at 17 % and CHROM red at 36 %), so that green always starts at the same mark.
BAR_OPEN_MARK = 0.6
BAR_CLOSE_MARK = 0.45


def quality_bar(quality: float, gate: tuple[float, float] = (QUALITY_GOOD, QUALITY_FAIR)) -> float:
    """Where ``quality`` (0..1) sits on the bar (0..1), piecewise linear: 0 -> 0, the gate's closing
    point -> BAR_CLOSE_MARK, its opening point -> BAR_OPEN_MARK, 1 -> 1; so the bar's colour
    (:func:`quality_level`) changes exactly at the two marks, whatever the method's gate."""
    q = _clamp_quality(quality)
    g_open = min(max(float(gate[0]), 1e-6), 1.0 - 1e-6)
    g_close = min(max(float(gate[1]), 0.0), g_open)
    if q >= g_open:
        return BAR_OPEN_MARK + (q - g_open) / (1.0 - g_open) * (1.0 - BAR_OPEN_MARK)
    if q >= g_close and g_open > g_close:
        return BAR_CLOSE_MARK + (q - g_close) / (g_open - g_close) * (BAR_OPEN_MARK - BAR_CLOSE_MARK)
    low = g_close if g_close > 0 else g_open
    return min(q / low * BAR_CLOSE_MARK, BAR_CLOSE_MARK)


def quality_level(quality: float, gate: tuple[float, float] = (QUALITY_GOOD, QUALITY_FAIR)) -> str:
    """"good" where the method's gate (open at, close below) shows a reading, "fair" in its
    hysteresis band, "poor" where it withholds it (default: QUALITY_GOOD, QUALITY_FAIR)."""
    if quality >= gate[0]:
        return "good"
    return "fair" if quality >= gate[1] else "poor"


def _clamp_quality(q: float) -> float:
    return max(0.0, min(1.0, q)) if math.isfinite(q) else 0.0


# ---- HRV and respiration, said for a patient ------------------------------------------------------
HRV_MIN_S = 20.0  # EstimatorConfig.hrv_min_s: the gap-free signal HRV and respiration need
HRV_TIP = ("Heart rate variability: how much the time between heartbeats varies. Shown with a heart rate, "
           f"once the face has been in view for {HRV_MIN_S:.0f} s without a break and the pulse is very clear.")
HRV_SHOWN_TIP = ("Heart rate variability over the last minute: how much the time between heartbeats varies "
                 "(SDNN: all of it; RMSSD: from one beat to the next)")
RESP_UNIT = "breaths/min"
RESP_NEEDS = (f"(needs {RESP_MIN_S:.0f} s without a gap, {RESP_MIN_BEATS} beats, and 2 of the 3 respiratory "
              f"modulations of the pulse within {RESP_AGREE_BPM:.0f} {RESP_UNIT}, or 1 very clear)")
RESP_TIP = ("Breathing rate, read from how breathing changes the pulse. Shown with a heart rate, once the face "
            f"has been in view for {RESP_MIN_S:.0f} s without a break, and only when the breathing shows clearly "
            f"in the pulse: often it does not, even while the heart rate is read well. {RESP_NEEDS}")
RESP_SHOWN_TIP = "Breathing rate over the last minute, read from how breathing changes the pulse"

def vitals_reason(hr_shown: bool, why: HrvWithheld | None) -> str:
    """Why there is no HRV (the estimator's ``hrv_why``): its code ("no_hr" without a heart rate
    shown, "short", "gap", "weak", "beats"), "" when none is given."""
    if not hr_shown:
        return HRV_NO_HR
    return why.code if why is not None else ""


def hrv_note(why: HrvWithheld | None, hr_shown: bool = True) -> str:
    """The HRV's tooltip when none is shown, in plain words (the figures in brackets at the end)."""
    reason = vitals_reason(hr_shown, why)
    if reason == HRV_NO_HR:
        return "HRV is shown only together with a heart rate, and there is none right now."
    if reason == HRV_SHORT:
        return f"HRV needs the face in view for {why.need_s or HRV_MIN_S:g} s without a break; it has not had that yet."
    if reason == HRV_GAP:
        return (f"HRV needs the face in view without a break; it was just lost or hidden (then "
                f"{why.need_s or HRV_MIN_S:g} s more are needed).")
    if reason == HRV_WEAK:
        figures = (f" (signal-to-noise {why.snr_db:.1f} dB over the last {why.over_s:.0f} s; HRV needs "
                   f"{why.need_snr_db:g} dB)") if None not in (why.snr_db, why.over_s, why.need_snr_db) else ""
        return ("HRV needs a very clear pulse to time each heartbeat, and the pulse read from this face is not "
                f"clear enough. Even light on the face and sitting still help.{figures}")
    if reason == HRV_BEATS:
        return "HRV needs clean heartbeats to time, and too few were found in the last minute."
    return HRV_TIP


def resp_note(reason: str, shown: bool) -> str:
    """The respiration's tooltip: what it is when shown, else why not (``reason``: :func:`vitals_reason`)."""
    if shown:
        return RESP_SHOWN_TIP
    if reason == HRV_NO_HR:
        return "No breathing rate: it is shown only together with a heart rate, and there is none right now."
    if reason in (HRV_SHORT, HRV_GAP):
        return (f"No breathing rate yet: it needs the face in view for {RESP_MIN_S:.0f} s without a break. "
                f"Even then it shows only when the breathing shows clearly in the pulse. {RESP_NEEDS}")
    return ("No breathing rate: the breathing does not show clearly in the pulse right now. This is common, "
            f"even while the heart rate is read well, and it may come and go. {RESP_NEEDS}")


ANOTHER_PERSON = "another person"  # the trend's mark where the tracker moved to another person
# "Reading (N faces: ...)" holds this long after several faces were last seen: the detector drops one of
# several faces now and then, and the words flickered from one reading to the next (a user test)
SEVERAL_FACES_HOLD_S = 3.0


@dataclass(frozen=True)
class TrendMark:
    """Where a method's stretch of the trend begins (the first update it read), and its label."""

    t_s: float
    label: str


@dataclass
class TrendSeries:
    """The HR readings of the current source's session over time (``t_s``: seconds since its first
    frame); NaN where the gate withheld one, and a NaN point (a break) where the method changed, so
    the line is not drawn across. ``marks``: where each method's stretch begins (a new source starts
    a new series)."""

    t_s: list[float] = field(default_factory=list)
    hr_bpm: list[float] = field(default_factory=list)
    break_at: list[int] = field(default_factory=list)  # the indices of the break points
    marks: list[TrendMark] = field(default_factory=list)
    method: str = ""  # the method of the last update

    def add(self, t_s: float, hr_bpm: float | None, method: str = "") -> None:
        if method and method != self.method:
            self.marks.append(TrendMark(float(t_s), method_label(method)))
            self.method = method
        self.t_s.append(float(t_s))
        self.hr_bpm.append(math.nan if hr_bpm is None else float(hr_bpm))

    def add_break(self) -> None:
        if self.t_s:
            self.break_at.append(len(self.t_s))
            self.add(self.t_s[-1] + 1e-3, None)

    def add_person(self, t_s: float) -> None:
        """Another person measured from ``t_s`` on: a break and a mark, so no line joins two people."""
        self.add_break()
        self.marks.append(TrendMark(float(t_s), ANOTHER_PERSON))

    def finite_hr(self) -> np.ndarray:
        hr = np.asarray(self.hr_bpm, dtype=float)
        return hr[np.isfinite(hr)]

    def points(self, max_points: int = TREND_MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
        """What the curve draws: empty while no reading was shown. Beyond ``max_points`` updates,
        runs of consecutive updates are averaged into one point each (the mean time, the mean of
        the readings shown; NaN where none was), so a long session costs a repaint what its first
        minutes do (an hour of 1 Hz updates drawn whole took 16-27 ms of CPU a repaint). A break
        stays a point of its own, so no run mixes two sources or methods and the line stops there."""
        if not len(self.finite_hr()):
            return np.zeros(0), np.zeros(0)
        t, hr = np.asarray(self.t_s, dtype=float), np.asarray(self.hr_bpm, dtype=float)
        if len(t) <= max_points:
            return t, hr
        run = -(-len(t) // max_points)  # updates per drawn point
        starts = np.zeros(len(t), dtype=bool)  # where a drawn point begins
        edges = [0, *(i for b in self.break_at for i in (b, b + 1)), len(t)]
        for a, b in zip(edges[:-1], edges[1:]):  # each stretch between breaks, and each break
            starts[a:b:run] = True
        group = np.cumsum(starts) - 1
        ok = np.isfinite(hr)
        n_shown = np.bincount(group, weights=ok)
        hr_sum = np.bincount(group, weights=np.where(ok, hr, 0.0))
        t_mean = np.bincount(group, weights=t) / np.bincount(group)
        return t_mean, np.divide(hr_sum, n_shown, out=np.full(len(n_shown), np.nan), where=n_shown > 0)

    def y_range(self) -> tuple[float, float] | None:
        """None while no reading was shown (the axis keeps its range)."""
        fin = self.finite_hr()
        if not len(fin):
            return None
        return (min(TREND_Y_BPM[0], float(fin.min()) - TREND_Y_MARGIN_BPM),
                max(TREND_Y_BPM[1], float(fin.max()) + TREND_Y_MARGIN_BPM))

    def x_range(self) -> tuple[float, float] | None:
        """The whole session, at least TREND_MIN_SPAN_S, to the next multiple of TREND_STEP_S;
        None before the first update."""
        if not self.t_s:
            return None
        return (0.0, max(math.ceil(self.t_s[-1] / TREND_STEP_S) * TREND_STEP_S, TREND_MIN_SPAN_S))


@dataclass
class BvpTrace:
    """The last ``span_s`` of the BVP stream, in seconds before its newest sample (``t_rel_s``,
    -span_s..0, so the card's time axis stays put and is not redrawn every update), and the y
    range that frames it: measured once there is enough of the wave (its 99th percentile of |BVP|
    with BVP_SCALE_HEADROOM), then kept while the wave fits in it and the new scale would be at least
    BVP_SCALE_SHRINK_BELOW of it (``framed``: measured, not the default)."""

    span_s: float = BVP_SPAN_S
    t_rel_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bvp: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_range: tuple[float, float] = (-3.0, 3.0)
    framed: bool = False

    @property
    def x_range(self) -> tuple[float, float]:
        return (-self.span_s, 0.0)

    def update(self, t_s: np.ndarray, bvp: np.ndarray, since_t_s: float | None = None) -> None:
        """The stream's last ``span_s``; none of it from before ``since_t_s`` (where the signal
        now measured began: the face came back, another person is measured)."""
        if not len(t_s):
            return
        t_end = float(t_s[-1])
        keep = t_s >= t_end - self.span_s
        if since_t_s is not None:
            keep &= t_s >= since_t_s
        tb, vb = np.asarray(t_s[keep], dtype=float) - t_end, np.asarray(bvp[keep], dtype=float)
        fin = vb[np.isfinite(vb)]
        if len(fin):
            self.t_rel_s, self.bvp = tb, vb
        else:
            self.clear()
        if len(fin) > 10:
            top = float(np.percentile(np.abs(fin), 99))
            a = max(top * BVP_SCALE_HEADROOM, 0.5)
            held = self.y_range[1]
            if not self.framed or top > held or a < BVP_SCALE_SHRINK_BELOW * held:
                self.y_range = (-a, a)
            self.framed = True

    def clear(self) -> None:
        self.t_rel_s, self.bvp = np.zeros(0), np.zeros(0)


@dataclass
class MessageBanner:
    """The strip for errors and warnings that are not about the source."""

    text: str = ""
    level: str = ""
    visible: bool = False


@dataclass
class SourceBanner:
    """The strip that says why the window does not show the source asked for, with the ways out:
    another file, the demo, trying ``retry`` again."""

    kind: str | None = None  # "failed" | "lost" while shown
    text: str = ""
    level: str = ""
    retry: SourceSpec | None = None
    offer_demo: bool = True

    @property
    def visible(self) -> bool:
        return self.kind is not None

    @property
    def offer_retry(self) -> bool:
        return self.retry is not None and self.retry.kind != "demo"

    def retry_text(self) -> str:
        if self.retry is None or self.retry.kind != "camera":
            return "Try the file again"
        return f"Try {self.retry.label.split(' (')[0].lower()} again"


@dataclass(frozen=True)
class StatusLine:
    """The permanent parts of the status line; ``device`` is None until a method runs and
    ``recording`` empty when not recording."""

    source: str
    fps: str
    dropped: str
    latency: str
    tracker: str
    device: str | None
    recording: str


class SessionModel:
    """The state the window shows; updated from the worker's payloads, read by the cards."""

    def __init__(self) -> None:
        self.state = STATE_STARTING
        self.state_text = STATE_TEXT[STATE_STARTING]
        self.hr_text = NO_VALUE
        self.last_hr_bpm: float | None = None
        self.quality: float | None = None  # 0..1 of the last reading; None before the first
        self.withheld = ""  # why the last reading was withheld (HrReading.withheld)
        self.sdnn_text = self.rmssd_text = self.resp_text = NO_VALUE
        self.hrv_note = ""  # why the HRV shows no value, when the estimator said (the cards' tooltip)
        self.resp_note = ""  # what the respiration is, or why it shows none (its tooltip)
        self.trend = TrendSeries()
        self.bvp = BvpTrace()
        self._bvp_since_t: float | None = None  # the BVP card draws the stream from here on
        self.video_text: str | None = STATE_TEXT[STATE_STARTING]  # None: show the frame's image
        self.last_frame: FrameResult | None = None
        self._faces_seen: tuple[float, int] | None = None  # (t_s, n) of the latest frame with several faces
        self.source_info: SourceInfo | None = None
        self.method_info: MethodInfo | None = None
        self.tracker_name = ""
        self.tracker_note = ""
        self.recording_path: Path | None = None
        self.source_lost_msg: str | None = None
        self.cameras: list[int] = []
        self.messages: list[tuple[str, str]] = []  # (level, text), for tests and diagnostics
        self.banner = MessageBanner()
        self.source_banner = SourceBanner()

    # ---- state ------------------------------------------------------------------------------
    def set_state(self, state: str) -> bool:
        """Take ``state`` and word it; refused (False) while the source is lost, except for
        STATE_NO_SIGNAL itself: the window keeps saying so until frames come back."""
        if self.source_lost_msg is not None and state != STATE_NO_SIGNAL:
            return False
        self.state = state
        if state in (STATE_NO_SIGNAL, STATE_NO_FACE):
            self.quality = None  # the bar shows what is measured now; without a face or frames, nothing
        self.state_text = self._state_words(state)
        shown = state == STATE_READING and self.last_hr_bpm is not None
        self.hr_text = f"{self.last_hr_bpm:.0f}" if shown else NO_VALUE
        return True

    def _state_words(self, state: str) -> str:
        n_faces = self.last_frame.n_faces if self.last_frame is not None else None
        if state == STATE_NO_SIGNAL and self.source_lost_msg:
            return f"No signal: {self.source_lost_msg}"
        if state == STATE_NO_FACE and n_faces == 0:
            return "No face in view"
        if state == STATE_NO_FACE and n_faces and not self.last_frame.face_ok:  # the tracker waits for its person
            return "Lost the measured face; another face is in view"
        seen = self._faces_seen
        if (state == STATE_READING and seen is not None and self.last_frame is not None and self.last_frame.face_ok
                and self.last_frame.t_s - seen[0] <= SEVERAL_FACES_HOLD_S):
            return f"Reading ({seen[1]} faces: measuring the boxed one)"
        if state == STATE_UNRELIABLE and self.withheld in WITHHELD_TEXT:
            return f"{STATE_TEXT[state]}: {WITHHELD_TEXT[self.withheld]}"
        return STATE_TEXT.get(state, state)

    @property
    def gate(self) -> tuple[float, float]:
        """The running method's quality gate (open at, close below); the default one before it says."""
        return getattr(self.method_info, "gate", None) or (QUALITY_GOOD, QUALITY_FAIR)

    @property
    def quality_bar(self) -> float | None:
        """The quality bar's length (0..1): the gate's opening point at BAR_OPEN_MARK (:func:`quality_bar`)."""
        return None if self.quality is None else quality_bar(self.quality, self.gate)

    @property
    def quality_level(self) -> str | None:
        if self.quality is None:
            return None
        level = quality_level(self.quality, self.gate)
        # a strong signal whose reading is withheld for another reason (unsure, incoherent) is not "good"
        return "fair" if level == "good" and self.state != STATE_READING else level

    # ---- worker payloads ----------------------------------------------------------------------
    def on_frame(self, r: FrameResult) -> None:
        self.last_frame = r
        if r.n_faces > 1:
            self._faces_seen = (r.t_s, r.n_faces)
        self.source_lost_msg = None
        if self.source_banner.kind == "lost":  # frames again (the camera is back)
            self.hide_source_banner()
        self.video_text = None if r.image_bgra is not None else PRIVACY_TEXT
        # without a face the words follow the latest frame's faces (none, or only someone else's)
        if r.state != self.state or (r.state == STATE_NO_FACE and self._state_words(r.state) != self.state_text):
            self.set_state(r.state)

    def on_reading(self, rr: ReadingResult) -> None:
        r = rr.reading
        self.quality = _clamp_quality(r.quality)
        self.withheld = r.withheld
        if r.hr_bpm is not None:
            self.last_hr_bpm = r.hr_bpm
        source_t = getattr(rr, "source_t_s", None)  # the time within the current source's session
        t_trend = rr.t_s if source_t is None else source_t
        switch_t = getattr(rr, "new_person_t_s", None)
        if switch_t is not None:  # another person: the wave of the one measured before is not theirs
            self.trend.add_person(t_trend)
            self._bvp_since_t = switch_t
            self.bvp.framed = False
        if rr.state == STATE_NO_FACE:  # no wave drawn while nobody is measured, nor from before it
            self._bvp_since_t = rr.t_s
        self.trend.add(t_trend, r.hr_bpm, getattr(rr, "method", ""))
        self._vitals(rr)
        self.bvp.update(rr.bvp_t_s, rr.bvp, self._bvp_since_t)
        self.set_state(rr.state)

    def _vitals(self, rr: ReadingResult) -> None:
        """HRV and respiration, and their tooltips in plain words."""
        hrv = rr.hrv if rr.hrv is not None and rr.hrv.n_beats > 2 else None
        self.sdnn_text = f"{hrv.sdnn_ms:.0f} ms" if hrv else NO_VALUE
        self.rmssd_text = f"{hrv.rmssd_ms:.0f} ms" if hrv else NO_VALUE
        why = rr.hrv_why
        if why is None and rr.hrv is not None and hrv is None:  # an HRV from too few beats to show
            why = HrvWithheld(HRV_BEATS, "too few clean beats")
        hr_shown = rr.reading.hr_bpm is not None
        reason = vitals_reason(hr_shown, why)
        self.hrv_note = hrv_note(why, hr_shown) if hrv is None and reason else ""
        self.resp_text = f"{rr.resp_bpm:.0f} {RESP_UNIT}" if rr.resp_bpm else NO_VALUE
        self.resp_note = resp_note(reason, bool(rr.resp_bpm))

    def on_source_changed(self, info: SourceInfo) -> bool:
        """The source now running; True when it is the one asked for (to remember), False for
        a stand-in demo."""
        self.source_info = info
        self.source_lost_msg = None
        if not info.fallback:
            self.hide_source_banner()  # what was asked for is shown now
        elif self.source_banner.kind == "failed":
            self.source_banner.offer_demo = False  # the demo is what runs
        self.trend = TrendSeries()  # a new source (a file, a camera, a session replay): a trend of its own
        self._faces_seen = None  # and faces of its own
        self.bvp.clear()
        self._bvp_since_t = None
        return not info.fallback

    def on_source_lost(self, msg: str) -> None:
        self.source_lost_msg = msg
        self.set_state(STATE_NO_SIGNAL)
        self.video_text = f"No signal\n{msg}"
        spec = self.source_info.spec if self.source_info else None
        label = self.source_info.label if self.source_info else "the source"
        text = msg if spec is None or label.lower() in msg.lower() else f"{label}: {msg}"
        self.show_source_banner("lost", text, "info" if msg.lower().startswith("end of") else "error", spec)

    def on_source_failed(self, f: SourceFailure) -> None:
        self.add_message(f.level, f.text)
        self.show_source_banner("failed", f.text, f.level, f.spec)

    def on_method_changed(self, info: MethodInfo) -> bool:
        """The method in use (the user's choice is kept in the settings); True when it is
        another method than before (the BVP and the trend start afresh)."""
        changed = self.method_info is None or self.method_info.name != info.name
        self.method_info = info
        if changed:
            self.bvp.clear()
            self.trend.add_break()
        return changed

    def on_tracker_changed(self, name: str, note: str) -> None:
        self.tracker_name, self.tracker_note = name, note

    def on_recording_changed(self, path) -> None:
        self.recording_path = Path(path) if path is not None else None

    # ---- messages and banners -----------------------------------------------------------------
    def add_message(self, level: str, text: str) -> None:
        """Keep (the last MAX_MESSAGES) and log a message."""
        self.messages.append((level, text))
        del self.messages[:-MAX_MESSAGES]
        log.log({"error": logging.ERROR, "warning": logging.WARNING}.get(level, logging.INFO), "%s", text)

    def post_message(self, level: str, text: str) -> str:
        """A message for the user; returns where it goes: "banner" (errors and warnings),
        "status" (one the source banner says already: the status bar only), "note"
        (information: the status bar) or "" (no text)."""
        if not text:
            return ""
        self.add_message(level, text)
        if level in ("error", "warning"):
            if self.source_banner.visible and text in self.source_banner.text:
                return "status"
            self.banner = MessageBanner(text=text, level=level, visible=True)
            return "banner"
        if level == "ok":  # a problem resolved itself (e.g. the camera is back)
            self.clear_banner()
            if self.source_banner.kind == "lost":
                self.hide_source_banner()
        return "note"

    def clear_banner(self) -> None:
        self.banner.visible = False

    def show_source_banner(self, kind: str, text: str, level: str, retry: SourceSpec | None) -> None:
        on_demo = self.source_info is not None and self.source_info.spec.kind == "demo"
        self.source_banner = SourceBanner(kind=kind, text=text, level=level, retry=retry,
                                          offer_demo=not on_demo or self.source_lost_msg is not None)
        if self.banner.visible and self.banner.text == text:
            self.banner.visible = False  # one banner for one problem

    def hide_source_banner(self) -> None:
        self.source_banner.kind = None

    # ---- status line and source choices --------------------------------------------------------
    def status_line(self) -> StatusLine:
        info, r = self.source_info, self.last_frame
        src = info.label if info else "no source"
        if info is not None and info.fallback and self.source_banner.retry is not None:
            src = f"{src}, standing in for {self.source_banner.retry.label}"
        m = self.method_info
        return StatusLine(
            source=src,
            fps=f"{r.stats.fps_hz:4.1f} fps" if r else "-- fps",
            dropped=f"dropped {r.stats.dropped}" if r else "dropped 0",
            latency=f"{r.stats.latency_ms:4.1f} ms/frame" if r else "-- ms/frame",
            tracker=f"face: {self.tracker_name or '...'}",
            device=(f"{method_label(m.name)}{f': {m.model_file}' if m.model_file else ''}"
                    f"{' (calibrated)' if m.calibrated else ''} on {m.device}"
                    if m is not None else None),
            recording=f"\u25cf REC {self.recording_path.name}" if self.recording_path else "",
        )

    def camera_in_use(self) -> int | None:
        info = self.source_info
        return info.spec.camera_index if info is not None and info.spec.kind == "camera" else None

    def source_choices(self) -> tuple[list[tuple[str, str]], str]:
        """The sources to offer, as (label, source text), and the text of the one running
        ("" before any): the demo, the cameras found (and the one in use), the open file."""
        current = self.source_info.spec.to_text() if self.source_info else ""
        choices = [(f"Demo ({DEMO_HR_BPM:.0f} bpm synthetic)", "demo")]
        cams = set(self.cameras)
        if self.camera_in_use() is not None:
            cams.add(self.camera_in_use())
        choices += [(f"Camera {i}", f"camera:{i}") for i in sorted(cams)]
        if self.source_info and self.source_info.spec.kind == "file":
            choices.append((Path(current).name, current))
        return choices, current
