"""Which markers the recorder saw: every code the runner wrote, matched with the codes the
recorder shows (its digital channel or its marker stream), on one clock.

Pure: times are perf_counter seconds (the recorder's already converted, see
:mod:`experiment.recorder.clock`). A written marker is matched with the first unmatched code of
the same value the recorder shows from a little before it (timestamps jitter) to
:data:`SEEN_WITHIN_S` after it; past that it is *not recorded*, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SEEN_WITHIN_S = 1.0
EARLIEST_S = -0.005  # a recorder's stamp may precede the write by its own sampling jitter


@dataclass
class Written:
    label: str
    code: int
    at_s: float
    seen_at_s: float | None = None
    reported: bool = False  # already said to be missing

    @property
    def delay_s(self) -> float | None:
        return None if self.seen_at_s is None else self.seen_at_s - self.at_s


@dataclass
class MarkerMatcher:
    written: list[Written] = field(default_factory=list)
    unexpected: list[tuple[int, float]] = field(default_factory=list)  # codes the runner never wrote then

    def wrote(self, label: str, code: int, at_s: float) -> None:
        """The runner wrote ``code`` at ``at_s``; the recorder's view of it may already be here
        (the two threads report in either order)."""
        marker = Written(label, code, at_s)
        self.written.append(marker)
        for index, (seen_code, seen_at) in enumerate(self.unexpected):
            if seen_code == code and EARLIEST_S <= seen_at - at_s <= SEEN_WITHIN_S:
                marker.seen_at_s = seen_at
                del self.unexpected[index]
                return

    def saw(self, code: int, at_s: float) -> None:
        """The recorder shows ``code`` from ``at_s``: the earliest written one it can be."""
        for marker in self.written:
            if marker.seen_at_s is None and marker.code == code and EARLIEST_S <= at_s - marker.at_s <= SEEN_WITHIN_S:
                marker.seen_at_s = at_s
                return
        self.unexpected.append((code, at_s))

    def overdue(self, now_s: float) -> list[Written]:
        """Markers written more than SEEN_WITHIN_S before ``now_s`` that the recorder never showed,
        each returned once."""
        missing = [m for m in self.written if m.seen_at_s is None and not m.reported and now_s - m.at_s > SEEN_WITHIN_S]
        for marker in missing:
            marker.reported = True
        return missing

    def summary(self) -> dict:
        delays_ms = [m.delay_s * 1000 for m in self.written if m.delay_s is not None]
        return {
            "markers_sent": len(self.written),
            "markers_seen": len(delays_ms),
            "marker_delay_ms": {
                "median": round(float(np.median(delays_ms)), 3) if delays_ms else None,
                "max": round(max(delays_ms), 3) if delays_ms else None,
            },
        }


def code_onsets(times_s: Sequence[float], values: Sequence[float], previous: int = 0) -> list[tuple[int, float]]:
    """(code, time) of every change of a digital channel to a non-zero code: a recorder marks an
    event on a change of its lines, so a code held for several samples is one event. ``previous``:
    the channel's last code before these samples (a stream arrives in chunks)."""
    codes = np.rint(np.asarray(values, dtype=np.float64)).astype(np.int64)
    before = np.concatenate(([previous], codes[:-1]))
    changed = np.flatnonzero((codes != before) & (codes != 0))
    return [(int(codes[i]), float(times_s[i])) for i in changed]
