"""Tamper evidence: every ledger entry carries the hash of the one before it.

An entry's hash covers all of its fields and the previous entry's hash, so changing any field
of any entry, deleting an entry or inserting one breaks the chain from that point on; the
ledger also keeps the newest hash (its head) apart from the entries, so dropping the last
entries is noticed too. Someone who rewrites the whole chain and its head is not stopped by
this alone: note the head that ``allocation report`` prints in the study log now and then
(each session.json also keeps the hash of its participant's allocation).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

GENESIS = "0" * 64
# The columns of ledger_entries, in the order they are hashed (hash itself last, not hashed).
FIELDS = (
    "entry",
    "kind",
    "participant",
    "stratum",
    "grp",
    "position",
    "replaces",
    "status",
    "replace_slot",
    "session",
    "station",
    "at",
    "detail",
    "prev_hash",
)


def entry_hash(values: Sequence) -> str:
    """SHA-256 of the entry's fields (in FIELDS order) as compact JSON."""
    return hashlib.sha256(json.dumps(list(values), separators=(",", ":")).encode()).hexdigest()


def describe(row: dict) -> str:
    what = {
        "init": "the ledger's creation", "allocation": "allocation of", "outcome": "outcome of",
        "withdrawal": "withdrawal of", "erasure": "erasure of the data of",
    }  # fmt: skip
    return f"entry {row['entry']} ({what.get(row['kind'], row['kind'])} {row['participant'] or ''})".replace(" )", ")")


def chain_problems(rows: list[dict], head: str | None, count: int | None) -> list[str]:
    """Every break in the chain, one sentence each, naming the entry; [] when intact."""
    problems = []
    previous_hash, previous_entry = GENESIS, 0
    for row in rows:
        values = [row[field] for field in FIELDS]
        if row["entry"] != previous_entry + 1:
            problems.append(
                f"entry {previous_entry + 1} is missing (entries jump from {previous_entry} to {row['entry']})"
            )
        elif row["prev_hash"] != previous_hash:
            problems.append(f"{describe(row)} does not follow entry {previous_entry}: an entry was deleted or replaced")
        if entry_hash(values) != row["hash"]:
            problems.append(f"{describe(row)} was altered: its contents no longer match its hash")
        previous_hash, previous_entry = row["hash"], row["entry"]
    if head is not None and previous_hash != head:
        problems.append(
            f"the newest entry is {previous_entry}, but the ledger's head names another: "
            "entries at the end were deleted or altered"
        )
    if count is not None and count != len(rows):
        problems.append(f"the ledger recorded {count} entries but holds {len(rows)}")
    return problems
