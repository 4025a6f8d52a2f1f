"""Lining the recorder up with the session: its markers against events.csv.

The recorder and the computer keep time with different crystals, so their clocks differ by
an offset (when each started) and a drift (a few tens of parts per million: up to ~0.1 s over
a session). The recording's markers (its digital channel or the file's own, see
``recorders.pick``) are matched to events.csv by their code sequence (a marker lost on the
way does not shift the others), and a straight line
``recorder_s = offset + (1 + drift) * session_s`` is fitted; its residuals say how well the
two agree. Phases are then cut at the recorder's own marker times.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from experiment.errors import DataError

MIN_MATCHED = 3
# The shipped protocols' phase names -> kinds, for sessions whose session.json has no phases.
PHASE_KINDS = {
    "welcome": "instructions",
    "baseline": "rest",
    "pre": "questionnaires",
    "induction": "audio",
    "post": "questionnaires",
    "recovery": "rest",
    "end": "end",
}
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

    def to_session(self, recorder_s: float) -> float:
        return (recorder_s - self.offset_s) / (1 + self.drift_ppm * 1e-6)


def align(marker_times: np.ndarray, marker_codes: np.ndarray, events: list[dict], source: str = "") -> Alignment:
    """Fit the recorder clock to the session clock from the markers both saw.

    ``marker_times``/``marker_codes``: the recording's marker onsets (``Recording.markers``).
    """
    sent = [e for e in events if e["sent_ok"] == "true"]
    marker_times, marker_codes = np.asarray(marker_times), np.asarray(marker_codes)
    if len(marker_times) == 0:
        where = f" ({source})" if source else ""
        raise DataError(f"no markers in the recording{where}: was the trigger cable connected?")
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


def phases_from_events(events: list[dict], where: str) -> list[dict]:
    """The phases a session's events.csv holds, from its ``<phase>_start``/``<phase>_end``
    markers, for a session.json without ``phases`` (hand-made, older, another tool's)."""
    starts, ends = {}, {}
    for event in events:
        label = event["label"]
        if label.endswith("_start") and label != "session_start":
            starts.setdefault(label[: -len("_start")], float(event["time_s"]))
        elif label.endswith("_end") and label != "session_end":
            ends[label[: -len("_end")]] = float(event["time_s"])
    phases = [
        {"name": name, "kind": PHASE_KINDS.get(name, ""), "start_s": start, "end_s": ends[name]}
        for name, start in sorted(starts.items(), key=lambda item: item[1])
        if name in ends and ends[name] > start
    ]
    if not phases:
        raise DataError(
            f"{where} has no phases: session.json lists none and events.csv has no <phase>_start and "
            "<phase>_end markers; is this a session folder written by this program?"
        )
    return phases


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
