"""``python -m experiment export-bids --data-dir DATA [--physio-dir PHYSIO] --out BIDS``.

The dataset is built whole in a folder beside ``BIDS`` and then put in its place, so a
reader never meets half a dataset, running it again never duplicates anything, and a
participant no longer in DATA is gone from BIDS too (and the command says so). The analysis in
``derivatives/`` is analyse's own: the same corrections from review (PHYSIO/corrections, or
``--corrections``) and the same settings (``--protocol``, ``--scr-min-amplitude``); each reviewed
recording's corrections go with it, moved to the session clock. What a lab
writes by hand into the dataset is kept: the ``Authors``, ``License``, ``Acknowledgements``,
``Funding``, ``EthicsApprovals``, ``ReferencesAndLinks`` and ``DatasetDOI`` of
dataset_description.json, and README and CHANGES (to which each export adds a line).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import experiment
from experiment.analysis.corrections import HEADER, CorrectionError, Corrections, corrections_file, read_corrections
from experiment.analysis.pipeline import (
    CORRECTIONS_FOLDER,
    SessionResult,
    find_sessions,
    measure,
    read_session,
    refuse_accepts_outside,
    session_events,
)
from experiment.analysis.recorders import Columns, find_export, read_recording
from experiment.bids import tables
from experiment.bids.layout import BIDS_VERSION, DERIVATIVE, TASK, SessionRun, label
from experiment.config import AnalysisSettings
from experiment.defaults import EXIT_INPUT, EXIT_OK
from experiment.errors import DataError, ExperimentError
from experiment.study.withdrawn import leave_out_withdrawn, withdrawn_participants

HAND_WRITTEN = (
    "Authors", "License", "Acknowledgements", "HowToAcknowledge", "Funding", "EthicsApprovals",
    "ReferencesAndLinks", "DatasetDOI",
)  # fmt: skip
ANALYSIS_TABLES = ("physio_phases", "physio_minutes", "alignment")


@dataclass(frozen=True)
class Measuring:
    """The recordings and how analyse measures them (the corrections folder: PHYSIO/corrections
    unless named; the settings: the shipped protocol's unless given)."""

    physio_dir: Path
    columns: Columns = field(default_factory=Columns)
    corrections_dir: Path | None = None
    settings: AnalysisSettings | None = None

    def corrections(self, participant: str, session: int) -> Corrections:
        folder = self.corrections_dir or self.physio_dir / CORRECTIONS_FOLDER
        return read_corrections(corrections_file(folder, participant, session))


@dataclass
class Export:
    participants: list[str] = field(default_factory=list)
    runs: int = 0
    recordings: int = 0
    reviewed: int = 0  # recordings whose corrections from review went with them
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def export(data_dir: Path, out: Path, measuring: Measuring | None = None, protocol: Path | None = None,
           ledger: str | None = None) -> Export:  # fmt: skip
    """The dataset (with recordings where ``measuring`` names them), withdrawn participants left
    out (the ledger says who: ``ledger``, else DATA/allocation.sqlite where it exists). A
    corrections line that cannot be applied stops it (CorrectionError): the derivatives would
    look reviewed and not be."""
    folders = leave_out_withdrawn(find_sessions(data_dir), withdrawn_participants(data_dir, ledger))
    if not folders:
        raise DataError(f"No session folders (sub-*/ses-*/session.json) under {data_dir}: check --data-dir.")
    if measuring is not None and not measuring.physio_dir.is_dir():
        raise DataError(f"The recordings folder {measuring.physio_dir} does not exist: check --physio-dir.")
    records = {folder: read_session(folder) for folder in folders}
    study = _study_protocol(records, protocol)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        summary = _build(staging, out, records, study, measuring)
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _build(root: Path, old: Path, records: dict, study, measuring: Measuring | None) -> Export:
    summary = Export()
    runs_of = {}
    for folder, record in records.items():
        runs_of.setdefault((record["participant"], int(record["session"])), []).append(folder)
    codes, phase_kinds, analysis = {}, {}, {name: [] for name in ANALYSIS_TABLES}
    scans: dict[Path, list[dict]] = {}
    for (participant, session), folders in sorted(runs_of.items()):
        run_windows = [] if len(folders) > 1 else None  # a session of several runs: accepts in any run's phases
        for folder in folders:
            record = records[folder]
            run = SessionRun(participant, session, int(record.get("run", 1)), len(folders) > 1)
            codes |= record.get("marker_codes") or {}
            events, phases = session_events(folder, record)
            written = _session_files(root, run, folder, events, phases)
            phase_kinds |= {p["name"]: p.get("kind", "") for p in phases}
            if measuring is not None:
                written += _recording(root, run, folder, record, (events, phases), measuring, summary, analysis,
                                      run_windows)  # fmt: skip
            started = str(record.get("started_at", ""))[:19] or "n/a"
            scans.setdefault(run.scans, []).extend({"filename": f, "acq_time": started} for f in written)
            summary.runs += 1
        if run_windows:
            refuse_accepts_outside(measuring.corrections(participant, session), run_windows)
        summary.participants.append(participant)
    for path, rows in scans.items():
        rows = [r | {"filename": str(Path(r["filename"]).relative_to(path.parent))} for r in rows]
        _tsv(root / path, ("filename", "acq_time"), rows)
    summary.participants = sorted(set(summary.participants))
    _dataset_files(root, old, records, study, codes, phase_kinds)
    if any(analysis.values()):
        _derivatives(root, analysis, measuring, summary.reviewed)
    previous = {p.name.removeprefix("sub-") for p in old.glob("sub-*")} if old.exists() else set()
    summary.removed = sorted(previous - {label(p) for p in summary.participants})
    return summary


def _session_files(root: Path, run: SessionRun, folder: Path, events: list[dict], phases: list[dict]) -> list[Path]:
    _tsv(root / run.beh("events.tsv"), tables.EVENT_COLUMNS, tables.event_rows(events, phases))
    written = [run.beh("events.tsv")]
    responses = folder / "responses.csv"
    if responses.exists():
        _tsv(root / run.beh("beh.tsv"), tables.BEH_COLUMNS, tables.beh_rows(tables.read_csv(responses)))
        written.append(run.beh("beh.tsv"))
    source = root / run.source
    source.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():  # the session's own record, as it was written
        if item.is_file():
            shutil.copy2(item, source / item.name)
    return written


def _recording(root, run, folder, record, session, measuring: Measuring, summary, analysis, run_windows) -> list[Path]:
    """The run's physio files and measures; ``run_windows`` (a session of several runs) collects its
    phases, where the session's accept lines are checked once all runs are measured."""
    from experiment.bids.physio import write_physio

    events, phases = session

    path = find_export(measuring.physio_dir, run.participant, run.session)
    if path is None:
        return []
    corrections = measuring.corrections(run.participant, run.session)
    try:
        recording = read_recording(path, measuring.columns)
        result = SessionResult(run.participant, run.session, str(record.get("group", "")), folder)
        alignment = measure(result, events, phases, recording, str(folder), corrections, measuring.settings,
                            check_accepts=run_windows is None)  # fmt: skip
        written = write_physio(root, run, recording, alignment)
    except CorrectionError:
        raise
    except ExperimentError as err:
        summary.problems.append(f"sub-{run.participant} ses-{run.session}: {err}")
        return []
    if run_windows is not None:
        run_windows += result.windows.values()
    if corrections.reviewed:
        rows = tables.corrections_rows(corrections, alignment.to_session)
        _tsv(root / run.derivative("corrections.tsv"), HEADER, rows)
        summary.reviewed += 1
    summary.recordings += 1
    analysis["physio_phases"] += result.phases
    analysis["physio_minutes"] += result.minutes
    analysis["alignment"].append(result.alignment)
    return written


def _dataset_files(root: Path, old: Path, records: dict, study, codes: dict, phase_kinds: dict) -> None:
    kept = _hand_written(old)
    name = study.name or "Self-compassion paradigm (Kirschner et al., 2019)"
    description = {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "GeneratedBy": [{"Name": "selfcompassion-runner", "Version": experiment.__version__,
                         "Description": "python -m experiment export-bids"}],
    } | kept["description"]  # fmt: skip
    _json(root / "dataset_description.json", description)
    today = datetime.date.today().isoformat()
    (root / "README").write_text(kept["README"] or _readme(name))
    line = f"{experiment.__version__} {today}\n  - Exported {len(records)} session runs with export-bids.\n"
    (root / "CHANGES").write_text(line + ("\n" + kept["CHANGES"] if kept["CHANGES"] else ""))
    stratified = any((r.get("allocation") or {}).get("stratum") for r in records.values())
    rows = {}
    for record in records.values():
        row = {"participant_id": f"sub-{label(record['participant'])}", "group": record.get("group") or "n/a"}
        if stratified:
            row["stratum"] = tables.na((record.get("allocation") or {}).get("stratum"))
        rows[row["participant_id"]] = row
    columns = ("participant_id", "group", "stratum") if stratified else ("participant_id", "group")
    _tsv(root / "participants.tsv", columns, [rows[k] for k in sorted(rows)])
    _json(root / "participants.json", tables.participants_description(study.groups, stratified))
    software = _software(records)
    task = tables.task_description(name)
    _json(root / f"task-{TASK}_events.json", task | tables.events_description(codes, phase_kinds, software))
    _json(root / f"task-{TASK}_beh.json", task | tables.beh_description(study.questionnaires))


def _derivatives(root: Path, analysis: dict, measuring: Measuring, reviewed: int) -> None:
    from experiment.analysis.pipeline import ALIGNMENT_COLUMNS, MINUTE_COLUMNS, PHASE_COLUMNS
    from experiment.analysis.responses import DEFAULT_MIN_AMPLITUDE_US

    folder = root / "derivatives" / DERIVATIVE
    folder.mkdir(parents=True, exist_ok=True)
    settings = measuring.settings or AnalysisSettings(DEFAULT_MIN_AMPLITUDE_US)
    how = (
        f"python -m experiment analyse (run by export-bids): {reviewed} recording(s) with corrections from review "
        f"(sub-*/ses-*/beh/*_corrections.tsv), skin-conductance responses of at least "
        f"{settings.scr_min_amplitude_us:g} uS counted"
    )
    if reviewed:
        _json(folder / f"task-{TASK}_corrections.json", tables.CORRECTIONS_DESCRIPTION)
    # BIDS names no files for tables of results: the validator, run on this folder, is told these
    # are the analysis's own (described here and in docs/analysis.md). bids-validator 3.0.2 reads
    # this file only then, not when it validates the dataset with --recursive.
    (folder / ".bidsignore").write_text("".join(f"{name}.tsv\n" for name in ANALYSIS_TABLES) + "*_corrections.*\n")
    _json(folder / "dataset_description.json", {
        "Name": "Heart rate, HRV and skin conductance per phase (selfcompassion-runner analysis)",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "selfcompassion-runner", "Version": experiment.__version__,
                         "Description": how}],
        "SourceDatasets": [{"URL": "../../"}],
    })  # fmt: skip
    for name, columns in zip(ANALYSIS_TABLES, (PHASE_COLUMNS, MINUTE_COLUMNS, ALIGNMENT_COLUMNS), strict=True):
        rows = [{k: tables.na(v) for k, v in row.items()} for row in analysis[name] if row]
        _tsv(folder / f"{name}.tsv", columns, rows)


