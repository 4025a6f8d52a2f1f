"""Generate the demo stimuli: one short, clearly different recording per group.

Each file speaks the group's name (espeak-ng, when installed) and then plays a tone of a
frequency no other group uses, so a listener - or a cross-correlation in the tests - tells the
groups apart. The files are committed; run this again only to change them:

    .venv/bin/python tools/make_demo_audio.py [--out stimuli/demo/audio] [--seconds 12]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE_HZ = 48_000
# Group key -> (spoken label, tone frequency in Hz). Frequencies are far apart and not
# harmonics of each other so the tests can tell every pair apart.
GROUPS = {
    "CBS": ("Compassionate body scan", 330.0),
    "LKM": ("Loving kindness", 415.0),
    "RUM": ("Rumination", 523.0),
    "PE": ("Positive excitement", 659.0),
    "NEU": ("Neutral", 784.0),
}


def speech(text: str) -> np.ndarray:
    """The spoken text as mono float samples, or silence where espeak-ng is missing."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([espeak, "-s", "150", "-w", str(wav), f"Demo recording. {text}."], check=True)
        samples, rate = soundfile.read(wav, dtype="float32")
    # Resample by linear interpolation: fine for a spoken label.
    n_out = int(len(samples) * SAMPLE_RATE_HZ / rate)
    return np.interp(np.linspace(0, len(samples) - 1, n_out), np.arange(len(samples)), samples)


def tone(frequency_hz: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)  # 50 ms fades, no clicks
    # A slow amplitude wobble makes the cross-correlation peak sharp in time.
    wobble = 0.75 + 0.25 * np.sin(2 * np.pi * 0.7 * t)
    return 0.4 * envelope * wobble * np.sin(2 * np.pi * frequency_hz * t)


def make(out_dir: Path, seconds: float) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, (label, frequency_hz) in GROUPS.items():
        spoken = 0.8 * speech(label)
        gap = np.zeros(int(0.3 * SAMPLE_RATE_HZ))
        rest = max(1.0, seconds - (len(spoken) + len(gap)) / SAMPLE_RATE_HZ)
        samples = np.concatenate([spoken, gap, tone(frequency_hz, rest)]).astype(np.float32)
        path = out_dir / f"{key}.flac"
        soundfile.write(path, samples, SAMPLE_RATE_HZ, subtype="PCM_16")
        written.append(path)
        print(f"{path}: {len(samples) / SAMPLE_RATE_HZ:.1f} s, tone {frequency_hz:.0f} Hz")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "stimuli/demo/audio")
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    make(args.out, args.seconds)


if __name__ == "__main__":
    main()
