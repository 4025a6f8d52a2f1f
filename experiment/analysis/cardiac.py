"""Heart rate and heart-rate variability from the ECG, with NeuroKit2 doing the signal work.

Speed without losing precision: R peaks are found by NeuroKit2 (``ecg_clean`` and
``ecg_peaks``, method ``neurokit``) on the ECG decimated to 250 Hz (flipped first where the
lead is inverted), then each peak is placed on the highest sample of the original-rate signal,
low-passed at 40 Hz, within 10 ms, so beat times keep the recording's resolution.
NeuroKit2's all-in-one ``ecg_process`` also delineates every wave, which costs seconds per
recording and is not needed here.

Artefacts: one-second windows whose amplitude is far from the recording's typical beat
(movement, electrode noise) or nearly zero (lead off) are marked unusable; ectopic, missed
and extra beats are found and handled as :mod:`experiment.analysis.ectopy` describes (extra
beats removed, the intervals around the others left out). Every value carries the share of
beats so handled (``artefact_pct``); above ``MAX_ARTEFACT_PCT`` it is flagged, as Kubios
users expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from experiment.analysis.corrections import SNAP_S, Corrections, edit_beats, excluded_spans
from experiment.analysis.ectopy import classify

WORK_RATE_HZ = 250
WINDOW_S = 1.0
NOISE_FACTOR = 3.0  # a window's amplitude above this many times the typical one: noise
FLAT_FACTOR = 0.1  # ... below this fraction: lead off
MAX_BAD_FRACTION = 0.2
HF_BAND_HZ = (0.15, 0.40)
RESAMPLE_HZ = 4.0
REFINE_LOWPASS_HZ = 40.0
MAX_ARTEFACT_PCT = 5.0  # more beats than this corrected or left out: the value is flagged


@dataclass
class Beats:
    times_s: np.ndarray  # R-peak times on the recorder clock
    bad_windows: np.ndarray  # bool per WINDOW_S window from the recording start: unusable
    flat_windows: np.ndarray  # bool per window: no ECG at all (lead off)
    start_s: float
    normal: np.ndarray  # per interval (len(times_s) - 1): normal-to-normal
    abnormal: int  # intervals left out around ectopic, missed and long/short beats
    removed_s: np.ndarray = field(default_factory=lambda: np.array([]))  # extra (false) beats taken out
    artefact: np.ndarray = field(default_factory=lambda: np.array([], bool))  # per interval: see ectopy
    kinds: np.ndarray = field(default_factory=lambda: np.array([], object))  # per interval: see ectopy
    by_hand: np.ndarray = field(default_factory=lambda: np.array([], bool))  # per beat: added by a person
    hand_removed_s: np.ndarray = field(default_factory=lambda: np.array([]))  # beats a person removed
    edits_s: np.ndarray = field(default_factory=lambda: np.array([]))  # where beats were added or removed
    excluded: list[tuple[float, float]] = field(default_factory=list)  # spans a person left out

    @cached_property
    def noisy_intervals(self) -> np.ndarray:
        """Per interval: a beat of it lies in a window of unusable ECG."""
        times = self.times_s
        if len(times) < 2:
            return np.array([], bool)
        window_of = np.clip(((times - self.start_s) / WINDOW_S).astype(int), 0, len(self.bad_windows) - 1)
        return self.bad_windows[window_of[:-1]] | self.bad_windows[window_of[1:]]

    @cached_property
    def usable_intervals(self) -> np.ndarray:
        """Per interval: counted in HR and HRV (normal-to-normal, in clean ECG, 30-240 bpm, not
        in a span left out by hand). Computed once: every phase and minute reads it."""
        times = self.times_s
        if len(times) < 2:
            return np.array([], bool)
        intervals = np.diff(times)
        usable = ~self.noisy_intervals & self.normal & (intervals > 0.25) & (intervals < 2.0)
        return usable & ~self.excluded_intervals

    @cached_property
    def excluded_intervals(self) -> np.ndarray:
        """Per interval: it touches a span a person left out."""
        starts, ends = self.times_s[:-1], self.times_s[1:]
        overlap = np.zeros(len(starts), bool)
        for start, end in self.excluded:
            overlap |= (ends > start) & (starts < end)
        return overlap


def detect_beats(time_s: np.ndarray, ecg: np.ndarray, rate_hz: float, corrections: Corrections | None = None) -> Beats:
    """The recording's beats: detected, then a person's corrections applied (see corrections)."""
    import neurokit2 as nk
    from scipy.signal import decimate

    corrections = corrections or Corrections()
    factor = max(1, int(round(rate_hz / WORK_RATE_HZ)))
    work_rate = rate_hz / factor
    low = decimate(ecg, factor, ftype="fir", zero_phase=True) if factor > 1 else ecg
    cleaned = nk.ecg_clean(low, sampling_rate=work_rate, method="neurokit")
    polarity = _qrs_polarity(cleaned)
    cleaned = polarity * cleaned
    bad, flat = _unusable_windows(cleaned, work_rate)
    start = float(time_s[0])
    excluded = excluded_spans(corrections)
    if flat.all():
        return Beats(np.array([]), bad, flat, start, np.array([], bool), 0, excluded=excluded)
    _, info = nk.ecg_peaks(cleaned, sampling_rate=work_rate, method="neurokit")
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=int)
    if len(peaks) < 3:
        return Beats(np.array([]), bad, flat, start, np.array([], bool), 0, excluded=excluded)
    oriented = polarity * ecg
    precise = _refine(oriented, rate_hz, peaks * factor)

    def r_peak_near(at_s: float) -> float | None:
        if not time_s[0] <= at_s <= time_s[-1]:
            return None
        near = int(np.clip(np.searchsorted(time_s, at_s), 0, len(time_s) - 1))
        crest = _refine(oriented, rate_hz, np.array([near]), SNAP_S)
        return float(time_s[_refine(oriented, rate_hz, crest)[0]])  # then exactly as detected

    edited = edit_beats(time_s[precise], corrections, r_peak_near)
    classes = classify(edited.times_s, protected=edited.by_hand)
    return Beats(
        classes.times_s, bad, flat, start, classes.normal, int((~classes.normal).sum()),
        removed_s=edited.times_s[~classes.kept], artefact=classes.artefact, kinds=classes.kinds,
        by_hand=edited.by_hand[classes.kept], hand_removed_s=edited.removed_s, edits_s=edited.edits_s,
        excluded=excluded,
    )  # fmt: skip


def _unusable_windows(cleaned: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    size = int(WINDOW_S * rate_hz)
    n = len(cleaned) // size
    if n == 0:
        return np.ones(1, bool), np.ones(1, bool)
    windows = cleaned[: n * size].reshape(n, size)
    amplitude = windows.max(axis=1) - windows.min(axis=1)
    typical = np.median(amplitude)
    if typical <= 1e-6:
        return np.ones(n, bool), np.ones(n, bool)
    flat = amplitude < FLAT_FACTOR * typical
    bad = flat | (amplitude > NOISE_FACTOR * typical)
    # A window next to a noisy one is suspect too: artefacts ramp in and out.
    bad = bad | np.r_[False, bad[:-1]] | np.r_[bad[1:], False]
    return bad, flat


def _qrs_polarity(cleaned: np.ndarray) -> int:
    """+1 where the QRS points up, -1 for an inverted lead (electrodes swapped, or a lead whose
    main deflection is negative): peaks are then sought on the flipped signal, so every beat is
    marked at the same point of its QRS."""
    upward = np.percentile(cleaned, 99.5) - np.median(cleaned)
    downward = np.median(cleaned) - np.percentile(cleaned, 0.5)
    return -1 if downward > upward else 1


def _refine(ecg: np.ndarray, rate_hz: float, approx: np.ndarray, within_s: float = 0.010) -> np.ndarray:
    """Each peak moved to the highest original-rate sample within ``within_s``, on the ECG low-passed
    at ``REFINE_LOWPASS_HZ`` (zero phase): mains hum and muscle noise would otherwise move each
    beat's highest sample by a few milliseconds at random, which RMSSD counts as variability;
    the R wave's crest is slower than that. Only 0.2 s around each beat is filtered."""
    from scipy.signal import butter, sosfiltfilt

    half = int(round(within_s * rate_hz))
    reach = int(round(0.100 * rate_hz)) + half
    offsets = np.arange(-reach, reach + 1)
    index = np.clip(approx[:, None] + offsets[None, :], 0, len(ecg) - 1)
    around = ecg[index]
    if rate_hz >= 3 * REFINE_LOWPASS_HZ:
        around = sosfiltfilt(butter(4, REFINE_LOWPASS_HZ, fs=rate_hz, output="sos"), around, axis=1)
    centre = slice(reach - half, reach + half + 1)
    return index[np.arange(len(approx)), reach - half + np.argmax(around[:, centre], axis=1)]


