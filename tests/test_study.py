"""The trial from one place: a ledger with ten allocations, three sessions run for real and one
ended early, recordings for three, one participant withdrawn and erased - the disposition table,
the CONSORT diagram box by box, the status page, blind mode, and the analysis leaving the
withdrawn out."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from helpers import (
    GROUPS,
    REPO,
    find_window,
    press_escape_and_confirm,
    run_session,
    session_dir,
    start_session,
    wait_for_marker,
    write_protocol,
)

from experiment.allocation.ledger import Ledger
from experiment.analysis import simulate
from experiment.study import consort


def experiment(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "experiment", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    protocol = write_protocol(root / "protocol", rest_s=0.5, audio_s=15.0)  # long enough to measure a heart rate
    data, physio = root / "data", root / "physio"
    for participant in ("P001", "P002", "P003"):
        result = run_session("--protocol", protocol, "--autopilot", "--participant", participant, "--data-dir", data)
        assert result.returncode == 0, result.stdout + result.stderr
    proc = start_session("--protocol", str(protocol), "--autopilot", "--participant", "P004", "--data-dir", str(data))
    try:
        wait_for_marker(session_dir(data, "P004"), "baseline_start")
        press_escape_and_confirm(find_window("PsychoPy", process=proc))
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3
    for n in range(5, 11):  # allocated, not yet run
        ledger = data / "allocation.sqlite"
        assigned = experiment("allocation", "assign", "--ledger", ledger, "--participant", f"P{n:03d}")
        assert assigned.returncode == 0, assigned.stderr
    rng = np.random.default_rng(2)
    for participant in ("P001", "P002", "P003"):
        # No movement artefact and no premature beat: the audio phase holds only about 20 beats, where
        # one premature beat (two intervals) is already 10 % and flags the phase (failed once in CI).
        person = replace(simulate.random_participant(rng, 1), artefact=False, ectopic_every=10**6)
        simulate.render(session_dir(data, participant), physio, person)
    return root


def read_rows(path):
    with path.open(newline="") as handle:
        return {row["participant"]: row for row in csv.DictReader(handle)}


def test_a_withdrawal_with_erasure_and_the_study_status(study, tmp_path):
    data, physio = study / "data", study / "physio"
    ledger_file = data / "allocation.sqlite"
    assert (data / "sub-P003").is_dir() and (physio / "sub-P003_ses-1_physio.csv").exists()

    refused = experiment("withdraw", "--participant", "P099", "--data-dir", data, "--reason", "asked")
    assert refused.returncode == 2 and "P099 has no allocation" in refused.stderr
    unconfirmed = subprocess.run(
        [sys.executable, "-m", "experiment", "withdraw", "--participant", "P003", "--data-dir", str(data),
         "--physio-dir", str(physio), "--reason", "consent withdrawn by email", "--erase"],
        input="no\n", capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert "sub-P003_ses-1_physio.csv" in unconfirmed.stdout and "Nothing done" in unconfirmed.stdout
    assert (data / "sub-P003").is_dir()

    erased = experiment("withdraw", "--participant", "P003", "--data-dir", data, "--physio-dir", physio,
                        "--reason", "consent withdrawn by email", "--erase", "--yes")  # fmt: skip
    assert erased.returncode == 0, erased.stderr
    assert not (data / "sub-P003").exists() and not list(physio.rglob("sub-P003_*"))
    assert (data / "sub-P001").is_dir() and (physio / "sub-P001_ses-1_physio.csv").exists()
    verified = experiment("allocation", "verify", "--ledger", ledger_file)
    assert verified.returncode == 0, verified.stderr
    ledger = Ledger.open(ledger_file)
    try:
        erasure = next(e for e in ledger.entries() if e["kind"] == "erasure")
        group_of = {r["participant"]: r["group"] for r in ledger.allocations()}
    finally:
        ledger.close()
    record = json.loads(erasure["detail"])
    assert record["reason"] == "consent withdrawn by email" and len(record["files"]) >= 4
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in record["files"])

    analysed = experiment("analyse", "--data-dir", data, "--physio-dir", physio, "--out", tmp_path / "results")
    assert analysed.returncode == 0, analysed.stderr
    with (tmp_path / "results" / "physio_phases.csv").open() as handle:
        assert {row["participant"] for row in csv.DictReader(handle)} == {"P001", "P002"}  # P004 has no recording

    made = experiment("study-status", "--data-dir", data, "--physio-dir", physio, "--results", tmp_path / "results",
                      "--out", tmp_path / "status")  # fmt: skip
    assert made.returncode == 0, made.stderr
    rows = read_rows(tmp_path / "status" / "disposition.csv")
    assert len(rows) == 10
    assert {p: rows[p]["status"] for p in ("P001", "P002", "P003", "P004")} == {
        "P001": "completed", "P002": "completed", "P003": "erased", "P004": "ended early",
    }  # fmt: skip
    assert all(rows[f"P{n:03d}"]["status"] == "not yet run" for n in range(5, 11))
    assert rows["P003"]["reason"] == "consent withdrawn by email" and rows["P003"]["erased_at"]
    assert [rows[p]["analysable_heart"] for p in ("P001", "P002")] == ["yes", "yes"]
    assert rows["P004"]["recording_found"] == "no"

    # Blind: arms, never a group's name, in the table, the diagram (its SVG keeps words as text) and the page
    assert {r["arm"] for r in rows.values()} <= {f"arm {c}" for c in "ABCDE"}
    for name in ("disposition.csv", "consort.svg", "status.html"):
        text = (tmp_path / "status" / name).read_text()
        assert not re.search(r"\b(" + "|".join(GROUPS) + r")\b", text), name
    svg = (tmp_path / "status" / "consort.svg").read_text()
    assert "Randomised (n = 10)" in svg and "Allocated to arm" in svg

    # The diagram's boxes, counted from the table, box by box
    top, boxes = consort.boxes(list(rows.values()))
    assert top == "Randomised (n = 10)"
    arm_of = {p: rows[p]["arm"] for p in rows}
    for arm, (allocation, follow_up, analysis) in boxes.items():
        mine = [p for p in rows if arm_of[p] == arm]
        received = [p for p in mine if p in ("P001", "P002", "P003")]
        lost = [p for p in mine if p in ("P003", "P004")]
        analysable = [p for p in mine if p in ("P001", "P002")]
        assert f"Allocated to {arm} (n = {len(mine)})" in allocation
        assert f"Received the allocated audio (n = {len(received)})" in allocation
        assert f"Did not receive it (n = {len(mine) - len(received)})" in allocation
        assert f"Discontinued (n = {len(lost)})" in follow_up
        assert f"Analysed (n = {len(analysable)})" in analysis
        assert f"Excluded from analysis (n = {len(mine) - len(analysable)})" in analysis
    assert sum(int(a.split("(n = ")[1].split(")")[0]) for a, _, _ in boxes.values()) == 10

    unblinded = experiment("study-status", "--data-dir", data, "--physio-dir", physio, "--out", tmp_path / "open",
                           "--unblind")  # fmt: skip
    assert unblinded.returncode == 0, unblinded.stderr
    open_rows = read_rows(tmp_path / "open" / "disposition.csv")
    assert {p: r["arm"] for p, r in open_rows.items()} == group_of
    page = (tmp_path / "status" / "status.html").read_text()
    assert "consent withdrawn by email" in page and "P003" in page

    # Withdrawn without erasure: the data stay, and the analysis and the BIDS export leave them out
    kept = experiment("withdraw", "--participant", "P002", "--data-dir", data, "--reason", "no longer wishes")
    assert kept.returncode == 0 and (data / "sub-P002").is_dir(), kept.stderr
    again = experiment("analyse", "--data-dir", data, "--physio-dir", physio, "--out", tmp_path / "results2")
    assert again.returncode == 0 and "1 withdrawn participant(s) left out: P002" in again.stderr, again.stderr
    with (tmp_path / "results2" / "physio_phases.csv").open() as handle:
        assert {row["participant"] for row in csv.DictReader(handle)} == {"P001"}
    exported = experiment("export-bids", "--data-dir", data, "--physio-dir", physio, "--out", tmp_path / "bids")
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "bids" / "sub-P001").is_dir() and not (tmp_path / "bids" / "sub-P002").exists()
    report = experiment("allocation", "report", "--ledger", data / "allocation.sqlite")
    assert "withdrawn 2 (data erased 1)" in report.stdout, report.stdout + report.stderr


def test_a_withdrawal_with_erasure_and_the_study_status_on_a_postgresql_ledger(postgres_server, tmp_path):
    """The same commands on a shared database ledger, as a lab with several testing rooms has it."""
    url = postgres_server.new_database(f"study_{time.monotonic_ns()}")
    data = tmp_path / "data"
    (data / "sub-P003" / "ses-1").mkdir(parents=True)
    (data / "sub-P003" / "ses-1" / "responses.csv").write_text("participant,item\nP003,1\n")
    assert experiment("allocation", "init", "--ledger", url, "--n", "10").returncode == 0
    for n in (1, 2, 3):
        assigned = experiment("allocation", "assign", "--ledger", url, "--participant", f"P{n:03d}")
        assert assigned.returncode == 0, assigned.stderr

    kept = experiment("withdraw", "--ledger", url, "--participant", "P002", "--data-dir", data, "--reason", "moved")
    assert kept.returncode == 0, kept.stderr
    erased = experiment("withdraw", "--ledger", url, "--participant", "P003", "--data-dir", data,
                        "--reason", "consent withdrawn", "--erase", "--yes")  # fmt: skip
    assert erased.returncode == 0, erased.stderr
    assert not (data / "sub-P003").exists()

    made = experiment("study-status", "--ledger", url, "--data-dir", data, "--out", tmp_path / "status")
    assert made.returncode == 0, made.stderr
    rows = read_rows(tmp_path / "status" / "disposition.csv")
    assert {p: r["status"] for p, r in rows.items()} == {"P001": "not yet run", "P002": "withdrawn", "P003": "erased"}
    assert rows["P002"]["reason"] == "moved" and rows["P003"]["reason"] == "consent withdrawn"
    assert experiment("allocation", "verify", "--ledger", url).returncode == 0
    report = experiment("allocation", "report", "--ledger", url)
    assert "withdrawn 2 (data erased 1)" in report.stdout, report.stdout + report.stderr
