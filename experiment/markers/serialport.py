"""What every serial trigger box shares: opening by name, URL or USB id, writing, faults.

Device modules subclass :class:`SerialMarkerDevice` and say only what their box expects:
the bytes for a code, the bytes that clear the lines, and what to send when the port opens.
"""

from __future__ import annotations

import functools
import operator
import os
import time
from pathlib import Path

import serial

from experiment.errors import DeviceError
from experiment.markers.device import WriteWindow
from experiment.markers.ports import list_ports, resolve_port


class SerialMarkerDevice:
    """A trigger box on a serial port (a USB virtual COM port, or a pyserial URL).

    Parameters
    ----------
    port : str
        ``/dev/ttyUSB0``, ``COM3``, a pyserial URL (``loop://``) or ``usb:VID:PID``.
    baudrate : int or None
        None: the box's own default (:attr:`default_baudrate`).
    pulse_ms : float
        How long each code is held.
    """

    name = "serial"
    default_baudrate = 115200
    needs_clear = True
    box_pulse_s: float | None = None  # set by boxes whose pulse length is fixed by the box

    def __init__(self, port: str | None, baudrate: int | None = None, pulse_ms: float = 10.0) -> None:
        if not port:
            raise DeviceError(
                f"The marker protocol '{self.name}' needs a port: give --marker-port (for example "
                f"/dev/ttyUSB0 or COM3) or [markers] port in the protocol file. Ports found: {_ports_text()}."
            )
        self.requested_port = port
        self.port = resolve_port(port)
        self.baudrate = baudrate or self.default_baudrate
        self.hold_s = self.box_pulse_s or pulse_ms / 1000.0
        self.rest_s = pulse_ms / 1000.0
        self._serial = self._open()
        self.usb_identity = self._usb_identity()

    # --- what a box module says -----------------------------------------------------------
    def encode(self, code: int) -> bytes:
        return bytes((code,))

    def clear_bytes(self) -> bytes:
        return b"\x00"

    def on_open(self) -> None:
        """Bring a freshly opened box to a known state (default: clear its lines)."""
        self.write(self.clear_bytes())

    # --- shared machinery -------------------------------------------------------------------
    def _open(self) -> serial.SerialBase:
        try:
            handle = serial.serial_for_url(
                self.port, baudrate=self.baudrate, timeout=1.0, write_timeout=1.0, exclusive=True
            )
        except (serial.SerialException, ValueError, OSError) as err:
            raise DeviceError(
                f"Cannot open the marker port {self.port} ({_reason(err)}): check the cable, that no other "
                f"program holds the port, and the port name. Ports found: {_ports_text()}."
            ) from None
        self._serial = handle
        try:
            self.on_open()
        except DeviceError:
            handle.close()
            raise
        return handle

    def write(self, data: bytes) -> None:
        try:
            if data:
                self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as err:
            raise DeviceError(f"The marker port {self.port} stopped working ({_reason(err)}).") from None

    def set_code(self, code: int) -> WriteWindow:
        if not 1 <= code <= 255:
            raise ValueError(f"marker code {code} is outside 1-255")
        data = self.encode(code)
        fd = getattr(self._serial, "fd", None)  # a real port on POSIX; URL handlers have none
        if fd is None:
            start_s = time.perf_counter()
            self.write(data)
            return WriteWindow(start_s, time.perf_counter())
        try:
            start_s, sent, end_s = _clocked_write(fd, data)
        except OSError as err:
            raise DeviceError(f"The marker port {self.port} stopped working ({_reason(err)}).") from None
        self.write(data[sent:])  # the rest of a partial write (none in practice), and the drain
        return WriteWindow(start_s, end_s)

    def clear(self) -> None:
        if self.needs_clear:
            self.write(self.clear_bytes())

    def reopen(self) -> None:
        try:
            self._serial.close()
        except (serial.SerialException, OSError):
            pass
        self.port = resolve_port(self.requested_port)
        now = self._usb_identity()
        if self.usb_identity is not None and now is not None and now != self.usb_identity:
            # Linux hands a USB serial device the lowest free ttyUSB number: another adapter
            # plugged in while the box was out can answer under the box's name.
            raise DeviceError(
                f"Another USB device now answers at {self.port} ({_usb_text(now)}), not the trigger box "
                f"the session opened ({_usb_text(self.usb_identity)}): plug the trigger box back in."
            )
        self._open()

    def _usb_identity(self) -> tuple[int, int | None, str] | None:
        """The USB device behind the port (vendor id, product id, serial number); None where the
        port is not a USB one (a built-in COM port, a pty, a pyserial URL)."""
        for port in list_ports():
            if port.vid is not None and _device_file(port.device) == _device_file(self.port):
                return port.vid, port.pid, port.serial_number
        return None

    def describe(self) -> dict:
        described = {
            "protocol": self.name,
            "port": self.port,
            "baudrate": self.baudrate,
            "hold_ms": round(self.hold_s * 1000.0, 3),
            "rest_ms": round(self.rest_s * 1000.0, 3),
        }
        if self.usb_identity is not None:  # which box it was, by its serial number
            described["usb"] = _usb_text(self.usb_identity)
        return described

    def close(self) -> None:
        try:
            if self._serial.is_open and self.needs_clear:
                self.write(self.clear_bytes())
        except DeviceError:
            pass  # closing a lost port: nothing more to clear
        finally:
            self._serial.close()


def _clocked_write(fd: int, data: bytes) -> tuple[float, int, float]:
    """``os.write(fd, data)`` between two clock readings: (before, bytes written, after).

    The three calls run one after another inside the interpreter's C code, with no Python step
    between them: at a Python step another thread may take the interpreter, and the write would
    wait for it (up to the switch interval and beyond) after its time was taken.
    """
    clock = time.perf_counter
    before, sent, after = map(operator.call, (clock, functools.partial(os.write, fd, data), clock))
    return before, sent, after


def _reason(err: Exception) -> str:
    text = str(err).strip()
    return text.split(": ", 1)[-1] if text else type(err).__name__


def _device_file(port: str) -> str:
    """The device a port name is, links followed (/dev/serial/by-id/... names a /dev/ttyUSB);
    a COM name or a pyserial URL as it is."""
    return str(Path(port).resolve()) if port.startswith("/") else port


def _usb_text(identity: tuple[int, int | None, str]) -> str:
    vid, pid, serial_number = identity
    return f"USB {vid:04x}:{(pid or 0):04x}, serial number {serial_number or 'none'}"


def _ports_text() -> str:
    ports = [port.device for port in list_ports()]
    return ", ".join(ports) if ports else "none"
