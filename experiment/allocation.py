"""Allocation of participants to groups: balanced, seeded, permanent.

The ledger is an SQLite file under the data folder. Participants are allocated in the order
they arrive along a sequence of permuted blocks (each block holds every group once), so the
groups never differ by more than one. The sequence seed is drawn from ``secrets`` when the
ledger is created (or taken from the protocol, for the demo) and stays in the ledger file,
never on a technician's screen. The same ID always gets the same group back.

This is the simple allocator the session needs; :class:`Allocator` is the interface a fuller
ledger (strata, several stations, hash chain) replaces it behind.
"""

from __future__ import annotations

import random
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from experiment.errors import AllocationError

LEDGER_FILENAME = "allocation.sqlite"
FINAL_STATUSES = ("completed", "aborted", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS allocations (
    position INTEGER PRIMARY KEY,
    participant TEXT NOT NULL UNIQUE,
    grp TEXT NOT NULL,
    allocated_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'allocated'
);
"""


@dataclass(frozen=True)
class Allocation:
    participant: str
    group: str
    position: int
    allocated_at: str
    status: str


class Allocator(Protocol):
    def allocate(self, participant: str) -> Allocation: ...

    def lookup(self, participant: str) -> Allocation | None: ...

    def record_outcome(self, participant: str, status: str) -> None: ...


def block_sequence(seed: int, groups: Sequence[str], position: int) -> str:
    """The group at ``position`` (0-based) of the permuted-block sequence for ``seed``."""
    block, index = divmod(position, len(groups))
    order = list(groups)
    random.Random(f"{seed}:{block}").shuffle(order)
    return order[index]


class SqliteAllocator:
    """The balanced block allocator, stored in ``DATA/allocation.sqlite``.

    Parameters
    ----------
    path : Path
        The ledger file; created on first use.
    groups : sequence of str
        Group keys, in protocol order. A ledger created for other groups is refused.
    seed : int or None
        Sequence seed for a new ledger; None draws a secret one.
    """

    def __init__(self, path: Path, groups: Sequence[str], seed: int | None = None) -> None:
        self.path = path
        self.groups = tuple(groups)
        try:
            self._db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
            self._db.executescript(_SCHEMA)
            self._seed = self._read_or_create_meta(seed)
        except sqlite3.DatabaseError as err:
            raise AllocationError(
                f"The allocation ledger {path} cannot be used ({err}): "
                "restore it from backup or ask the study's data manager."
            ) from None

    def _read_or_create_meta(self, seed: int | None) -> int:
        with self._transaction():
            meta = dict(self._db.execute("SELECT key, value FROM meta"))
            if not meta:
                seed = secrets.randbits(63) if seed is None else seed
                self._db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("seed", str(seed)), ("groups", ",".join(self.groups)), ("design", "permuted blocks")],
                )
                return seed
        if meta.get("groups") != ",".join(self.groups):
            raise AllocationError(
                f"The allocation ledger {self.path} was made for groups {meta.get('groups')}, but the protocol "
                f"defines {','.join(self.groups)}: use the protocol the study started with, or a new data folder."
            )
        return int(meta["seed"])

    def _transaction(self):
        return _Transaction(self._db, self.path)

    def lookup(self, participant: str) -> Allocation | None:
        row = self._db.execute(
            "SELECT participant, grp, position, allocated_at, status FROM allocations WHERE participant = ?",
            (participant,),
        ).fetchone()
        return Allocation(*row) if row else None

    def allocate(self, participant: str) -> Allocation:
        """The participant's group: the existing one, or the next in the sequence."""
        with self._transaction():
            existing = self.lookup(participant)
            if existing is not None:
                return existing
            (position,) = self._db.execute("SELECT COUNT(*) FROM allocations").fetchone()
            group = block_sequence(self._seed, self.groups, position)
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self._db.execute(
                "INSERT INTO allocations (position, participant, grp, allocated_at) VALUES (?, ?, ?, ?)",
                (position, participant, group, now),
            )
        return Allocation(participant, group, position, now, "allocated")

    def record_outcome(self, participant: str, status: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE allocations SET status = ? WHERE participant = ?", (status, participant))

    def check_writable(self) -> None:
        """Take and release the write lock: raises AllocationError when another program holds it."""
        with self._transaction():
            pass

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.groups, 0)
        for group, n in self._db.execute("SELECT grp, COUNT(*) FROM allocations GROUP BY grp"):
            counts[group] = n
        return counts

    def close(self) -> None:
        self._db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: one writer at a time, all or nothing."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise AllocationError(
                f"The allocation ledger {self.path} is locked by another program ({err}): wait a moment and try again."
            ) from None

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
