"""A session whose disk fills, or whose data folder disappears, mid-session: one true sentence,
no traceback, the ledger left alone and called what it is, and (once space is free) a resume."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import REPO, read_csv, run_session, session_dir, start_session, wait_for_marker, write_protocol

from experiment.datastore import EVENT_COLUMNS

TELLTALES = ("Traceback", "damaged", "restore it from the backup")


@pytest.fixture
def small_disk(tmp_path):
    """A 600 MB filesystem of the test's own (tmpfs, so in memory; mounting needs root), unmounted by the
    test. A session refuses to start with less than 500 MB free (preflight.MIN_FREE_MB)."""
    if os.geteuid() != 0:
        pytest.fail("filling a disk mid-session needs a small filesystem of the test's own: run the tests as root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=False)


def fill(disk) -> None:
    """Another program fills the disk to the last byte."""
    with (disk / "filler.bin").open("wb", buffering=0) as filler:
        block = b"\0" * (1 << 20)
        while True:
            try:
                filler.write(block)
            except OSError as err:
                assert err.errno == errno.ENOSPC
                block = block[: len(block) // 2]
                if not block:
                    return


def verify_ledger(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiment", "allocation", "verify", "--ledger", str(path)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip


def session_args(protocol, data) -> tuple[str, ...]:
    return ("--protocol", str(protocol), "--autopilot", "--participant", "P301", "--data-dir", str(data))


def session_meeting(fault, protocol, data) -> tuple[int, str, str]:
    """Start a session, do ``fault()`` once its baseline runs, and return (exit code, out, err)."""
    proc = start_session(*session_args(protocol, data))
    try:
        wait_for_marker(session_dir(data, "P301"), "baseline_start", 90)
        fault()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


def test_a_disk_that_fills_mid_session_ends_in_one_sentence_and_the_session_resumes(tmp_path, small_disk):
    protocol = write_protocol(tmp_path / "protocol", rest_s=4.0, audio_s=2.0)
    data = small_disk / "data"
    code, out, err = session_meeting(lambda: fill(small_disk), protocol, data)
    assert code == 1, out + err
    assert not any(word in out + err for word in TELLTALES), out + err
    last = err.strip().splitlines()[-1]
    assert last.startswith("SESSION NOT COMPLETED: The disk holding ") and "is full" in last, last
    assert f"Everything recorded so far is in {session_dir(data, 'P301')}" in last
    folder = session_dir(data, "P301")
    with (folder / "events.csv").open(newline="") as handle:  # every row whole
        assert all(len(row) == len(EVENT_COLUMNS) for row in csv.reader(handle))
    assert verify_ledger(data / "allocation.sqlite").returncode == 0

    (small_disk / "filler.bin").unlink()  # space is freed: the technician starts the session again
    again = run_session(*session_args(protocol, data))
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = json.loads((data / "sub-P301" / "ses-1_run-2" / "session.json").read_text())
    assert resumed["status"] == "completed" and resumed["resumed_from"] == str(folder)
    assert len(read_csv(data / "sub-P301" / "ses-1_run-2" / "responses.csv")) > 0


def test_a_data_folder_that_disappears_mid_session_is_said_as_it_is(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=4.0, audio_s=2.0)
    data = tmp_path / "data"
    code, out, err = session_meeting(lambda: shutil.rmtree(data), protocol, data)  # a USB drive pulled
    assert code == 1, out + err
    assert not any(word in out + err for word in TELLTALES), out + err
    last = err.strip().splitlines()[-1]
    assert "has gone (deleted, or its drive was disconnected)" in last, last
    assert "verything recorded so far is in" not in last  # nothing of it is left: never said to be kept
    assert "is no longer there" in out  # the ledger went with the folder: said, not called damaged
