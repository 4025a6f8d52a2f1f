"""The allocation ledger: concealed, balanced, permanent, and evident when tampered with.

``init`` draws a secret seed, generates every stratum's sequence of permuted blocks and stores
it in the ledger (nobody running sessions sees it). ``allocate`` gives a participant the next
group of their stratum's sequence in one write transaction, so two stations can never take the
same position; the same ID always gets its first group back, whatever happened to its session.
When the protocol replaces aborted participants, the next participant of that stratum fills
the aborted slot (same group) instead of taking a new position; the ledger records which
participant filled which slot.

Nothing is ever updated or deleted: allocations and session outcomes are appended as entries
chained by hashes (:mod:`experiment.allocation.chain`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from experiment.allocation.chain import FIELDS, GENESIS, chain_problems, entry_hash
from experiment.allocation.sequence import check_block_sizes, imbalance_bound, stratum_sequence
from experiment.allocation.store import DuplicateEntry, create_schema, is_database_url, open_store
from experiment.errors import AllocationError

log = logging.getLogger(__name__)
UNSTRATIFIED = ""  # the one stratum of a ledger without strata


@dataclass(frozen=True)
class Design:
    """What the sequence is made of; fixed when the ledger is created."""

    groups: tuple[str, ...]
    n: int  # places in each stratum's sequence
    block_sizes: tuple[int, ...]
    strata: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n < 1:
            raise AllocationError(f"The planned number of participants must be at least 1, not {self.n}.")
        if len(set(self.groups)) != len(self.groups) or len(self.groups) < 2:
            raise AllocationError(f"A ledger needs two or more different groups, not {list(self.groups)}.")
        if len(set(self.strata)) != len(self.strata) or any(not s.strip() for s in self.strata):
            raise AllocationError(f"The strata {list(self.strata)} must be distinct, non-empty names.")
        try:
            check_block_sizes(self.block_sizes, len(self.groups))
        except ValueError as err:
            raise AllocationError(f"The allocation design is not usable: {err}.") from None

    @property
    def stratum_names(self) -> tuple[str, ...]:
        return self.strata or (UNSTRATIFIED,)

    @property
    def bound(self) -> int:
        return imbalance_bound(self.block_sizes, len(self.groups))


def default_block_sizes(n_groups: int) -> tuple[int, ...]:
    return (n_groups, 2 * n_groups)


@dataclass(frozen=True)
class Allocation:
    participant: str
    stratum: str
    group: str
    position: int | None  # 0-based place in the stratum's sequence; None when filling a slot
    replaces: str | None  # the aborted participant whose slot this fills
    station: str
    allocated_at: str
    entry: int
    hash: str


class Ledger:
    """One study's ledger at ``location`` (a file path or a postgresql:// URL)."""

    def __init__(self, store, station: str | None = None) -> None:
        self._store = store
        self.where = store.where
        self.station = station or socket.gethostname()
        try:
            self.design = Design(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(self._meta()["design"]).items()}
            )
        except (KeyError, ValueError, TypeError):
            raise AllocationError(
                f"The allocation ledger {self.where} is damaged (its design is unreadable): "
                "restore it from the backup or ask the study's data manager."
            ) from None

    # --- opening ----------------------------------------------------------------------------
    @classmethod
    def create(cls, location: str | Path, design: Design, seed: int | None = None, station: str | None = None):
        """Make a new ledger and its sequences; refuses to touch an existing one."""
        seed = secrets.randbits(63) if seed is None else seed
        store = open_store(location, create=True)
        try:
            with store.write():
                create_schema(store)
                return cls._fill_new(store, design, seed, station)
        except BaseException:
            store.close()
            raise

    @classmethod
    def _fill_new(cls, store, design: Design, seed: int, station: str | None) -> Ledger:
        """Store the design, the seed and every stratum's sequence; the init entry seals them."""
        rows = [
            (stratum, position, group)
            for stratum in design.stratum_names
            for position, group in enumerate(
                stratum_sequence(seed, stratum, design.groups, design.block_sizes, design.n)
            )
        ]
        for row in rows:
            store.execute("INSERT INTO ledger_sequence (stratum, position, grp) VALUES (?, ?, ?)", row)
        store.execute(
            "INSERT INTO ledger_meta VALUES ('design', ?), ('seed', ?)", (json.dumps(asdict(design)), str(seed))
        )
        ledger = cls(store, station)
        detail = {
            "design": asdict(design),
            "sequence_sha256": _sequence_digest(rows),
            "seed_sha256": hashlib.sha256(str(seed).encode()).hexdigest(),  # the seed can be disclosed later
        }
        ledger._append("init", detail=json.dumps(detail, sort_keys=True))
        return ledger

    @classmethod
    def open(cls, location: str | Path, station: str | None = None):
        return cls(open_store(location), station)

    def close(self) -> None:
        self._store.close()

    # --- allocation -------------------------------------------------------------------------
    def lookup(self, participant: str) -> Allocation | None:
        rows = self._store.execute(
            "SELECT participant, stratum, grp, position, replaces, station, at, entry, hash FROM ledger_entries "
            "WHERE kind = 'allocation' AND participant = ?",
            (participant,),
        )
        return Allocation(*rows[0]) if rows else None

    def allocate(self, participant: str, stratum: str | None = None) -> Allocation:
        """The participant's group: the one they already have, else their stratum's next."""
        if not participant:
            raise AllocationError("A participant ID is needed to allocate a group.")
        try:
            with self._store.write():
                existing = self.lookup(participant)
                if existing is not None:
                    return existing
                stratum = self._check_stratum(stratum)
                group, position, replaces = self._next_place(stratum)
                self._append(
                    "allocation",
                    participant=participant,
                    stratum=stratum,
                    grp=group,
                    position=position,
                    replaces=replaces,
                )
        except DuplicateEntry:  # only reachable if the database's lock was bypassed
            raise AllocationError(
                f"The allocation ledger {self.where} refused a duplicate allocation for {participant}: try again."
            ) from None
        return self.lookup(participant)

    def _check_stratum(self, stratum: str | None) -> str:
        strata = self.design.strata
        if not strata:
            if stratum:
                raise AllocationError(
                    f"The allocation ledger {self.where} has no strata, but stratum '{stratum}' was given: "
                    "leave the stratum out, or use the ledger made for the stratified protocol."
                )
            return UNSTRATIFIED
        if stratum not in strata:
            given = f"'{stratum}' is not one of" if stratum else "no stratum was given; it must be one of"
            raise AllocationError(
                f"The participant's stratum {given} the ledger's strata ({', '.join(strata)}): choose one of those."
            )
        return stratum

    def _next_place(self, stratum: str) -> tuple[str, int | None, str | None]:
        open_slots = self._open_slots(stratum)
        if open_slots:
            aborted, group = open_slots[0]
            return group, None, aborted
        (taken,) = self._store.execute(
            "SELECT COUNT(*) FROM ledger_entries WHERE kind = 'allocation' AND stratum = ? AND position IS NOT NULL",
            (stratum,),
        )[0]
        if taken >= self.design.n:
            where = f"stratum '{stratum}'" if stratum else "the study"
            raise AllocationError(
                f"All {self.design.n} places of {where} in the allocation ledger {self.where} are allocated: "
                "recruitment is complete; a larger study needs a new ledger (ask the data manager)."
            )
        (group,) = self._store.execute(
            "SELECT grp FROM ledger_sequence WHERE stratum = ? AND position = ?", (stratum, taken)
        )[0]
        return group, taken, None

    def _open_slots(self, stratum: str) -> list[tuple[str, str]]:
        """(aborted participant, group) whose slot is to be replaced and is not yet, oldest first."""
        return self._store.execute(
            "SELECT a.participant, a.grp FROM ledger_entries a WHERE a.kind = 'allocation' AND a.stratum = ? "
            "AND EXISTS (SELECT 1 FROM ledger_entries o WHERE o.kind = 'outcome' AND o.participant = a.participant "
            "AND o.status = 'aborted' AND o.replace_slot = 1) "
            "AND NOT EXISTS (SELECT 1 FROM ledger_entries r "
            "WHERE r.kind = 'allocation' AND r.replaces = a.participant) "
            "ORDER BY a.entry",
            (stratum,),
        )

    def record_outcome(self, participant: str, status: str, session: str = "", replace: bool = False) -> None:
        """Append what became of a session (completed, aborted, error); the group never changes."""
        with self._store.write():
            allocation = self.lookup(participant)
            if allocation is None:
                raise AllocationError(f"{participant} has no allocation in the ledger {self.where}: nothing to record.")
            self._append(
                "outcome",
                participant=participant,
                stratum=allocation.stratum,
                grp=allocation.group,
                status=status,
                replace_slot=int(replace and status == "aborted"),
                session=session,
            )

    def record_withdrawal(self, participant: str, reason: str) -> None:
        """A participant withdrew consent: recorded after their allocation, which stays as it was
        (the sequence and the chain are the trial's integrity; the group is never given again)."""
        self._record_after_allocation("withdrawal", participant, reason)

    def record_erasure(self, participant: str, what: dict) -> None:
        """Their data were erased: who did it, when, what went (paths and sha256), never the data."""
        self._record_after_allocation("erasure", participant, json.dumps(what, sort_keys=True))

    def _record_after_allocation(self, kind: str, participant: str, detail: str) -> None:
        with self._store.write():
            allocation = self.lookup(participant)
            if allocation is None:
                raise AllocationError(f"{participant} has no allocation in the ledger {self.where}: nothing to record.")
            self._append(kind, participant=participant, stratum=allocation.stratum, grp=allocation.group,
                         status=kind, detail=detail)  # fmt: skip

    def check_writable(self) -> None:
        """Take and release the write lock: raises AllocationError when it cannot be had."""
        with self._store.write():
            pass

    # --- the chain --------------------------------------------------------------------------
    def _append(self, kind: str, **fields) -> None:
        """Add one entry after the current head (inside a write transaction)."""
        head = self._store.execute("SELECT entry, hash FROM ledger_entries ORDER BY entry DESC LIMIT 1")
        number, previous = head[0] if head else (0, GENESIS)
        values = {field: None for field in FIELDS} | fields
        values |= {
            "entry": number + 1,
            "kind": kind,
            "station": self.station,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "detail": fields.get("detail", ""),
            "prev_hash": previous,
        }
        ordered = [values[field] for field in FIELDS]
        digest = entry_hash(ordered)
        columns = ", ".join((*FIELDS, "hash"))
        marks = ", ".join("?" * (len(FIELDS) + 1))
        self._store.execute(f"INSERT INTO ledger_entries ({columns}) VALUES ({marks})", (*ordered, digest))
        self._store.execute("DELETE FROM ledger_meta WHERE key IN ('head', 'count')")
        self._store.execute("INSERT INTO ledger_meta VALUES ('head', ?), ('count', ?)", (digest, str(number + 1)))

    def entries(self) -> list[dict]:
        columns = (*FIELDS, "hash")
        rows = self._store.execute(f"SELECT {', '.join(columns)} FROM ledger_entries ORDER BY entry")
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def problems(self) -> list[str]:
        """Every sign of tampering, one sentence each; [] for an intact ledger."""
        meta = self._meta()
        entries = self.entries()
        found = chain_problems(entries, meta.get("head"), int(meta["count"]) if "count" in meta else None)
        rows = self._store.execute("SELECT stratum, position, grp FROM ledger_sequence ORDER BY stratum, position")
        init = json.loads(entries[0]["detail"]) if entries and entries[0]["kind"] == "init" else {}
        if _sequence_digest(rows) != init.get("sequence_sha256"):
            found.append("the stored randomisation sequence differs from the one made when the ledger was created")
        return found

    def require_design(self, groups: Sequence[str], strata: Sequence[str]) -> None:
        """Refuse a ledger made for other groups or strata than the protocol's."""
        design = self.design
        if tuple(groups) != design.groups or tuple(strata) != design.strata:

            def text(g, s):
                return f"groups {','.join(g)}" + (f" and strata {','.join(s)}" if s else " without strata")

            raise AllocationError(
                f"The allocation ledger {self.where} was made for {text(design.groups, design.strata)}, but the "
                f"protocol defines {text(groups, strata)}: use the protocol the study started with, or another ledger."
            )

    def require_intact(self) -> None:
        problems = self.problems()
        if problems:
            raise AllocationError(
                f"The allocation ledger {self.where} fails verification ({problems[0]}): nothing was allocated; "
                "tell the study's data manager (python -m experiment allocation verify lists every problem)."
            )

    @property
    def head(self) -> str:
        return self._meta().get("head", "")

    def _meta(self) -> dict[str, str]:
        """The ledger's own facts: design, seed (kept for an audit), head hash, entry count."""
        return dict(self._store.execute("SELECT key, value FROM ledger_meta"))

    def allocations(self) -> list[dict]:
        """Each allocation with its latest outcome and who filled its slot, in entry order."""
        entries = self.entries()
        latest = {e["participant"]: e for e in entries if e["kind"] == "outcome"}
        withdrawn = {e["participant"]: e for e in entries if e["kind"] == "withdrawal"}
        erased = {e["participant"]: e for e in entries if e["kind"] == "erasure"}
        filled_by = {e["replaces"]: e["participant"] for e in entries if e["kind"] == "allocation" and e["replaces"]}
        table = []
        for e in entries:
            if e["kind"] != "allocation":
                continue
            outcome = latest.get(e["participant"])
            table.append(
                {
                    "entry": e["entry"],
                    "participant": e["participant"],
                    "stratum": e["stratum"],
                    "group": e["grp"],
                    "position": "" if e["position"] is None else e["position"] + 1,
                    "replaces": e["replaces"] or "",
                    "station": e["station"],
                    "allocated_at": e["at"],
                    "status": outcome["status"] if outcome else "allocated",
                    "status_at": outcome["at"] if outcome else "",
                    "slot_replaced": bool(outcome and outcome["replace_slot"]),
                    "replaced_by": filled_by.get(e["participant"], ""),
                    "withdrawn_at": withdrawn[e["participant"]]["at"] if e["participant"] in withdrawn else "",
                    "withdrawal_reason": withdrawn[e["participant"]]["detail"] if e["participant"] in withdrawn else "",
                    "erased_at": erased[e["participant"]]["at"] if e["participant"] in erased else "",
                    "hash": e["hash"],
                }
            )
        return table


