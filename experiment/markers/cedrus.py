"""``cedrus``: Cedrus StimTracker and c-pod over their serial XID commands.

On opening: ``_c1`` asks the box to identify itself (it answers ``_xid`` and a mode digit;
no answer means this is not an XID device), then ``mp`` with the pulse duration as 4-byte
little-endian milliseconds sets how long lines stay up. Each code is ``mh`` with a 2-byte
little-endian line mask; the box lowers the lines itself when the pulse ends.
(Cedrus' own pyxid2 talks to the same commands through the FTDI D2XX driver; the virtual COM
port the FTDI chip also provides is enough for markers.)
"""

from __future__ import annotations

import struct

from experiment.errors import DeviceError
from experiment.markers.serialport import SerialMarkerDevice


class CedrusDevice(SerialMarkerDevice):
    name = "cedrus"
    default_baudrate = 115200
    needs_clear = False

    def __init__(self, port: str | None, baudrate: int | None = None, pulse_ms: float = 10.0) -> None:
        self.pulse_ms = int(round(pulse_ms))
        self.identity = ""
        super().__init__(port, baudrate=baudrate, pulse_ms=pulse_ms)

    def encode(self, code: int) -> bytes:
        return b"mh" + struct.pack("<H", code)

    def on_open(self) -> None:
        self._serial.reset_input_buffer()
        self.write(b"_c1")
        answer = self._serial.read(5)
        if not answer.startswith(b"_xid"):
            raise DeviceError(
                f"The device on {self.port} did not answer as a Cedrus XID box (got {answer!r}): "
                f"check the port, or choose the marker protocol that matches the box."
            )
        self.identity = answer.decode("ascii", "replace")
        self.write(b"mp" + struct.pack("<I", self.pulse_ms))

    def describe(self) -> dict:
        return super().describe() | {"xid": self.identity, "pulse_ms": self.pulse_ms}
