"""Sends labelled markers from a dedicated thread and logs each one in events.csv.

The session only queues a marker (``send``) and goes on drawing: the thread writes the code,
waits the device's hold time, clears the lines and holds 0 as long again before the next
code, so markers never overlap and the recorder sees every one as its own event. A marker
may be scheduled for a moment (``at_perf``): the audio onset is written when the first sample
reaches the output, not when playback was asked for.

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
from experiment.markers.device import MarkerDevice

log = logging.getLogger(__name__)
RECONNECT_EVERY_S = 1.0
MARKER_THREAD_FIFO_PRIORITY = 10
# The marker thread must get the interpreter soon after another thread lets go: Python's default
# 5 ms switch interval would let a marker's write lag its timestamp by as much (seen in a test
# process: 4.6 ms). Set by every sender, so tests and benchmarks run as sessions do.
SWITCH_INTERVAL_S = 0.0005


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
        self.last: tuple[str, int, bool] | None = None
        self.written: list[tuple[str, str, float]] = []  # (label, detail, perf_counter) of each code written
        self.on_written = None  # called (label, code, perf_counter) on the marker thread after each write
        self.error: ExperimentError | None = None
        self._lost = False
        self._next_reconnect = 0.0
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
        written_at, sent_ok = self._write(request)
        if self.lsl is not None:
            self.lsl.push(request.label, written_at)
        self.events.append(
            {
                "time_s": self.clock.from_perf_counter(written_at),
                "code": request.code,
                "label": request.label,
                "phase": request.phase,
                "sent_ok": sent_ok,
                "detail": request.detail,
            }
        )
        self.last = (request.label, request.code, sent_ok)
        if sent_ok:
            self.written.append((request.label, request.detail, written_at))
            if self.on_written is not None:
                self.on_written(request.label, request.code, written_at)

    def _write(self, request: _Request) -> tuple[float, bool]:
        device = self.device
        try:
            if self._lost:
                self._reconnect()
            written_at = device.set_code(request.code)
            if device.needs_clear:
                wait_until(written_at + device.hold_s)
                device.clear()
                lines_clear_at = time.perf_counter()
            else:  # the box drops the lines itself
                lines_clear_at = written_at + device.hold_s
            self._lines_free_at = lines_clear_at + device.rest_s
            return written_at, True
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
            return time.perf_counter(), False

    def _reconnect(self) -> None:
        now = time.perf_counter()
        if now < self._next_reconnect:
            raise DeviceError("the marker port is still lost")
        self._next_reconnect = now + RECONNECT_EVERY_S
        self.device.reopen()
        self._lost = False
        self.reconnects += 1
        log.warning("The marker port works again (reconnected); later markers reach the recorder.")
