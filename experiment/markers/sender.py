"""Sends labelled markers from a dedicated thread and logs each one in events.csv.

The session only queues a marker (``send``) and goes on drawing: the thread writes the code,
waits the device's hold time, clears the lines and holds 0 as long again before the next
code, so markers never overlap and the recorder sees every one as its own event. A marker
may be scheduled for a moment (``at_perf``): the audio onset is written when the first sample
reaches the output, not when playback was asked for.

Each row's ``time_s`` is the clock read just before the write and ``write_ms`` how long until
just after it: the code reached the operating system within that window (normally a few
microseconds). Markers whose window was longer than 2 ms are kept in :attr:`MarkerSender.uncertain`.

A failed write never stops the session: the row says ``sent_ok`` false, the fault is counted,
the technician is told, and the port is reopened before the next marker (at most once a
second) until it works again.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from experiment.clock import SessionClock
from experiment.datastore import AppendOnlyCsv
from experiment.errors import DeviceError, ExperimentError
from experiment.markers.device import MarkerDevice, WriteWindow

log = logging.getLogger(__name__)
RECONNECT_EVERY_S = 1.0
MARKER_THREAD_FIFO_PRIORITY = 10
# The marker thread must get the interpreter soon after another thread lets go: Python's default
# 5 ms switch interval would let a marker's write lag its timestamp by as much (seen in a test
# process: 4.6 ms). Set by every sender, so tests and benchmarks run as sessions do.
SWITCH_INTERVAL_S = 0.0005
# A write whose window (events.csv write_ms) is longer than this leaves its marker's time
# uncertain by as much: the thread lost the processor mid-write (a busy PC, or a virtual machine's
# host). The window also holds the wait for Python's interpreter lock after the write (up to about
# 0.9 ms in test sessions here), which does not move the marker: 2 ms, as for the audio's markers.
UNCERTAIN_WRITE_S = 0.002


@dataclass(frozen=True)
class _Request:
    label: str
    code: int
    phase: str
    detail: str
    at_perf: float | None


def raise_thread_priority() -> str:
    """Make the calling thread real-time where the system allows it; say what it got.

    On a busy machine the scheduler can otherwise park the marker thread between reading the
    clock and writing the code, so the logged time would be early by milliseconds.
    (Linux: SCHED_FIFO needs root or an rtprio limit, e.g. in /etc/security/limits.d.)
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(MARKER_THREAD_FIFO_PRIORITY))
        return f"SCHED_FIFO {MARKER_THREAD_FIFO_PRIORITY}"
    except (AttributeError, PermissionError, OSError):  # not Linux, or not permitted
        return "normal"


def uncertain_markers(uncertain: list[tuple[str, float]]) -> str:
    """The incident's detail for markers whose writes took longer than UNCERTAIN_WRITE_S."""
    listed = ", ".join(f"{label} ({length_s * 1000:.2f} ms)" for label, length_s in uncertain)
    return (
        f"{len(uncertain)} marker(s) took longer than {UNCERTAIN_WRITE_S * 1000:g} ms to write, so each logged time "
        f"may be off by up to its write time (events.csv write_ms): {listed}"
    )


