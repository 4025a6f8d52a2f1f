"""Sessions allocate through the ledger: blind mode, strata, a shared PostgreSQL ledger, and a
ledger that fails verification stopping the session before anything is made."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time

from helpers import (
    REPO,
    abort_at_welcome,
    find_window,
    read_csv,
    run_session,
    session_dir,
    start_session,
    write_protocol,
    xdotool,
)

from experiment.allocation import Ledger
from experiment.config import GROUP_KEYS

GROUP_WORD = re.compile(r"\b(" + "|".join(GROUP_KEYS) + r")\b|\.flac")


def _blind(text: str) -> str:
    return text.replace("blind = false", "blind = true")


def test_blind_session_never_shows_the_group_to_the_technician(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5, edit=_blind)
    data = tmp_path / "data"
    result = run_session("--protocol", str(protocol), "--autopilot", "--participant", "P021", "--data-dir", str(data))
    assert result.returncode == 0, result.stdout + result.stderr
    folder = session_dir(data, "P021")
    record = json.loads((folder / "session.json").read_text())
    assert record["group"] in GROUP_KEYS and record["allocation"]["blind"] is True
    for shown in (result.stdout, result.stderr, (folder / "session.log").read_text()):
        assert not GROUP_WORD.search(shown), GROUP_WORD.search(shown)
    assert all(not GROUP_WORD.search(row["detail"]) for row in read_csv(folder / "events.csv"))
    ledger = Ledger.open(data / "allocation.sqlite")
    allocation = ledger.lookup("P021")
    outcome = [e for e in ledger.entries() if e["kind"] == "outcome"]
    ledger.close()
    assert (allocation.group, allocation.hash) == (record["group"], record["allocation"]["entry_hash"])
    assert [(e["participant"], e["status"], e["session"]) for e in outcome] == [("P021", "completed", "1")]


def test_open_protocol_shows_the_group_on_the_console(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5)  # the demo protocol is not blind
    data = tmp_path / "data"
    result = run_session("--protocol", str(protocol), "--autopilot", "--participant", "P022", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    group = json.loads((session_dir(data, "P022") / "session.json").read_text())["group"]
    assert f"P022 group {group} |" in result.stdout


def _stratified(text: str) -> str:
    return text.replace(
        "replace_aborted = false", 'replace_aborted = true\nstratify_by = "Gender"\nstrata = ["female", "male"]'
    )


def test_stratified_sessions_share_a_postgresql_ledger(tmp_path, postgres_server):
    url = postgres_server.new_database("stations")
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5, edit=_stratified)
    init = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiment",
            "allocation",
            "init",
            "--ledger",
            url,
            "--n",
            "20",
            "--protocol",
            str(protocol),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert init.returncode == 0, init.stderr
    data = tmp_path / "data"
    common = ("--protocol", str(protocol), "--autopilot", "--data-dir", str(data), "--ledger", url)
    no_stratum = run_session(*common, "--participant", "P031")
    assert no_stratum.returncode == 2 and "no stratum was given" in no_stratum.stderr
    assert not (data / "sub-P031").exists()
    room = run_session(*common, "--participant", "P031", "--stratum", "female", "--station", "room-B")
    assert room.returncode == 0, room.stdout + room.stderr
    record = json.loads((session_dir(data, "P031") / "session.json").read_text())
    assert record["allocation"]["ledger"] == url  # no password in the URL, so shown whole
    assert (record["allocation"]["stratum"], record["allocation"]["position"], record["station"]) == (
        "female",
        1,
        "room-B",
    )
    assert not (data / "allocation.sqlite").exists()  # the shared ledger is the only one
    ledger = Ledger.open(url)
    allocation = ledger.lookup("P031")
    assert (allocation.stratum, allocation.group, allocation.station) == ("female", record["group"], "room-B")
    assert ledger.allocations()[0]["status"] == "completed"
    ledger.close()


def test_the_dialog_asks_for_the_stratum_and_presets_none(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=30, edit=_stratified)
    data = tmp_path / "data"
    folder = data / "sub-P043" / "ses-1"
    args = ("--protocol", str(protocol), "--participant", "P043", "--technician", "AB", "--data-dir", str(data))
    proc = start_session(*args)
    try:
        dialog = find_window("New session", process=proc)
        xdotool("windowfocus", "--sync", dialog)
        time.sleep(0.3)
        xdotool("key", "Return")  # the stratum left at "(choose)": shown again, nothing allocated
        time.sleep(1.0)
        assert proc.poll() is None and not (data / "allocation.sqlite").exists()
        again = find_window("New session", process=proc)
        xdotool("windowfocus", "--sync", again)
        time.sleep(0.3)
        xdotool("key", "Tab", "Tab", "Tab", "Down", "Down")  # to the stratum box: (choose), female, male
        xdotool("key", "Return")
        abort_at_welcome(proc, folder)
    finally:
        if proc.poll() is None:
            proc.kill()
    record = json.loads((folder / "session.json").read_text())
    assert record["allocation"]["stratum"] == "male"
    ledger = Ledger.open(data / "allocation.sqlite")
    allocation = ledger.lookup("P043")
    ledger.close()
    assert (allocation.stratum, allocation.group) == ("male", record["group"])


def test_a_tampered_ledger_stops_the_session_before_anything_is_made(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5)
    data = tmp_path / "data"
    common = ("--protocol", str(protocol), "--autopilot", "--data-dir", str(data))
    assert run_session(*common, "--participant", "P041").returncode == 0
    with sqlite3.connect(data / "allocation.sqlite") as db:
        db.execute("UPDATE ledger_entries SET station = 'elsewhere' WHERE participant = 'P041'")
    result = run_session(*common, "--participant", "P042")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "fails verification (entry 2 (allocation of P041) was altered" in result.stderr
    assert "Traceback" not in result.stderr and not (data / "sub-P042").exists()


def test_a_ledger_made_for_other_strata_is_refused(tmp_path):
    data = tmp_path / "data"
    first = write_protocol(tmp_path / "first", rest_s=0.5)
    assert (
        run_session(
            "--protocol", str(first), "--autopilot", "--participant", "P051", "--data-dir", str(data)
        ).returncode
        == 0
    )
    changed = write_protocol(tmp_path / "changed", rest_s=0.5, edit=_stratified)
    args = (
        "--protocol",
        str(changed),
        "--autopilot",
        "--participant",
        "P052",
        "--stratum",
        "male",
        "--data-dir",
        str(data),
    )
    result = run_session(*args)
    assert result.returncode == 2
    assert "was made for groups CBS,LKM,RUM,PE,NEU without strata" in result.stderr
    assert not (data / "sub-P052").exists()


def test_preflight_reports_the_ledger(tmp_path):
    data = tmp_path / "data"
    ledger = Ledger.create(data / "allocation.sqlite", _design_of_demo())
    ledger.allocate("P001")
    ledger.close()
    result = subprocess.run(
        [sys.executable, "-m", "experiment", "preflight", "--demo", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    line = next(line for line in result.stdout.splitlines() if "allocation ledger" in line)
    assert "reachable and intact, 1 participant(s) allocated" in line, result.stdout


def _design_of_demo():
    from experiment.allocation import Design

    return Design(GROUP_KEYS, 135, (5, 10))