@dataclass
class CardiacResult:
    hr_bpm: float
    rmssd_ms: float
    hf_ms2: float
    n_beats: int
    quality: str
    reason: str
    artefact_pct: float = float("nan")  # beats ectopic, missed, long/short or extra, per 100 beats


def segment_metrics(beats: Beats, start_s: float, end_s: float) -> CardiacResult:
    """HR, RMSSD and HF power over [start_s, end_s) on the recorder clock, with a quality flag."""
    nan = float("nan")
    span = end_s - start_s
    first = int((start_s - beats.start_s) / WINDOW_S)
    last = int(np.ceil((end_s - beats.start_s) / WINDOW_S))
    if first < 0 or last > len(beats.bad_windows):
        return CardiacResult(nan, nan, nan, 0, "missing", "the recording does not cover this segment")
    if beats.flat_windows[first:last].mean() > 0.5:
        return CardiacResult(nan, nan, nan, 0, "lead off", "no ECG signal (electrode off or cable loose)")
    inside = np.flatnonzero((beats.times_s >= start_s) & (beats.times_s < end_s))
    times = beats.times_s[inside]
    intervals = np.diff(times)
    usable = beats.usable_intervals[inside[:-1]] if len(inside) > 1 else np.array([], bool)
    bad = beats.bad_windows
    nn = intervals[usable]
    expected = (span - _excluded_within(beats.excluded, start_s, end_s)) / 0.8
    if len(nn) < max(10, 0.5 * expected * (1 - MAX_BAD_FRACTION)):
        return CardiacResult(nan, nan, nan, len(nn), "too few beats", f"{len(nn)} usable beat intervals")
    # (artefact_pct stays NaN where no value is given)
    successive = np.diff(intervals)[usable[:-1] & usable[1:]]
    rmssd = float(np.sqrt(np.mean(successive**2)) * 1000) if len(successive) else nan
    hf = _hf_power(times[1:][usable], nn, start_s, end_s)
    bad_fraction = float(bad[first:last].mean())
    removed = int(((beats.removed_s >= start_s) & (beats.removed_s < end_s)).sum())
    artefacts = int(beats.artefact[inside[:-1]].sum()) if len(inside) > 1 else 0
    artefact_pct = 100.0 * (artefacts + removed) / max(len(intervals) + removed, 1)
    quality, reason = "ok", ""
    if bad_fraction > MAX_BAD_FRACTION:
        quality, reason = "noise", f"{bad_fraction:.0%} of the segment unusable (movement or electrode noise)"
    elif artefact_pct > MAX_ARTEFACT_PCT:
        quality = "artefacts"
        reason = (
            f"{artefact_pct:.1f}% of beats ectopic, missed or extra (corrected or left out; over {MAX_ARTEFACT_PCT:g}%)"
        )
    return CardiacResult(60.0 / float(nn.mean()), rmssd, hf, len(nn) + 1, quality, reason, artefact_pct)


def _excluded_within(spans: list[tuple[float, float]], start_s: float, end_s: float) -> float:
    return sum(max(0.0, min(end, end_s) - max(start, start_s)) for start, end in spans)


def _hf_power(at_s: np.ndarray, nn_s: np.ndarray, start_s: float, end_s: float) -> float:
    """Power of the NN series in 0.15-0.40 Hz (ms^2): evenly resampled at 4 Hz, Welch."""
    from scipy.signal import welch

    if end_s - start_s < 30 or len(nn_s) < 20:
        return float("nan")  # too short for a 0.15 Hz estimate
    grid = np.arange(at_s[0], at_s[-1], 1 / RESAMPLE_HZ)
    series = np.interp(grid, at_s, nn_s * 1000)
    series -= np.polyval(np.polyfit(grid, series, 1), grid)
    nperseg = min(len(series), int(64 * RESAMPLE_HZ))
    freqs, power = welch(series, fs=RESAMPLE_HZ, nperseg=nperseg, detrend=False)
    band = (freqs >= HF_BAND_HZ[0]) & (freqs < HF_BAND_HZ[1])
    return float(np.trapezoid(power[band], freqs[band]))
