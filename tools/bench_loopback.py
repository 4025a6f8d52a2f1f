"""Benchmark: the audio loopback self-test, several times, on this machine's sound system.

    .venv/bin/python tools/bench_loopback.py [--runs 10] [--own-sound-server]

Plays and records the click train as ``preflight --audio-loopback`` does and prints, per run
and over all runs, how far the onset and sync markers were from the recorded clicks, and the
output latency with its jitter. With ``--own-sound-server`` (the default on Linux when no
PULSE_SERVER is set) it starts a private PulseAudio whose null sink's monitor is the cable
(tools/virtual_lab.py); otherwise it uses the machine's sound system and its default input,
which is a lab PC with the loopback cable plugged in. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--own-sound-server", action="store_true", default="PULSE_SERVER" not in os.environ)
    parser.add_argument("--output", help="part of the output's name (default: the default output)")
    parser.add_argument("--input", help="part of the line input's name (default: the default input)")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
    from virtual_lab import SoundServer

    with SoundServer() if args.own_sound_server else contextlib.nullcontext() as sound:
        if sound is not None:
            os.environ.update(sound.env())
        from experiment.loopback import run_loopback

        rows = []
        print("run  onset-sound ms  worst sync-sound ms  measured  latency ms  jitter ms  reported ms  pass")
        for run in range(1, args.runs + 1):
            figures = run_loopback(args.output, args.input).summary()
            rows.append(figures)
            print(
                f"{run:3d}  {figures['onset_marker_minus_sound_ms']:+13.3f}  "
                f"{figures['worst_sync_marker_minus_sound_ms']:+19.3f}  {figures['clicks_measured']:5d}/20  "
                f"{figures['output_latency_ms']:10.3f}  {figures['output_latency_jitter_ms']:9.3f}  "
                f"{figures['reported_latency_ms']:11.3f}  {'yes' if figures['passed'] else 'NO'}"
            )
    onsets = np.array([r["onset_marker_minus_sound_ms"] for r in rows])
    syncs = np.array([abs(r["worst_sync_marker_minus_sound_ms"]) for r in rows])
    latencies = np.array([r["output_latency_ms"] for r in rows])
    print(
        f"\n{len(rows)} runs on {rows[0]['output_device']} -> {rows[0]['input_device']}: onset marker minus sound "
        f"{onsets.mean():+.3f} ms mean, {np.abs(onsets).max():.3f} ms worst; sync markers worst {syncs.max():.3f} ms; "
        f"output latency {np.median(latencies):.3f} ms median ({latencies.min():.3f}-{latencies.max():.3f}); "
        f"passed {sum(r['passed'] for r in rows)} of {len(rows)}"
    )


if __name__ == "__main__":
    main()
