"""The recorder's Lab Streaming Layer stream, read live on a thread of its own.

BIOPAC AcqKnowledge, BrainVision's RDA connector, OpenSignals and LabRecorder set-ups stream
what they record over LSL. The stream is found by name; its ECG, EDA and digital (trigger)
channels are picked by the labels in its description, or named with ``--recorder-columns``
(``ecg=NAME,eda=NAME,digital=NAME``, as ``analyse --columns``). A marker stream of the same
recorder (``NAME-Markers``, not one this program published) is read too when there is one: the
codes the recorder received.

The clock question. LSL stamps samples on the recording computer's ``local_clock``; this
inlet adds LSL's own ``time_correction`` (the offset between that computer's clock and this
one's, which LSL measures continuously) and then this computer's offset between
``local_clock`` and ``time.perf_counter`` (the session clock), measured once from paired
readings (:func:`lsl_offset_s`; on Linux both read CLOCK_MONOTONIC, so it is ~0). Every
recorder time handed on is perf_counter seconds, so a marker's delay is the recorder's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from experiment.errors import ConfigError, DeviceError
from experiment.markers.lsl import OWN_SOURCE_PREFIX
from experiment.recorder.matching import MarkerMatcher, code_onsets

log = logging.getLogger(__name__)
RESOLVE_S = 5.0
WINDOW_S = 30.0  # samples kept for the live checks
LABELS = {
    "ecg": ("ecg", "ekg"),
    "eda": ("eda", "gsr", "skin", "sc"),
    "digital": ("digital", "trigger", "status", "din", "stim"),
}


@dataclass(frozen=True)
class RecorderColumns:
    """The channels' names when their labels do not say (None: picked by label)."""

    ecg: str | None = None
    eda: str | None = None
    digital: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> RecorderColumns:
        if not text:
            return cls()
        named = {}
        for part in text.split(","):
            role, _, name = part.partition("=")
            if role.strip() not in LABELS or not name.strip():
                raise ConfigError(f"--recorder-columns '{part}' is not of the form ecg=NAME, eda=NAME or digital=NAME.")
            named[role.strip()] = name.strip().strip('"')
        return cls(**named)


def lsl_offset_s(pairs: int = 50) -> tuple[float, float]:
    """``perf_counter - local_clock`` from the closest of ``pairs`` paired readings, and how close
    (the readings' gap, s): the offset is known to within that gap."""
    import pylsl

    best = (0.0, float("inf"))
    for _ in range(pairs):
        before = time.perf_counter()
        lsl = pylsl.local_clock()
        after = time.perf_counter()
        if after - before < best[1]:
            best = ((before + after) / 2 - lsl, after - before)
    return best


def channel_labels(info) -> list[str]:
    """The channel labels of an LSL stream's description (empty strings where it has none)."""
    labels, channel = [], info.desc().child("channels").child("channel")
    while not channel.empty():
        labels.append(channel.child_value("label"))
        channel = channel.next_sibling()
    return labels + [""] * (info.channel_count() - len(labels))


def pick_channels(stream: str, labels: list[str], columns: RecorderColumns) -> dict[str, int | None]:
    """Role -> channel index: named ones must exist; the others by their labels (ECG must be found)."""
    lowered = [label.lower() for label in labels]
    picked: dict[str, int | None] = {}
    for role, words in LABELS.items():
        named = getattr(columns, role)
        if named is not None:
            if named.lower() not in lowered:
                raise ConfigError(
                    f"The recorder stream '{stream}' has no channel '{named}' (it has {', '.join(labels)}): "
                    f"check --recorder-columns {role}=NAME."
                )
            picked[role] = lowered.index(named.lower())
        else:
            picked[role] = next((i for i, label in enumerate(lowered) if label.startswith(words)), None)
    if picked["ecg"] is None:
        raise ConfigError(
            f"No ECG channel was recognised in the recorder stream '{stream}' (its channels: "
            f"{', '.join(label or '(no label)' for label in labels)}): name it with --recorder-columns ecg=NAME."
        )
    return picked


@dataclass
class Window:
    """The last WINDOW_S of one channel, with perf_counter times."""

    times_s: deque = field(default_factory=deque)
    values: deque = field(default_factory=deque)

    def add(self, times_s: np.ndarray, values: np.ndarray, keep_from_s: float) -> None:
        self.times_s.extend(times_s.tolist())
        self.values.extend(values.tolist())
        while self.times_s and self.times_s[0] < keep_from_s:
            self.times_s.popleft()
            self.values.popleft()

    def last(self, seconds: float) -> np.ndarray:
        times = np.fromiter(self.times_s, float)
        return np.fromiter(self.values, float)[times >= times[-1] - seconds] if times.size else times


