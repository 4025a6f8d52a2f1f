"""A participant withdraws consent, and may ask for their data to be erased (GDPR Art. 17).

The ledger keeps the allocation - the trial's integrity needs it - and gains a withdrawal entry
(time, reason) on the hash chain. With erasure, the participant's session folders
(``DATA/sub-<ID>/``) and their recordings and corrections in the physio folder (named by the
export convention, ``sub-<ID>_ses-<N>_...``) are deleted after a confirmation that names every
file, and the erasure is recorded: who, when, each file's path, size and sha256 - never the data.
"""

from __future__ import annotations

import getpass
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from experiment.errors import DataError


@dataclass(frozen=True)
class ToErase:
    folders: list[Path]  # removed whole
    files: list[Path]  # every file that goes, in the folders or alone

    def describe(self) -> str:
        return "\n".join(f"  {path}" for path in self.files) or "  (no files)"


def what_to_erase(participant: str, data_dir: Path, physio_dir: Path | None) -> ToErase:
    folders = [data_dir / f"sub-{participant}"] if (data_dir / f"sub-{participant}").is_dir() else []
    files = sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())
    if physio_dir is not None and physio_dir.is_dir():
        pattern = f"sub-{participant}_ses-*"
        files += sorted(p for p in physio_dir.rglob(pattern) if p.is_file())
    return ToErase(folders, files)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def withdraw(
    ledger,
    participant: str,
    reason: str,
    data_dir: Path,
    physio_dir: Path | None,
    erase: bool,
    confirm: Callable[[ToErase], bool],
) -> str:
    """Record the withdrawal (and erase, once ``confirm`` agrees); what was done, one paragraph."""
    if not reason.strip():
        raise DataError("Give the reason for the withdrawal (--reason): it is kept in the ledger.")
    if ledger.lookup(participant) is None:
        raise DataError(f"{participant} has no allocation in the ledger {ledger.where}: check the participant ID.")
    erased = [e for e in ledger.entries() if e["kind"] == "erasure" and e["participant"] == participant]
    if erased and not what_to_erase(participant, data_dir, physio_dir).files:
        raise DataError(f"{participant}'s data were erased already: nothing more to do.")
    plan = what_to_erase(participant, data_dir, physio_dir) if erase else None
    if plan is not None and not confirm(plan):
        return f"Nothing done: the erasure of {participant}'s data was not confirmed."
    already = any(r["participant"] == participant and r.get("withdrawn_at") for r in ledger.allocations())
    if not already:
        ledger.record_withdrawal(participant, reason.strip())
    if plan is None:
        return f"{participant} withdrawn ({reason.strip()}); their data are kept and left out of the analysis."
    found = [{"path": str(path), "bytes": path.stat().st_size, "sha256": sha256(path)} for path in plan.files]
    record = {"by": _who(), "reason": reason.strip(), "files": []}
    try:
        for path, entry in zip(plan.files, found, strict=True):
            path.unlink()
            record["files"].append(entry)
        for folder in plan.folders:
            shutil.rmtree(folder)
    except OSError as err:  # what did go is recorded, and what did not is named
        record["not_erased"] = [e["path"] for e in found[len(record["files"]) :]]
        ledger.record_erasure(participant, record)
        raise DataError(
            f"Erasing {participant}'s data stopped at {err.filename} ({err.strerror}): {len(record['files'])} file(s) "
            "erased and recorded; check the permissions and run withdraw --erase again for the rest."
        ) from None
    ledger.record_erasure(participant, record)
    return (
        f"{participant} withdrawn ({reason.strip()}); {len(plan.files)} file(s) erased, each recorded in the ledger "
        "with its sha256 (never its contents); the allocation stays, and the ledger still verifies."
    )


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name on this system (a container)
        return "unknown"
