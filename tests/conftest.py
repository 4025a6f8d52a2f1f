"""Shared fixtures: protocols written for a test, socat tty pairs, running a session."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from emulators import BoxEmulator, real_time  # noqa: E402
from make_demo_audio import GROUPS, SAMPLE_RATE_HZ, tone  # noqa: E402
from virtual_lab import SoundServer, VirtualScreen, find_window, xdotool  # noqa: E402,F401

DEMO_PROTOCOL = REPO / "stimuli" / "demo" / "protocol.toml"


def write_protocol(folder: Path, rest_s: float = 1.0, audio_s: float = 2.0, edit=None) -> Path:
    """A copy of the demo protocol in ``folder`` with short rests and short, distinct tones.

    ``edit`` (text -> text) makes a deliberate mistake for the validation tests.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    for key, (_, frequency_hz) in GROUPS.items():
        soundfile.write(
            folder / "audio" / f"{key}.flac",
            tone(frequency_hz, audio_s).astype(np.float32),
            SAMPLE_RATE_HZ,
            subtype="PCM_16",
        )
    shutil.copy(REPO / "stimuli/questionnaires/state_short.toml", folder / "state_short.toml")
    text = DEMO_PROTOCOL.read_text()
    text = re.sub(r"\nduration_s = \d+", f"\nduration_s = {rest_s}", text)
    text = re.sub(r"expected_duration_s = \d+", f"expected_duration_s = {audio_s}", text)
    text = re.sub(r"duration_tolerance_s = \d+", "duration_tolerance_s = 0.5", text)
    text = text.replace("../questionnaires/state_short.toml", "state_short.toml")
    if edit is not None:
        text = edit(text)
    path = folder / "protocol.toml"
    path.write_text(text)
    return path


@pytest.fixture
def fast_protocol(tmp_path: Path) -> Path:
    return write_protocol(tmp_path / "protocol")


class TtyPair:
    """A real tty pair from socat: the program writes to ``near``; a box emulator on ``far``."""

    def __init__(self, folder: Path, protocol: str = "brainproducts") -> None:
        self.near = str(folder / "ttyA")
        self.far = str(folder / "ttyB")
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.near}", f"pty,raw,echo=0,link={self.far}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # socat stands in for the USB cable: a busy 2-core machine must not make it late
        # instead of the program, so it relays at real-time priority where allowed.
        real_time(self.proc.pid)
        deadline = time.time() + 5
        while not (os.path.exists(self.near) and os.path.exists(self.far)):
            if time.time() > deadline:
                raise RuntimeError("socat did not create the tty pair")
            time.sleep(0.02)
        self.box = BoxEmulator(self.far, protocol)

    @property
    def received(self) -> list[tuple[float, int]]:
        return self.box.received

    def bytes(self, settle_s: float = 0.3) -> list[int]:
        return list(self.box.raw(settle_s))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        self.box.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


MARKER_INTERVAL_TOLERANCE_S = 0.002


def interval_misses(labels: Sequence[str], logged: Sequence[float], seen: Sequence[float]) -> list[str]:
    """Each interval between consecutive markers whose length at the box differs from the
    logged one by 2 ms or more, as ``label: N.NN ms``."""
    misses = []
    for i in range(1, len(logged)):
        error_s = (seen[i] - seen[i - 1]) - (logged[i] - logged[i - 1])
        if abs(error_s) >= MARKER_INTERVAL_TOLERANCE_S:
            misses.append(f"{labels[i]}: {error_s * 1000:+.2f} ms")
    return misses


