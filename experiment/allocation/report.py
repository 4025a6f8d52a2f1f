"""What a data manager reads from a ledger: counts, balance, dropouts, and the CONSORT export."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from experiment.allocation.ledger import Ledger
from experiment.datastore import replaced_whole

EXPORT_COLUMNS = (
    "entry",
    "participant",
    "stratum",
    "group",
    "position",
    "replaces",
    "station",
    "allocated_at",
    "status",
    "status_at",
    "slot_replaced",
    "replaced_by",
    "withdrawn_at",
    "withdrawal_reason",
    "erased_at",
    "hash",
)


def report_text(ledger: Ledger) -> str:
    design = ledger.design
    rows = ledger.allocations()
    lines = [
        f"Allocation ledger {ledger.where}",
        f"  groups {', '.join(design.groups)}; {design.n} places per stratum; "
        f"blocks of {' or '.join(map(str, design.block_sizes))} (groups stay within {design.bound} of each other)",
    ]
    width = max([len(s) for s in design.strata] + [8])
    lines.append(f"  {'stratum':<{width}}  " + "  ".join(f"{g:>4}" for g in design.groups) + "  total  imbalance")
    totals: Counter[str] = Counter()
    worst = 0
    for stratum in design.stratum_names:
        counts = Counter(r["group"] for r in rows if r["stratum"] == stratum)
        totals += counts
        values = [counts[g] for g in design.groups]
        worst = max(worst, max(values) - min(values))
        name = stratum or "(all)"
        lines.append(
            f"  {name:<{width}}  "
            + "  ".join(f"{v:>4}" for v in values)
            + f"  {sum(values):>5}  {max(values) - min(values):>9}"
        )
    if design.strata:
        values = [totals[g] for g in design.groups]
        lines.append(
            f"  {'all':<{width}}  "
            + "  ".join(f"{v:>4}" for v in values)
            + f"  {sum(values):>5}  {max(values) - min(values):>9}"
        )
    status = Counter(r["status"] for r in rows)
    to_replace = [r for r in rows if r["slot_replaced"]]
    filled = sum(1 for r in to_replace if r["replaced_by"])
    withdrawn, erased = sum(1 for r in rows if r["withdrawn_at"]), sum(1 for r in rows if r["erased_at"])
    lines += [
        f"  largest imbalance within a stratum: {worst}",
        f"  allocated {len(rows)}: completed {status['completed']}, aborted {status['aborted']}, "
        f"error {status['error']}, no outcome yet {status['allocated']}",
        f"  aborted slots to replace {len(to_replace)}: replaced {filled}, still open {len(to_replace) - filled}",
        f"  withdrawn {withdrawn} (data erased {erased})",
        f"  head of the hash chain: {ledger.head}",
    ]
    return "\n".join(lines)


def export_csv(ledger: Ledger, out: Path) -> int:
    """Write the allocation record to ``out`` (complete or not at all); returns the row count."""
    rows = ledger.allocations()
    with (
        replaced_whole(out, "choose a folder you can write to") as tmp,
        tmp.open("w", newline="", encoding="utf-8") as f,
    ):
        writer = csv.DictWriter(f, EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
