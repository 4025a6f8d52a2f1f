"""``mmbts-p``: the Neurospec MMBT-S in P (pulse) mode.

An Arduino-based box (``/dev/ttyACM*``, ``COMx``) at a fixed 9600 baud; opening it at 1200 baud
would put it into its bootloader, so the rate is never taken from elsewhere. In P mode the
box clears its lines by itself 8 ms after each byte: only the code byte is written, and codes
are never sent closer than 8 ms apart (the box would merge them). In S mode it holds the
byte like a TriggerBox: use ``brainproducts`` for that.
"""

from __future__ import annotations

from experiment.markers.serialport import SerialMarkerDevice

BOX_PULSE_S = 0.008


class MmbtsPulseDevice(SerialMarkerDevice):
    name = "mmbts-p"
    default_baudrate = 9600
    needs_clear = False
    box_pulse_s = BOX_PULSE_S

    def __init__(self, port: str | None, baudrate: int | None = None, pulse_ms: float = 10.0) -> None:
        super().__init__(port, baudrate=9600, pulse_ms=pulse_ms)  # fixed: see the module note

    def on_open(self) -> None:
        pass  # the box starts with its lines clear and clears them itself
