"""The tests' fixtures (real parts each test starts and stops: tty pairs, this process's own
screen and sound server, a PostgreSQL server) and the slow marking. What tests share besides
fixtures lives in helpers.py."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import PostgresServer, SoundServer, TtyPair, VirtualScreen, headless_chromium, write_protocol


@pytest.fixture
def fast_protocol(tmp_path: Path) -> Path:
    return write_protocol(tmp_path / "protocol")


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


@pytest.fixture(scope="session", autouse=True)
def virtual_lab():
    """This test process's own screen (Xvfb) and sound card (PulseAudio with a null sink).

    Every test process (one per pytest-xdist worker) has its own, so sessions run side by
    side without seeing each other's windows or sound; the machine's own display and sound
    server are never used or stopped. Sessions started by the tests inherit both, and a
    folder of their own for what they remember of the computer (experiment/machine.py).
    """
    if not sys.platform.startswith("linux"):  # Windows, macOS: the machine's own screen and sound
        yield None, None
        return
    saved = {key: os.environ.get(key) for key in ("DISPLAY", "PULSE_SERVER", "EXPERIMENT_CACHE_DIR")}
    remembered = tempfile.TemporaryDirectory(prefix="experiment-cache-")  # what sessions learn of the computer
    with VirtualScreen() as screen, SoundServer() as sound, remembered as memory:
        os.environ.update(screen.env() | sound.env() | {"EXPERIMENT_CACHE_DIR": memory})
        yield screen, sound
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def sound_server(virtual_lab) -> SoundServer:
    return virtual_lab[1]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    folder = Path(tempfile.mkdtemp(prefix="experiment-pg-"))  # tmp_path's parents are not open to postgres
    server = PostgresServer(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """A real headless Chromium (Debian's), one per test worker."""
    driver = headless_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def ledger_location(request, tmp_path):
    """Where a test's ledger lives: a fresh SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    server = request.getfixturevalue("postgres_server")
    return server.new_database(f"ledger_{os.getpid()}_{time.monotonic_ns()}")


# Tests that need real parts (a session, Xvfb, PulseAudio, socat, xdotool, PostgreSQL) and run in
# real time are marked slow; 'pytest -m "not slow"' is the fast tier (and all Windows and macOS run).
REAL_PART_FIXTURES = {
    "tty_pair", "make_tty_pair", "sound_server", "postgres_server", "session_in_every_format", "browser",
}  # fmt: skip
SESSION_MODULES = {
    "test_session", "test_participant_input", "test_preflight", "test_guide_screens", "test_console_window",
    "test_session_allocation", "test_launchers", "test_bids", "test_disk_faults", "test_recorder", "test_study",
}  # fmt: skip


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        ledger = "ledger_location" in uses and "postgresql" in item.name
        if item.module.__name__ in SESSION_MODULES or uses & REAL_PART_FIXTURES or ledger:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("timing"):
            item.add_marker(pytest.mark.slow)
