"""``lsl``: a Lab Streaming Layer marker stream, alone or alongside a serial box.

One irregular-rate string channel named after the study ("Markers" type), as LabRecorder
expects; each sample is the event's label (``baseline_start``), stamped with the moment the
code was written, and the stream's description lists every label's code. Labs recording with
LabRecorder into XDF get the same events as the recorder's digital input.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping

from experiment.errors import DeviceError
from experiment.markers.null import NullDevice

STREAM_NAME = "SelfCompassionMarkers"
# Starts the source_id of every outlet this program publishes, so that a reader of the recorder's
# marker stream can tell our own labels from the codes a recorder saw.
OWN_SOURCE_PREFIX = "selfcompassion-runner:"


class LslOutlet:
    """Pushes labelled markers to an LSL outlet with the time they were written."""

    def __init__(self, codes: Mapping[str, int] | None = None, name: str = STREAM_NAME) -> None:
        try:
            import pylsl
        except (ImportError, RuntimeError) as err:  # RuntimeError: liblsl missing
            raise DeviceError(
                f"Lab Streaming Layer is not available ({err}): reinstall the project's requirements."
            ) from None
        self._pylsl = pylsl
        info = pylsl.StreamInfo(
            name,
            "Markers",
            1,
            pylsl.IRREGULAR_RATE,
            pylsl.cf_string,
            f"{OWN_SOURCE_PREFIX}{name}@{socket.gethostname()}",
        )
        table = info.desc().append_child("codes")
        for label, code in (codes or {}).items():
            table.append_child_value(label, str(code))
        self._outlet = pylsl.StreamOutlet(info)
        self.name = name

    def push(self, label: str, written_at_perf: float) -> None:
        # LSL stamps on its own clock: carry the write time over from perf_counter.
        stamp = self._pylsl.local_clock() - (time.perf_counter() - written_at_perf)
        self._outlet.push_sample([label], stamp)

    def close(self) -> None:
        self._outlet = None


class LslDevice(NullDevice):
    """``--marker-protocol lsl``: no box, only the LSL stream (the sender pushes the labels)."""

    name = "lsl"

    def describe(self) -> dict:
        return {"protocol": self.name, "stream": STREAM_NAME}
