"""Heart rate and HRV against expert beat annotations: the pieces the benchmark
(tools/bench_hrv.py) and the tests (tests/test_hrv.py) share.

Truth comes from a cardiologist-annotated record (PhysioNet WFDB format, read with wfdb):
normal-to-normal (NN) intervals are those between two consecutive beats both annotated
normal; HR = 60 / mean NN; RMSSD from successive differences of adjacent NN intervals; HF
power from the NN series with the same estimator the analysis uses (so the comparison
measures beat handling, not spectral method).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiment.analysis.cardiac import _hf_power, detect_beats, segment_metrics  # noqa: E402

# MIT-BIH beat labels (wfdb symbols): normally conducted beats and all others.
NORMAL = frozenset("NLRej")
BEATS = frozenset("NLRBAaJSVrFejnE/fQ?")
TOLERANCE_S = 0.050


@dataclass
class Record:
    name: str
    ecg_mv: np.ndarray
    rate_hz: float
    beat_s: np.ndarray  # annotated beat times
    normal: np.ndarray  # per annotated beat: normally conducted

    @property
    def duration_s(self) -> float:
        return len(self.ecg_mv) / self.rate_hz


def load_record(path: Path, channel: int = 0) -> Record:
    """A WFDB record (``path`` without extension) and its ``atr`` beat annotations."""
    import wfdb

    signal = wfdb.rdrecord(str(path), channels=[channel])
    notes = wfdb.rdann(str(path), "atr")
    symbols = np.array(notes.symbol)
    is_beat = np.isin(symbols, list(BEATS))
    return Record(
        Path(path).name,
        signal.p_signal[:, 0].astype(np.float64),
        float(signal.fs),
        notes.sample[is_beat] / signal.fs,
        np.isin(symbols[is_beat], list(NORMAL)),
    )


@dataclass
class Values:
    hr_bpm: float
    rmssd_ms: float
    hf_ms2: float


def truth(record: Record, start_s: float, end_s: float) -> tuple[Values, float]:
    """The annotation's values in [start_s, end_s), and the share of beats that are not normal."""
    inside = (record.beat_s >= start_s) & (record.beat_s < end_s)
    times, normal = record.beat_s[inside], record.normal[inside]
    intervals = np.diff(times)
    nn_ok = normal[:-1] & normal[1:]
    nn = intervals[nn_ok]
    adjacent = nn_ok[:-1] & nn_ok[1:]
    successive = np.diff(intervals)[adjacent]
    values = Values(
        60.0 / nn.mean(),
        float(np.sqrt(np.mean(successive**2)) * 1000),
        _hf_power(times[1:][nn_ok], nn, start_s, end_s),
    )
    return values, float(1 - normal.mean())


def ours(ecg_mv: np.ndarray, rate_hz: float, windows: list[tuple[float, float]]):
    """Our beats over the whole record, then each window's values; and the beat times."""
    time_s = np.arange(len(ecg_mv)) / rate_hz
    beats = detect_beats(time_s, ecg_mv, rate_hz)
    results = []
    for start, end in windows:
        result = segment_metrics(beats, start, end)
        results.append((Values(result.hr_bpm, result.rmssd_ms, result.hf_ms2), result))
    return results, beats


def from_peaks(peaks_s: np.ndarray, start_s: float, end_s: float) -> Values:
    """HR and RMSSD from every interval between detected peaks (no beat handling)."""
    times = peaks_s[(peaks_s >= start_s) & (peaks_s < end_s)]
    intervals = np.diff(times)
    return Values(
        60.0 / intervals.mean(),
        float(np.sqrt(np.mean(np.diff(intervals) ** 2)) * 1000),
        _hf_power(times[1:], intervals, start_s, end_s),
    )


def neurokit_peaks(ecg_mv: np.ndarray, rate_hz: float, kubios: bool) -> np.ndarray:
    """NeuroKit2's R peaks (``ecg_clean`` + ``ecg_peaks``), with or without its Kubios correction."""
    import neurokit2 as nk

    cleaned = nk.ecg_clean(ecg_mv, sampling_rate=rate_hz, method="neurokit")
    _, info = nk.ecg_peaks(cleaned, sampling_rate=rate_hz, method="neurokit", correct_artifacts=kubios)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.float64) / rate_hz


def detection(found_s: np.ndarray, annotated_s: np.ndarray, tolerance_s: float = TOLERANCE_S) -> tuple[int, int, int]:
    """(true positives, false negatives, false positives), each detection matching at most one beat."""
    found_s = np.sort(found_s)
    used = np.zeros(len(found_s), bool)
    hits = 0
    for beat in annotated_s:
        i = np.searchsorted(found_s, beat)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(found_s) and not used[j]]
        best = min(candidates, key=lambda j: abs(found_s[j] - beat), default=None)
        if best is not None and abs(found_s[best] - beat) <= tolerance_s:
            used[best] = True
            hits += 1
    return hits, len(annotated_s) - hits, int((~used).sum())


# --- degraded copies ------------------------------------------------------------------------------


def degrade(ecg_mv: np.ndarray, rate_hz: float, kind: str, seed: int = 0) -> tuple[np.ndarray, float]:
    """A copy of the ECG as a worse lab would record it; returns (signal, its rate)."""
    from scipy.signal import butter, resample_poly, sosfiltfilt

    rng = np.random.default_rng(seed)
    t = np.arange(len(ecg_mv)) / rate_hz
    if kind == "clean":
        return ecg_mv, rate_hz
    if kind == "muscle noise":  # EMG: broadband 20-150 Hz, bursts, 0.05 mV rms
        noise = sosfiltfilt(butter(4, [20, min(150, 0.45 * rate_hz)], "band", fs=rate_hz, output="sos"),
                            rng.normal(0, 1, len(t)))  # fmt: skip
        bursts = 0.5 + 0.5 * (np.sin(2 * np.pi * 0.05 * t) > 0)
        return ecg_mv + 0.05 * bursts * noise / noise.std(), rate_hz
    if kind == "baseline wander":  # breathing and movement: 0.5 mV at 0.3 Hz, slow drift
        return ecg_mv + 0.5 * np.sin(2 * np.pi * 0.3 * t) + 0.3 * np.sin(2 * np.pi * 0.05 * t), rate_hz
    if kind == "mains hum":  # 50 Hz, 0.2 mV, with its third harmonic
        return ecg_mv + 0.2 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 150 * t), rate_hz
    if kind == "inverted":
        return -ecg_mv, rate_hz
    if kind.endswith(" Hz"):
        target = int(kind.split()[0])
        return resample_poly(ecg_mv, target, int(rate_hz)), float(target)
    raise ValueError(kind)


DEGRADATIONS = ("clean", "muscle noise", "baseline wander", "mains hum", "250 Hz", "500 Hz", "inverted")


def five_minute_windows(record: Record) -> list[tuple[float, float]]:
    return [(start, start + 300.0) for start in np.arange(0.0, record.duration_s - 299.0, 300.0)]
