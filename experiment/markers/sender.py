"""Sends labelled markers through a device and logs each one in events.csv."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from experiment.clock import SessionClock
from experiment.datastore import AppendOnlyCsv
from experiment.errors import DeviceError
from experiment.markers.device import MarkerDevice

log = logging.getLogger(__name__)


class MarkerSender:
    """Looks up a label's code, pulses the device and writes the events.csv row.

    A failed write never stops the session: the row says ``sent_ok`` false, the fault is
    counted and the technician is told in the log and console.
    """

    def __init__(
        self, device: MarkerDevice, codes: Mapping[str, int], clock: SessionClock, events: AppendOnlyCsv
    ) -> None:
        self.device = device
        self.codes = codes
        self.clock = clock
        self.events = events
        self.phase = ""
        self.faults = 0
        self.last: tuple[str, int, bool] | None = None

    def send(self, label: str, detail: str = "") -> bool:
        """Send the code for ``label``; return whether it reached the device."""
        code = self.codes[label]
        try:
            time_s = self.clock.from_perf_counter(self.device.pulse(code))
            sent_ok = True
        except DeviceError as err:
            time_s = self.clock.now()
            sent_ok = False
            self.faults += 1
            log.warning("MARKER NOT SENT: %s (code %d): %s", label, code, err)
        self.events.append(
            {"time_s": time_s, "code": code, "label": label, "phase": self.phase, "sent_ok": sent_ok, "detail": detail}
        )
        self.last = (label, code, sent_ok)
        return sent_ok
