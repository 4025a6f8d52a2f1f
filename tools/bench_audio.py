"""Benchmark: peak memory and launch-to-first-screen time of a full-protocol session with
11-minute 48 kHz stereo recordings.

    xvfb-run -a .venv/bin/python tools/bench_audio.py [--minutes 11] [--runs 3]

Writes five 11-minute WAV files (one per group) to a temporary folder, points a copy of
stimuli/protocol.toml at them, launches run_experiment.py with the autopilot, and stops it
once the first screen is up. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
RATE_HZ = 48_000
FIRST_SCREEN = re.compile(r"^(\S+ \S+) .*First screen shown", re.M)


def write_recordings(folder: Path, minutes: float) -> None:
    """Five distinct 48 kHz stereo PCM-16 WAV files, written a minute at a time."""
    (folder / "audio").mkdir(parents=True)
    for i, key in enumerate(("CBS", "LKM", "RUM", "PE", "NEU")):
        with soundfile.SoundFile(folder / "audio" / f"{key}.wav", "w", RATE_HZ, 2, subtype="PCM_16") as out:
            for minute in range(int(np.ceil(minutes))):
                seconds = min(60.0, minutes * 60 - minute * 60)
                t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ + minute * 60
                wave = 0.3 * np.sin(2 * np.pi * (300 + 100 * i) * t)
                out.write(np.column_stack([wave, wave]).astype(np.float32))


def full_protocol_copy(folder: Path, minutes: float) -> Path:
    text = (ROOT / "stimuli" / "protocol.toml").read_text()
    text = text.replace('"questionnaires/state.toml"', f'"{ROOT}/stimuli/questionnaires/state.toml"')
    text = re.sub(r"expected_duration_s = \d+", f"expected_duration_s = {minutes * 60:g}", text)
    text = text.replace("fullscreen = true", "fullscreen = false")
    path = folder / "protocol.toml"
    path.write_text(text)
    return path


def one_run(protocol: Path, data: Path, participant: str) -> tuple[float, float]:
    """(seconds from launch to the first screen, peak resident memory in MB)."""
    launched = time.time()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "run_experiment.py"),
            "--protocol",
            str(protocol),
            "--autopilot",
            "--participant",
            participant,
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = data / f"sub-{participant}" / "ses-1" / "session.log"
    deadline = time.time() + 300
    while not (log.exists() and FIRST_SCREEN.search(log.read_text())):
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError("the session did not show its first screen")
        time.sleep(0.05)
    stamp = FIRST_SCREEN.search(log.read_text()).group(1)
    first_screen = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    time.sleep(2.0)  # the audio is loaded before the first screen; let the peak settle
    proc.send_signal(signal.SIGKILL)
    _, _, usage = os.wait4(proc.pid, 0)
    return first_screen - launched, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=11.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.time()
        write_recordings(folder, args.minutes)
        print(
            f"Wrote five {args.minutes:g}-minute 48 kHz stereo WAV files in {time.time() - started:.1f} s "
            f"({(folder / 'audio' / 'CBS.wav').stat().st_size / 1e6:.0f} MB each)"
        )
        protocol = full_protocol_copy(folder, args.minutes)
        results = [one_run(protocol, folder / "data", f"B{n:03d}") for n in range(1, args.runs + 1)]
    startup = [r[0] for r in results]
    memory = [r[1] for r in results]
    frames = int(args.minutes * 60 * RATE_HZ)
    print(
        f"Launch to first screen: median {statistics.median(startup):.1f} s "
        f"(runs: {', '.join(f'{s:.1f}' for s in startup)})"
    )
    print(
        f"Peak resident memory: median {statistics.median(memory):.0f} MB "
        f"(runs: {', '.join(f'{m:.0f}' for m in memory)})"
    )
    print(
        f"The recording held in memory: {frames * 2 * 2 / 1e6:.0f} MB as int16 "
        f"(float32 would be {frames * 2 * 4 / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    main()
