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


@dataclass(frozen=True)
class ReliableRule:
    """Reliable when at least ``min_shown`` HR updates showed a reading, at least ``shown_share``
    of the judged updates did, and the whole-clip HR is within ``agree_bpm`` of the shown
    readings' median."""

    shown_share: float
    min_shown: int
    agree_bpm: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.shown_share <= 1.0 or self.min_shown < 1 or not self.agree_bpm > 0:
            raise ValueError(f"ReliableRule: shown_share in 0..1, min_shown >= 1, agree_bpm > 0 (got {self})")

    def reliable(self, shown_bpm: Sequence[float], n_judged: int, clip_hr_bpm: float | None) -> bool:
        return not self.why_not(shown_bpm, n_judged, clip_hr_bpm)

    def why_not(self, shown_bpm: Sequence[float], n_judged: int, clip_hr_bpm: float | None) -> str:
        """Why the whole-clip HR is not reliable by this rule, for the user; empty when it is."""
        n = len(shown_bpm)
        if clip_hr_bpm is None:
            return "no whole-clip HR"
        if n < self.min_shown:
            return f"{n} shown reading{'s' if n != 1 else ''}, fewer than {self.min_shown}"
        if n < self.shown_share * n_judged:
            return f"{n} of {n_judged} judged updates showed a reading, under {self.shown_share:.0%}"
        median = float(np.median(shown_bpm))
        if abs(clip_hr_bpm - median) > self.agree_bpm:
            return (f"the shown readings' median ({median:.1f} bpm) is {abs(clip_hr_bpm - median):.1f} bpm from "
                    f"the whole-clip HR, more than {self.agree_bpm:g}")
        return ""

    def describe(self) -> str:
        return (f"at least {self.min_shown} shown readings"
                + (f" and {self.shown_share:.0%} of the judged updates" if self.shown_share > 0 else "")
                + f", the whole-clip HR within {self.agree_bpm:g} bpm of their median")


# Set by hand before the nested study: on OpenCV's animated Megamind.avi (11 s, no pulse) CHROM
# showed 2 of its 6 judged updates (60.6 and 61.3 bpm) and its whole-clip peak read 112.3 bpm; UBFC
# subjects whose whole-clip HR was 5-9 bpm off the contact PPG's whole-clip spectral peak showed 0-20 %
# of their updates, subject 12 (within 1 bpm) 38-41 %. The classic methods keep it.
DEFAULT_RULE = ReliableRule(shown_share=1 / 3, min_shown=5, agree_bpm=5.0)