def _hand_written(old: Path) -> dict:
    kept = {"description": {}, "README": "", "CHANGES": ""}
    if not old.exists():
        return kept
    try:
        description = json.loads((old / "dataset_description.json").read_text())
        kept["description"] = {k: v for k, v in description.items() if k in HAND_WRITTEN}
    except (OSError, ValueError):
        pass
    for name in ("README", "CHANGES"):
        if (old / name).exists():
            kept[name] = (old / name).read_text()
    return kept


def _readme(name: str) -> str:
    return (
        f"# {name}\n\nSessions run with selfcompassion-runner: five guided-audio conditions (see participants.json),"
        " a resting baseline, questionnaires before and after an 11-minute recording, and a recovery rest; markers "
        "sent to the physiological recorder (ECG, skin conductance).\n\n"
        "Every time is on the session clock (zero at the session's start): events, answers and the physio files' "
        "StartTime. The sessions' own records are in sourcedata/; the analysis in derivatives/.\n\n"
        "To add by hand: the authors (dataset_description.json Authors), the licence, the ethics approval, "
        "funding, how to cite.\n"
    )


def _software(records: dict) -> dict:
    record = next(iter(records.values()))
    versions = record.get("software") or {}
    return {
        "SoftwareName": "PsychoPy (selfcompassion-runner)",
        "SoftwareVersion": str(versions.get("psychopy", "n/a")),
        "Code": "selfcompassion-runner " + str(versions.get("experiment", experiment.__version__)),
    }


