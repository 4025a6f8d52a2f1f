"""Randomisation: the allocation ledger and its sequence.

:class:`Ledger` is what sessions allocate through (SQLite file or PostgreSQL database);
``python -m experiment allocation ...`` (:mod:`experiment.allocation.cli`) is the data
manager's side: init, assign, report, verify, export.
"""

from pathlib import Path

from experiment.allocation.ledger import UNSTRATIFIED, Allocation, Design, Ledger, default_block_sizes
from experiment.allocation.store import describe_location, is_database_url

LEDGER_FILENAME = "allocation.sqlite"


def ledger_location(ledger: str | Path | None, data_dir: Path) -> str:
    """The --ledger given, else the single-station default file in the data folder."""
    return str(ledger or data_dir / LEDGER_FILENAME)


__all__ = [
    "LEDGER_FILENAME",
    "UNSTRATIFIED",
    "Allocation",
    "Design",
    "Ledger",
    "default_block_sizes",
    "describe_location",
    "is_database_url",
    "ledger_location",
]
