"""Who withdrew: the analysis, the BIDS export and study-status leave them out."""

from __future__ import annotations

from pathlib import Path


def withdrawn_participants(data_dir: Path, ledger: str | Path | None = None) -> set[str]:
    """Participants with a withdrawal in the ledger (``ledger``, else DATA/allocation.sqlite when
    it exists; no ledger: nobody)."""
    from experiment.allocation import Ledger, ledger_location

    location = ledger_location(ledger, data_dir)
    if ledger is None and not Path(location).exists():
        return set()
    opened = Ledger.open(location)
    try:
        return {row["participant"] for row in opened.allocations() if row.get("withdrawn_at")}
    finally:
        opened.close()


def leave_out_withdrawn(folders: list[Path], withdrawn: set[str]) -> list[Path]:
    """Session folders (DATA/sub-<ID>/ses-<N>) of participants who did not withdraw."""
    return [folder for folder in folders if folder.parent.name.removeprefix("sub-") not in withdrawn]
