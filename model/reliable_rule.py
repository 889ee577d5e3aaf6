"""When a whole-clip HR is called reliable (``summary.json``'s ``hr_reliable``, from ``analyze``
and from a recorded session): enough of the clip's HR updates showed a reading (a count and a
share of the judged ones), and the whole-clip HR (``model.clip_hr``) agrees with the median of
the shown readings, i.e. both read the same pulse.

Each method carries its rule (``model.method_api.MethodSpec.reliable``): FCUS's was chosen in
nested leave-subjects-out folds (``benchmarks/reliable_choice.py``); the classic methods keep the
rule set by hand on faces without a pulse (:data:`DEFAULT_RULE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Where the whole-clip HR must agree with the shown readings: "median", the whole-clip HR against
# the readings' median; "readings", the clip's tracked HR path at each shown reading's time against
# that reading (median of the differences), which a rate that changes over the clip does not upset.
AGREE_AT = ("median", "readings")


@dataclass(frozen=True)
class ReliableRule:
    """Reliable when at least ``min_shown`` HR updates showed a reading, at least ``shown_share``
    of the judged updates did, and the whole-clip HR agrees with them within ``agree_bpm``:
    with the shown readings' median (``agree_at`` "median"), or the clip's tracked path with each
    shown reading where it was shown (median of the differences; "readings")."""

    shown_share: float
    min_shown: int
    agree_bpm: float
    agree_at: str = "median"

    def __post_init__(self) -> None:
        if not 0.0 <= self.shown_share <= 1.0 or self.min_shown < 1 or not self.agree_bpm > 0:
            raise ValueError(f"ReliableRule: shown_share in 0..1, min_shown >= 1, agree_bpm > 0 (got {self})")
        if self.agree_at not in AGREE_AT:
            raise ValueError(f"ReliableRule: agree_at one of {AGREE_AT}, got {self.agree_at!r}")

    def reliable(self, shown_bpm: Sequence[float], n_judged: int, clip_hr_bpm: float | None,
                 path_gap_bpm: float | None = None) -> bool:
        return not self.why_not(shown_bpm, n_judged, clip_hr_bpm, path_gap_bpm)

    def why_not(self, shown_bpm: Sequence[float], n_judged: int, clip_hr_bpm: float | None,
                path_gap_bpm: float | None = None) -> str:
        """Why the whole-clip HR is not reliable by this rule, for the user; empty when it is.
        ``path_gap_bpm``: the median difference between the clip's tracked path and each shown
        reading at its time (``model.clip_hr.ClipHr.gap_to``; what "readings" agreement reads)."""
        n = len(shown_bpm)
        if clip_hr_bpm is None:
            return "no whole-clip HR"
        if n < self.min_shown:
            return f"{n} shown reading{'s' if n != 1 else ''}, fewer than {self.min_shown}"
        if n < self.shown_share * n_judged:
            return f"{n} of {n_judged} judged updates showed a reading, under {self.shown_share:.0%}"
        if self.agree_at == "readings":
            if path_gap_bpm is None:
                return "no tracked HR where the readings were shown"
            if path_gap_bpm > self.agree_bpm:
                return (f"the clip's tracked HR is {path_gap_bpm:.1f} bpm from the shown readings where they were "
                        f"shown (median), more than {self.agree_bpm:g}")
            return ""
        median = float(np.median(shown_bpm))
        if abs(clip_hr_bpm - median) > self.agree_bpm:
            return (f"the shown readings' median ({median:.1f} bpm) is {abs(clip_hr_bpm - median):.1f} bpm from "
                    f"the whole-clip HR, more than {self.agree_bpm:g}")
        return ""

    def describe(self) -> str:
        where = ("the clip's tracked HR within {a:g} bpm of the readings where they were shown"
                 if self.agree_at == "readings" else "the whole-clip HR within {a:g} bpm of their median")
        return (f"at least {self.min_shown} shown readings"
                + (f" and {self.shown_share:.0%} of the judged updates" if self.shown_share > 0 else "")
                + ", " + where.format(a=self.agree_bpm))


# Set by hand before the nested study: on OpenCV's animated Megamind.avi (11 s, no pulse) CHROM
# showed 2 of its 6 judged updates (60.6 and 61.3 bpm) and its whole-clip peak read 112.3 bpm; UBFC
# subjects whose whole-clip HR was 5-9 bpm off the contact PPG's whole-clip spectral peak showed 0-20 %
# of their updates, subject 12 (within 1 bpm) 38-41 %. The classic methods keep it.
DEFAULT_RULE = ReliableRule(shown_share=1 / 3, min_shown=5, agree_bpm=5.0)
