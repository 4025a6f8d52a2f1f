"""Skin-conductance responses (SCRs), scored trough to peak as the Society for Psychophysiological
Research's recommendations describe (Boucsein et al. 2012, Psychophysiology 49:1017-1034).

Method, on the EDA block-averaged to ``WORK_RATE_HZ`` and low-passed at ``LOWPASS_HZ``
(zero-phase; mains hum and noise out, a response's one-to-three-second rise kept):

1. **One response per steep moment**: every peak of the slope that stands out of its
   neighbourhood by half its height (``SPLIT_PROMINENCE``) is a response's steepest moment, so a
   response rising on the tail of another is scored on its own and ripples do not split one.
2. **Onset and peak**: the onset is the last moment before the steepest where the slope was
   below ``ONSET_SLOPE`` of it (not before the slope's low point since the previous response), so
   a slow drift before the response is not counted as its amplitude; the peak is where the signal
   stops rising (or the slope's low point before the next response).
3. **Amplitude** = peak minus onset; a response counts when it reaches the minimum amplitude
   (``[analysis] scr_min_amplitude_us``, default 0.05 µS; 0.01 µS is the smallest the
   recommendations consider for computer scoring).
4. **Never an artefact**: a rise faster than skin can produce (under ``MIN_RISE_S``, or steeper
   than ``MAX_STEEPNESS`` amplitudes per second), slower than a response (over ``MAX_RISE_S``: the
   tonic level moving), falling back by half within ``MIN_HALF_RECOVERY_S`` (an electrode pressed
   and released), or touching samples the level measure already leaves out (100 ms steps over
   0.5 µS, lost contact, spans a person excluded), is not a response.

Per segment: ``scr_n`` (responses whose onset lies in it), ``scr_per_min`` (per minute of usable
EDA) and ``scr_amp_us`` (their mean amplitude). The level (``scl_us``) stays the mean conductance:
no decomposition is made, so there is no separate tonic level to report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORK_RATE_HZ = 20.0
LOWPASS_HZ = 2.0
ONSET_SLOPE = 0.05
MIN_RISE_S = 0.5
MAX_RISE_S = 4.0  # a slower rise is the tonic level moving, not a response
MIN_SLOPE_US_PER_S = 0.004  # the smallest response scored (0.01 µS) rises at about this
MIN_SPLIT_US_PER_S = 0.01
SPLIT_PROMINENCE = 0.5
MAX_STEEPNESS = 3.0  # per second: a response's steepest slope is about its amplitude per second; a step's far more
MIN_HALF_RECOVERY_S = 0.75
DEFAULT_MIN_AMPLITUDE_US = 0.05
METHOD = (
    "trough to peak (SPR 2012 recommendations): EDA at 20 Hz low-passed at 2 Hz, one response per peak of "
    "the slope standing out by half its height, onset where the slope falls below 5% of its steepest, "
    "minimum amplitude {min_amplitude_us:g} µS; rises under 0.5 s or over 4 s, steeper than 3 amplitudes "
    "per second, or halving within 0.75 s are artefacts"
)


@dataclass
class Responses:
    onset_s: np.ndarray  # on the recording's clock
    peak_s: np.ndarray
    amplitude_us: np.ndarray
    usable_s: np.ndarray  # per work-rate sample: usable EDA (for responses per minute of usable EDA)
    times_s: np.ndarray  # the work-rate sample times
    min_amplitude_us: float

    def in_segment(self, start_s: float, end_s: float) -> dict:
        inside = (self.onset_s >= start_s) & (self.onset_s < end_s)
        minutes = float(self.usable_s[(self.times_s >= start_s) & (self.times_s < end_s)].sum()) / WORK_RATE_HZ / 60
        n = int(inside.sum())
        return {
            "scr_n": n,
            "scr_per_min": n / minutes if minutes > 0 else float("nan"),
            "scr_amp_us": float(self.amplitude_us[inside].mean()) if n else float("nan"),
        }


def detect_responses(
    time_s: np.ndarray, eda_us: np.ndarray, usable: np.ndarray, rate_hz: float, min_amplitude_us: float
) -> Responses:
    """Every skin-conductance response of a recording (see the module docstring)."""
    from scipy.signal import butter, sosfiltfilt

    step = max(1, int(round(rate_hz / WORK_RATE_HZ)))
    n = len(eda_us) // step
    times = time_s[: n * step : step] + (step - 1) / (2 * rate_hz)
    level = eda_us[: n * step].reshape(n, step).mean(axis=1)
    good = usable[: n * step].reshape(n, step).all(axis=1)
    rate = rate_hz / step
    empty = np.array([])
    if n < 3 * rate:
        return Responses(empty, empty, empty, good, times, min_amplitude_us)
    smooth = sosfiltfilt(butter(2, min(LOWPASS_HZ, 0.45 * rate), fs=rate, output="sos"), level)
    slope = np.gradient(smooth) * rate
    onsets, peaks = [], []
    for onset, steepest, peak in _rises(slope):
        amplitude = smooth[peak] - smooth[onset]
        if amplitude < min_amplitude_us or not good[max(0, onset - int(rate)) : peak + int(rate) + 1].all():
            continue
        if not MIN_RISE_S <= (peak - onset) / rate <= MAX_RISE_S or slope[steepest] > MAX_STEEPNESS * amplitude:
            continue  # too fast for skin (a step), or too slow for a response (the tonic level)
        if _halves_fast(smooth, peak, amplitude, rate):
            continue
        onsets.append(onset)
        peaks.append(peak)
    onsets, peaks = np.asarray(onsets, int), np.asarray(peaks, int)
    amplitudes = smooth[peaks] - smooth[onsets] if len(peaks) else empty
    return Responses(times[onsets], times[peaks], amplitudes, good, times, min_amplitude_us)


def _rises(slope: np.ndarray) -> list[tuple[int, int, int]]:
    """(onset, steepest, peak) of every rise: one per peak of the slope (so responses riding on
    each other are told apart), from where the slope was below ``ONSET_SLOPE`` of that peak (not
    before the slope's low point since the previous rise) to where the signal stops rising (or
    the slope's low point before the next rise)."""
    from scipy.signal import find_peaks

    # A peak of the slope is a response's steepest moment when it stands out of its neighbourhood
    # by half its height (and 0.01 µS/s): ripples on one rise do not split it, a second response does.
    steepest, found = find_peaks(slope, height=MIN_SLOPE_US_PER_S, prominence=MIN_SPLIT_US_PER_S)
    steepest = steepest[found["prominences"] >= SPLIT_PROMINENCE * found["peak_heights"]]
    rises = []
    for k, top in enumerate(steepest):
        before = steepest[k - 1] if k else 0
        after = steepest[k + 1] if k + 1 < len(steepest) else len(slope) - 1
        floor = before + int(np.argmin(slope[before : top + 1]))
        calm = np.flatnonzero(slope[floor:top] < ONSET_SLOPE * slope[top])
        onset = floor + (int(calm[-1]) if len(calm) else 0)
        ceiling = top + int(np.argmin(slope[top : after + 1]))
        stops = np.flatnonzero(slope[top : ceiling + 1] <= 0)
        peak = top + (int(stops[0]) if len(stops) else ceiling - top)
        rises.append((onset, top, peak))
    return rises


def _halves_fast(signal: np.ndarray, peak: int, amplitude: float, rate: float) -> bool:
    """Falls back by half its amplitude within ``MIN_HALF_RECOVERY_S``: skin does not recover so fast."""
    after = signal[peak : peak + int(MIN_HALF_RECOVERY_S * rate) + 1]
    return bool(len(after) and after.min() < signal[peak] - amplitude / 2)
