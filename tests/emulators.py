"""Trigger-box emulators: read the far end of a real tty pair, timestamp every byte, answer
where the real box answers, and decode the stream into pulses on the box's output lines."""

from __future__ import annotations

import os
import select
import struct
import threading
import time
from dataclasses import dataclass

MMBTS_PULSE_S = 0.008
HARNESS_FIFO_PRIORITY = 20  # above the program's marker thread (10): the harness is never the late one


def real_time(pid: int = 0, priority: int = HARNESS_FIFO_PRIORITY) -> None:
    """Run ``pid`` (0: the calling thread) at SCHED_FIFO where permitted; else leave it be, and
    timing measurements may then include its scheduling delay."""
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, PermissionError, OSError):
        pass


@dataclass(frozen=True)
class Pulse:
    code: int
    start: float  # perf_counter time the lines went to the code
    end: float | None  # when they went back to 0 (None: never)


class BoxEmulator:
    """Reads (and for XID boxes answers) the far end of a tty."""

    def __init__(self, path: str, protocol: str) -> None:
        self.protocol = protocol
        self.received: list[tuple[float, int]] = []
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # A hardware box reacts at once; give the emulator's reader real-time priority where
        # allowed, so a busy 2-core machine does not make it late instead of the program.
        real_time()
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 4096)
            except OSError:
                return
            now = time.perf_counter()
            self.received += [(now, b) for b in data]
            if self.protocol == "cedrus":
                pending += data
                if b"_c1" in pending:  # the XID identify command: answer like a StimTracker
                    os.write(self._fd, b"_xid0")
                    pending = pending.split(b"_c1", 1)[1]

    def settled(self, settle_s: float = 0.3) -> list[tuple[float, int]]:
        """Every (perf_counter, byte) received, once the line has been quiet ``settle_s``."""
        time.sleep(settle_s)
        return list(self.received)

    def raw(self, settle_s: float = 0.3) -> bytes:
        return bytes(b for _, b in self.settled(settle_s))

    def pulses(self, settle_s: float = 0.3) -> list[Pulse]:
        return decode(self.protocol, self.settled(settle_s))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        os.close(self._fd)


def _states_to_pulses(states: list[tuple[float, int]]) -> list[Pulse]:
    pulses: list[Pulse] = []
    current: tuple[int, float] | None = None
    for t, state in states:
        if current is not None and state != current[0]:
            pulses.append(Pulse(current[0], current[1], t))
            current = None
        if state and current is None:
            current = (state, t)
    if current is not None:
        pulses.append(Pulse(current[0], current[1], None))
    return pulses


def decode(protocol: str, received: list[tuple[float, int]]) -> list[Pulse]:
    """The pulses the box would put on its output lines for this byte stream."""
    if protocol == "brainproducts":
        return _states_to_pulses(received)
    if protocol == "mmbts-p":  # each byte raises the lines; the box lowers them 8 ms later
        return [Pulse(b, t, t + MMBTS_PULSE_S) for t, b in received if b]
    if protocol == "bbtk":
        text = bytes(b for _, b in received)
        assert text.startswith(b"RR"), text[:10]
        states = []
        for i in range(2, len(text) - 1, 2):
            pair = text[i : i + 2]
            assert pair == pair.upper() and len(pair) == 2, pair
            states.append((received[i + 1][0], int(pair, 16)))
        return _states_to_pulses(states)
    if protocol == "cedrus":
        data = bytes(b for _, b in received)
        i, pulse_s, pulses = 0, None, []
        while i < len(data):
            if data[i : i + 3] == b"_c1":
                i += 3
            elif data[i : i + 2] == b"mp":
                pulse_s = struct.unpack("<I", data[i + 2 : i + 6])[0] / 1000
                i += 6
            elif data[i : i + 2] == b"mh":
                mask = struct.unpack("<H", data[i + 2 : i + 4])[0]
                t = received[i + 3][0]
                assert pulse_s is not None, "mh before mp: the pulse length was never set"
                pulses.append(Pulse(mask, t, t + pulse_s))
                i += 4
            else:
                raise AssertionError(f"unexpected XID bytes {data[i : i + 6]!r}")
        return pulses
    raise ValueError(protocol)
