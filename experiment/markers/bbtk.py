"""``bbtk``: the Black Box ToolKit USB TTL Module.

115200 baud 8N1. ``RR`` once when the port opens resets the module; then each code is two
upper-case hexadecimal characters (``"1F"`` for 31), no newline, and ``"00"`` clears the lines.
Decimal text would be misread ("10" is 0x10 = 16) and a stray newline desynchronises it, so
only these exact bytes are ever written.
"""

from __future__ import annotations

from experiment.markers.serialport import SerialMarkerDevice


class BbtkDevice(SerialMarkerDevice):
    name = "bbtk"
    default_baudrate = 115200

    def encode(self, code: int) -> bytes:
        return f"{code:02X}".encode("ascii")

    def clear_bytes(self) -> bytes:
        return b"00"

    def on_open(self) -> None:
        self.write(b"RR")
