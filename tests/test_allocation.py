from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiment.allocation import SqliteAllocator, block_sequence
from experiment.config import GROUP_KEYS
from experiment.errors import AllocationError


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), n=st.integers(1, 60))
def test_groups_never_differ_by_more_than_one(seed, n):
    counts = Counter()
    for position in range(n):
        counts[block_sequence(seed, GROUP_KEYS, position)] += 1
        values = [counts[g] for g in GROUP_KEYS]
        assert max(values) - min(values) <= 1


def test_same_id_same_group_across_reopening(tmp_path):
    ledger = tmp_path / "allocation.sqlite"
    first = SqliteAllocator(ledger, GROUP_KEYS, seed=7)
    groups = {pid: first.allocate(pid).group for pid in ("P001", "P002", "P003")}
    first.close()
    again = SqliteAllocator(ledger, GROUP_KEYS)  # the stored seed wins over none
    assert {pid: again.allocate(pid).group for pid in groups} == groups
    assert again.allocate("P004").position == 3
    assert sum(again.counts().values()) == 4


def test_secret_seed_differs_between_ledgers(tmp_path):
    sequences = set()
    for i in range(3):
        allocator = SqliteAllocator(tmp_path / f"l{i}.sqlite", GROUP_KEYS)
        sequences.add(tuple(allocator.allocate(f"P{n:03d}").group for n in range(10)))
    assert len(sequences) > 1


def test_ledger_for_other_groups_is_refused(tmp_path):
    SqliteAllocator(tmp_path / "l.sqlite", GROUP_KEYS, seed=1).close()
    with pytest.raises(AllocationError, match="was made for groups"):
        SqliteAllocator(tmp_path / "l.sqlite", GROUP_KEYS[:3])


def test_corrupt_ledger_is_one_sentence(tmp_path):
    path = tmp_path / "l.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AllocationError, match="cannot be used"):
        SqliteAllocator(path, GROUP_KEYS)


def _allocate_many(args):
    path, ids = args
    allocator = SqliteAllocator(path, GROUP_KEYS, seed=3)
    return [(pid, allocator.allocate(pid).group, allocator.allocate(pid).position) for pid in ids]


def test_concurrent_processes_never_share_a_position(tmp_path):
    path = tmp_path / "l.sqlite"
    SqliteAllocator(path, GROUP_KEYS, seed=3).close()
    chunks = [(path, [f"P{w}{i:02d}" for i in range(15)]) for w in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = [row for chunk in pool.map(_allocate_many, chunks) for row in chunk]
    positions = sorted(position for _, _, position in results)
    assert positions == list(range(60))
    counts = Counter(group for _, group, _ in results)
    assert set(counts.values()) == {12}
