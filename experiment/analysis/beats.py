"""The beats table: every beat the analysis decided on, what it made of it, and who put it there.

``OUT/beats/sub-<ID>_ses-<N>_beats.csv``, one row per beat in time order, times on the
recording's own clock (the clock corrections are written in):

- ``class``: of the interval ending at the beat - ``normal``, ``ectopic`` (the beat is premature),
  ``compensatory`` (the pause after one), ``missed-before`` (a beat seems missing before this one),
  ``long-short``, ``noise`` (in ECG too noisy to trust), ``excluded`` (in a span a person left out),
  ``implausible`` (beyond 30-240 bpm), ``first`` (no interval ends there); and for beats taken
  out, ``extra`` (a false detection removed by the analysis) or ``removed`` (by a person);
- ``used``: 1 where the interval ending at the beat counts in heart rate and HRV;
- ``source``: ``detected``, ``added by hand`` or ``removed by hand``.
"""

from __future__ import annotations

import numpy as np

from experiment.analysis.cardiac import Beats

COLUMNS = ("time_s", "class", "used", "source")


def beat_rows(beats: Beats) -> list[dict]:
    times = beats.times_s
    rows = []
    if len(times):
        usable, noisy, excluded = beats.usable_intervals, beats.noisy_intervals, beats.excluded_intervals
        by_hand = beats.by_hand if len(beats.by_hand) == len(times) else np.zeros(len(times), bool)
        for i, at in enumerate(times):
            source = "added by hand" if by_hand[i] else "detected"
            if i == 0:
                rows.append(_row(at, "first", False, source))
                continue
            j = i - 1  # the interval ending at beat i
            kind = str(beats.kinds[j]) if j < len(beats.kinds) else "normal"
            if excluded[j]:
                kind = "excluded"
            elif noisy[j]:
                kind = "noise"
            elif kind == "normal" and not usable[j]:
                kind = "implausible"
            rows.append(_row(at, kind, bool(usable[j]), source))
    rows += [_row(at, "extra", False, "detected") for at in beats.removed_s]
    rows += [_row(at, "removed", False, "removed by hand") for at in beats.hand_removed_s]
    return sorted(rows, key=lambda row: row["time_s"])


def _row(at: float, kind: str, used: bool, source: str) -> dict:
    return {"time_s": round(float(at), 4), "class": kind, "used": int(used), "source": source}
