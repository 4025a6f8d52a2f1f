"""Finding the trigger box: serial ports with their USB ids, known boxes, FTDI latency.

``python -m experiment ports`` prints :func:`describe_ports`. A protocol file or the command
line can name a box by USB id instead of a port name: ``usb:0403:6001`` - useful because
``COM`` numbers and ``ttyUSB`` numbers change when a box moves to another socket.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import serial.tools.list_ports

from experiment.errors import DeviceError

USB_ID = re.compile(r"^usb:([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$")


@dataclass(frozen=True)
class KnownBox:
    name: str
    protocol: str
    vid: int
    pid: int | None = None  # None: any product of this vendor
    hint: str = ""  # text in the serial number or description that tells boxes on one chip apart


# Boxes seen in labs. Several are built on the same FTDI chip (0403:6001); the serial number
# or description then tells them apart, and a plain FTDI adapter is reported as such.
KNOWN_BOXES = (
    KnownBox("Brain Products TriggerBox", "brainproducts", 0x1103, 0x0021),
    KnownBox("Black Box ToolKit USB TTL Module", "bbtk", 0x0403, 0x6001, "BBTKUSBTTL"),
    KnownBox("Cedrus StimTracker / c-pod", "cedrus", 0x0403, 0x6001, "STIMTRACKER"),
    KnownBox("Cedrus StimTracker / c-pod", "cedrus", 0x0403, 0x6001, "C-POD"),
    KnownBox("Cedrus StimTracker / c-pod", "cedrus", 0x0403, 0x6001, "CEDRUS"),
    KnownBox("Neurospec MMBT-S", "mmbts-p or brainproducts (S mode)", 0x2341, None, "MMBT"),
    KnownBox("Arduino", "brainproducts", 0x2341),
    KnownBox("Arduino", "brainproducts", 0x2A03),
    KnownBox("Teensy", "brainproducts", 0x16C0, 0x0483),
    KnownBox("FTDI USB serial adapter (unknown box)", "?", 0x0403, 0x6001),
)


@dataclass(frozen=True)
class PortInfo:
    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str
    box: KnownBox | None

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None else ""


def identify(vid: int | None, pid: int | None, text: str) -> KnownBox | None:
    """The first known box matching the USB ids (and hint, where the chip is shared)."""
    text = text.upper()
    for box in KNOWN_BOXES:
        if vid == box.vid and (box.pid is None or pid == box.pid) and (not box.hint or box.hint in text):
            return box
    return None


def list_ports() -> list[PortInfo]:
    ports = []
    for port in serial.tools.list_ports.comports():
        text = f"{port.serial_number or ''} {port.description or ''} {port.product or ''}"
        ports.append(
            PortInfo(
                port.device,
                port.description or "",
                port.vid,
                port.pid,
                port.serial_number or "",
                identify(port.vid, port.pid, text),
            )
        )
    return sorted(ports, key=lambda p: p.device)


def resolve_port(port: str) -> str:
    """Turn ``usb:VID:PID`` into the one port with that id; other names pass through."""
    match = USB_ID.match(port)
    if not match:
        return port
    vid, pid = int(match.group(1), 16), int(match.group(2), 16)
    found = [p.device for p in list_ports() if p.vid == vid and p.pid == pid]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DeviceError(
            f"No serial port has the USB id {vid:04x}:{pid:04x}: plug the trigger box in, "
            f"or run 'python -m experiment ports' to see what is connected."
        )
    raise DeviceError(
        f"Several ports have the USB id {vid:04x}:{pid:04x} ({', '.join(found)}): "
        f"name the port itself with --marker-port."
    )


def describe_ports() -> str:
    ports = list_ports()
    if not ports:
        return "No serial ports found. Plug the trigger box in (and on Linux, check the user is in group dialout)."
    lines = []
    for p in ports:
        box = f"{p.box.name} -> --marker-protocol {p.box.protocol}" if p.box else "not a known trigger box"
        usb = f"usb:{p.usb_id}" if p.usb_id else "(not USB)"
        lines.append(f"{p.device:<16} {usb:<15} {p.description[:40]:<40} {box}")
    return "\n".join(lines)


def lower_ftdi_latency(port: str, sysfs: Path | None = None) -> str | None:
    """On Linux, set an FTDI adapter's latency timer to 1 ms; say what to do when not allowed.

    FTDI chips hold back small writes for up to the latency timer (16 ms by default), which
    would delay every marker. Returns a warning for the technician, or None when all is well.
    """
    if not sys.platform.startswith("linux"):
        return None
    sysfs = sysfs or Path("/sys/bus/usb-serial/devices")  # where Linux lists USB serial adapters
    name = Path(port).resolve().name if port.startswith("/dev/") else ""
    timer = sysfs / name / "latency_timer"
    if not name or not timer.exists():
        return None  # not an FTDI-style usb-serial device
    try:
        current = int(timer.read_text().strip())
    except (OSError, ValueError) as err:
        return f"Could not read the FTDI latency timer of {port} ({err}): markers may arrive up to 16 ms late."
    if current <= 1:
        return None
    try:
        timer.write_text("1\n")
    except PermissionError:
        return (
            f"The FTDI latency timer of {port} is {current} ms, so markers can arrive up to {current} ms late: "
            f"run 'echo 1 | sudo tee {timer}' (or add a udev rule) before sessions."
        )
    except OSError as err:
        return f"Could not set the FTDI latency timer of {port} ({err}): markers can arrive up to {current} ms late."
    return None
