"""The interface every marker device implements, and the registry that opens one by name.

A device does two things: put a code on the recorder's lines (``set_code``) and, for boxes
that hold a code until told otherwise, return the lines to 0 (``clear``). The timing between
the two - and between markers - is the :class:`~experiment.markers.sender.MarkerSender`'s job,
done on its own thread, so a device never sleeps.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class WriteWindow(NamedTuple):
    """When a code reached the operating system: after ``start_s`` and before ``end_s``
    (``time.perf_counter``). ``start_s`` is the marker's logged time; the window's length bounds
    how far off that can be (normally microseconds; longer when the thread lost the CPU)."""

    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    @classmethod
    def now(cls) -> WriteWindow:
        """This moment, for a code that reached no device (none attached, or the port lost)."""
        moment = time.perf_counter()
        return cls(moment, moment)


class MarkerDevice(Protocol):
    """A device that turns a code (1-255) into an event on the recorder.

    Attributes
    ----------
    name : str
        The protocol name (``brainproducts``, ``bbtk``, ...).
    hold_s : float
        How long a code stays on the lines (until :meth:`clear`, or until the box drops it).
    rest_s : float
        How long the lines stay at 0 before the next code, so the recorder samples the 0 and
        sees two codes as two events.
    needs_clear : bool
        Whether :meth:`clear` must be called after ``hold_s`` (False for boxes that clear
        their lines themselves).
    """

    name: str
    hold_s: float
    rest_s: float
    needs_clear: bool

    def set_code(self, code: int) -> WriteWindow:
        """Write ``code``; return the clock readings just before and just after the write.

        Raises :class:`~experiment.errors.DeviceError` when it could not be written.
        """
        ...

    def clear(self) -> None: ...

    def reopen(self) -> None:
        """Try to open the device again after a fault; raise DeviceError if it is still gone."""
        ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DeviceKind:
    module: str
    class_name: str
    serial: bool  # written through a serial port (opened with port, baudrate and pulse length)


# Every marker protocol by the name protocol files and --marker-protocol use.
DEVICES = {
    "none": DeviceKind("experiment.markers.null", "NullDevice", serial=False),
    "brainproducts": DeviceKind("experiment.markers.brainproducts", "RawByteDevice", serial=True),
    "bbtk": DeviceKind("experiment.markers.bbtk", "BbtkDevice", serial=True),
    "mmbts-p": DeviceKind("experiment.markers.mmbts", "MmbtsPulseDevice", serial=True),
    "cedrus": DeviceKind("experiment.markers.cedrus", "CedrusDevice", serial=True),
    "lsl": DeviceKind("experiment.markers.lsl", "LslDevice", serial=False),
}
PROTOCOLS = tuple(DEVICES)
SERIAL_PROTOCOLS = tuple(name for name, kind in DEVICES.items() if kind.serial)


def choose_device(
    protocol: str | None, port: str | None, file_protocol: str, file_port: str | None, protocol_file: object = None
) -> tuple[str, str | None]:
    """The marker protocol and port a session uses: the command line's, else the protocol file's.

    A port with a protocol that sends nothing through it (``none``, ``lsl``) is refused: a
    technician who names a port expects markers there, and a session that silently sends
    none costs the recording its alignment.
    """
    chosen, chosen_port = protocol or file_protocol, port or file_port
    if chosen_port and chosen not in SERIAL_PROTOCOLS:
        from experiment.errors import ConfigError

        where = "was given" if port else f"is set in {protocol_file} ([markers] port)"
        how = "add --marker-protocol NAME" if port or protocol else f"set [markers] protocol in {protocol_file}"
        raise ConfigError(
            f"The marker port {chosen_port} {where} but the marker protocol is '{chosen}', which sends nothing "
            f"to a port: {how} with one of {', '.join(SERIAL_PROTOCOLS)}{_box_hint(chosen_port)}, "
            f"or leave the port out to run without a recorder."
        )
    return chosen, chosen_port


def _box_hint(port: str) -> str:
    """``' (the box on PORT looks like ...: NAME)'`` when the port's USB identity is a known box."""
    from pathlib import Path

    from experiment.markers.ports import list_ports

    try:
        wanted = Path(port).resolve()
        box = next((p.box for p in list_ports() if Path(p.device).resolve() == wanted and p.box), None)
    except Exception:  # noqa: BLE001 - a hint only; the refusal stands without it
        return ""
    if box is None or box.protocol == "?":
        return ""
    return f" (the box on {port} looks like a {box.name}: {box.protocol})"


def open_device(protocol: str, port: str | None, baudrate: int | None, pulse_ms: float) -> MarkerDevice:
    """Open the device for ``protocol`` (one of :data:`PROTOCOLS`).

    ``baudrate`` None means the device's own default.
    """
    kind = DEVICES.get(protocol)
    if kind is None:
        raise ValueError(f"unknown marker protocol {protocol!r}")
    # Imported only now, so that choosing one device never imports another's dependencies.
    device_class = getattr(importlib.import_module(kind.module), kind.class_name)
    if not kind.serial:
        return device_class()
    return device_class(port, baudrate=baudrate, pulse_ms=pulse_ms)


def pulse_once(device: MarkerDevice, code: int) -> float:
    """Write ``code``, hold it, clear the lines; return when it was written (perf_counter)."""
    import time

    written = device.set_code(code)
    time.sleep(device.hold_s)
    device.clear()
    return written.start_s


def open_for_session(protocol: str, port: str | None, markers) -> tuple[MarkerDevice, str | None]:
    """Open the session's device with the protocol file's ``[markers]`` settings, and on a serial
    port lower an FTDI chip's latency timer; returns the device and the warning for the
    technician when the timer could not be lowered."""
    from experiment.markers.ports import lower_ftdi_latency

    device = open_device(protocol, port, markers.baudrate, markers.pulse_ms)
    return device, lower_ftdi_latency(device.port) if DEVICES[protocol].serial else None
