"""What a perfect reading of the video would score against the contact reference on these clips.

UBFC's ``ground_truth.txt`` stamps every frame with the time it was captured (its third row, the
timestamps), and the contact PPG is scored on that clock. The dev clips' MP4 files play the same
frames at a constant rate, so a method that reads the video (``analyze``, the app on a file) sees
each 10 s of the capture stretched or squeezed by the capture's own irregular frame times (gaps of
up to 0.75 s), and the two clocks drift apart by up to half a second over a clip. Here the contact
PPG itself is read on both clocks over the trailing 10 s, every second from the 10th on, a window
ending at the same time on each (``training.metrics.window_hr``, paired as every study scores a
reading against the reference): the share of windows where the two agree within 5 bpm is what a
reading that followed the video's pulse perfectly would score on that subject. Nothing is trained;
it reads the crop cache's frame times.

    python benchmarks/reference_clock.py [--cache DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WINDOW_S = 10.0
STEP_S = 1.0
RIGHT_BPM = 5.0


@dataclass(frozen=True)
class ClockAgreement:
    """One recording: the reference's HR read on the capture's clock and on the video's, per window."""

    name: str
    hr_capture_bpm: np.ndarray
    hr_video_bpm: np.ndarray
    stretch_range: tuple[float, float]  # the least and most 10 s of capture per 10 s of video (NaN: shorter clip)
    drift_max_s: float  # the largest gap between the two clocks (each from the first frame)

    @property
    def within(self) -> float:
        """Share of the windows where the two clocks' HRs agree within ``RIGHT_BPM`` (NaN: none)."""
        if len(self.hr_capture_bpm) == 0:
            return math.nan
        return float(np.mean(np.abs(self.hr_video_bpm - self.hr_capture_bpm) <= RIGHT_BPM))


def clock_agreement(name: str, ref_t_s: np.ndarray, ref_ppg: np.ndarray, video_t_s: np.ndarray) -> ClockAgreement:
    """The reference (one sample per frame, ``ref_t_s`` its capture times) read over the trailing
    ``WINDOW_S`` every ``STEP_S`` from ``WINDOW_S`` on, on its own clock and on ``video_t_s`` (the
    same frames' times in the video file), each clock from its first frame. The two may differ by
    one frame at the end (UBFC: 1801 samples for 1802 frames); a larger difference means the
    samples are not one per frame and raises ValueError."""
    from training.metrics import window_hr

    if abs(len(ref_t_s) - len(video_t_s)) > 1:
        raise ValueError(f"{name}: {len(ref_t_s)} reference samples for {len(video_t_s)} frames: not one per frame")
    n = min(len(ref_t_s), len(video_t_s))
    t_cap_s = np.asarray(ref_t_s[:n], dtype=np.float64) - float(ref_t_s[0])
    t_vid_s = np.asarray(video_t_s[:n], dtype=np.float64) - float(video_t_s[0])
    ppg = np.asarray(ref_ppg[:n], dtype=np.float64)
    hr_cap_bpm, hr_vid_bpm = [], []
    for t_end_s in np.arange(WINDOW_S, min(t_cap_s[-1], t_vid_s[-1]) + 1e-9, STEP_S):
        a = window_hr(t_cap_s, ppg, t_end_s - WINDOW_S, t_end_s)
        b = window_hr(t_vid_s, ppg, t_end_s - WINDOW_S, t_end_s)
        if a is not None and b is not None:
            hr_cap_bpm.append(a)
            hr_vid_bpm.append(b)
    k = int(np.searchsorted(t_vid_s, WINDOW_S))  # frames in the first 10 s of video
    if 0 < k < n:
        stretch = (t_cap_s[k:] - t_cap_s[:-k]) / (t_vid_s[k:] - t_vid_s[:-k])
        stretch_range = (float(stretch.min()), float(stretch.max()))
    else:
        stretch_range = (math.nan, math.nan)
    return ClockAgreement(name, np.array(hr_cap_bpm), np.array(hr_vid_bpm), stretch_range,
                          float(np.max(np.abs(t_cap_s - t_vid_s))))


def table(rows: list[ClockAgreement]) -> str:
    """Markdown: per recording and pooled, the windows, the share within 5 bpm, the median
    difference, the stretch and the drift."""
    lines = ["| subject | windows | reference on the video's clock within 5 bpm of its own | median difference (bpm) "
             "| capture s per video s (10 s) | largest drift (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        d = r.hr_video_bpm - r.hr_capture_bpm
        within = f"{r.within:.3f}" if len(d) else ""  # no window: left empty
        median = f"{np.median(d):+.2f}" if len(d) else ""
        lines.append(f"| {r.name} | {len(d)} | {within} | {median} | "
                     f"{r.stretch_range[0]:.3f}-{r.stretch_range[1]:.3f} | {r.drift_max_s:.2f} |")
    d_all = np.concatenate([r.hr_video_bpm - r.hr_capture_bpm for r in rows]) if rows else np.zeros(0)
    if len(d_all):
        lines.append(f"| pooled | {len(d_all)} | {np.mean(np.abs(d_all) <= RIGHT_BPM):.3f} | "
                     f"{np.median(d_all):+.2f} | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.replay import reference, subject_key

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache, progress=False)
    if cached is None:
        print(f"reference_clock: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    rows = []
    for c in sorted(cached, key=lambda c: subject_key(c.name)):
        ref = reference(c)
        if ref is None or c.frame_t_s is None:
            continue
        rows.append(clock_agreement(c.name, *ref, np.asarray(c.frame_t_s)))
    if not rows:
        print("reference_clock: no recording with a contact reference and frame times", file=sys.stderr)
        return 2
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
