"""The analysis from a BIDS dataset (``analyse --bids BIDS``): the same measures as from the
raw folders, read from participants.tsv, the events and beh files and the physio files.

Events rows become the session's markers (onset, value = code, trial_type = label,
sent_ok), ``phase`` rows its phases; the physio files are already on the session clock, so
the alignment finds no offset and no drift, and the phases are cut at the same markers. The
corrections a review made go with the dataset (derivatives/, on the session clock, written by
export-bids) and are applied as analyse applies them to the raw recordings.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from experiment.analysis.corrections import CorrectionError, Corrections, read_corrections
from experiment.analysis.pipeline import SessionResult, measure
from experiment.analysis.recorders.bids_physio import read_bids_physio
from experiment.analysis.recorders.pick import pick
from experiment.analysis.review_page import page_name, write_review_page
from experiment.bids.layout import DERIVATIVE, TASK
from experiment.errors import DataError, ExperimentError


def event_files(root: Path) -> list[Path]:
    files = sorted(root.glob(f"sub-*/ses-*/beh/sub-*_ses-*_task-{TASK}*_events.tsv"))
    if not (root / "dataset_description.json").exists() or not files:
        raise DataError(f"{root} is not a BIDS dataset of this study (no task-{TASK} events): check --bids.")
    return files


def groups(root: Path) -> dict[str, str]:
    with (root / "participants.tsv").open(newline="") as handle:
        return {
            row["participant_id"].removeprefix("sub-"): row["group"] for row in csv.DictReader(handle, delimiter="\t")
        }


def analyse_run(events_path: Path, group: str, settings=None, review_dir: Path | None = None) -> SessionResult:
    """One session run: never raises for a bad file; the result carries the problem. With
    ``review_dir`` its review page is written there (for looking: corrections are made on the
    raw recordings)."""
    parts = dict(part.split("-", 1) for part in events_path.name.split("_")[:-1] if "-" in part)
    result = SessionResult(parts["sub"], int(parts["ses"]), group, events_path.parent, run=int(parts.get("run", 1)))
    result.run_label = f"_run-{parts['run']}" if "run" in parts else ""  # each run has its own physio file
    try:
        events, phases = _events(events_path)
        physio = events_path.with_name(events_path.name.replace("_events.tsv", "_physio.tsv.gz"))
        if not physio.exists():
            raise DataError(f"no physio file {physio.name} in the dataset")
        recording = pick(read_bids_physio(physio))
        corrections = carried_corrections(events_path)
        # an accept of a session of several runs lies in one of them (export-bids checked all)
        measure(result, events, phases, recording, str(events_path), corrections, settings,
                check_accepts=not result.run_label)  # fmt: skip
        if review_dir is not None:
            page = review_dir / page_name(result.participant, result.session, result.run_label)
            write_review_page(page, result, recording, result.windows, corrections, clock="session time")
        result.responses = None  # drawn on the page in this worker; not shipped back to the main process
    except CorrectionError as err:
        result.refusal = str(err)
    except (ExperimentError, OSError, ValueError) as err:
        result.problem = str(err)
    return result


def carried_corrections(events_path: Path) -> Corrections:
    """The corrections export-bids carried for this run (none: the recording was not reviewed)."""
    root = events_path.parents[3]  # <root>/sub-*/ses-*/beh/<events>
    relative = events_path.relative_to(root)
    path = root / "derivatives" / DERIVATIVE / relative.with_name(relative.name.replace("_events", "_corrections"))
    return read_corrections(path, delimiter="\t", blank="n/a")


def _events(path: Path) -> tuple[list[dict], list[dict]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    events = [
        {"time_s": r["onset"], "code": r["value"], "label": r["trial_type"], "sent_ok": r["sent_ok"],
         "phase": r["phase"]}
        for r in rows
        if r["trial_type"] != "phase"
    ]  # fmt: skip
    phases = [
        {"name": r["phase"], "kind": r["detail"], "start_s": float(r["onset"]),
         "end_s": float(r["onset"]) + float(r["duration"])}
        for r in rows
        if r["trial_type"] == "phase"
    ]  # fmt: skip
    return events, phases


def selfreport(root: Path, banks: dict, group_of: dict[str, str]) -> pd.DataFrame:
    """Subscale scores pre, post and change per session run, from the beh files."""
    from experiment.questionnaires import score_change

    frames = []
    for path in sorted(root.glob(f"sub-*/ses-*/beh/sub-*_ses-*_task-{TASK}*_beh.tsv")):
        parts = dict(part.split("-", 1) for part in path.name.split("_")[:-1] if "-" in part)
        data = pd.read_csv(path, sep="\t", dtype={"value": "object"}, na_values=["n/a"], keep_default_na=False)
        data = data[data["questionnaire"].isin(banks)]
        if data.empty:
            continue
        scores = score_change(data, banks)
        scores.insert(0, "group", group_of.get(parts["sub"], ""))
        scores.insert(0, "session", int(parts["ses"]))
        scores.insert(0, "participant", parts["sub"])
        frames.append(scores)
    columns = ["participant", "session", "group", "questionnaire", "subscale", "pre", "post", "change"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