def _sequence_digest(rows: Sequence[tuple]) -> str:
    ordered = sorted((str(s), int(p), str(g)) for s, p, g in rows)
    return hashlib.sha256(json.dumps(ordered, separators=(",", ":")).encode()).hexdigest()


def open_for_protocol(
    location: str | Path, settings, groups: Sequence[str], station: str | None = None, create_missing: bool = False
) -> Ledger:
    """The ledger a session allocates through, checked against the protocol and for tampering.

    ``create_missing``: a missing ledger *file* is created from the protocol's settings (the
    single-station default under the data folder); a database ledger is always made with
    ``allocation init`` first.
    """
    if create_missing and not is_database_url(location) and not Path(location).exists():
        design = Design(tuple(groups), settings.n, tuple(settings.block_sizes), tuple(settings.strata))
        try:
            ledger = Ledger.create(location, design, settings.seed, station)
            log.warning("Created a new allocation ledger at %s for this data folder", location)
        except AllocationError:
            if not Path(location).exists():
                raise
            ledger = Ledger.open(location, station)  # another session created it a moment ago
    else:
        ledger = Ledger.open(location, station)
    try:
        ledger.require_design(groups, settings.strata)
        ledger.require_intact()
    except AllocationError:
        ledger.close()
        raise
    return ledger
