"""``python -m experiment COMMAND``: the commands around sessions.

run             run a session (same as run_experiment.py)
check-protocol  validate a protocol file and its stimuli without running anything
sha256          print a file's sha256, to pin a recording in the protocol file
ports           list serial ports with their USB ids and the trigger boxes recognised
preflight       check sound, marker port, stimuli, data folder, ledger and display
allocation      the randomisation ledger: init, assign, outcome, report, verify, export
analyse         heart rate, HRV and skin conductance per phase and group, with the self-report
simulate-recorder  realistic recorder exports for session folders (demos and tests)
inspect-recording  a recorder file's channels, units, rates, markers and what --columns picks
convert-recording  a recorder file as the analysis sees it, as one CSV (time,ECG,EDA,Digital)
export-bids     the study as a BIDS dataset (events, answers, recordings on one clock)
review          the analysis' review pages served on this computer, to correct beats in them
study-status    every allocated participant's disposition, the CONSORT flow diagram, status.html
withdraw        record a participant's withdrawal; with --erase, delete their data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiment.defaults import EXIT_INPUT, EXIT_OK
from experiment.errors import ConfigError


def check_protocol(path: Path) -> int:
    from experiment.audio import load_checked_protocol

    try:
        protocol, stimuli = load_checked_protocol(path)
    except ConfigError as err:
        print(f"PROTOCOL NOT USABLE: {err}", file=sys.stderr)
        return EXIT_INPUT
    for key, info in stimuli.items():
        rate = f"{info.sample_rate_hz} Hz  {info.channels} ch"
        print(f"  {key:<4} {info.duration_s:7.1f} s  {rate}  {protocol.groups[key].audio}")
    phases = ", ".join(p.name + (f" ({p.duration_s:g} s)" if p.duration_s else "") for p in protocol.phases)
    print(f"{protocol.path}: OK\n  {protocol.name}\n  phases: {phases}\n  sha256: {protocol.sha256}")
    return EXIT_OK


# Commands with their own options: (module, function), imported only when used.
COMMANDS = {
    "preflight": ("experiment.preflight", "main"),
    "allocation": ("experiment.allocation.cli", "main"),
    "analyse": ("experiment.analysis.cli", "analyse_main"),
    "analyze": ("experiment.analysis.cli", "analyse_main"),
    "simulate-recorder": ("experiment.analysis.cli", "simulate_main"),
    "export-bids": ("experiment.bids.export", "main"),
    "review": ("experiment.analysis.review_server", "review_main"),
    "study-status": ("experiment.study.cli", "status_main"),
    "withdraw": ("experiment.study.cli", "withdraw_main"),
    "run": ("experiment.launcher", "main"),
}


def main(argv: list[str] | None = None) -> int:
    import importlib

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in COMMANDS:
        module, function = COMMANDS[argv[0]]
        return getattr(importlib.import_module(module), function)(argv[1:])
    if argv[:1] in (["inspect-recording"], ["convert-recording"]):
        from experiment.analysis.cli import recording_main

        return recording_main(argv[0], argv[1:])
    return _other_commands(argv)


def _other_commands(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiment", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run a session (see run_experiment.py --help)")
    commands.add_parser("preflight", help="check sound, marker port, stimuli, data folder, ledger, display")
    commands.add_parser("analyse", help="physiology and self-report results (see analyse --help)")
    commands.add_parser("simulate-recorder", help="realistic recorder exports for session folders")
    commands.add_parser("inspect-recording", help="a recorder file's channels, markers and --columns picks")
    commands.add_parser("convert-recording", help="a recorder file as one CSV on the ECG's clock")
    commands.add_parser("export-bids", help="the study as a BIDS dataset (see export-bids --help)")
    commands.add_parser("review", help="correct beats in the analysis' review pages (see review --help)")
    commands.add_parser("study-status", help="disposition, CONSORT diagram and status page (see study-status --help)")
    commands.add_parser("withdraw", help="record a withdrawal, optionally erasing the data (see withdraw --help)")
    commands.add_parser("allocation", help="the randomisation ledger: init, assign, outcome, report, verify, export")
    check = commands.add_parser("check-protocol", help="validate a protocol file and its stimuli")
    check.add_argument("protocol", type=Path)
    digest = commands.add_parser("sha256", help="print a file's sha256")
    digest.add_argument("file", type=Path)
    commands.add_parser("ports", help="list serial ports and recognised trigger boxes")
    args = parser.parse_args(argv)
    if args.command == "ports":
        from experiment.markers.ports import describe_ports

        print(describe_ports())
        return EXIT_OK
    if args.command == "check-protocol":
        return check_protocol(args.protocol)
    from experiment.config import file_sha256

    if not args.file.is_file():
        print(f"{args.file} does not exist.", file=sys.stderr)
        return EXIT_INPUT
    print(file_sha256(args.file))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
