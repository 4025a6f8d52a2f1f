"""Corrections a person makes after review, applied by the analysis: on a real ECG (MIT-BIH
record 100, tests/data/ecg/) laid on the paradigm's phases, removing three true beats changes
the baseline's RMSSD and is counted; adding them back restores every value; a line that cannot
be applied stops the analysis with one sentence naming the file and the line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import REPO, validate_bids

from experiment.analysis import simulate
from experiment.analysis.corrections import HEADER

EXCERPT = REPO / "tests" / "data" / "ecg" / "mitdb-100-20min"
# The paradigm's phases, shortened so that the session fits the 10-minute excerpt.
PHASES = (
    ("welcome", "instructions", 20.0), ("baseline", "rest", 150.0), ("pre", "questionnaires", 30.0),
    ("induction", "audio", 200.0), ("post", "questionnaires", 30.0), ("recovery", "rest", 60.0),
    ("end", "end", 5.0),
)  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One session whose recording's ECG is record 100's lead II (resampled to 1000 Hz)."""
    import wfdb
    from scipy.signal import resample_poly

    root = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(3)
    folder = simulate.make_session(root / "data", "R100", "CBS", rng, phases=PHASES)
    physio = root / "physio"
    path = simulate.render(folder, physio, simulate.random_participant(rng, 1))
    export = pd.read_csv(path)
    record = wfdb.rdrecord(str(EXCERPT), channels=[0])
    ecg = resample_poly(record.p_signal[:, 0], simulate.RATE_HZ, int(record.fs))
    assert len(ecg) >= len(export), "the session must fit in the excerpt"
    columns = list(export.columns)
    simulate.write_export(path, *(export[c].to_numpy() for c in columns[:1]), ecg[: len(export)],
                          *(export[c].to_numpy() for c in columns[2:]))  # fmt: skip
    result, _ = analyse(root, "original")  # before any correction: what each test compares with
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def analyse(root, out_name: str) -> tuple[subprocess.CompletedProcess, pd.DataFrame | None]:
    out = root / out_name
    result = subprocess.run(
        [sys.executable, "-m", "experiment", "analyse", "--data-dir", str(root / "data"),
         "--physio-dir", str(root / "physio"), "--out", str(out), "--jobs", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    phases = pd.read_csv(out / "physio_phases.csv").set_index("phase") if result.returncode == 0 else None
    return result, phases


def write_corrections(root, lines: list[str]) -> None:
    folder = root / "physio" / "corrections"
    folder.mkdir(exist_ok=True)
    (folder / "sub-R100_ses-1_corrections.csv").write_text("\n".join([",".join(HEADER), *lines]) + "\n")


def test_removing_three_beats_and_adding_them_back(study):
    original = pd.read_csv(study / "original" / "physio_phases.csv").set_index("phase")
    assert (original["beats_edited"] == 0).all() and (original["reviewed"] == 0).all()
    beats = pd.read_csv(study / "original" / "beats" / "sub-R100_ses-1_beats.csv")
    assert {"time_s", "class", "used", "source"} <= set(beats.columns) and (beats["source"] == "detected").all()
    alignment = pd.read_csv(study / "original" / "alignment.csv").iloc[0]
    baseline_from = alignment["offset_s"] + 20.0  # the baseline starts 20 s into the session
    normal = beats[(beats["class"] == "normal") & (beats["time_s"] > baseline_from + 60)]
    chosen = normal["time_s"].to_numpy()[[10, 60, 120]]
    removals = [f"remove_beat,{t},,checking the review" for t in chosen]

    write_corrections(study, removals)
    edited, phases = analyse(study, "removed")
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert phases.loc["baseline", "beats_edited"] == 3 and (phases["reviewed"] == 1).all()
    assert (phases.drop("baseline")["beats_edited"] == 0).all()
    assert abs(phases.loc["baseline", "rmssd_ms"] - original.loc["baseline", "rmssd_ms"]) > 0.05  # restored: 0.01
    removed = pd.read_csv(study / "removed" / "beats" / "sub-R100_ses-1_beats.csv")
    assert (removed["source"] == "removed by hand").sum() == 3
    report = (study / "removed" / "report.html").read_text()
    assert "Corrections made in review" in report and "checking the review" in report

    # a hand-placed beat 20 ms off the R peak is put on it
    write_corrections(study, removals + [f"add_beat,{t + 0.02:.4f},,put back" for t in chosen])
    restored, phases = analyse(study, "restored")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for measure in ("hr_bpm", "rmssd_ms", "hf_ms2", "scl_us"):
        assert np.allclose(phases[measure], original[measure], atol=0.01, equal_nan=True), measure
    back = pd.read_csv(study / "restored" / "beats" / "sub-R100_ses-1_beats.csv")
    assert np.allclose(np.sort(back.loc[back["source"] == "added by hand", "time_s"]), np.sort(chosen), atol=1e-4)


@pytest.mark.parametrize(
    "line, says",
    [
        ("remove_beat,3.4321,,", "line 2 (remove_beat at 3.4321 s): there is no beat within 50 ms to remove"),
        ("exclude,400,300,", "line 2: exclude needs an end_s after its start_s (400 s)"),
        ("delete,400,,", "line 2: the action 'delete' is none of add_beat, remove_beat, exclude, accept"),
        ("accept,5000,,", "line 2 (accept at 5000 s): that time is in none of the session's phases"),
    ],
)
def test_a_line_that_cannot_be_applied_is_one_sentence(study, line, says):
    if line.startswith("remove_beat"):  # half-way between two detected beats
        beats = pd.read_csv(study / "original" / "beats" / "sub-R100_ses-1_beats.csv")["time_s"].to_numpy()
        line = f"remove_beat,{(beats[5] + beats[6]) / 2:.4f},,"
        says = f"line 2 (remove_beat at {(beats[5] + beats[6]) / 2:.4f} s): there is no beat within 50 ms to remove"
    write_corrections(study, [line])
    result, _ = analyse(study, "refused")
    assert result.returncode != 0
    assert says in result.stderr + result.stdout
    assert "sub-R100_ses-1_corrections.csv" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def export_bids(root, out_name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiment", "export-bids", "--data-dir", str(root / "data"),
         "--physio-dir", str(root / "physio"), "--out", str(root / out_name)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip


def test_the_bids_dataset_carries_the_review_on_the_session_clock(study):
    """export-bids measures with the review's corrections, as analyse does (its derivatives are the
    reviewed results, not the detector's), carries them moved to the session clock, and analyse
    --bids applies them again; a line that cannot be applied stops the export, the dataset kept."""
    beats = pd.read_csv(study / "original" / "beats" / "sub-R100_ses-1_beats.csv")
    alignment = pd.read_csv(study / "original" / "alignment.csv").iloc[0]
    baseline_from = alignment["offset_s"] + 20.0
    normal = beats[(beats["class"] == "normal") & (beats["time_s"] > baseline_from + 60)]["time_s"].to_numpy()
    lines = [
        f"remove_beat,{normal[10]},,a T wave", f"remove_beat,{normal[40]},,",
        f"add_beat,{normal[40] + 0.02:.4f},,put back", f"exclude,{normal[70]},{normal[70] + 5},movement",
    ]  # fmt: skip
    write_corrections(study, lines)
    reviewed, phases = analyse(study, "reviewed")
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    exported = export_bids(study, "bids")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "1 recordings, 1 of them reviewed" in exported.stdout

    derivatives = study / "bids" / "derivatives" / "selfcompassion-analysis"
    carried_file = derivatives / "sub-R100" / "ses-1" / "beh" / "sub-R100_ses-1_task-selfcompassion_corrections.tsv"
    carried = pd.read_csv(carried_file, sep="\t", keep_default_na=False)
    recorder_s = np.array([float(line.split(",")[1]) for line in lines])
    session_s = (recorder_s - alignment["offset_s"]) / (1 + alignment["drift_ppm"] * 1e-6)
    assert list(carried["action"]) == ["remove_beat", "remove_beat", "add_beat", "exclude"]
    np.testing.assert_allclose(carried["start_s"].astype(float), session_s, atol=1e-5)
    assert carried["end_s"].iloc[3] != "n/a" and carried["end_s"].iloc[0] == "n/a"
    assert list(carried["note"]) == ["a T wave", "n/a", "put back", "movement"]
    errors = [(i["code"], i.get("location")) for i in validate_bids(study / "bids") if i["severity"] == "error"]
    assert errors == []

    derived = pd.read_csv(derivatives / "physio_phases.tsv", sep="\t").set_index("phase")
    assert derived.loc["baseline", "beats_edited"] == phases.loc["baseline", "beats_edited"] == 3
    assert (derived["reviewed"] == 1).all()
    for measure in ("n_beats", "hr_bpm", "rmssd_ms", "artefact_pct"):
        np.testing.assert_allclose(derived[measure], phases[measure], equal_nan=True, err_msg=measure)

    from_bids = subprocess.run(
        [sys.executable, "-m", "experiment", "analyse", "--bids", str(study / "bids"),
         "--out", str(study / "from-bids")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert from_bids.returncode == 0, from_bids.stdout + from_bids.stderr
    again = pd.read_csv(study / "from-bids" / "physio_phases.csv").set_index("phase")
    original = pd.read_csv(study / "original" / "physio_phases.csv").set_index("phase")
    assert (again["beats_edited"] == phases["beats_edited"]).all() and (again["reviewed"] == 1).all()
    assert (again["n_beats"] == phases["n_beats"]).all()
    np.testing.assert_allclose(again["artefact_pct"], phases["artefact_pct"], atol=0.2)
    np.testing.assert_allclose(again["rmssd_ms"], phases["rmssd_ms"], rtol=0.005)
    assert abs(phases.loc["baseline", "rmssd_ms"] - original.loc["baseline", "rmssd_ms"]) > 0.05
    applied = pd.read_csv(study / "from-bids" / "corrections.csv", keep_default_na=False)
    assert list(applied["action"]) == list(carried["action"]) and list(applied["note"])[0] == "a T wave"
    # The dataset's review pages show the carried corrections, for looking: edits go to raw recordings.
    page = (study / "from-bids" / "review" / "sub-R100_ses-1.html").read_text()
    shown = json.loads(re.search(r'id="review-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert [c["action"] for c in shown["corrections"]] == list(carried["action"])
    assert shown["corrections_file"] == str(carried_file) and shown["beats"]["source"].count("removed by hand") == 2
    assert shown["clock"] == "session time"
    assert "they are for looking" in (study / "from-bids" / "review" / "index.html").read_text()
    served = subprocess.run(
        [sys.executable, "-m", "experiment", "review", "--out", str(study / "from-bids"), "--no-browser"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert served.returncode == 2 and "made from the BIDS dataset" in served.stderr and "Traceback" not in served.stderr

    before = {p: p.read_bytes() for p in (study / "bids").rglob("*") if p.is_file()}
    write_corrections(study, [*lines, f"remove_beat,{(normal[5] + normal[6]) / 2:.4f},,"])
    refused = export_bids(study, "bids")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "EXPORT NOT DONE:" in refused.stderr and "sub-R100_ses-1_corrections.csv line 6" in refused.stderr
    assert "export again" in refused.stderr
    assert {p: p.read_bytes() for p in (study / "bids").rglob("*") if p.is_file()} == before