def measure_twice_if_missed(measure: Callable[[int], list[str]]) -> None:
    """Run a marker timing measurement; if it missed, run it once more; fail if both missed.

    The stand-in cable is a pty, and a pty hands every write to its reader through a kernel
    worker thread of normal priority. On this 2-core VM (non-preemptible kernel) that worker
    is now and then milliseconds late while the program's write returned in 0.1 ms (measured:
    tools/bench_markers.py, "the stand-in cable itself"); a USB adapter has no such hop. So
    one late arrival is measured again rather than blamed on the program, while a log that
    is wrong every time misses in both runs. ``measure(attempt)`` returns its misses as readable lines.
    """
    first = measure(0)
    if not first:
        return
    warnings.warn(f"marker timing off at the box in the first run ({'; '.join(first)}); measured again", stacklevel=2)
    second = measure(1)
    assert not second, f"marker timing off at the box in two runs: {first} then {second}"


@pytest.fixture
def tty_pair(tmp_path: Path):
    pair = TtyPair(tmp_path)
    yield pair
    pair.close()


@pytest.fixture
def make_tty_pair(tmp_path: Path):
    """A factory: ``make_tty_pair(protocol)`` for a box emulator of that protocol."""
    pairs = []

    def make(protocol: str) -> TtyPair:
        folder = tmp_path / f"tty{len(pairs)}"
        folder.mkdir()
        pairs.append(TtyPair(folder, protocol))
        return pairs[-1]

    yield make
    for pair in pairs:
        pair.close()


def session_command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "run_experiment.py"), *args]


def run_session(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(session_command(*args), capture_output=True, text=True, timeout=timeout, cwd="/")


@pytest.fixture(scope="session", autouse=True)
def virtual_lab():
    """This test process's own screen (Xvfb) and sound card (PulseAudio with a null sink).

    Every test process (one per pytest-xdist worker) has its own, so sessions run side by
    side without seeing each other's windows or sound; the machine's own display and sound
    server are never used or stopped. Sessions started by the tests inherit both.
    """
    if not sys.platform.startswith("linux"):  # Windows, macOS: the machine's own screen and sound
        yield None, None
        return
    saved = {key: os.environ.get(key) for key in ("DISPLAY", "PULSE_SERVER")}
    with VirtualScreen() as screen, SoundServer() as sound:
        os.environ.update(screen.env() | sound.env())
        yield screen, sound
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def sound_server(virtual_lab) -> SoundServer:
    return virtual_lab[1]


class PostgresServer:
    """A throwaway PostgreSQL server (the Debian package's binaries) on a free local port."""

    def __init__(self, folder: Path) -> None:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            raise RuntimeError(
                "PostgreSQL is not installed: run python3 tools/setup.py dev as root (Debian package postgresql)"
            )
        self.bin = binaries[-1].parent
        self.folder = folder
        self.data = folder / "pgdata"
        self.port = _free_port()
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the server refuses to run as root: it runs as the postgres account
            shutil.chown(folder, "postgres", "postgres")
        self._as_server_user(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._as_server_user(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}")

    def new_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._as_server_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    folder = Path(tempfile.mkdtemp(prefix="experiment-pg-"))  # tmp_path's parents are not open to postgres
    server = PostgresServer(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ledger_location(request, tmp_path):
    """Where a test's ledger lives: a fresh SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    server = request.getfixturevalue("postgres_server")
    return server.new_database(f"ledger_{os.getpid()}_{time.monotonic_ns()}")


# Tests that need real parts (a session, Xvfb, PulseAudio, socat, xdotool, PostgreSQL) and run in
# real time are marked slow; 'pytest -m "not slow"' is the fast tier (and all Windows and macOS run).
REAL_PART_FIXTURES = {"tty_pair", "make_tty_pair", "sound_server", "postgres_server", "session_in_every_format"}
SESSION_MODULES = {
    "test_session", "test_participant_input", "test_preflight", "test_guide_screens", "test_console_window",
    "test_session_allocation", "test_launchers", "test_bids",
}  # fmt: skip


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        ledger = "ledger_location" in uses and "postgresql" in item.name
        if item.module.__name__ in SESSION_MODULES or uses & REAL_PART_FIXTURES or ledger:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("timing"):
            item.add_marker(pytest.mark.slow)
