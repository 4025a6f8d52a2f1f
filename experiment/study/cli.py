"""``python -m experiment study-status`` and ``python -m experiment withdraw``: the trial run from
one place (see docs/randomisation.md, *For the data manager*)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from experiment.analysis.cli import refuse_in_one_sentence
from experiment.defaults import EXIT_OK


def _ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, required=True, help="the session folders (sub-*/ses-*)")
    parser.add_argument("--ledger", help="ledger file or postgresql:// URL (default DATA/allocation.sqlite)")
    parser.add_argument("--physio-dir", type=Path, help="the recordings (sub-<ID>_ses-<N>_physio.<ext>)")


def _open_ledger(args):
    from experiment.allocation import Ledger, ledger_location
    from experiment.errors import DataError

    location = ledger_location(args.ledger, args.data_dir)
    if not args.ledger and not Path(location).exists():
        raise DataError(f"No allocation ledger at {location}: name it with --ledger.")
    return Ledger.open(location)


def status_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiment study-status",
        description="Disposition of every allocated participant, the CONSORT flow diagram and status.html.",
    )
    _ledger_option(parser)
    parser.add_argument("--results", type=Path, help="an analyse --out folder: who is analysable, per measure")
    parser.add_argument(
        "--out", type=Path, required=True, help="where disposition.csv, consort.png/.svg and status.html go"
    )
    parser.add_argument("--unblind", action="store_true", help="show the groups' names instead of concealed arms")
    return refuse_in_one_sentence(_status, parser.parse_args(argv), "STUDY STATUS", (OSError,))


def _status(args) -> int:
    from experiment.datastore import replaced_whole
    from experiment.study import consort
    from experiment.study.disposition import COLUMNS, Sources, disposition
    from experiment.study.status_page import write_status

    ledger = _open_ledger(args)
    try:
        rows = disposition(ledger, Sources(args.data_dir, args.physio_dir, args.results), args.unblind)
        design, where = ledger.design, ledger.where
        problems = ledger.problems()
    finally:
        ledger.close()
    args.out.mkdir(parents=True, exist_ok=True)
    with replaced_whole(args.out / "disposition.csv", "choose an --out folder you can write to") as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    consort.draw(rows, args.out, "CONSORT 2010 flow" + ("" if args.unblind else " (arms concealed)"))
    planned = design.n * len(design.stratum_names) / len(design.groups)
    page = write_status(args.out, rows, planned, args.data_dir, where)
    counts = {s: sum(r["status"] == s for r in rows) for s in dict.fromkeys(r["status"] for r in rows)}
    print(f"{len(rows)} allocated: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    print(f"Written: {args.out / 'disposition.csv'}, consort.png, consort.svg, {page.name}")
    if problems:
        print(f"WARNING: the ledger fails verification ({problems[0]}): run allocation verify.", file=sys.stderr)
    return EXIT_OK


def withdraw_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiment withdraw",
        description="Record that a participant withdrew consent; with --erase, delete their data too.",
    )
    parser.add_argument("--participant", required=True)
    _ledger_option(parser)
    parser.add_argument("--reason", required=True, help="why (kept in the ledger)")
    parser.add_argument("--erase", action="store_true", help="delete their session folders and recordings")
    parser.add_argument("--yes", action="store_true", help="erase without asking (for scripts)")
    return refuse_in_one_sentence(_withdraw, parser.parse_args(argv), "WITHDRAWAL", (OSError,))


def _withdraw(args) -> int:
    from experiment.study.withdraw import withdraw

    def confirm(plan) -> bool:
        print(f"These files of {args.participant} will be erased for good:\n{plan.describe()}")
        if args.yes:
            return True
        try:
            return input("Type ERASE to erase them: ").strip() == "ERASE"
        except EOFError:  # no one to answer (a script): nothing is erased
            return False

    ledger = _open_ledger(args)
    try:
        print(withdraw(ledger, args.participant, args.reason, args.data_dir, args.physio_dir, args.erase, confirm))
    finally:
        ledger.close()
    return EXIT_OK
