"""How far a perfect video-only reading could agree with the contact reference on these clips.

UBFC's ``ground_truth.txt`` stamps every frame with the time it was captured (row 2), and the
contact PPG is scored on that clock. The dev clips' MP4 files play the same frames at a constant
rate, so a method that reads the video (``analyze``, the app on a file) sees each 10 s of the
capture stretched or squeezed by the capture's own irregular frame times (gaps of up to 0.75 s).
Here the contact PPG itself is read on both clocks, every second from the 10th on, over the
trailing 10 s (``training.metrics.window_hr``, as every study scores a reading): the share of
windows where the two agree within 5 bpm is the most any reading of the video can reach against
the reference on that subject. Nothing is trained; it reads the crop cache's frame times.

    python benchmarks/reference_clock.py [--cache DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
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
    stretch_range: tuple[float, float]  # the least and most 10 s of capture per 10 s of video

    @property
    def within(self) -> float:
        return float(np.mean(np.abs(self.hr_video_bpm - self.hr_capture_bpm) <= RIGHT_BPM))


def clock_agreement(name: str, ref_t_s: np.ndarray, ref_ppg: np.ndarray, video_t_s: np.ndarray) -> ClockAgreement:
    """The reference (one sample per frame, ``ref_t_s`` its capture times) read over the trailing
    ``WINDOW_S`` every ``STEP_S`` from ``WINDOW_S`` on, on its own clock and on ``video_t_s`` (the
    same frames' times in the video file); frames beyond the shorter of the two are left out."""
    from training.metrics import window_hr

    n = min(len(ref_t_s), len(video_t_s))
    t_cap = np.asarray(ref_t_s[:n], dtype=np.float64) - float(ref_t_s[0])
    t_vid = np.asarray(video_t_s[:n], dtype=np.float64) - float(video_t_s[0])
    ppg = np.asarray(ref_ppg[:n], dtype=np.float64)
    cap, vid = [], []
    for t_end in np.arange(WINDOW_S, min(t_cap[-1], t_vid[-1]) + 1e-9, STEP_S):
        a = window_hr(t_cap, ppg, t_end - WINDOW_S, t_end)
        b = window_hr(t_vid, ppg, t_end - WINDOW_S, t_end)
        if a is not None and b is not None:
            cap.append(a)
            vid.append(b)
    k = int(np.searchsorted(t_vid, t_vid[0] + WINDOW_S))
    stretch = (t_cap[k:] - t_cap[:-k]) / (t_vid[k:] - t_vid[:-k]) if 0 < k < n else np.ones(1)
    return ClockAgreement(name, np.array(cap), np.array(vid), (float(stretch.min()), float(stretch.max())))


def table(rows: list[ClockAgreement]) -> str:
    lines = ["| subject | windows | reference on the video's clock within 5 bpm of its own | median difference (bpm) "
             "| capture s per video s (10 s) |", "|---|---|---|---|---|"]
    for r in rows:
        d = r.hr_video_bpm - r.hr_capture_bpm
        lines.append(f"| {r.name} | {len(d)} | {r.within:.3f} | {np.median(d):+.2f} | "
                     f"{r.stretch_range[0]:.3f}-{r.stretch_range[1]:.3f} |")
    d_all = np.concatenate([r.hr_video_bpm - r.hr_capture_bpm for r in rows])
    lines.append(f"| pooled | {len(d_all)} | {np.mean(np.abs(d_all) <= RIGHT_BPM):.3f} | {np.median(d_all):+.2f} | |")
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
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
