"""``brainproducts``: one raw byte per code, held for the pulse width, then 0.

Drives the Brain Products TriggerBox (a virtual COM port; baud rate ignored), plain
Arduino/Teensy TTL boxes and the Neurospec MMBT-S in S mode: each sets its output lines to
the byte it receives and holds them until the next byte. Recorders see an event on a change
of the lines, so every code is followed by 0 after ``pulse_ms`` (10 ms is two samples even
at 200 Hz) - otherwise the same code twice in a row would be one event.
"""

from __future__ import annotations

import time

import serial
import serial.tools.list_ports

from experiment.errors import DeviceError

CLEAR = b"\x00"


def available_ports() -> list[str]:
    return sorted(port.device for port in serial.tools.list_ports.comports())


class RawByteDevice:
    """A serial trigger box that takes the code as one byte.

    Parameters
    ----------
    port : str
        A device path (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL (``loop://``).
    baudrate : int
        Ignored by USB CDC boxes, needed by Arduino-style ones.
    pulse_ms : float
        How long each code is held before the lines return to 0.
    """

    name = "brainproducts"

    def __init__(self, port: str | None, baudrate: int = 115200, pulse_ms: float = 10.0) -> None:
        if not port:
            raise DeviceError(
                "The marker protocol 'brainproducts' needs a port: give --marker-port (for example "
                f"/dev/ttyUSB0 or COM3) or [markers] port in the protocol file. Ports found: {_ports_text()}."
            )
        self.port = port
        self.pulse_s = pulse_ms / 1000.0
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, write_timeout=1.0, exclusive=True)
        except (serial.SerialException, ValueError, OSError) as err:
            raise DeviceError(
                f"Cannot open the marker port {port} ({_reason(err)}): check the cable and the port name. "
                f"Ports found: {_ports_text()}."
            ) from None
        self._write(CLEAR)  # start from known-clear lines

    def _write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as err:
            raise DeviceError(f"The marker port {self.port} stopped working ({_reason(err)}).") from None

    def pulse(self, code: int) -> float:
        if not 1 <= code <= 255:
            raise ValueError(f"marker code {code} is outside 1-255")
        written_at = time.perf_counter()
        self._write(bytes((code,)))
        time.sleep(self.pulse_s)
        self._write(CLEAR)
        return written_at

    def describe(self) -> dict:
        return {"protocol": self.name, "port": self.port, "pulse_ms": self.pulse_s * 1000.0}

    def close(self) -> None:
        try:
            if self._serial.is_open:
                self._write(CLEAR)
        except DeviceError:
            pass  # closing a lost port: nothing more to clear
        finally:
            self._serial.close()


def _reason(err: Exception) -> str:
    text = str(err).strip()
    return text.split(": ", 1)[-1] if text else type(err).__name__


def _ports_text() -> str:
    ports = available_ports()
    return ", ".join(ports) if ports else "none"
