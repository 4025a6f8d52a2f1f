"""During a session: what the recorder saw of every marker, its signals live, its faults said.

The marker thread tells the watch of every code it wrote (:meth:`RecorderWatch.wrote`); the
inlet's thread tells the matcher of every code the recorder shows. A thread of the watch's own
measures heart rate and skin-conductance level from the last seconds every
:data:`LIVE_EVERY_S` (seconds of work that must never hold up a frame), and the session's frame
loop collects what went wrong (:meth:`RecorderWatch.poll`, cheap) as incidents:

- ``marker_not_recorded``: a marker the recorder did not show within 1 s;
- ``recorder_lost``: the stream sent nothing for :data:`LOST_AFTER_S`;
- ``signal_lost``: the ECG or the EDA went flat (or out of range) while the stream goes on.

Each is said once until it recovers; the session goes on.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from experiment.recorder.inlet import RecorderInlet
from experiment.recorder.matching import SEEN_WITHIN_S, MarkerMatcher
from experiment.recorder.signals import check_ecg, check_eda, measured_rate_hz

log = logging.getLogger(__name__)
LOST_AFTER_S = 1.5  # the stream silent this long is lost (said within 2 s)
LIVE_EVERY_S = 2.0
LIVE_WINDOW_S = 10.0


class RecorderWatch:
    def __init__(self, inlet: RecorderInlet, checks: list[str], optional: bool) -> None:
        self.inlet = inlet
        with inlet.lock:
            inlet.matcher = MarkerMatcher()  # the session's markers only, not the checks' test marker
        self.checks = checks  # the checks' lines before the session
        self.optional = optional  # started although a check failed, as the technician chose
        self.heart_rate_bpm: float | None = None
        self.scl_us: float | None = None
        self._found: list[tuple[str, str]] = []  # incidents found off the main thread
        self._said_lost: set[str] = set()  # what is lost now (said once until it recovers)
        self._started_at = time.perf_counter()
        self._heart_rates: list[float] = []
        self._qualities: list[float] = []
        self._levels: list[float] = []
        self._rates: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._live, name="recorder-live", daemon=True)
        self._thread.start()

    # --- from other threads --------------------------------------------------------------
    def wrote(self, label: str, code: int, at_s: float) -> None:
        """The marker thread wrote ``code`` at ``at_s`` (perf_counter)."""
        with self.inlet.lock:
            self.inlet.matcher.wrote(label, code, at_s)

    def _live(self) -> None:
        while not self._stop.wait(LIVE_EVERY_S):
            with self.inlet.lock:
                windows = {role: w.last(LIVE_WINDOW_S) for role, w in self.inlet.windows.items()}
                stamps = self.inlet.stamps.last(LIVE_WINDOW_S)
                last = self.inlet.last_sample_s
            fresh = last is not None and time.perf_counter() - last <= LOST_AFTER_S
            if not fresh or stamps.size < 2 or stamps[-1] - stamps[0] < LIVE_WINDOW_S / 2:
                self.heart_rate_bpm = self.scl_us = None  # lost, or just back: poll() says so
                continue
            self._rates.append(measured_rate_hz(stamps))
            ecg = check_ecg(windows["ecg"], self.inlet.nominal_rate_hz, self.inlet.labels[self.inlet.channels["ecg"]])
            self.heart_rate_bpm = ecg.value if ecg.ok else None
            if ecg.ok:
                self._heart_rates.append(ecg.value)
                self._qualities.append(ecg.quality)
            self._signal("ECG", ecg.problem)
            if "eda" in windows:
                eda = check_eda(windows["eda"], self.inlet.labels[self.inlet.channels["eda"]])
                self.scl_us = eda.value if eda.ok else None
                if eda.ok:
                    self._levels.append(eda.value)
                self._signal("EDA", eda.problem)

    def _signal(self, what: str, problem: str) -> None:
        if problem and what not in self._said_lost:
            self._said_lost.add(what)
            self._found.append(("signal_lost", f"{problem} The session goes on."))
        elif not problem and what in self._said_lost:
            self._said_lost.discard(what)
            log.warning("The recorder's %s looks like a person's again.", what)

    # --- from the session's frame loop ---------------------------------------------------
    def poll(self) -> list[tuple[str, str]]:
        """What went wrong since the last call, as (kind, detail) incidents."""
        now = time.perf_counter()
        with self.inlet.lock:
            overdue = self.inlet.matcher.overdue(now)
            last = self.inlet.last_sample_s
        found, self._found = self._found, []
        for marker in overdue:
            found.append(
                (
                    "marker_not_recorded",
                    f"the recorder did not show the marker {marker.label} (code {marker.code}) within 1 s of its "
                    "write: check the trigger cable and that the recorder is recording",
                )
            )
        silent_s = now - (last if last is not None else self._started_at)
        if silent_s > LOST_AFTER_S and "stream" not in self._said_lost:
            self._said_lost.add("stream")
            found.append(
                (
                    "recorder_lost",
                    f"the recorder stream '{self.inlet.name}' has sent nothing for {silent_s:.0f} s: check that the "
                    "recorder is still recording and its computer is on the network; the session goes on",
                )
            )
        elif silent_s <= LOST_AFTER_S and "stream" in self._said_lost:
            self._said_lost.discard("stream")
            log.warning("The recorder stream '%s' sends again.", self.inlet.name)
        return found

    def finish(self) -> list[tuple[str, str]]:
        """At the session's end: wait until the recorder has shown the last markers (at most a
        second and a little), then what went wrong since the last poll."""
        deadline = time.perf_counter() + SEEN_WITHIN_S + 0.2
        while time.perf_counter() < deadline:
            with self.inlet.lock:
                if all(marker.seen_at_s is not None for marker in self.inlet.matcher.written):
                    break
            time.sleep(0.05)
        return self.poll()

    def status(self) -> str:
        """'HR 72 bpm | SCL 4.12 µS | recorder saw 12/12 markers' for the technician's console."""
        with self.inlet.lock:
            summary = self.inlet.matcher.summary()
        heart = f"HR {self.heart_rate_bpm:.0f} bpm" if self.heart_rate_bpm else "HR --"
        level = f"SCL {self.scl_us:.2f} µS" if self.scl_us else "SCL --"
        return f"{heart} | {level} | recorder saw {summary['markers_seen']}/{summary['markers_sent']} markers"

    def summary(self) -> dict:
        """session.json's ``recorder``."""
        with self.inlet.lock:
            markers = self.inlet.matcher.summary()
        return {
            "stream": self.inlet.name,
            "nominal_rate_hz": self.inlet.nominal_rate_hz,
            "measured_rate_hz": round(float(np.median(self._rates)), 2) if self._rates else None,
            **markers,
            "ecg_quality": round(float(np.median(self._qualities)), 3) if self._qualities else None,
            "heart_rate_bpm": _range(self._heart_rates, 1),
            "eda_range_us": _range(self._levels, 3),
            "clock_offset_s": round(self.inlet.offset_s, 7),
            "checks": self.checks,
            "optional": self.optional,
        }

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=LIVE_EVERY_S + 5)
        self.inlet.close()


def _range(values: list[float], digits: int) -> list[float] | None:
    return [round(min(values), digits), round(max(values), digits)] if values else None
