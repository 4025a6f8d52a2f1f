"""The allocation ledger: sequences, permanence, strata, replacement, tamper evidence,
concurrency, and the ``allocation`` commands, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiment.allocation import Design, Ledger
from experiment.allocation.sequence import imbalance_bound, stratum_sequence
from experiment.config import GROUP_KEYS
from experiment.errors import AllocationError

REPO = Path(__file__).resolve().parents[1]
BOTH = pytest.mark.parametrize("ledger_location", ["sqlite", "postgresql"], indirect=True)
DESIGN = Design(GROUP_KEYS, 40, (5, 10))


def imbalance(groups: list[str]) -> int:
    counts = Counter(groups)
    return max(counts[g] for g in GROUP_KEYS) - min(counts[g] for g in GROUP_KEYS)


# --- the sequence ------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    sizes=st.lists(st.sampled_from([5, 10, 15, 20]), min_size=1, max_size=3, unique=True),
    n=st.integers(1, 120),
)
def test_every_prefix_stays_within_the_block_bound(seed, sizes, n):
    sequence = stratum_sequence(seed, "all", GROUP_KEYS, sizes, n)
    assert len(sequence) == n
    bound = imbalance_bound(sizes, len(GROUP_KEYS))
    for end in range(1, n + 1):
        assert imbalance(sequence[:end]) <= bound


def test_block_sizes_really_vary_and_seeds_differ():
    sequence = stratum_sequence(11, "", GROUP_KEYS, (5, 10), 500)
    # Where every group has been seen equally often a block may end; with sizes 5 and 10
    # some of those points fall inside blocks of 10 and some blocks of 5 exist.
    balanced_at = [end for end in range(5, 501, 5) if imbalance(sequence[:end]) == 0]
    assert 50 < len(balanced_at) < 100
    assert stratum_sequence(12, "", GROUP_KEYS, (5, 10), 50) != stratum_sequence(11, "", GROUP_KEYS, (5, 10), 50)
    assert stratum_sequence(11, "f", GROUP_KEYS, (5, 10), 50) != stratum_sequence(11, "m", GROUP_KEYS, (5, 10), 50)


def test_the_sequence_is_the_same_on_every_machine():
    # SHA-256 counter mode, not Python's random: pinned, so an auditor's regeneration matches.
    expected = ["RUM", "NEU", "NEU", "RUM", "CBS", "LKM", "CBS", "LKM", "PE", "PE"]
    assert stratum_sequence(2019, "", GROUP_KEYS, (5, 10), 10) == expected


# --- the ledger, property-tested on SQLite ------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(arrivals=st.lists(st.sampled_from(["female", "male", "diverse"]), min_size=1, max_size=45))
def test_strata_are_balanced_and_independent_for_any_arrival_order(arrivals):
    design = Design(GROUP_KEYS, 30, (5, 10), ("female", "male", "diverse"))
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger.create(Path(folder) / "l.sqlite", design, seed=5)
        per_stratum: dict[str, list[str]] = {s: [] for s in design.strata}
        for number, stratum in enumerate(arrivals):
            allocation = ledger.allocate(f"P{number:03d}", stratum)
            per_stratum[stratum].append(allocation.group)
            assert imbalance(per_stratum[stratum]) <= design.bound
        ledger.close()
    for stratum, groups in per_stratum.items():  # each stratum follows its own list, whatever the others do
        assert groups == stratum_sequence(5, stratum, GROUP_KEYS, (5, 10), 30)[: len(groups)]


# --- the ledger on both databases ---------------------------------------------------------------
@BOTH
def test_same_id_same_group_after_reopening_and_abort(ledger_location):
    ledger = Ledger.create(ledger_location, DESIGN, station="room-1")
    groups = {pid: ledger.allocate(pid).group for pid in ("P001", "P002", "P003")}
    ledger.record_outcome("P002", "aborted")
    ledger.close()
    again = Ledger.open(ledger_location, station="room-2")
    assert {pid: again.allocate(pid).group for pid in groups} == groups
    fourth = again.allocate("P004")
    assert (fourth.position, fourth.station) == (3, "room-2")
    assert again.problems() == []
    again.close()


@BOTH
def test_aborted_slot_is_refilled_only_when_the_protocol_says_so(ledger_location):
    ledger = Ledger.create(ledger_location, DESIGN, seed=1)
    first = [ledger.allocate(f"P00{i}") for i in range(3)]
    ledger.record_outcome("P000", "aborted", replace=False)
    ledger.record_outcome("P001", "aborted", replace=True)
    ledger.record_outcome("P002", "completed", replace=True)  # only aborted slots are ever refilled
    refill = ledger.allocate("P010")
    assert (refill.group, refill.position, refill.replaces) == (first[1].group, None, "P001")
    after = ledger.allocate("P011")
    assert (after.position, after.replaces) == (3, None)
    rows = {r["participant"]: r for r in ledger.allocations()}
    assert rows["P001"]["replaced_by"] == "P010" and rows["P001"]["status"] == "aborted"
    assert rows["P000"]["slot_replaced"] is False
    ledger.close()


@BOTH
def test_refusals_are_one_sentence_and_allocate_nothing(ledger_location):
    design = Design(GROUP_KEYS, 5, (5,), ("female", "male"))
    ledger = Ledger.create(ledger_location, design, seed=2)
    with pytest.raises(AllocationError, match="'other' is not one of the ledger's strata"):
        ledger.allocate("P001", "other")
    with pytest.raises(AllocationError, match="no stratum was given"):
        ledger.allocate("P001")
    for i in range(5):
        ledger.allocate(f"P00{i}", "female")
    with pytest.raises(AllocationError, match="All 5 places of stratum 'female'.*are allocated"):
        ledger.allocate("P009", "female")
    assert ledger.allocate("P009", "male").position == 0  # the other stratum is untouched
    assert len(ledger.allocations()) == 6
    with pytest.raises(AllocationError, match="was made for groups"):
        ledger.require_design(GROUP_KEYS[:3], ())
    ledger.close()
    with pytest.raises(AllocationError, match="already exists.*never overwritten"):
        Ledger.create(ledger_location, design)


def test_missing_corrupt_and_locked_ledgers(tmp_path, monkeypatch):
    with pytest.raises(AllocationError, match="There is no allocation ledger at .*allocation init"):
        Ledger.open(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()  # opening never creates
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AllocationError, match="cannot be read.*restore it from the backup"):
        Ledger.open(junk)
    path = tmp_path / "l.sqlite"
    Ledger.create(path, DESIGN).close()
    assert path.stat().st_mode & 0o777 == 0o600
    import experiment.allocation.store as store

    monkeypatch.setattr(store, "LOCK_WAIT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program is writing
    ledger = Ledger.open(path)
    with pytest.raises(AllocationError, match="locked by another program"):
        ledger.allocate("P001")
    holder.execute("ROLLBACK")
    assert ledger.allocate("P001").position == 0
    ledger.close()


def _allocate_chunk(args):
    location, ids = args
    ledger = Ledger.open(location)
    try:
        return [(pid, ledger.allocate(pid).group, ledger.allocate(pid).position) for pid in ids]
    finally:
        ledger.close()


@BOTH
def test_concurrent_processes_never_share_or_skip_a_position(ledger_location):
    Ledger.create(ledger_location, Design(GROUP_KEYS, 60, (5, 10)), seed=3).close()
    chunks = [(ledger_location, [f"P{w}{i:02d}" for i in range(15)]) for w in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = [row for chunk in pool.map(_allocate_chunk, chunks) for row in chunk]
    assert sorted(position for _, _, position in results) == list(range(60))
    expected = stratum_sequence(3, "", GROUP_KEYS, (5, 10), 60)
    assert all(group == expected[position] for _, group, position in results)


def _allocate_in_order(args):
    location, ids, seed = args
    order = list(ids)
    random.Random(seed).shuffle(order)
    return {pid: group for pid, group, _ in _allocate_chunk((location, order))}


@BOTH
def test_the_same_ids_from_four_processes_are_allocated_once(ledger_location):
    Ledger.create(ledger_location, Design(GROUP_KEYS, 20, (5, 10)), seed=8).close()
    ids = [f"P{i:03d}" for i in range(20)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        seen = pool.map(_allocate_in_order, [(ledger_location, ids, worker) for worker in range(4)])
    assert all(view == seen[0] for view in seen)  # every process got the same group for each ID
    ledger = Ledger.open(ledger_location)
    rows = ledger.allocations()
    ledger.close()
    assert sorted(r["participant"] for r in rows) == ids
    assert sorted(r["position"] for r in rows) == list(range(1, 21))


# --- tamper evidence ----------------------------------------------------------------------------
def _ledger_with_history(path: Path) -> None:
    ledger = Ledger.create(path, DESIGN, seed=4)
    for i in range(6):
        ledger.allocate(f"P00{i}")
    ledger.record_outcome("P002", "completed")
    ledger.close()


def allocation_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiment", "allocation", *args], capture_output=True, text=True, cwd=REPO
    )


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ("UPDATE ledger_entries SET grp = 'CBS' WHERE entry = 4 AND grp <> 'CBS'", "entry 4 \\(allocation of P002\\)"),
        ("UPDATE ledger_entries SET grp = 'LKM' WHERE entry = 4 AND grp <> 'LKM'", "entry 4 \\(allocation of P002\\)"),
        ("DELETE FROM ledger_entries WHERE entry = 3", "entry 3 is missing"),
        ("DELETE FROM ledger_entries WHERE entry = 8", "entries at the end were deleted"),
        ("UPDATE ledger_sequence SET grp = 'NEU' WHERE position = 7 AND grp <> 'NEU'", "randomisation sequence"),
        ("UPDATE ledger_sequence SET grp = 'PE' WHERE position = 7 AND grp <> 'PE'", "randomisation sequence"),
    ],
)
def test_an_edited_ledger_fails_verify_naming_the_entry(tmp_path, edit, named):
    path = tmp_path / "l.sqlite"
    _ledger_with_history(path)
    assert allocation_cli("verify", "--ledger", str(path)).returncode == 0
    with sqlite3.connect(path) as db:
        changed = db.execute(edit).rowcount
    if not changed:
        return  # the row already held that value; the sister case edits it
    result = allocation_cli("verify", "--ledger", str(path))
    assert result.returncode == 1, result.stdout
    assert re.search(named, result.stderr), result.stderr
    ledger = Ledger.open(path)
    with pytest.raises(AllocationError, match="fails verification"):
        ledger.require_intact()
    ledger.close()


@BOTH
def test_an_edited_ledger_is_detected_on_either_database(ledger_location, tmp_path):
    ledger = Ledger.create(ledger_location, DESIGN, seed=4)
    for i in range(4):
        ledger.allocate(f"P00{i}")
    ledger._store.execute("UPDATE ledger_entries SET participant = 'P099' WHERE entry = 3")
    problems = ledger.problems()
    ledger.close()
    assert problems == ["entry 3 (allocation of P099) was altered: its contents no longer match its hash"]


# --- the commands, as the done-criterion says --------------------------------------------
def _assign_all(location: str, ids: list[str]) -> dict[str, str]:
    printed = {}
    for pid in ids:
        result = allocation_cli("assign", "--ledger", location, "--participant", pid)
        assert result.returncode == 0, result.stderr
        printed[pid] = result.stdout.strip().splitlines()[-1]
    return printed


@BOTH
def test_135_ids_from_four_processes_at_once(ledger_location, tmp_path):
    init = allocation_cli("init", "--ledger", ledger_location, "--n", "135")
    assert init.returncode == 0, init.stderr
    ids = [f"P{i:03d}" for i in range(1, 136)]
    with ThreadPoolExecutor(4) as pool:  # four command processes running at any moment
        printed = {
            k: v
            for part in pool.map(_assign_all, [ledger_location] * 4, [ids[w::4] for w in range(4)])
            for k, v in part.items()
        }
    assert sorted(printed) == ids and set(printed.values()) <= set(GROUP_KEYS)
    again = _assign_all(ledger_location, ids[::9])
    assert all(printed[pid] == group for pid, group in again.items())
    counts = Counter(printed.values())
    assert all(abs(counts[g] - 27) <= 2 for g in GROUP_KEYS), counts  # blocks of 5 or 10: bound 2
    report = allocation_cli("report", "--ledger", ledger_location)
    assert report.returncode == 0, report.stderr
    row = next(line for line in report.stdout.splitlines() if line.strip().startswith("(all)"))
    assert [int(v) for v in row.split()[1:6]] == [counts[g] for g in GROUP_KEYS]
    assert allocation_cli("verify", "--ledger", ledger_location).returncode == 0
    out = tmp_path / "consort.csv"
    assert allocation_cli("export", "--ledger", ledger_location, "--out", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 136 and lines[0].startswith("entry,participant,stratum,group,position")
    assert not list(tmp_path.glob("*.partial"))


def test_commands_refuse_bad_requests_with_one_sentence(tmp_path):
    path = str(tmp_path / "l.sqlite")
    missing = allocation_cli("assign", "--ledger", path, "--participant", "P001")
    assert missing.returncode == 2 and "There is no allocation ledger" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert allocation_cli("init", "--ledger", path, "--n", "20", "--strata", "female", "male").returncode == 0
    again = allocation_cli("init", "--ledger", path, "--n", "20")
    assert again.returncode == 2 and "already exists" in again.stderr
    unknown = allocation_cli("assign", "--ledger", path, "--participant", "P001", "--stratum", "other")
    assert unknown.returncode == 2 and "'other' is not one of the ledger's strata (female, male)" in unknown.stderr
    name = allocation_cli("assign", "--ledger", path, "--participant", "Jane Doe", "--stratum", "male")
    assert name.returncode == 2 and "never a name" in name.stderr
    sizes = allocation_cli("init", "--ledger", str(tmp_path / "x.sqlite"), "--n", "9", "--block-sizes", "4,8")
    assert sizes.returncode == 2 and "multiples of the number of groups (5)" in sizes.stderr
    ok = allocation_cli("assign", "--ledger", path, "--participant", "P001", "--stratum", "male")
    assert ok.returncode == 0 and "stratum male, position 1" in ok.stdout
    out = allocation_cli("outcome", "--ledger", path, "--participant", "P001", "--status", "aborted", "--replace")
    assert out.returncode == 0, out.stderr
    report = allocation_cli("report", "--ledger", path).stdout
    assert "aborted 1" in report and "still open 1" in report
