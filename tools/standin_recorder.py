"""A stand-in physiological recorder: streams ECG, skin conductance and a digital trigger channel
over Lab Streaming Layer, as AcqKnowledge or BrainVision's RDA connector do, for the tests and
for trying the recorder checks without a recorder.

    .venv/bin/python tools/standin_recorder.py --name StandIn [--trigger-port PTY] [--rate 1000]
        [--marker-stream] [--fault flat-ecg|flat-eda|no-trigger|slow-rate|stop-after=S|drop-code=N]

- ECG: lead II of MIT-BIH record 100 (tests/data/ecg, 360 Hz, resampled), looped, in mV.
- EDA: a skin-conductance level of about 4 µS that drifts, with a response every ~20 s, in µS.
- Digital: what a trigger box on ``--trigger-port`` puts on the lines (the far end of the pty the
  session writes to, read as a ``brainproducts`` box: each byte is the lines' new state), held
  from sample to sample as a recorder's trigger input is sampled.
- ``--marker-stream``: also a ``NAME-Markers`` stream with each code as the recorder saw it.
- Faults on request: a flat ECG or EDA, no trigger cable (codes never reach the lines), a stream
  delivering 5% fewer samples than its nominal rate, streaming stopping after S seconds, the N-th
  code dropped.

Prints ``streaming NAME`` once the outlet is up. Runs at real-time priority where allowed (a
stand-in for hardware must not be starved by the program it checks). Ctrl+C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "tests" / "data" / "ecg" / "mitdb-100-20min"
CHUNK_S = 0.02
FIFO_PRIORITY = 20


def real_time() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FIFO_PRIORITY))
    except (AttributeError, PermissionError, OSError):
        pass  # not Linux, or not permitted: it runs at normal priority


def ecg_mv(rate_hz: int) -> np.ndarray:
    import wfdb
    from scipy.signal import resample_poly

    record = wfdb.rdrecord(str(EXCERPT), channels=[0])
    return resample_poly(record.p_signal[:, 0], rate_hz, int(record.fs))


def eda_us(rate_hz: int, seconds: float = 600.0) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    level = 4.0 + 0.3 * np.sin(2 * np.pi * t / 300)
    for onset in np.arange(5.0, seconds, 20.0):  # a skin-conductance response every 20 s
        after = np.clip(t - onset, 0, None)
        level += 0.15 * (1 - np.exp(-after / 0.7)) * np.exp(-after / 4.0)
    return level


class TriggerInput:
    """The recorder's trigger input: the lines a box on the pty's far end drives, each change
    stamped (on LSL's clock) the moment it arrives, by a real-time reader thread."""

    def __init__(self, port: str | None, drop_code: int | None, connected: bool, clock) -> None:
        self.changes: list[tuple[float, int]] = []  # (local_clock, the lines' new state)
        self.state = 0
        self._codes = 0
        self._drop_code = drop_code
        self._connected = connected
        self._clock = clock
        if port:
            self._fd = os.open(port, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        real_time()
        while True:
            select.select([self._fd], [], [])
            try:
                data = os.read(self._fd, 4096)
            except OSError:
                return
            now = self._clock()
            for byte in data:
                if byte:
                    self._codes += 1
                    if self._codes == self._drop_code or not self._connected:
                        continue  # dropped, or the cable is not in the recorder's socket
                self.changes.append((now, byte))

    def lines(self, stamps: np.ndarray) -> np.ndarray:
        """The lines' state at each sample stamped ``stamps`` (changes up to the last one applied).

        Every state the box set is held for at least one sample. The pty hop can hand a code and
        its clear over in one read (delayed past the pulse width; measured up to 55 ms on a busy
        machine), where a real box on a cable would have held the code for its width: without
        this the two would land on one sample and the code would vanish from the recording."""
        states = np.full(stamps.size, self.state, dtype=np.float64)
        free = 0  # the first sample no change in this chunk has claimed
        while self.changes and self.changes[0][0] <= stamps[-1] and free < stamps.size:
            at, self.state = self.changes.pop(0)
            index = max(int(np.searchsorted(stamps, at)), free)
            states[index:] = self.state
            free = index + 1
        return states


def build_outlet(pylsl, name: str, rate_hz: int):
    info = pylsl.StreamInfo(name, "Physio", 3, rate_hz, pylsl.cf_float32, f"standin-{os.getpid()}")
    channels = info.desc().append_child("channels")
    for label, unit in (("ECG", "mV"), ("EDA", "uS"), ("Digital", "code")):
        channel = channels.append_child("channel")
        channel.append_child_value("label", label)
        channel.append_child_value("unit", unit)
    return pylsl.StreamOutlet(info, chunk_size=int(rate_hz * CHUNK_S))


def stream(args: argparse.Namespace) -> None:
    import pylsl

    rate = args.rate
    fault, _, value = (args.fault or "").partition("=")
    ecg, eda = ecg_mv(rate), eda_us(rate)
    if fault == "flat-ecg":
        ecg = np.zeros_like(ecg)
    if fault == "flat-eda":
        eda = np.full_like(eda, 4.0)
    trigger = TriggerInput(
        args.trigger_port, int(value) if fault == "drop-code" else None, fault != "no-trigger", pylsl.local_clock
    )
    outlet = build_outlet(pylsl, args.name, rate)
    markers = None
    if args.marker_stream:
        info = pylsl.StreamInfo(f"{args.name}-Markers", "Markers", 1, 0, pylsl.cf_string, f"standin-{os.getpid()}-m")
        markers = pylsl.StreamOutlet(info)
    # A recorder losing samples: it produces (and stamps) 5% fewer than its nominal rate.
    produced_hz = rate * (0.95 if fault == "slow-rate" else 1.0)
    stop_after_s = float(value) if fault == "stop-after" else None
    print(f"streaming {args.name}", flush=True)
    started = pylsl.local_clock()
    sent = 0
    while stop_after_s is None or pylsl.local_clock() - started < stop_after_s:
        time.sleep(CHUNK_S)
        due = int((pylsl.local_clock() - started) * produced_hz)
        if due <= sent:
            continue
        n = np.arange(sent, due)
        stamps = started + n / produced_hz
        before = trigger.state
        digital = trigger.lines(stamps)
        if markers is not None:
            for i in np.flatnonzero(np.diff(np.r_[before, digital]) != 0):
                if digital[i]:
                    markers.push_sample([str(int(digital[i]))], stamps[i])
        chunk = np.column_stack([ecg[n % ecg.size], eda[n % eda.size], digital]).astype(np.float32)
        outlet.push_chunk(chunk.tolist(), stamps[-1])
        sent = due


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="StandInRecorder")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--trigger-port", help="the far end of the pty the session's trigger box writes to")
    parser.add_argument("--marker-stream", action="store_true")
    parser.add_argument("--fault")
    args = parser.parse_args()
    real_time()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stream(args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
