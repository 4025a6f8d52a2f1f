"""Benchmark: the whole analysis of a 135-participant study (about 26 minutes of 1000 Hz ECG,
EDA and markers each), and NeuroKit2's all-in-one ecg_process on one of the recordings for
comparison (time and accuracy against the simulator's truth).

    .venv/bin/python tools/bench_analysis.py [--participants 135] [--distinct 10] [--jobs 2]

Simulates ``--distinct`` full-length sessions with recordings, then gives them to 135
participants (session folders copied, recordings hard-linked, so the disk holds ten, while
the analysis reads 135 files). Times ``python -m experiment analyse`` end to end (start-up,
reading, alignment, beats, EDA, statistics, figures, report). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiment.analysis import simulate  # noqa: E402
from experiment.analysis.recorders import read_recording  # noqa: E402


def make_study(root: Path, participants: int, distinct: int) -> None:
    rng = np.random.default_rng(2019)
    groups = list(simulate.EFFECTS)
    sources = []
    for number in range(distinct):
        group = groups[number % len(groups)]
        sources.append(simulate.make_session(root / "source", f"T{number:03d}", group, rng))
    with ProcessPoolExecutor(2) as pool:
        people = [simulate.random_participant(rng, n) for n in range(distinct)]
        list(pool.map(simulate.render, sources, [root / "source_physio"] * distinct, people))
    for number in range(participants):
        source = sources[number % distinct]
        target = root / "data" / f"sub-B{number:03d}" / "ses-1"
        shutil.copytree(source, target)
        record = json.loads((target / "session.json").read_text())
        record["participant"] = f"B{number:03d}"
        (target / "session.json").write_text(json.dumps(record))
        (root / "physio").mkdir(exist_ok=True)
        os.link(
            root / "source_physio" / f"sub-{source.parent.name[4:]}_ses-1_physio.csv",
            root / "physio" / f"sub-B{number:03d}_ses-1_physio.csv",
        )


def errors_against_truth(values: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    merged = values.merge(truth, on="phase", suffixes=("", "_true"))
    return {
        "hr_abs_error_bpm": float((merged["hr_bpm"] - merged["hr_bpm_true"]).abs().max()),
        "rmssd_rel_error": float(
            ((merged["rmssd_ms"] - merged["rmssd_ms_true"]).abs() / merged["rmssd_ms_true"]).max()
        ),
    }


def neurokit_all_in_one(root: Path) -> tuple[float, dict]:
    """ecg_process on the first recording, HR and RMSSD per phase from its R peaks."""
    import neurokit2 as nk

    from experiment.analysis.align import align, phase_windows

    folder = root / "source" / "sub-T000" / "ses-1"
    recording = read_recording(root / "source_physio" / "sub-T000_ses-1_physio.csv")
    started = time.perf_counter()
    signals, info = nk.ecg_process(recording.ecg.values, sampling_rate=1000)
    elapsed = time.perf_counter() - started
    events = pd.read_csv(folder / "events.csv", dtype=str).to_dict("records")
    record = json.loads((folder / "session.json").read_text())
    markers = recording.markers
    windows = phase_windows(align(markers.times_s, markers.codes, events), record["phases"], events)
    peaks_s = recording.ecg.time_s[info["ECG_R_Peaks"]]
    rows = []
    for phase, (start, end) in windows.items():
        nn = np.diff(peaks_s[(peaks_s >= start) & (peaks_s < end)]) * 1000
        if len(nn) > 20:
            rows.append({"phase": phase, "hr_bpm": 60000 / nn.mean(), "rmssd_ms": np.sqrt(np.mean(np.diff(nn) ** 2))})
    truth = pd.read_csv(root / "source_physio" / "truth" / "sub-T000_ses-1_truth.csv")
    return elapsed, errors_against_truth(pd.DataFrame(rows), truth[["phase", "hr_bpm", "rmssd_ms"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=135)
    parser.add_argument("--distinct", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        make_study(root, args.participants, args.distinct)
        seconds = read_recording(next((root / "physio").glob("*.csv"))).end_s
        print(
            f"study: {args.participants} participants x {seconds / 60:.1f} min at 1000 Hz "
            f"(simulated in {time.perf_counter() - started:.0f} s)"
        )
        folders = ["--data-dir", str(root / "data"), "--physio-dir", str(root / "physio"), "--out", str(root / "out")]
        command = [sys.executable, "-m", "experiment", "analyse", *folders, "--jobs", str(args.jobs)]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if result.returncode != 0:
            print(result.stderr)
        print(
            f"analyse: {wall:.1f} s wall for the whole study ({wall / args.participants:.2f} s per recording, "
            f"{args.jobs} workers); peak memory of one process {peak_mb:.0f} MB"
        )
        phases = pd.read_csv(root / "out" / "physio_phases.csv")
        first = phases[phases["participant"] == "B000"][["phase", "hr_bpm", "rmssd_ms"]]
        truth = pd.read_csv(root / "source_physio" / "truth" / "sub-T000_ses-1_truth.csv")[
            ["phase", "hr_bpm", "rmssd_ms"]
        ]
        ours = errors_against_truth(first.dropna(), truth)
        nk_seconds, nk_errors = neurokit_all_in_one(root)
        print(
            f"ours, one recording: max HR error {ours['hr_abs_error_bpm']:.2f} bpm, "
            f"max RMSSD error {ours['rmssd_rel_error']:.1%}"
        )
        print(
            f"neurokit2 ecg_process, same recording: {nk_seconds:.1f} s; max HR error "
            f"{nk_errors['hr_abs_error_bpm']:.2f} bpm, max RMSSD error {nk_errors['rmssd_rel_error']:.1%} "
            f"(its peaks, no ectopic handling)"
        )


if __name__ == "__main__":
    main()
