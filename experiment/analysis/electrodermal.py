"""Skin-conductance level: the mean conductance over a segment, artefacts left out.

A movement or a pressed electrode shows as a conductance change far faster than skin can
produce (skin-conductance responses rise over a second or more); 100 ms steps larger than
0.5 microsiemens mark one-second windows as unusable. A conductance below 0.05 microsiemens is
no skin contact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_S = 0.1
MAX_STEP_US = 0.5
MIN_CONTACT_US = 0.05
MAX_BAD_FRACTION = 0.2


@dataclass
class EdaResult:
    scl_us: float
    quality: str
    reason: str


def usable_samples(eda: np.ndarray, rate_hz: float) -> np.ndarray:
    """Per sample: True where the signal is skin, not artefact or lost contact."""
    step = max(1, int(STEP_S * rate_hz))
    second = max(1, int(rate_hz))
    jumps = np.abs(eda[step:] - eda[:-step]) > MAX_STEP_US
    bad = np.zeros(len(eda), bool)
    bad[step:] |= jumps
    bad |= eda < MIN_CONTACT_US
    # Widen each artefact by a second on both sides (its slope starts and ends below the step),
    # sample by sample: the same artefact gives the same span whatever clock the samples are on.
    from scipy.ndimage import maximum_filter1d

    return ~maximum_filter1d(bad, size=2 * second + 1)


def segment_level(time_s: np.ndarray, eda: np.ndarray, usable: np.ndarray, start_s: float, end_s: float) -> EdaResult:
    nan = float("nan")
    first, last = np.searchsorted(time_s, [start_s, end_s])
    if first >= last or time_s[-1] < end_s - 1.0:
        return EdaResult(nan, "missing", "the recording does not cover this segment")
    segment, good = eda[first:last], usable[first:last]
    if np.median(segment) < MIN_CONTACT_US:
        return EdaResult(nan, "lead off", "no skin conductance (electrode off)")
    if not good.any():
        return EdaResult(nan, "noise", "the whole segment is artefact")
    bad_fraction = 1 - good.mean()
    quality, reason = "ok", ""
    if bad_fraction > MAX_BAD_FRACTION:
        quality, reason = "noise", f"{bad_fraction:.0%} of the segment is artefact"
    return EdaResult(float(segment[good].mean()), quality, reason)
