"""The analysis against simulated recordings whose truth is known: accuracy with ectopic
beats, a movement artefact and clock drift; faulty recordings reported without stopping the
rest; the outputs a researcher opens."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import REPO

from experiment.analysis.align import align
from experiment.analysis.recorders import Columns, read_recording
from experiment.analysis.recorders.digital import onsets
from experiment.errors import DataError


def experiment_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiment", *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Ten full-length (about 26-minute) sessions, three with a faulty recording, analysed once."""
    root = tmp_path_factory.mktemp("study")
    faults = "S003=truncated,S004=no_markers,S005=flat_ecg"
    made = experiment_cli(
        "simulate-recorder", "--data-dir", str(root / "data"), "--physio-dir", str(root / "physio"),
        "--make-sessions", "10", "--faults", faults, "--seed", "7",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = experiment_cli(
        "analyse", "--data-dir", str(root / "data"), "--physio-dir", str(root / "physio"), "--out", str(root / "out")
    )
    assert result.returncode == 0, result.stderr
    return root, result


def test_phase_values_match_the_truth(study):
    root, _ = study
    phases = pd.read_csv(root / "out" / "physio_phases.csv")
    truth = pd.concat(pd.read_csv(p) for p in sorted((root / "physio" / "truth").glob("*.csv")))
    merged = phases.merge(truth, on=["participant", "session", "phase"], suffixes=("", "_true"))
    healthy = merged[~merged["participant"].isin(["S003", "S004", "S005"]) & (merged["duration_s"] >= 30)]
    assert len(healthy) == 7 * 6  # seven good sessions, six phases of 30 s or more
    hr_ok = (healthy["hr_bpm"] - healthy["hr_bpm_true"]).abs() <= 1.0
    rmssd_ok = (healthy["rmssd_ms"] - healthy["rmssd_ms_true"]).abs() <= 0.10 * healthy["rmssd_ms_true"]
    scl_ok = (healthy["scl_us"] - healthy["scl_us_true"]).abs() <= 0.1
    within = pd.concat([hr_ok, rmssd_ok, scl_ok])
    assert within.mean() >= 0.95, healthy[~(hr_ok & rmssd_ok & scl_ok)].to_string()
    assert (healthy["quality"] == "ok").mean() >= 0.95


def test_clock_drift_and_offset_are_recovered(study):
    root, _ = study
    alignment = pd.read_csv(root / "out" / "alignment.csv").set_index("participant")
    whole = alignment.drop(index="S003")  # the truncated recording lost its later markers
    assert (whole["markers_matched"] == whole["markers_sent"]).all()
    assert alignment.loc["S003", "markers_matched"] < alignment.loc["S003", "markers_sent"]
    assert alignment["residual_max_ms"].max() < 1.0  # 1 kHz sampling: within a sample
    assert alignment["drift_ppm"].abs().max() > 5  # the simulator's clocks really drift


def test_faulty_recordings_are_listed_and_the_rest_analysed(study):
    root, result = study
    problems = pd.read_csv(root / "out" / "problems.csv").set_index("participant")["reason"]
    assert "stops at" in problems["S003"] and "truncated" in problems["S003"]
    assert "no markers" in problems["S004"]
    assert "ECG is flat" in problems["S005"]
    assert len(problems) == 3
    phases = pd.read_csv(root / "out" / "physio_phases.csv")
    assert set(phases["participant"]) == {f"S{n:03d}" for n in range(1, 11)} - {"S004"}
    truncated = phases[phases["participant"] == "S003"].set_index("phase")
    assert truncated.loc["baseline", "quality"] == "ok" and truncated.loc["recovery", "quality"] == "missing"
    flat = phases[phases["participant"] == "S005"].set_index("phase")
    assert flat.loc["baseline", "quality"] == "lead off" and flat.loc["baseline", "scl_us"] > 0  # EDA still measured
    assert "problem: sub-S004 ses-1: no markers" in result.stdout
    html = (root / "out" / "report.html").read_text()
    assert "sub-S004" in html and "change_by_group.png" in html and "timecourse.png" in html


def test_tables_and_contrasts_a_researcher_opens(study):
    root, _ = study
    out = root / "out"
    phases = pd.read_csv(out / "physio_phases.csv")
    for column in ("participant", "session", "group", "phase", "hr_bpm", "rmssd_ms", "hf_ms2", "scl_us", "quality"):
        assert column in phases.columns
    minutes = pd.read_csv(out / "physio_minutes.csv")
    assert len(minutes[(minutes["participant"] == "S001") & (minutes["phase"] == "induction")]) == 11
    selfreport = pd.read_csv(out / "selfreport.csv")
    assert set(selfreport["participant"]) == {f"S{n:03d}" for n in range(1, 11)}  # self-report needs no recording
    assert np.allclose(selfreport["change"], selfreport["post"] - selfreport["pre"])
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert {"CBS - RUM", "CBS - PE", "CBS - NEU", "LKM - RUM", "LKM - PE", "LKM - NEU"} <= set(contrasts["contrast"])
    summary = pd.read_csv(out / "group_summary.csv")
    row = summary[(summary["phase"] == "induction") & (summary["measure"] == "hr_bpm") & (summary["n"] > 1)]
    assert len(row) >= 2 and (row["ci_low"] <= row["mean"]).all() and (row["mean"] <= row["ci_high"]).all()
    for picture in ("change_by_group.png", "timecourse.png"):
        assert (out / picture).stat().st_size > 10_000


def test_markers_are_matched_even_when_one_is_lost(tmp_path):
    rate = 1000
    time_s = np.arange(0, 100, 1 / rate)
    digital = np.zeros(len(time_s), dtype=np.int32)
    session_times = [5.0, 20.0, 35.0, 50.0, 65.0, 80.0]
    codes = [1, 10, 11, 20, 21, 2]
    for t, code in zip(session_times, codes, strict=True):
        if code != 11:  # the recorder never saw this one
            start = int(round((3.0 + t * (1 + 50e-6)) * rate))
            digital[start : start + 10] = code
    events = [
        {"time_s": str(t), "code": str(c), "label": f"m{c}", "sent_ok": "true"}
        for t, c in zip(session_times, codes, strict=True)
    ]
    markers = onsets(time_s, digital, "digital")
    alignment = align(markers.times_s, markers.codes, events)
    assert (alignment.matched, alignment.expected) == (5, 6)
    assert abs(alignment.offset_s - 3.0) < 0.001 and abs(alignment.drift_ppm - 50) < 20
    assert len(markers.times_s) == 5


def test_unreadable_exports_are_one_sentence(tmp_path):
    export = tmp_path / "sub-P001_ses-1_physio.csv"
    export.write_text("Time,CH1\n0,1\n0.001,2\n")
    with pytest.raises(DataError, match="has no ECG channel that can be recognised.*--columns ecg=NAME"):
        read_recording(export)
    export.write_text("Time,CH1,CH2,D\n0,1,2,0\n0.001,2,2,0\n")
    recording = read_recording(export, Columns.parse("time=Time,ecg=CH1,eda=CH2,digital=D"))
    assert recording.ecg.rate_hz == pytest.approx(1000)
    labchart = tmp_path / "sub-P001_ses-1_physio.txt"  # a tab-separated text export
    labchart.write_text("Time\tECG\tGSR\tDigital\n0\t0.1\t5.0\t0\n0.001\t0.2\t5.0\t20\n")
    recording = read_recording(labchart, Columns.parse('eda="GSR"'))
    assert list(recording.markers.codes) == [20] and list(recording.eda.values) == [5.0, 5.0]
    with pytest.raises(DataError, match="--columns 'heart=CH1'"):
        Columns.parse("heart=CH1")
    missing = experiment_cli(
        "analyse", "--data-dir", str(tmp_path / "none"), "--physio-dir", str(tmp_path), "--out", str(tmp_path / "o")
    )
    assert missing.returncode == 2 and "No session folders" in missing.stderr and "Traceback" not in missing.stderr
