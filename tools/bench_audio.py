"""Benchmark: peak memory and launch-to-first-screen time of a full-protocol session with
11-minute 48 kHz stereo recordings.

    .venv/bin/python tools/bench_audio.py [--minutes 11] [--runs 3]

(it starts its own virtual screen and sound server, tools/virtual_lab.py)

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
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from experiment.config import GROUP_KEYS  # noqa: E402

RATE_HZ = 48_000
AFTER_FIRST_SCREEN_S = 2.0


def write_recordings(folder: Path, minutes: float) -> None:
    """Five distinct 48 kHz stereo PCM-16 WAV files, written a minute at a time."""
    (folder / "audio").mkdir(parents=True)
    for i, key in enumerate(GROUP_KEYS):
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # The first screen (the checks) comes before the session folder and its log exist: watch the console.
    first_screen = None
    for line in proc.stdout:
        if "First screen shown" in line:
            first_screen = time.time()
            break
    if first_screen is None:
        raise RuntimeError("the session did not show its first screen")
    time.sleep(AFTER_FIRST_SCREEN_S)  # the audio stream opened, the recording decoding ahead
    proc.send_signal(signal.SIGKILL)
    _, _, usage = os.wait4(proc.pid, 0)
    return first_screen - launched, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=11.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tools"))
    from virtual_lab import SoundServer, VirtualScreen

    with VirtualScreen() as screen, SoundServer() as sound, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(screen.env() | sound.env())
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
        f"The recording is streamed (4 s decoded ahead); whole it would be {frames * 2 * 2 / 1e6:.0f} MB as int16 "
        f"({frames * 2 * 4 / 1e6:.0f} MB as float32)"
    )


if __name__ == "__main__":
    main()
