"""``python -m experiment allocation COMMAND``: the data manager's side of the ledger.

init     create a study's ledger and its concealed sequence (once)
assign   allocate a participant (or show their existing group); the group key is the last line
outcome  record what became of a participant's session (e.g. a withdrawal after the session)
report   counts per group and stratum, largest imbalance, aborted and replaced slots
verify   check the hash chain; exit 1 naming the entry when it is broken
export   the allocation record as CSV, for the trial report (CONSORT flow)

LEDGER is a file path (SQLite) or a postgresql://user:password@host:port/database URL.
Exit codes: 0 done, 1 verify found tampering, 2 the request could not be done (one sentence why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiment.allocation.ledger import Design, Ledger, default_block_sizes
from experiment.allocation.report import export_csv, report_text
from experiment.config import DEFAULT_ID_PATTERN, GROUP_KEYS, load_protocol, participant_id_problem
from experiment.defaults import EXIT_FAILED, EXIT_INPUT, EXIT_OK
from experiment.errors import ExperimentError

EXIT_TAMPERED = EXIT_FAILED


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of whole numbers such as 5,10") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiment allocation", description=__doc__.splitlines()[0])
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n".join(__doc__.splitlines()[2:])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--ledger", required=True, help="ledger file or postgresql:// URL")
        return sub

    init = command("init", "create a study's ledger and its concealed sequence")
    init.add_argument("--n", type=int, required=True, help="places in each stratum's sequence (the planned sample)")
    init.add_argument("--seed", type=int, help="sequence seed (default: a secret one; give one only for rehearsals)")
    init.add_argument("--strata", nargs="+", default=[], help="stratum names, e.g. --strata female male diverse")
    init.add_argument("--groups", type=_names, default=GROUP_KEYS, help="group keys (default CBS,LKM,RUM,PE,NEU)")
    init.add_argument("--block-sizes", type=_sizes, help="block sizes, multiples of the group count (default 5,10)")
    init.add_argument("--protocol", type=Path, help="take groups, strata and block sizes from this protocol file")
    assign = command("assign", "allocate a participant, or show the group they already have")
    assign.add_argument("--participant", required=True)
    assign.add_argument("--stratum")
    assign.add_argument("--station", help="name of this testing room (default: the computer's name)")
    assign.add_argument("--protocol", type=Path, help="check the ID against this protocol's pattern")
    outcome = command("outcome", "record what became of a participant's session")
    outcome.add_argument("--participant", required=True)
    outcome.add_argument("--status", required=True, choices=("completed", "aborted", "error"))
    outcome.add_argument("--replace", action="store_true", help="an aborted participant's slot is refilled")
    outcome.add_argument("--session", default="")
    command("report", "counts per group and stratum, imbalance, aborted and replaced slots")
    command("verify", "check the hash chain")
    export = command("export", "the allocation record as CSV (CONSORT flow)")
    export.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ExperimentError as err:
        print(f"ALLOCATION NOT DONE: {err}", file=sys.stderr)
        return EXIT_INPUT


def _run(args: argparse.Namespace) -> int:
    if args.command == "init":
        return _init(args)
    ledger = Ledger.open(args.ledger, getattr(args, "station", None))
    try:
        if args.command == "assign":
            return _assign(ledger, args)
        if args.command == "outcome":
            ledger.record_outcome(args.participant, args.status, args.session, args.replace)
            print(f"{args.participant}: {args.status}" + (", slot to be replaced" if args.replace else ""))
        elif args.command == "report":
            print(report_text(ledger))
        elif args.command == "verify":
            return _verify(ledger)
        elif args.command == "export":
            count = export_csv(ledger, args.out)
            print(f"{count} allocation(s) written to {args.out}")
        return EXIT_OK
    finally:
        ledger.close()


def _init(args: argparse.Namespace) -> int:
    groups, strata, sizes = args.groups, tuple(args.strata), args.block_sizes
    if args.protocol is not None:
        protocol = load_protocol(args.protocol)
        groups = tuple(protocol.groups)
        strata = strata or protocol.allocation.strata
        sizes = sizes or protocol.allocation.block_sizes
    if len(strata) == 1 and "," in strata[0]:
        strata = _names(strata[0])
    design = Design(tuple(groups), args.n, sizes or default_block_sizes(len(groups)), tuple(strata))
    ledger = Ledger.create(args.ledger, design, args.seed)
    ledger.close()
    where = f"{len(design.strata)} strata ({', '.join(design.strata)})" if design.strata else "no strata"
    print(f"Created the allocation ledger {ledger.where}: {design.n} places per stratum, {where}.")
    return EXIT_OK


def _assign(ledger: Ledger, args: argparse.Namespace) -> int:
    pattern = load_protocol(args.protocol).id_pattern if args.protocol else DEFAULT_ID_PATTERN
    if problem := participant_id_problem(pattern, args.participant):
        print(f"ALLOCATION NOT DONE: {problem}", file=sys.stderr)
        return EXIT_INPUT
    existing = ledger.lookup(args.participant)
    allocation = ledger.allocate(args.participant, args.stratum)
    place = (
        f"position {allocation.position + 1}" if allocation.position is not None else f"replaces {allocation.replaces}"
    )
    stratum = f", stratum {allocation.stratum}" if allocation.stratum else ""
    state = "already allocated" if existing else "allocated"
    print(f"{allocation.participant} {state}{stratum}, {place}, ledger entry {allocation.entry}")
    print(allocation.group)
    return EXIT_OK


def _verify(ledger: Ledger) -> int:
    problems = ledger.problems()
    if problems:
        for problem in problems:
            print(f"LEDGER ALTERED: {problem}.", file=sys.stderr)
        print(
            f"The allocation ledger {ledger.where} fails verification: keep it as it is and tell the study's data "
            "manager; restore the backup to continue allocating.",
            file=sys.stderr,
        )
        return EXIT_TAMPERED
    count = len(ledger.entries())
    print(f"The allocation ledger {ledger.where} is intact: {count} entries, head {ledger.head}.")
    return EXIT_OK
