"""Lining the recorder up with the session: its marker channel against events.csv.

The recorder and the computer keep time with different crystals, so their clocks differ by
an offset (when each started) and a drift (a few tens of parts per million: up to ~0.1 s over
a session). Markers are found in the digital channel, matched to events.csv by their code
sequence (a marker lost on the way does not shift the others), and a straight line
``recorder_s = offset + (1 + drift) * session_s`` is fitted; its residuals say how well the
two agree. Phases are then cut at the recorder's own marker times.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from experiment.errors import DataError

MIN_MATCHED = 3
MAX_RESIDUAL_S = 0.02  # a worse fit means the wrong recording, or markers that were not ours


@dataclass(frozen=True)
class Alignment:
    offset_s: float
    drift_ppm: float
    matched: int
    expected: int
    residual_rms_ms: float
    residual_max_ms: float
    recorder_times: dict[str, float]  # event label (first occurrence) -> recorder time

    def to_recorder(self, session_s: float) -> float:
        return self.offset_s + (1 + self.drift_ppm * 1e-6) * session_s


def find_markers(time_s: np.ndarray, digital: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times and codes where the digital lines change to a new non-zero code."""
    changes = np.flatnonzero(np.diff(digital) != 0) + 1
    onsets = changes[digital[changes] != 0]
    return time_s[onsets], digital[onsets]


def align(time_s: np.ndarray, digital: np.ndarray, events: list[dict]) -> Alignment:
    """Fit the recorder clock to the session clock from the markers both saw."""
    sent = [e for e in events if e["sent_ok"] == "true"]
    marker_times, marker_codes = find_markers(time_s, digital)
    if len(marker_times) == 0:
        raise DataError("no markers in the recording's digital channel: was the trigger cable connected?")
    matcher = SequenceMatcher(a=[int(e["code"]) for e in sent], b=marker_codes.tolist(), autojunk=False)
    pairs = [(i, j) for block in matcher.get_matching_blocks() for i, j in _block_pairs(block)]
    if len(pairs) < MIN_MATCHED:
        raise DataError(
            f"only {len(pairs)} of the session's {len(sent)} markers were found in the recording: "
            "is this the right recording for the session?"
        )
    session_s = np.array([float(sent[i]["time_s"]) for i, _ in pairs])
    recorder_s = marker_times[[j for _, j in pairs]]
    slope, offset = np.polyfit(session_s, recorder_s, 1)
    residuals = recorder_s - (offset + slope * session_s)
    if np.max(np.abs(residuals)) > MAX_RESIDUAL_S:
        raise DataError(
            f"the markers disagree with events.csv by up to {np.max(np.abs(residuals)) * 1000:.0f} ms after "
            "fitting offset and drift: is this the right recording for the session?"
        )
    seen: dict[str, float] = {}
    for (i, _), t in zip(pairs, recorder_s, strict=True):
        seen.setdefault(sent[i]["label"], float(t))
    alignment = Alignment(
        offset_s=float(offset),
        drift_ppm=float((slope - 1) * 1e6),
        matched=len(pairs),
        expected=len(sent),
        residual_rms_ms=float(np.sqrt(np.mean(residuals**2)) * 1000),
        residual_max_ms=float(np.max(np.abs(residuals)) * 1000),
        recorder_times=seen,
    )
    return alignment


def _block_pairs(block) -> list[tuple[int, int]]:
    return [(block.a + k, block.b + k) for k in range(block.size)]


def phase_windows(alignment: Alignment, phases: list[dict], events: list[dict]) -> dict[str, tuple[float, float]]:
    """Each phase's (start, end) on the recorder clock: its own markers where the recorder saw
    them, otherwise the session's times through the fitted line."""
    logged = {}
    for event in events:
        logged.setdefault(event["label"], float(event["time_s"]))
    windows = {}
    for phase in phases:
        bounds = []
        for edge in ("start", "end"):
            label = f"{phase['name']}_{edge}"
            if label in alignment.recorder_times:
                bounds.append(alignment.recorder_times[label])
            elif label in logged:
                bounds.append(alignment.to_recorder(logged[label]))
            elif phase.get(f"{edge}_s") is not None:
                bounds.append(alignment.to_recorder(float(phase[f"{edge}_s"])))
        if len(bounds) == 2 and bounds[1] > bounds[0]:
            windows[phase["name"]] = (bounds[0], bounds[1])
    return windows
