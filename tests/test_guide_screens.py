"""The technician guide's pictures are taken here, from a real session under Xvfb, so the
README always shows the screens the program really draws (docs/screens/, commit them when
they change)."""

from __future__ import annotations

import os
import re
import time

import numpy as np
from conftest import REPO, run_session, write_protocol
from PIL import Image, ImageGrab
from test_session import find_window, session_dir, start_session, xdotool

GUIDE = REPO / "docs" / "screens"
WIDTH_PX = 640
# guide picture -> the session's screenshot (by screen name) it comes from
SCREENS = {
    "0-dialog": None,  # the Qt dialog, grabbed from the X display
    "1-checklist": "checklist",
    "2-sound-check": "sound_check",
    "3-welcome": "welcome",
    "4-rest": "baseline",
    "5-slider": "pre_sc_kind",
    "6-likert": "pre_kind_likely",
    "7-audio": "induction",
    "8-end": "end",
}


def test_guide_screens_come_from_a_real_session(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5)
    data = tmp_path / "data"
    args = ("--protocol", str(protocol), "--autopilot", "--participant", "P001", "--data-dir", str(data))
    result = run_session(*args, "--screenshots")
    assert result.returncode == 0, result.stdout + result.stderr
    shots = sorted((session_dir(data, "P001") / "screenshots").glob("*.png"))
    names = {re.sub(r"^\d+_", "", p.stem): p for p in shots}
    GUIDE.mkdir(parents=True, exist_ok=True)
    readme = (REPO / "README.md").read_text()
    for picture, pattern in SCREENS.items():
        if pattern is None:
            image = _grab_dialog(protocol, tmp_path / "dialog-data")
        else:
            source = next((names[n] for n in names if re.fullmatch(pattern, n)), None)
            assert source is not None, f"no screenshot matching {pattern}: {sorted(names)}"
            image = Image.open(source).convert("RGB")
        pixels = np.asarray(image)
        drawn = (pixels != pixels[0, 0]).any(axis=2).sum()
        assert drawn > 100, f"{picture} is blank"  # something (at least the fixation cross) was drawn
        image.thumbnail((WIDTH_PX, WIDTH_PX))
        image.save(GUIDE / f"{picture}.png", optimize=True)
        assert f"docs/screens/{picture}.png" in readme, f"the technician guide does not show {picture}"


def _grab_dialog(protocol, data) -> Image.Image:
    """Open the session dialog (pre-filled as a launcher would), take its picture, cancel it."""
    proc = start_session(
        "--protocol", str(protocol), "--participant", "P001", "--technician", "AB", "--data-dir", str(data)
    )
    try:
        window = find_window("New session")
        xdotool("windowfocus", "--sync", window)
        time.sleep(0.8)  # let Qt finish painting
        geometry = dict(
            line.split("=") for line in xdotool("getwindowgeometry", "--shell", window).split() if "=" in line
        )
        x, y, w, h = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        image = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=os.environ["DISPLAY"]).convert("RGB")
        xdotool("key", "Escape")  # cancel: nothing is recorded
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and not data.exists()
    return image
