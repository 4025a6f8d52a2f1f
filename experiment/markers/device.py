"""The interface every marker device implements, and the registry that opens one by name."""

from __future__ import annotations

from typing import Protocol


class MarkerDevice(Protocol):
    """Something that turns a code (1-255) into an event on the recorder.

    ``pulse`` returns the ``time.perf_counter()`` reading taken when the code was written,
    and raises :class:`~experiment.errors.DeviceError` when it could not be written.
    """

    name: str

    def pulse(self, code: int) -> float: ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


def open_device(protocol: str, port: str | None, baudrate: int, pulse_ms: float) -> MarkerDevice:
    """Open the device for ``protocol`` ("none" or "brainproducts")."""
    # Imported here so that choosing "none" never imports pyserial's port machinery.
    if protocol == "none":
        from experiment.markers.null import NullDevice

        return NullDevice()
    if protocol == "brainproducts":
        from experiment.markers.brainproducts import RawByteDevice

        return RawByteDevice(port, baudrate=baudrate, pulse_ms=pulse_ms)
    raise ValueError(f"unknown marker protocol {protocol!r}")
