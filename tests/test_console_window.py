"""With a second screen, the technician console also opens there, in its own window, and
follows the session; with one screen nothing opens. Runs on its own Xvfb with two heads."""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers import VirtualScreen, session_command, wait_for, write_protocol


@pytest.fixture
def two_screens():
    """An Xvfb display with two Xinerama heads: 1280x1024 (the participant's) and 1024x768."""
    with VirtualScreen("1280x1024x24", "1024x768x24", xinerama=True) as screen:
        yield screen.display


def _console_windows(display: str) -> list[str]:
    env = os.environ | {"DISPLAY": display}
    found = subprocess.run(
        ["xdotool", "search", "--name", "^Technician console"], capture_output=True, text=True, env=env
    )
    return found.stdout.split()


def _xdotool(display: str, *args: str) -> str:
    env = os.environ | {"DISPLAY": display}
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, env=env, check=True).stdout


def test_second_screen_shows_the_console_window(tmp_path, two_screens):
    # 20-second rests: on a busy machine the console's own process (Qt) can take a while to show
    protocol = write_protocol(
        tmp_path / "protocol", rest_s=20.0, edit=lambda t: t.replace("blind = false", "blind = true")
    )
    data = tmp_path / "data"
    env = os.environ | {"DISPLAY": two_screens}
    args = ("--protocol", str(protocol), "--autopilot", "--participant", "P061", "--data-dir", str(data), "--windowed")
    proc = subprocess.Popen(session_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        try:
            wait_for(lambda: _console_windows(two_screens) or proc.poll() is not None, 90, "the console window")
        except AssertionError:
            proc.kill()
            out, err = proc.communicate()
            said = f"{out[-2000:]}\n{err[-2000:]}"
            raise AssertionError(f"no console window after 90 s; the session said:\n{said}") from None
        ended = proc.poll() is not None
        assert not ended, "the session ended before its console window appeared: " + "".join(proc.communicate())
        window = _console_windows(two_screens)[0]
        wait_for(lambda: "phase 2/7 baseline" in _xdotool(two_screens, "getwindowname", window), 60, "the baseline")
        title = _xdotool(two_screens, "getwindowname", window)
        assert title.startswith("Technician console: P061 | phase 2/7 baseline")
        assert "group" not in title  # blind: the second screen never names the group either
        assert "Geometry: 1024x768" in _xdotool(two_screens, "getwindowgeometry", window)  # the other screen's size
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert "Second screen found" in out
    assert _console_windows(two_screens) == []  # it closes with the session


def test_one_screen_opens_no_console_window(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5)
    data = tmp_path / "data"
    args = ("--protocol", str(protocol), "--autopilot", "--participant", "P062", "--data-dir", str(data))
    result = subprocess.run(session_command(*args), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "Second screen found" not in result.stdout and _console_windows(os.environ["DISPLAY"]) == []
