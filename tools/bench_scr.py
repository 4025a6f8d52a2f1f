"""Benchmark: skin-conductance responses, ours against NeuroKit2, on the simulator's truth and on
a real AcqKnowledge recording.

    .venv/bin/python tools/bench_scr.py [--sessions 10] [--seed 5] [--min-amplitude 0.05]

1. Simulated full-length sessions (tools' simulate-recorder: responses 0.02-1 µS at 1-5 per
   minute, noise, mains hum, tonic moves, movement steps) - every response of at least the
   minimum amplitude that no movement step hides is a true one. Per method: responses found
   (sensitivity: a detection whose onset is within 1 s of the true onset), false ones
   (precision), movement steps counted, the amplitude error of the matched ones (median and 90th
   percentile of |measured / true - 1|), and the time per 26-minute recording.
   NeuroKit2: ``eda_process`` (its default: ``eda_clean``, ``eda_phasic`` highpass,
   ``eda_peaks`` neurokit), and ``eda_phasic`` smoothmedian + ``eda_peaks``; both kept to the same
   absolute minimum amplitude (its own ``amplitude_min`` is relative to the largest response).
2. tests/data/recorders/physio-5.0.1.acq (AcqKnowledge 5.0.1, 62 s of EDA at 2000 Hz with three
   deep breaths and the program's own 'EDA Trough'/'EDA Peak' annotations): every response each
   method finds. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiment.analysis.electrodermal import usable_samples  # noqa: E402
from experiment.analysis.recorders import Columns, read_recording  # noqa: E402
from experiment.analysis.responses import detect_responses  # noqa: E402

ACQ = ROOT / "tests" / "data" / "recorders" / "physio-5.0.1.acq"


def ours(time_s, eda, rate_hz, min_amplitude):
    found = detect_responses(time_s, eda, usable_samples(eda, rate_hz), rate_hz, min_amplitude)
    return found.onset_s, found.amplitude_us


def neurokit(method: str):
    def run(time_s, eda, rate_hz, min_amplitude):
        import neurokit2 as nk

        rate = int(round(rate_hz))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "eda_process":
                _, info = nk.eda_process(eda, sampling_rate=rate)
            else:
                phasic = nk.eda_phasic(nk.eda_clean(eda, sampling_rate=rate), sampling_rate=rate, method=method)
                _, info = nk.eda_peaks(phasic["EDA_Phasic"], sampling_rate=rate)
        onsets = np.asarray(info["SCR_Onsets"], dtype=float)
        amplitudes = np.asarray(info["SCR_Amplitude"], dtype=float)
        keep = np.isfinite(onsets) & (amplitudes >= min_amplitude)
        return time_s[onsets[keep].astype(int)], amplitudes[keep]

    return run


METHODS = {
    "ours (trough to peak)": ours,
    "NeuroKit2 eda_process": neurokit("eda_process"),
    "NeuroKit2 smoothmedian": neurokit("smoothmedian"),
}


def truth_of(path: Path, min_amplitude: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    events = pd.read_csv(path)
    steps = events.loc[events["kind"] != "response", "onset_s"].to_numpy()
    responses = events[events["kind"] == "response"]
    hidden = np.zeros(len(responses), bool)
    for step in steps:
        hidden |= (responses["onset_s"] > step - 4.5).to_numpy() & (responses["onset_s"] < step + 7.0).to_numpy()
    real = responses[~hidden & (responses["amplitude_us"] >= min_amplitude).to_numpy()]
    return real["onset_s"].to_numpy(), real["amplitude_us"].to_numpy(), steps


def simulated(sessions: int, seed: int, min_amplitude: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data, physio = Path(folder) / "data", Path(folder) / "physio"
        subprocess.run(
            [sys.executable, "-m", "experiment", "simulate-recorder", "--data-dir", str(data), "--physio-dir",
             str(physio), "--make-sessions", str(sessions), "--seed", str(seed)],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        empty = {"true": 0, "found": 0, "false": 0, "steps": 0}
        totals = {name: empty | {"errors": [], "seconds": []} for name in METHODS}
        for export in sorted(physio.glob("sub-*_physio.csv")):
            recording = read_recording(export, Columns())
            eda = recording.eda
            onsets_true, amplitudes_true, steps = truth_of(
                physio / "truth" / export.name.replace("_physio.csv", "_responses.csv"), min_amplitude
            )
            for name, method in METHODS.items():
                started = time.perf_counter()
                onsets, amplitudes = method(eda.time_s, eda.values, eda.rate_hz, min_amplitude)
                score = totals[name]
                score["seconds"].append(time.perf_counter() - started)
                on_step = np.zeros(len(onsets), bool)
                for step in steps:
                    on_step |= (onsets > step - 0.5) & (onsets < step + 4.5)
                score["steps"] += int(on_step.sum())
                matched = set()
                for at, amplitude in zip(onsets_true, amplitudes_true, strict=True):
                    near = np.flatnonzero((np.abs(onsets - at) < 1.0) & ~on_step)
                    near = [i for i in near if i not in matched]
                    if near:
                        matched.add(near[0])
                        score["errors"].append(abs(amplitudes[near[0]] / amplitude - 1))
                score["true"] += len(onsets_true)
                score["found"] += len(matched)
                score["false"] += int((~on_step).sum()) - len(matched)
    print(f"Simulated: {sessions} sessions x 26 min, responses of at least {min_amplitude:g} µS")
    print(f"  {'method':<24}{'sensitivity':>12}{'precision':>11}{'steps counted':>15}"
          f"{'amp. error median':>19}{'p90':>7}{'s/recording':>13}")  # fmt: skip
    for name, score in totals.items():
        found, errors = score["found"], np.asarray(score["errors"])
        precision = found / max(found + score["false"], 1)
        print(
            f"  {name:<24}{found / max(score['true'], 1):>12.1%}{precision:>11.1%}{score['steps']:>15}"
            f"{np.median(errors):>19.1%}{np.percentile(errors, 90):>7.1%}{np.median(score['seconds']):>13.2f}"
        )


def real_recording(min_amplitude: float) -> None:
    import bioread

    acq = bioread.read_file(str(ACQ))
    channel = next(c for c in acq.channels if c.name == "EDA - GSR100C")
    eda = np.asarray(channel.data, dtype=float)
    rate = channel.samples_per_second
    time_s = np.arange(len(eda)) / rate
    print(f"\n{ACQ.name}: EDA - GSR100C, {len(eda) / rate:.0f} s at {rate:g} Hz, {eda.min():.2f}-{eda.max():.2f} µS")
    notes = [(m.text, m.sample_index / acq.samples_per_second) for m in acq.event_markers if m.channel_number == 1]
    print("  AcqKnowledge's own annotations: " + ", ".join(f"{text} at {at:.2f} s" for text, at in notes))
    breaths = [(m.text, m.sample_index / acq.samples_per_second) for m in acq.event_markers if "Breath" in m.text]
    print("  events: " + ", ".join(f"{text} at {at:.2f} s" for text, at in breaths))
    for name, method in METHODS.items():
        onsets, amplitudes = method(time_s, eda, rate, min_amplitude)
        shown = ", ".join(f"{at:.2f} s {amplitude:.3f} µS" for at, amplitude in zip(onsets, amplitudes, strict=True))
        print(f"  {name:<24} {len(onsets)}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--min-amplitude", type=float, default=0.05)
    args = parser.parse_args()
    simulated(args.sessions, args.seed, args.min_amplitude)
    real_recording(args.min_amplitude)


if __name__ == "__main__":
    main()
