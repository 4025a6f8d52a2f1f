"""What every recorder reader gives back: each channel on its own clock, and the markers.

Recorders let channels have their own sampling rates (AcqKnowledge: ECG at 1000 Hz, EDA at
2000 Hz, respiration at 4 Hz), so a :class:`Channel` carries its own rate and first-sample
time, or its own sample times where they are irregular (XDF). Nothing is cut to a common
length or put on another channel's clock: that would stretch one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Channel:
    """One recorded signal. Times are seconds on the recording's clock (0 = its first sample)."""

    name: str
    unit: str
    rate_hz: float
    values: np.ndarray
    start_s: float = 0.0
    times: np.ndarray | None = None  # explicit sample times, where they are not start + i / rate

    @property
    def time_s(self) -> np.ndarray:
        if self.times is not None:
            return self.times
        return self.start_s + np.arange(len(self.values)) / self.rate_hz

    @property
    def duration_s(self) -> float:
        """From the first sample to the end of the last one (gaps between blocks included)."""
        if not len(self.values):
            return 0.0
        times = self.time_s
        return float(times[-1] - times[0] + 1.0 / self.rate_hz)


@dataclass(frozen=True)
class Markers:
    """Marker onsets on the recording's clock, as integer codes (1-255 for ours)."""

    times_s: np.ndarray
    codes: np.ndarray
    source: str  # where they came from, as a researcher reads it
    other: dict[str, int] = field(default_factory=dict)  # annotations that carry no code: text -> count

    def counts(self) -> dict[int, int]:
        codes, counts = np.unique(self.codes, return_counts=True)
        return {int(c): int(n) for c, n in zip(codes, counts, strict=True)}


def code_in_text(text: str) -> int | None:
    """The code an annotation's text is (``"12"``), or None: 1-255, as our markers are."""
    return int(text) if text.isdigit() and 1 <= int(text) <= 255 else None


def markers_from_texts(
    stamped: Iterable[tuple[float, str]], source: str, code_of: Callable[[str], int | None] = code_in_text
) -> Markers:
    """Markers from timed annotations: those whose text is a code; the others are counted by text."""
    times, codes, other = [], [], {}
    for at_s, text in stamped:
        text = text.strip()
        code = code_of(text)
        if code is None:
            other[text] = other.get(text, 0) + 1
        else:
            times.append(at_s)
            codes.append(code)
    return Markers(np.array(times, dtype=np.float64), np.array(codes, dtype=np.int64), source, other)


@dataclass(frozen=True)
class RecorderFile:
    """Everything a reader found in one file, before the analysis picks its channels."""

    path: Path
    format: str  # "AcqKnowledge 5.0", "LabChart text export", "BrainVision", ...
    channels: list[Channel]
    markers: Markers | None = None  # the format's own markers (.vmrk, BDF Status, EDF+, XDF), if any
    manufacturer: str | None = None
    notes: list[str] = field(default_factory=list)  # what the reader had to decide, for inspect-recording


@dataclass(frozen=True)
class Recording:
    """What the analysis uses: ECG in mV, EDA in microsiemens (or none), and the markers."""

    source: RecorderFile
    ecg: Channel
    eda: Channel | None
    markers: Markers

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def end_s(self) -> float:
        return float(self.ecg.time_s[-1])
