"""Take the technician guide's pictures (docs/screens/) from a real session.

A session with the autopilot and ``--screenshots`` runs on a virtual screen of its own; the
session dialog, which the autopilot skips, is opened as a launcher would and photographed
before it is cancelled. Run it when a screen changes, look at the pictures, commit them:

    .venv/bin/python tools/guide_screens.py [--out docs/screens] [--protocol FILE]

The test suite runs the same code into a temporary folder (tests/test_guide_screens.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
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


from virtual_lab import find_window, xdotool  # noqa: E402


def take(protocol: Path, out: Path, work: Path) -> dict[str, Path]:
    """Run a session on ``protocol`` in ``work`` and write every guide picture into ``out``.

    Needs a display (``DISPLAY``) and a sound output; returns picture name -> file.
    """
    from PIL import Image

    data = work / "data"
    session = _session(protocol, "--autopilot", "--participant", "P001", "--data-dir", str(data), "--screenshots")
    result = subprocess.run(session, capture_output=True, text=True, timeout=300, cwd="/")
    if result.returncode != 0:
        raise RuntimeError(f"the session for the pictures failed:\n{result.stdout}{result.stderr}")
    shots = sorted((data / "sub-P001" / "ses-1" / "screenshots").glob("*.png"))
    names = {re.sub(r"^\d+_", "", p.stem): p for p in shots}
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for picture, pattern in SCREENS.items():
        if pattern is None:
            image = grab_dialog(protocol, work / "dialog-data")
        else:
            source = next((names[n] for n in names if re.fullmatch(pattern, n)), None)
            if source is None:
                raise RuntimeError(f"no screenshot matching {pattern}: {sorted(names)}")
            image = Image.open(source).convert("RGB")
        image.thumbnail((WIDTH_PX, WIDTH_PX))
        written[picture] = out / f"{picture}.png"
        image.save(written[picture], optimize=True)
    return written


def grab_dialog(protocol: Path, data: Path):
    """Open the session dialog (pre-filled as a launcher would), take its picture, cancel it."""
    from PIL import ImageGrab

    args = ("--participant", "P001", "--technician", "AB", "--data-dir", str(data))
    proc = subprocess.Popen(_session(protocol, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = find_window("New session", process=proc)
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
            proc.wait()
    if proc.returncode != 3 or data.exists():
        raise RuntimeError("cancelling the session dialog did not end the launch with nothing recorded")
    return image


def _session(protocol: Path, *args: str) -> list[str]:
    return [sys.executable, str(REPO / "run_experiment.py"), "--protocol", str(protocol), *args]


def main() -> int:
    from virtual_lab import SoundServer, VirtualScreen

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GUIDE)
    parser.add_argument("--protocol", type=Path, default=REPO / "stimuli" / "demo" / "protocol.toml")
    args = parser.parse_args()
    with VirtualScreen() as screen, SoundServer() as sound, tempfile.TemporaryDirectory() as work:
        os.environ.update(screen.env() | sound.env())
        written = take(args.protocol.resolve(), args.out, Path(work))
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
