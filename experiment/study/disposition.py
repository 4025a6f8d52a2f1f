"""What became of every allocated participant: the ledger, the session folders, the recordings and
the analysis read together, one row each (``disposition.csv``), the table CONSORT's boxes are
counted from.

Status, first that applies: ``erased`` (withdrew and their data were erased), ``withdrawn``,
``completed`` (a session completed), ``ended early`` (aborted by the technician or the
participant), ``failed`` (ended by a fault), ``not yet run``. In blind mode (the default) the
group is shown as a concealed arm (A-E, fixed per ledger, not in the protocol's order).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from experiment.analysis.recorders import find_export
from experiment.record import read_record

COLUMNS = (
    "participant", "arm", "stratum", "station", "allocated_at", "sessions", "status", "reason", "received_audio",
    "recording_found", "analysable_heart", "analysable_eda", "withdrawn_at", "erased_at",
)  # fmt: skip
ENDED = {"completed": "completed", "aborted": "ended early", "error": "failed"}


@dataclass(frozen=True)
class Sources:
    data_dir: Path
    physio_dir: Path | None = None
    results: Path | None = None  # an analyse --out folder


def arm_codes(ledger) -> dict[str, str]:
    """group -> concealed arm letter: fixed for this ledger (its first entry's hash decides the
    order), so weekly reports agree, and not the protocol's order, so a letter tells nothing."""
    seed = ledger.entries()[0]["hash"]
    order = sorted(ledger.design.groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    return {group: f"arm {chr(ord('A') + i)}" for i, group in enumerate(order)}


def disposition(ledger, sources: Sources, unblind: bool = False) -> list[dict]:
    arms = {g: g for g in ledger.design.groups} if unblind else arm_codes(ledger)
    usable = _analysable(sources.results)
    rows = []
    for allocation in ledger.allocations():
        participant = allocation["participant"]
        records = _sessions(sources.data_dir, participant)
        status, reason = _status(allocation, records)
        rows.append({
            "participant": participant, "arm": arms.get(allocation["group"], "?"), "stratum": allocation["stratum"],
            "station": allocation["station"], "allocated_at": allocation["allocated_at"], "sessions": len(records),
            "status": status, "reason": reason,
            "received_audio": "yes" if _received(allocation, records) else "no",
            "recording_found": _recording(sources.physio_dir, participant, records),
            "analysable_heart": usable.get((participant, "heart"), ""),
            "analysable_eda": usable.get((participant, "eda"), ""),
            "withdrawn_at": allocation.get("withdrawn_at", ""), "erased_at": allocation.get("erased_at", ""),
        })  # fmt: skip
    return rows


def _sessions(data_dir: Path, participant: str) -> list[dict]:
    records = []
    for path in sorted((data_dir / f"sub-{participant}").glob("ses-*/session.json")):
        try:
            records.append(read_record(path.parent, check_types=False))
        except Exception:  # noqa: BLE001 - an unreadable record is reported as such, never a crash
            records.append({"status": "unreadable", "message": f"{path} cannot be read"})
    return records


def _received(allocation: dict, records: list[dict]) -> bool:
    """The whole recording was played; without session folders (erased, or another station's
    data folder) the ledger's outcome 'completed' says so."""
    if records:
        return any((r.get("audio") or {}).get("complete") for r in records)
    return allocation.get("status") == "completed"


def _status(allocation: dict, records: list[dict]) -> tuple[str, str]:
    if allocation.get("erased_at"):
        return "erased", allocation.get("withdrawal_reason", "")
    if allocation.get("withdrawn_at"):
        return "withdrawn", allocation.get("withdrawal_reason", "")
    states = [r.get("status") for r in records]
    for state in ("completed", "aborted", "error"):
        if state in states:
            record = records[states.index(state)]
            return ENDED[state], str(record.get("message", "")) if state != "completed" else ""
    if "unreadable" in states:
        return "failed", records[states.index("unreadable")]["message"]
    ledger_outcome = allocation.get("status", "allocated")
    if ledger_outcome in ENDED:  # run at another station whose data folder is not here
        return ENDED[ledger_outcome], "(from the ledger; the session folder is not in this data folder)"
    return "not yet run", ""


def _recording(physio_dir: Path | None, participant: str, records: list[dict]) -> str:
    if physio_dir is None:
        return ""
    sessions = sorted({int(r["session"]) for r in records if isinstance(r.get("session"), int)}) or [1]
    return "yes" if any(find_export(physio_dir, participant, s) for s in sessions) else "no"


def _analysable(results: Path | None) -> dict[tuple[str, str], str]:
    """(participant, heart|eda) -> yes/no: a usable value in the audio phase of physio_phases.csv."""
    if results is None or not (results / "physio_phases.csv").exists():
        return {}
    import pandas as pd

    from experiment.analysis.stats import USABLE_QUALITY

    phases = pd.read_csv(results / "physio_phases.csv", dtype={"participant": str})
    audio = phases[(phases["kind"] == "audio") & phases["quality"].isin(USABLE_QUALITY)]
    found = {}
    for participant in phases["participant"].unique():
        mine = audio[audio["participant"] == participant]
        found[(participant, "heart")] = "yes" if mine["hr_bpm"].notna().any() else "no"
        found[(participant, "eda")] = "yes" if mine["scl_us"].notna().any() else "no"
    return found


def counts_by_arm(rows: list[dict]) -> dict[str, dict]:
    """The CONSORT boxes' numbers per arm, with the reasons behind each loss."""
    arms: dict[str, dict] = {}
    for row in rows:
        arm = arms.setdefault(row["arm"], {
            "allocated": 0, "received": 0, "not_received": {}, "discontinued": {}, "analysed": 0, "excluded": {},
        })  # fmt: skip
        arm["allocated"] += 1
        if row["received_audio"] == "yes":
            arm["received"] += 1
        else:
            _count(arm["not_received"], row["status"])
        if row["status"] in ("ended early", "failed", "withdrawn", "erased"):
            _count(arm["discontinued"], row["status"])
        analysed = row["analysable_heart"] == "yes" or (
            row["analysable_heart"] == "" and row["recording_found"] == "yes"
        )
        if analysed and row["status"] not in ("withdrawn", "erased"):
            arm["analysed"] += 1
        else:
            _count(arm["excluded"], _exclusion(row))
    return dict(sorted(arms.items()))


def _count(bucket: dict, key: str) -> None:
    bucket[key] = bucket.get(key, 0) + 1


def _exclusion(row: dict) -> str:
    if row["status"] in ("withdrawn", "erased", "not yet run"):
        return row["status"]
    if row["recording_found"] == "no":
        return "no recording"
    if row["analysable_heart"] == "no":
        return "recording not analysable"
    return row["status"]


def as_json(rows: list[dict]) -> str:
    return json.dumps(counts_by_arm(rows), indent=2)
