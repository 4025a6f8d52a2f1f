"""The test command: linters, then every test, with real parts, as fast as they allow.

    .venv/bin/python tools/run_tests.py [pytest arguments]      (what ./test.sh and test.bat run)

1. ``ruff check`` and ``ruff format --check``.
2. All tests but the timing ones, side by side in ``WORKERS`` processes
   (pytest-xdist): most of a session test's time is spent waiting in real time, and each
   worker has its own virtual screen, sound server and tty pairs (tests/conftest.py, tests/helpers.py).
3. The timing tests (``-m timing``: markers, the audio loopback, a recording heard whole, a stalled
   sound server, a review page's load time) alone: they measure sub-millisecond intervals
   or real-time audio on a 2-core machine, and other sessions beside them would be measured too.

On Windows and macOS the tests that need Linux's stand-ins (Xvfb, PulseAudio, socat,
xdotool) cannot run; there step 2 runs the fast tier (``-m "not slow"``) and says so.
Pytest arguments given here (``-k``, a file) are passed to both test steps.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 4


def step(title: str, command: list[str]) -> int:
    print(f"== {title}", flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


def pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def main(argv: list[str]) -> int:
    started = time.monotonic()
    for title, command in (
        ("ruff check", [sys.executable, "-m", "ruff", "check", "."]),
        ("ruff format --check", [sys.executable, "-m", "ruff", "format", "--check", "."]),
    ):
        if step(title, command) != 0:
            return 1
    if platform.system() != "Linux":
        print("Not Linux: the tests that need Xvfb, PulseAudio, socat and xdotool are left out (-m 'not slow').")
        return step("fast tests", pytest("-m", "not slow", *argv))
    # pytest exits 5 when a selection holds no test (e.g. -k picking only timing tests).
    parallel = step("tests, side by side", pytest("-n", str(WORKERS), "--dist", "worksteal", "-m", "not timing", *argv))
    alone = step("timing tests, alone", pytest("-m", "timing", *argv))
    print(f"== {time.monotonic() - started:.0f} s in all", flush=True)
    return 0 if {parallel, alone} <= {0, 5} and (parallel, alone) != (5, 5) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
