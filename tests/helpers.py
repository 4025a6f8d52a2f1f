"""What the real-parts session tests share: starting a session, reading what it wrote, and
the technician's keys through X (xdotool)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import time
from pathlib import Path

from conftest import find_window, session_command, xdotool


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def session_dir(data: Path, participant: str, session: int = 1) -> Path:
    return data / f"sub-{participant}" / f"ses-{session}"


def autopilot_answers(log_text: str) -> list[tuple[str, int]]:
    return [(item, int(v)) for item, v in re.findall(r"autopilot answers (\w+) with (\d+)", log_text)]


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def wait_for_marker(folder: Path, label: str, timeout_s: float = 60) -> None:
    """Wait until the session in ``folder`` has logged the marker ``label``."""
    events = folder / "events.csv"
    wait_for(lambda: events.exists() and label in events.read_text(), timeout_s, f"the marker {label}")


def start_session(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a session; ``env`` adds to (or overrides) this process's environment."""
    return subprocess.Popen(
        session_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | (env or {})
    )


def press_until(window_id: str, key: str, done, what: str, timeout_s: float = 60) -> None:
    """Press ``key`` every half second until ``done()``: a press that lands before the screen
    listens is cleared by it, so the technician's habit of pressing again is what works."""
    xdotool("windowfocus", "--sync", window_id)
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        xdotool("key", key)
        time.sleep(0.5)


def pass_checks_and_sound_check(window_id: str, folder: Path) -> None:
    """The technician's part before the participant: Space on the checklist, Y after the tone."""
    log = folder / "session.log"
    press_until(window_id, "space", log.exists, "the checklist to pass (the session folder)")
    press_until(window_id, "y", lambda: "Sound check confirmed" in log.read_text(), "the sound check")


def press_escape_and_confirm(window_id: str) -> None:
    """The technician's abort, through the real X input path."""
    xdotool("windowfocus", "--sync", window_id)
    xdotool("key", "Escape")
    time.sleep(1.0)
    xdotool("key", "y")


def count_rows(path: Path) -> int:
    return len(read_csv(path)) if path.exists() else 0


def abort_at_welcome(proc: subprocess.Popen, folder: Path) -> None:
    """The technician's part once the dialog is done: the checks, the sound check, then Escape
    and Y on the welcome screen; the session must end as aborted (exit 3)."""
    window = find_window("PsychoPy")
    pass_checks_and_sound_check(window, folder)
    wait_for_marker(folder, "welcome_start")
    press_escape_and_confirm(window)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, out + err
