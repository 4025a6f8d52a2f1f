"""Benchmark: marker write-to-arrival latency per protocol, and audio onset marker offset.

    .venv/bin/python tools/bench_markers.py [--markers 1000] [--plays 20] [--relay-writes 2000]

For each serial protocol, 1000 markers go through the real marker thread to one end of a
socat tty pair; an emulator of the box reads the other end and timestamps the moment each
code is complete, and the kernel's own trace (tests/kernel_trace.py, needs root) gives the
moment of each write(). Three figures: logged time -> write() (the program's claim), write()
-> the box (the stand-in cable), and the write window each marker logged (events.csv write_ms:
the claim's own bound), idle and while demo sessions run beside it (on its own
virtual screen and sound server). Then a short sound
is played ``--plays`` times and the audio onset marker's write time is compared with the
player's reported start. Last, the stand-in cable itself: plain 2-byte writes between two
real-time threads through a pty and through a pipe, idle and while demo sessions run one
after another, so the pty's own delays can be told from the program's.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from emulators import decode, real_time  # noqa: E402
from helpers import TtyPair  # noqa: E402
from kernel_trace import DescriptorWatch, WriteTrace  # noqa: E402

from experiment.clock import SessionClock  # noqa: E402
from experiment.datastore import EVENT_COLUMNS, AppendOnlyCsv  # noqa: E402
from experiment.markers import MarkerSender, open_device  # noqa: E402
from experiment.markers.sender import MARKER_THREAD_FIFO_PRIORITY  # noqa: E402
from experiment.playback import open_player  # noqa: E402

PROTOCOLS = ("brainproducts", "bbtk", "mmbts-p", "cedrus")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def marker_latency(protocol: str, n: int, folder: Path) -> tuple[list[float], list[float], list[float]]:
    """(logged time -> the kernel's write, write -> the box's read, the logged write window) of ``n``
    markers, in ms."""
    pair = TtyPair(folder, protocol)
    try:
        return _marker_latency(pair, protocol, n, folder)
    finally:
        pair.close()


def _marker_latency(pair: TtyPair, protocol: str, n: int, folder: Path) -> tuple[list[float], list[float], list[float]]:
    codes = {f"c{c}": c for c in range(1, 256)}
    events = AppendOnlyCsv(folder / "events.csv", EVENT_COLUMNS)
    clock = SessionClock()
    with WriteTrace() as trace:
        port = DescriptorWatch(os.getpid(), pair.near)
        device = open_device(protocol, pair.near, None, 10.0)
        sender = MarkerSender(device, codes, clock, events)
        for i in range(n):
            sender.send(f"c{i % 255 + 1}")
            time.sleep(0.025)  # markers a few frames apart, as in a session
        sender.close()
        device.close()
        writes = trace.writes(os.getpid(), *port.result())
    received = pair.box.settled(0.5)
    with (folder / "events.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    written = [float(row["time_s"]) for row in rows]
    windows = [float(row["write_ms"]) for row in rows]
    byte_write_times = [w.time_s for w in writes for _ in range(w.count)]
    at_box = decode(protocol, received)
    at_write = decode(protocol, [(t, b) for t, (_, b) in zip(byte_write_times, received, strict=True)])
    assert len(at_box) == len(at_write) == len(written) == n, (protocol, len(at_box), len(written))
    lag = [(clock.from_perf_counter(w.start) - logged) * 1000 for w, logged in zip(at_write, written, strict=True)]
    hop = [(b.start - w.start) * 1000 for b, w in zip(at_box, at_write, strict=True)]
    return lag, hop, windows


def tracer_cost(n: int = 20000) -> tuple[float, float]:
    """Median time (µs) of a 1-byte write() to /dev/null without and with the write tracepoint on."""

    def median_write_us() -> float:
        fd = os.open(os.devnull, os.O_WRONLY)
        times = []
        for _ in range(n):
            started = time.perf_counter_ns()
            os.write(fd, b"x")
            times.append(time.perf_counter_ns() - started)
        os.close(fd)
        return statistics.median(times) / 1000

    bare = median_write_us()
    with WriteTrace():
        traced = median_write_us()
    return bare, traced


def audio_onset_offsets(plays: int, folder: Path) -> tuple[list[float], str]:
    rate = 48_000
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate) * 32767).astype(np.int16)[:, None]
    offsets, backend = [], ""
    for i in range(plays):
        player, note = open_player(tone, rate, "auto" if i == 0 else backend, 1.0, None)
        backend = player.backend
        events = AppendOnlyCsv(folder / f"audio{i}.csv", EVENT_COLUMNS)
        clock = SessionClock()
        sender = MarkerSender(open_device("none", None, None, 10.0), {"audio_onset": 42}, clock, events)
        player.start()
        while player.onset_perf_s is None and not player.finished():
            time.sleep(0.001)
        sender.send("audio_onset", at_perf=player.onset_perf_s)
        while not player.finished():
            time.sleep(0.01)
        sender.close()
        player.close()
        written_s = float((folder / f"audio{i}.csv").read_text().splitlines()[1].split(",")[0])
        offsets.append((written_s - clock.from_perf_counter(player.onset_perf_s)) * 1000)
    return offsets, backend


def relay_latency(kind: str, n: int) -> list[float]:
    """Write-to-read latency (ms) of 2-byte writes every 4 ms through a pty or a pipe, writer
    and reader at SCHED_FIFO where allowed: what the cable adds, without the program."""
    if kind == "pty":  # like socat's: the writer has one end, the reader the other
        reader_fd, writer_fd = os.openpty()
        tty.setraw(reader_fd)
        tty.setraw(writer_fd)
    else:
        reader_fd, writer_fd = os.pipe()
    arrivals: list[float] = []

    def read() -> None:
        real_time()
        received = 0
        while received < 2 * n:
            select.select([reader_fd], [], [])
            chunk = os.read(reader_fd, 4096)
            now = time.perf_counter()
            arrivals.extend([now] * (len(chunk) // 2))  # writes late together arrive together
            received += len(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    real_time(priority=MARKER_THREAD_FIFO_PRIORITY)  # the writer stands in for the marker thread
    sent = []
    for _ in range(n):
        time.sleep(0.004)
        sent.append(time.perf_counter())
        os.write(writer_fd, b"1F")
    reader.join()
    os.close(reader_fd)
    os.close(writer_fd)
    return [(a - s) * 1000 for s, a in zip(sent, arrivals, strict=True)]


@contextlib.contextmanager
def demo_sessions_running(folder: Path):
    """Demo autopilot sessions one after another in the background: start-ups, screens,
    audio and files, the load a test suite puts on the machine beside the cable."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            session = subprocess.Popen(
                [sys.executable, str(ROOT / "run_experiment.py"), "--demo", "--autopilot", "--new-run"]
                + ["--participant", "P999", "--data-dir", str(folder)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while session.poll() is None:
                if stop.wait(0.2):
                    session.terminate()
                    session.wait()

    runner = threading.Thread(target=run)
    runner.start()
    try:
        yield
    finally:
        stop.set()
        runner.join()


def print_relay(label: str, n: int) -> None:
    for kind in ("pty", "pipe"):
        latency = relay_latency(kind, n)
        late = sum(x >= 2.0 for x in latency)
        print(
            f"  {label:<22}{kind:<6}{statistics.median(latency):8.3f}{percentile(latency, 99):8.3f}"
            f"{max(latency):8.3f}{late:>10}"
        )


def print_marker_latency(label: str, n: int, folder: Path) -> None:
    for protocol in PROTOCOLS:
        (folder / f"{label}-{protocol}").mkdir()
        lag, hop, windows = marker_latency(protocol, n, folder / f"{label}-{protocol}")
        print(
            f"  {label:<22}{protocol:<14}"
            + "".join(f"{f(x):8.3f}" for x in (lag, hop, windows) for f in (statistics.median, p99, max))
            + f"{min(lag):8.3f}"
        )


def p99(values: list[float]) -> float:
    return percentile(values, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markers", type=int, default=1000)
    parser.add_argument("--plays", type=int, default=20)
    parser.add_argument("--relay-writes", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tools"))
    from virtual_lab import SoundServer, VirtualScreen

    with VirtualScreen() as screen, SoundServer() as sound:  # its own: the demo sessions beside need both
        os.environ.update(screen.env() | sound.env())
        measure(args)


def measure(args: argparse.Namespace) -> None:
    bare_us, traced_us = tracer_cost()
    print(f"The kernel trace's cost: a 1-byte write() takes {bare_us:.2f} µs, {traced_us:.2f} µs traced (median)")
    print(f"Markers, {args.markers} per protocol through the marker thread to a socat tty pair (ms):")
    print(
        f"  {'condition':<22}{'protocol':<14}{'logged time -> kernel write()':<24}{'write() -> box read':<24}"
        f"{'write window (write_ms)':<24}"
    )
    print(f"  {'':<36}" + f"{'median':>8}{'p99':>8}{'worst':>8}" * 3 + f"{'least lag':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        print_marker_latency("idle", args.markers, Path(tmp))
        with demo_sessions_running(Path(tmp) / "demo"):
            print_marker_latency("demo sessions running", args.markers, Path(tmp))
        offsets, backend = audio_onset_offsets(args.plays, Path(tmp))
    print(f"Audio onset marker minus the player's reported start, {args.plays} plays, backend {backend} (ms):")
    print(
        f"  median {statistics.median(offsets):.3f}  p99 {percentile(offsets, 99):.3f}  "
        f"worst {max(offsets, key=abs):.3f}"
    )
    n = args.relay_writes
    print(f"The stand-in cable itself, {n} plain writes each (ms):")
    print(f"  {'condition':<22}{'cable':<6}{'median':>8}{'p99':>8}{'worst':>8}{'>= 2 ms':>10}")
    print_relay("idle", n)
    with tempfile.TemporaryDirectory() as tmp, demo_sessions_running(Path(tmp)):
        print_relay("demo sessions running", n)


if __name__ == "__main__":
    main()