@dataclass(frozen=True)
class Study:
    """What the dataset's descriptions take from the protocol file: no recordings needed."""

    name: str
    groups: dict[str, str]  # key -> label
    questionnaires: dict


def _study_protocol(records: dict, protocol: Path | None) -> Study:
    """The study the sessions ran: its protocol's name, group labels and item banks."""
    import tomllib

    from experiment.config import load_questionnaires_of
    from experiment.defaults import DEFAULT_PROTOCOL

    candidates = [protocol] if protocol else []
    candidates += [Path(r["protocol_file"]) for r in records.values() if r.get("protocol_file")]
    for candidate in [*candidates, DEFAULT_PROTOCOL]:
        try:
            data = tomllib.loads(Path(candidate).read_text())
            banks = load_questionnaires_of(candidate)
        except (ExperimentError, OSError, ValueError) as err:
            if candidate == protocol:
                raise DataError(f"The protocol file {protocol} cannot be read ({err}): check --protocol.") from None
            continue
        groups = {key: str(group.get("label", "")) for key, group in (data.get("groups") or {}).items()}
        return Study(str((data.get("study") or {}).get("name", "")), groups, banks)
    return Study("", {}, {})


def _swap(staging: Path, out: Path) -> None:
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _tsv(path: Path, columns, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({c: tables.na(row.get(c)) for c in columns} for row in rows)


def _json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")


def _measuring(args) -> Measuring | None:
    """How the recordings are measured, from the options analyse shares; None without --physio-dir."""
    from experiment.analysis.cli import analysis_settings

    if args.physio_dir is None:
        if args.corrections is not None:
            raise DataError("--corrections needs the recordings they correct: name them with --physio-dir.")
        return None
    return Measuring(args.physio_dir, Columns.parse(args.columns), args.corrections, analysis_settings(args))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiment export-bids", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the session folders (sub-*/ses-*)")
    parser.add_argument("--physio-dir", type=Path, help="the recordings (any format the analysis reads)")
    parser.add_argument("--out", type=Path, required=True, help="the BIDS dataset to write or update")
    parser.add_argument("--columns", help="recorder channel names, as for analyse")
    parser.add_argument("--protocol", type=Path, help="the protocol file (default: the one the sessions ran)")
    parser.add_argument("--ledger", help="the allocation ledger: withdrawn participants are left out")
    parser.add_argument(
        "--corrections", type=Path, help="the corrections made in review, as for analyse (default: PHYSIO/corrections)"
    )
    parser.add_argument(
        "--scr-min-amplitude", type=float, help="smallest skin-conductance response counted, as for analyse"
    )
    args = parser.parse_args(argv)
    try:
        summary = export(args.data_dir, args.out, _measuring(args), args.protocol, args.ledger)
    except CorrectionError as err:
        print(f"EXPORT NOT DONE: {err} Correct or delete that line and export again.", file=sys.stderr)
        return EXIT_INPUT
    except (ExperimentError, OSError, ValueError) as err:
        print(f"EXPORT NOT DONE: {err}", file=sys.stderr)
        return EXIT_INPUT
    print(
        f"{args.out}: {len(summary.participants)} participants, {summary.runs} session runs, "
        f"{summary.recordings} recordings, {summary.reviewed} of them reviewed (BIDS {BIDS_VERSION})."
    )
    for participant in summary.removed:
        print(f"  removed sub-{participant}: no longer in {args.data_dir}")
    for problem in summary.problems:
        print(f"  no recording exported for {problem}")
    return EXIT_OK
