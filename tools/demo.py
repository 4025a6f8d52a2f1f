"""The demo session: the bundled short protocol and generated recordings.

    .venv/bin/python tools/demo.py [run_experiment.py options]     (what ./demo.sh and demo.bat run)

With a screen, the session dialog opens and you take part yourself. Without one (a server,
a container), the session runs on a virtual screen with a private sound server, the
autopilot answering, and screenshots of every screen saved with the data.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "demo"


def has_screen() -> bool:
    if platform.system() != "Linux":
        return True  # Windows and macOS lab PCs have their desktop
    if not os.environ.get("DISPLAY"):
        return False
    if shutil.which("xdpyinfo") is None:
        return True  # cannot ask; trust DISPLAY
    return subprocess.run(["xdpyinfo"], capture_output=True, check=False).returncode == 0


def fresh_participant() -> str:
    """A demo participant with no data yet, so running the demo again never meets old data."""
    n = 1
    while (DATA / f"sub-DEM{n:04d}").exists():
        n += 1
    return f"DEM{n:04d}"


def main(argv: list[str]) -> int:
    session = [sys.executable, str(ROOT / "run_experiment.py"), "--demo", "--data-dir", str(DATA)]
    if has_screen():
        return subprocess.run([*session, *argv], check=False).returncode
    sys.path.insert(0, str(ROOT / "tools"))
    from virtual_lab import SoundServer, VirtualScreen

    participant = fresh_participant()
    print(f"No display found: running the demo on a virtual display with the autopilot (participant {participant}).")
    with VirtualScreen() as screen, SoundServer(sink="demo") as sound:
        env = os.environ | screen.env() | sound.env()
        command = [*session, "--autopilot", "--screenshots", "--participant", participant, *argv]
        status = subprocess.run(command, env=env, check=False).returncode
    folder = DATA / f"sub-{participant}" / "ses-1"
    print()
    print(f"Data:        {folder}{os.sep}  (session.json, events.csv, responses.csv, session.log)")
    print(f"Screenshots: {folder / 'screenshots'}{os.sep}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