def wait_until(perf_s: float) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``perf_s``; spin the last millisecond."""
    remaining = perf_s - time.perf_counter()
    if remaining > 0.002:
        time.sleep(remaining - 0.001)
    while time.perf_counter() < perf_s:
        pass


class MarkerSender:
    """Looks up a label's code, writes it on the marker thread and logs the row.

    Parameters
    ----------
    device : MarkerDevice
        Where codes go.
    codes : mapping
        Label -> code (the protocol's marker table).
    clock : SessionClock
        events.csv times are on this clock.
    events : AppendOnlyCsv
        events.csv (written only from the marker thread).
    lsl : LslOutlet or None
        Also push every marker to this Lab Streaming Layer outlet.
    """

    def __init__(
        self, device: MarkerDevice, codes: Mapping[str, int], clock: SessionClock, events: AppendOnlyCsv, lsl=None
    ) -> None:
        self.device = device
        self.codes = codes
        self.clock = clock
        self.events = events
        self.lsl = lsl
        self.phase = ""
        self.faults = 0
        self.reconnects = 0
        self.uncertain: list[tuple[str, float]] = []  # (label, write window) of markers written too slowly
        self.last: tuple[str, int, bool] | None = None
        self.written: list[tuple[str, str, float]] = []  # (label, detail, perf_counter) of each code written
        self.on_written = None  # called (label, code, perf_counter) on the marker thread after each write
        self.error: ExperimentError | None = None
        self._lost = False
        self._next_reconnect = 0.0
        self._reconnect_failure = ""
        self._lines_free_at = 0.0
        self.thread_priority = "not started"
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=self._run, name="markers", daemon=True)
        self._thread.start()

    def send(self, label: str, detail: str = "", at_perf: float | None = None) -> None:
        """Queue the marker for ``label`` (written at once, or at ``at_perf``); never blocks."""
        if self.error is not None:
            raise self.error  # events.csv cannot be written: stop before more is lost
        self._queue.put(_Request(label, self.codes[label], self.phase, detail, at_perf))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued marker is written and logged."""
        deadline = time.perf_counter() + timeout_s
        while self._queue.unfinished_tasks:
            if time.perf_counter() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=5.0)

    # --- the marker thread ------------------------------------------------------------------
    def _run(self) -> None:
        self.thread_priority = raise_thread_priority()
        while (request := self._queue.get()) is not None:
            try:
                self._deliver(request)
            except ExperimentError as err:  # events.csv itself failed
                self.error = err
                log.error("%s", err)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _deliver(self, request: _Request) -> None:
        wait_until(max(self._lines_free_at, request.at_perf or 0.0))
        written, sent_ok = self._write(request)
        if self.lsl is not None:
            self.lsl.push(request.label, written.start_s)
        self.events.append(
            {
                "time_s": self.clock.from_perf_counter(written.start_s),
                "code": request.code,
                "label": request.label,
                "phase": request.phase,
                "sent_ok": sent_ok,
                "detail": request.detail,
                "write_ms": f"{written.length_s * 1000:.3f}",
            }
        )
        self.last = (request.label, request.code, sent_ok)
        if sent_ok:
            if written.length_s > UNCERTAIN_WRITE_S:
                self.uncertain.append((request.label, written.length_s))
            self.written.append((request.label, request.detail, written.start_s))
            if self.on_written is not None:
                self.on_written(request.label, request.code, written.start_s)

    def _write(self, request: _Request) -> tuple[WriteWindow, bool]:
        device = self.device
        try:
            if self._lost:
                self._reconnect()
            written = device.set_code(request.code)
            # The hold counts from when the write had surely happened (the window's end), so a
            # write delayed within its window never shortens the code on the lines.
            if device.needs_clear:
                wait_until(written.end_s + device.hold_s)
                device.clear()
                lines_clear_at = time.perf_counter()
            else:  # the box drops the lines itself
                lines_clear_at = written.end_s + device.hold_s
            self._lines_free_at = lines_clear_at + device.rest_s
            return written, True
        except DeviceError as err:
            self.faults += 1
            if not self._lost:
                log.error(
                    "MARKERS ARE NOT REACHING THE RECORDER: %s The session goes on; "
                    "check the trigger box cable - reconnection is tried before each marker.",
                    err,
                )
            self._lost = True
            log.warning("Marker not sent: %s (code %d)", request.label, request.code)
            return WriteWindow.now(), False

    def _reconnect(self) -> None:
        now = time.perf_counter()
        if now < self._next_reconnect:
            raise DeviceError("the marker port is still lost")
        self._next_reconnect = now + RECONNECT_EVERY_S
        try:
            self.device.reopen()
        except DeviceError as err:
            if str(err) != self._reconnect_failure:  # each new reason once, not every second
                log.error("The marker port cannot be reconnected yet: %s", err)
                self._reconnect_failure = str(err)
            raise
        self._reconnect_failure = ""
        self._lost = False
        self.reconnects += 1
        log.warning("The marker port works again (reconnected); later markers reach the recorder.")
