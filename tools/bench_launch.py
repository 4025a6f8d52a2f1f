"""Benchmark: launch to the first screen, next to a bare PsychoPy window, measured in one run.

    .venv/bin/python tools/bench_launch.py [--minutes 11] [--runs 5]

(it starts its own virtual screen and sound server, tools/virtual_lab.py)

The session is the full protocol with five ``--minutes``-long 48 kHz stereo recordings, run
with the autopilot and stopped at its first screen (the checks). The bare window is what any
PsychoPy script does first: import psychopy.visual, open a window, draw one text, flip. Both
are timed from outside, from launch to the line each prints once its first frame is up,
alternating ``--runs`` times. The session's very first launch on a computer also probes the
sound engine (remembered afterwards, experiment/machine.py): it is timed separately, with an
empty memory. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
from bench_audio import full_protocol_copy, write_recordings  # noqa: E402

BARE_WINDOW = """
from psychopy import visual
win = visual.Window((1280, 800), fullscr=False, units="height", color=(-0.6, -0.6, -0.6))
visual.TextStim(win, text="Welcome", height=0.05).draw()
win.flip()
print("First screen shown", flush=True)
"""


def time_to_first_screen(command: list[str], env: dict[str, str]) -> float:
    """Seconds from launch until ``command`` prints 'First screen shown'; then it is stopped."""
    launched = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    shown = None
    for line in proc.stdout:
        if "First screen shown" in line:
            shown = time.perf_counter()
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if shown is None:
        raise RuntimeError(f"{command[1]} ended without showing its first screen")
    return shown - launched


def session_command(protocol: Path, data: Path, run: int) -> list[str]:
    return [sys.executable, str(ROOT / "run_experiment.py"), "--protocol", str(protocol), "--autopilot"] + [
        "--participant", f"P{run:03d}", "--data-dir", str(data),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=11.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from virtual_lab import SoundServer, VirtualScreen

    with VirtualScreen() as screen, SoundServer() as sound, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_recordings(folder, args.minutes)
        protocol = full_protocol_copy(folder, args.minutes)
        env = os.environ | screen.env() | sound.env() | {"EXPERIMENT_CACHE_DIR": str(folder / "memory")}
        first = time_to_first_screen(session_command(protocol, folder / "data", 0), env)
        bare, session = [], []
        for run in range(1, args.runs + 1):
            bare.append(time_to_first_screen([sys.executable, "-c", BARE_WINDOW], env))
            session.append(time_to_first_screen(session_command(protocol, folder / "data", run), env))
    print(f"Launch to first screen, {args.runs} runs each, alternating ({args.minutes:g}-minute recordings), s:")
    print(f"  {'':<42}{'median':>8}{'min':>8}{'max':>8}")
    for label, values in (("bare PsychoPy window, one text", bare), ("session (full protocol, autopilot)", session)):
        print(f"  {label:<42}{statistics.median(values):8.2f}{min(values):8.2f}{max(values):8.2f}")
    print(f"  ratio of the medians: {statistics.median(session) / statistics.median(bare):.2f}")
    print(f"  the computer's very first session (probes the sound engine): {first:.2f} s")


if __name__ == "__main__":
    main()
