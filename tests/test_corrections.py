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


def split_into_linked_runs(folder, at_phase: str) -> None:
    """The session as the runner leaves one resumed at ``at_phase``: run 1 stopped before it, run 2
    (ses-N_run-2, its own clock from 5 s before the phase) from it on; one recording for both."""
    record = json.loads((folder / "session.json").read_text())
    events = pd.read_csv(folder / "events.csv", dtype=str, keep_default_na=False)
    resumed_at = next(p["start_s"] for p in record["phases"] if p["name"] == at_phase)
    zero = resumed_at - 5.0
    second = folder.with_name(f"{folder.name}_run-2")
    second.mkdir()
    later = events["time_s"].astype(float) >= resumed_at - 0.001
    events[~later].to_csv(folder / "events.csv", index=False)
    events.loc[later, "time_s"] = [f"{float(t) - zero:.6f}" for t in events.loc[later, "time_s"]]
    events[later].to_csv(second / "events.csv", index=False)
    (second / "responses.csv").write_bytes((folder / "responses.csv").read_bytes())
    before = [p for p in record["phases"] if p["start_s"] < resumed_at]
    after = [p | {"start_s": p["start_s"] - zero, "end_s": p["end_s"] - zero} for p in record["phases"]
             if p["start_s"] >= resumed_at]  # fmt: skip
    (folder / "session.json").write_text(json.dumps(record | {"phases": before, "status": "running"}))
    (second / "session.json").write_text(json.dumps(record | {"phases": after, "run": 2, "resumed_from": str(folder),
                                                              "resumed_at_phase": at_phase}))  # fmt: skip


def test_a_session_resumed_in_a_linked_run_is_one_recording_reviewed_once(tmp_path):
    """Both runs measured from the one recording, each on its own clock: every phase once, one
    review page with all of them, an accept in the second run's phase accepted; the same through
    the BIDS dataset, where each run has its own physio file and page."""
    rng = np.random.default_rng(5)
    folder = simulate.make_session(tmp_path / "data", "M001", "CBS", rng, phases=PHASES)
    simulate.render(folder, tmp_path / "physio", simulate.random_participant(rng, 2))
    split_into_linked_runs(folder, "induction")
    first, _ = analyse(tmp_path, "first")
    assert first.returncode == 0, first.stdout + first.stderr
    beats = pd.read_csv(tmp_path / "first" / "beats" / "sub-M001_ses-1_beats.csv")["time_s"].to_numpy()
    run_2 = pd.read_csv(tmp_path / "first" / "alignment.csv").iloc[1]  # on the recorder's clock: run 2's recovery
    recovery = next(p for p in json.loads((folder.with_name("ses-1_run-2") / "session.json").read_text())["phases"]
                    if p["name"] == "recovery")  # fmt: skip
    in_recovery = run_2["offset_s"] + (1 + run_2["drift_ppm"] * 1e-6) * (recovery["start_s"] + 10)
    (tmp_path / "physio" / "corrections").mkdir()
    (tmp_path / "physio" / "corrections" / "sub-M001_ses-1_corrections.csv").write_text(
        f"{','.join(HEADER)}\nremove_beat,{beats[100]},,in run 1\naccept,{in_recovery:.3f},,in run 2\n"
    )
    result, phases = analyse(tmp_path, "reviewed")
    assert result.returncode == 0 and "problem:" not in result.stdout, result.stdout + result.stderr
    assert list(phases.index) == [name for name, _, _ in PHASES] and (phases["reviewed"] == 1).all()
    assert phases["beats_edited"].sum() == 1
    page = (tmp_path / "reviewed" / "review" / "sub-M001_ses-1.html").read_text()
    shown = json.loads(re.search(r'id="review-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert [p["phase"] for p in shown["phases"]] == [name for name, _, _ in PHASES]

    exported = export_bids(tmp_path, "bids")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "2 session runs, 2 recordings, 2 of them reviewed" in exported.stdout
    from_bids = subprocess.run(
        [sys.executable, "-m", "experiment", "analyse", "--bids", str(tmp_path / "bids"),
         "--out", str(tmp_path / "from-bids")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert from_bids.returncode == 0 and "problem:" not in from_bids.stdout, from_bids.stdout + from_bids.stderr
    again = pd.read_csv(tmp_path / "from-bids" / "physio_phases.csv").set_index("phase")
    assert list(again.index) == list(phases.index) and (again["beats_edited"] == phases["beats_edited"]).all()
    index = (tmp_path / "from-bids" / "review" / "index.html").read_text()
    assert "href='sub-M001_ses-1_run-1.html'" in index and "href='sub-M001_ses-1_run-2.html'" in index

    (tmp_path / "physio" / "corrections" / "sub-M001_ses-1_corrections.csv").write_text(
        f"{','.join(HEADER)}\naccept,{beats[-1] + 100},,after the end\n"
    )
    refused, _ = analyse(tmp_path, "refused")
    assert refused.returncode == 2 and "that time is in none of the session's phases" in refused.stderr
    assert "more such line" not in refused.stderr  # one line, said once though two runs read it