def recorders_marker_stream(recorder: str, streams: list):
    """The recorder's own marker stream among the LSL ``streams`` found, or None (its markers are
    then confirmed from its digital channel): ``RECORDER-Markers``, as Brain Products' LSL
    connectors name theirs (App-BrainAmpSeries), and never one this program published, which
    carries event labels, not what the recorder saw. No other Markers stream is taken: one of
    another program or device cannot be told from the recorder's."""
    for stream in streams:
        if stream.name() == f"{recorder}-Markers" and not stream.source_id().startswith(OWN_SOURCE_PREFIX):
            return stream
    return None


class RecorderInlet:
    """Finds the recorder's stream, then reads it on its own thread until :meth:`close`.

    ``matcher`` learns every code the recorder shows (digital channel and marker stream);
    ``last_sample_s`` says when it last delivered anything (perf_counter)."""

    def __init__(self, name: str, columns: RecorderColumns = RecorderColumns(), resolve_s: float = RESOLVE_S):
        try:
            import pylsl
        except (ImportError, RuntimeError) as err:
            raise DeviceError(f"Lab Streaming Layer is not available ({err}): reinstall the requirements.") from None
        self._pylsl = pylsl
        self.name = name
        found = pylsl.resolve_byprop("name", name, timeout=resolve_s)
        if not found:
            others = pylsl.resolve_streams(wait_time=1.0)
            listed = ", ".join(f"{s.name()} ({s.type()})" for s in others) or "none"
            raise DeviceError(
                f"No recorder stream named '{name}' was found within {resolve_s:g} s (streams found: {listed}): "
                "check that the recorder is recording and streams over LSL, and the stream's name."
            )
        self._inlet = pylsl.StreamInlet(found[0], max_buflen=60, processing_flags=pylsl.proc_clocksync)
        info = self._inlet.info(timeout=resolve_s)
        self.nominal_rate_hz = info.nominal_srate()
        self.labels = channel_labels(info)
        self.channels = pick_channels(name, self.labels, columns)
        stream = recorders_marker_stream(name, pylsl.resolve_byprop("name", f"{name}-Markers", timeout=1.0))
        self.marker_stream = stream.name() if stream is not None else None  # None: the digital channel
        self._markers = pylsl.StreamInlet(stream, processing_flags=pylsl.proc_clocksync) if stream is not None else None
        self.offset_s, self.offset_uncertainty_s = lsl_offset_s()
        self.matcher = MarkerMatcher()
        self.windows = {role: Window() for role, index in self.channels.items() if index is not None}
        self.stamps = Window()
        self.last_sample_s: float | None = None
        self.lock = threading.Lock()
        self._digital_state = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="recorder", daemon=True)

    @property
    def has_marker_stream(self) -> bool:
        return self._markers is not None

    def to_perf(self, stamps: np.ndarray) -> np.ndarray:
        """Recorder stamps (already on this computer's local_clock) as perf_counter seconds."""
        return np.asarray(stamps, dtype=np.float64) + self.offset_s

    def start(self) -> None:
        self._inlet.open_stream(timeout=RESOLVE_S)
        if self._markers is not None:
            self._markers.open_stream(timeout=RESOLVE_S)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            chunk, stamps = self._inlet.pull_chunk(timeout=0.1, max_samples=4096)
            if stamps:
                self._take(np.asarray(chunk, dtype=np.float64), self.to_perf(stamps))
            if self._markers is not None:
                labels, marker_stamps = self._markers.pull_chunk(timeout=0.0)
                with self.lock:
                    for (label,), at in zip(labels, self.to_perf(marker_stamps), strict=True):
                        if str(label).strip().isdigit():
                            self.matcher.saw(int(label), float(at))

    def _take(self, samples: np.ndarray, times_s: np.ndarray) -> None:
        keep_from = times_s[-1] - WINDOW_S
        with self.lock:
            self.last_sample_s = time.perf_counter()
            self.stamps.add(times_s, times_s, keep_from)
            for role, window in self.windows.items():
                window.add(times_s, samples[:, self.channels[role]], keep_from)
            digital = self.channels["digital"]
            if digital is not None and self._markers is None:
                for code, at in code_onsets(times_s, samples[:, digital], self._digital_state):
                    self.matcher.saw(code, at)
                self._digital_state = int(round(samples[-1, digital]))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for inlet in (self._inlet, self._markers):
            if inlet is not None:
                inlet.close_stream()
