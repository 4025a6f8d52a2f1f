"""``brainproducts``: one raw byte per code, held for the pulse width, then 0.

Drives the Brain Products TriggerBox (a virtual COM port; the baud rate is ignored), plain
Arduino/Teensy TTL boxes and the Neurospec MMBT-S in S mode: each sets its output lines to
the byte it receives and holds them until the next byte. Recorders see an event on a change
of the lines, so every code is followed by 0 after the pulse width (10 ms is two samples
even at 200 Hz) - otherwise the same code twice in a row would be one event.

Opening an Arduino Uno resets it: wait about 2 s before the first code (the session's
welcome screen gives it that time).
"""

from __future__ import annotations

from experiment.markers.serialport import SerialMarkerDevice


class RawByteDevice(SerialMarkerDevice):
    name = "brainproducts"
