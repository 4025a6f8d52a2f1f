"""Every session of a study, through alignment, cardiac and electrodermal measures, to tables.

Sessions are analysed in parallel worker processes (one per core). A session whose recording
is missing, truncated, without markers or unreadable never stops the others: it is listed in
``problems.csv`` and the report with its reason, and the rest go on.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiment.analysis.align import Alignment, align, phase_windows, phases_from_events
from experiment.analysis.beats import beat_rows
from experiment.analysis.cardiac import Beats, detect_beats, segment_metrics
from experiment.analysis.corrections import (
    CorrectionError,
    Corrections,
    corrections_file,
    excluded_spans,
    in_spans,
    read_corrections,
)
from experiment.analysis.electrodermal import EdaResult, segment_level, usable_samples
from experiment.analysis.recorders import EXTENSIONS, Columns, Recording, find_export, read_recording
from experiment.analysis.responses import DEFAULT_MIN_AMPLITUDE_US, Responses, detect_responses
from experiment.analysis.review_page import page_name, write_review_page
from experiment.config import AnalysisSettings
from experiment.console import bar
from experiment.errors import DataError, ExperimentError
from experiment.record import read_record

PHASE_COLUMNS = (
    "participant", "session", "group", "phase", "kind", "duration_s",
    "hr_bpm", "rmssd_ms", "hf_ms2", "scl_us", "scr_n", "scr_per_min", "scr_amp_us", "n_beats", "artefact_pct",
    "quality", "reason", "beats_edited", "reviewed", "scr_min_amplitude_us",
)  # fmt: skip
MINUTE_COLUMNS = (
    "participant", "session", "group", "phase", "minute", "hr_bpm", "rmssd_ms", "hf_ms2", "scl_us",
    "scr_n", "scr_per_min", "scr_amp_us", "artefact_pct", "quality", "beats_edited", "reviewed", "scr_min_amplitude_us",
)  # fmt: skip
RUN_FOLDER = re.compile(r"^ses-(\d+)(?:_run-(\d+))?$")  # the runner's session folders
CORRECTIONS_FOLDER = "corrections"  # under the recordings folder, unless --corrections names another
ALIGNMENT_COLUMNS = (
    "participant", "session", "offset_s", "drift_ppm", "markers_matched", "markers_sent",
    "residual_rms_ms", "residual_max_ms", "intervals_excluded", "extra_beats_removed",
)  # fmt: skip


@dataclass
class SessionResult:
    participant: str
    session: int
    group: str
    folder: Path
    phases: list[dict] = field(default_factory=list)
    minutes: list[dict] = field(default_factory=list)
    alignment: dict | None = None
    problem: str | None = None
    refusal: str | None = None  # a corrections line that cannot be applied: the analysis stops
    beats: list[dict] = field(default_factory=list)  # the beats table (beats.beat_rows)
    edits: list[dict] = field(default_factory=list)  # the corrections applied, for the report
    windows: dict = field(default_factory=dict)  # phase name -> (start, end) on the recording's clock
    responses: Responses | None = None  # the skin-conductance responses found (for the review page)
    run: int = 1
    run_label: str = ""  # "_run-<K>" where each run has its own recording file (a BIDS dataset's runs)


def find_sessions(data_dir: Path) -> list[Path]:
    """Session folders (sub-*/ses-*) whose session.json exists, in participant order."""
    return sorted(p.parent for p in data_dir.glob("sub-*/ses-*/session.json"))


def session_runs(folders: list[Path]) -> list[list[Path]]:
    """``folders`` grouped by session: ses-<N> with its linked runs ses-<N>_run-<K> (a resumed
    session, or one run again with --new-run), each group in run order. They share one recording."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for folder in folders:
        match = RUN_FOLDER.match(folder.name)
        key = (folder.parent, match.group(1)) if match else (folder.parent, folder.name)
        groups.setdefault(key, []).append(folder)
    return [sorted(runs, key=_run_number) for _, runs in sorted(groups.items())]


def runs_of_session(data_dir: Path, participant: str, session: int) -> list[Path]:
    """The run folders of one session (with their session.json), in run order."""
    folders = [p.parent for p in (data_dir / f"sub-{participant}").glob("ses-*/session.json")]
    ours = [f for f in folders if (match := RUN_FOLDER.match(f.name)) and int(match.group(1)) == session]
    return sorted(ours, key=_run_number)


def _run_number(folder: Path) -> int:
    match = RUN_FOLDER.match(folder.name)
    return int(match.group(2) or 1) if match else 1


def analyse_session(
    folder: Path,
    physio_dir: Path,
    columns: Columns,
    corrections_dir: Path | None = None,
    review_dir: Path | None = None,
    settings: AnalysisSettings | None = None,
) -> SessionResult:
    """A session of one run: :func:`analyse_runs` of ``[folder]``."""
    return analyse_runs([folder], physio_dir, columns, corrections_dir, review_dir, settings)[0]


def analyse_runs(
    folders: list[Path],
    physio_dir: Path,
    columns: Columns,
    corrections_dir: Path | None = None,
    review_dir: Path | None = None,
    settings: AnalysisSettings | None = None,
) -> list[SessionResult]:
    """The runs of one session, each measured on its own clock from the session's one recording:
    never raises for a bad recording; a result carries its problem instead (with whatever could
    still be measured: a truncated recording keeps its covered phases). Corrections come from
    ``corrections_dir`` (default PHYSIO/corrections); with ``review_dir`` the recording's review
    page is written there, with every run's phases."""
    records = [_session_record(folder) for folder in folders]
    results = [SessionResult(r["participant"], r["session"], str(r.get("group", "")), f, run=_run_number(f))
               for f, (r, _) in zip(folders, records, strict=True)]  # fmt: skip
    first = results[0]
    try:
        if all(unreadable for _, unreadable in records):  # nothing to measure the recording against
            raise DataError(records[0][1])
        folder_of_corrections = corrections_dir or physio_dir / CORRECTIONS_FOLDER
        corrections = read_corrections(corrections_file(folder_of_corrections, first.participant, first.session))
        recording = _read_session_recording(physio_dir, first, columns)
        for result, folder, (record, unreadable) in zip(results, folders, records, strict=True):
            _measure_run(result, folder, record, unreadable, recording, corrections, settings, len(folders) == 1)
        if len(folders) > 1:
            refuse_accepts_outside(corrections, [window for r in results for window in r.windows.values()])
        if review_dir is not None and any(r.windows for r in results):
            page_result, windows = _one_page(results)
            write_review_page(review_dir / page_name(first.participant, first.session), page_result, recording,
                              windows, corrections)  # fmt: skip
    except CorrectionError as err:
        first.refusal = str(err)  # the analysis stops at it
    except (ExperimentError, OSError, ValueError) as err:
        for result in results:
            result.problem = "; ".join(filter(None, [result.problem, str(err)]))
    for result in results:
        result.responses = None  # drawn on the page in this worker; not shipped back to the main process
    return results


def _measure_run(result, folder, record, unreadable, recording, corrections, settings, check_accepts: bool) -> None:
    """One run of a session measured; a run that cannot be carries its problem."""
    try:
        if unreadable:
            raise DataError(unreadable)
        events, phases = session_events(folder, record)
        measure(result, events, phases, recording, str(folder), corrections, settings, check_accepts)
    except CorrectionError:
        raise
    except (ExperimentError, OSError, ValueError) as err:
        result.problem = str(err)


def _one_page(results: list[SessionResult]) -> tuple[SessionResult, dict[str, tuple[float, float]]]:
    """What one review page shows of a session's runs: every run's phases (a name a later run
    repeats gets its run number), the beats (the same recording and corrections in every run)."""
    if len(results) == 1:
        return results[0], results[0].windows
    measured = [r for r in results if r.windows]
    page = SessionResult(results[0].participant, results[0].session, results[0].group, results[0].folder)
    page.beats, page.responses = measured[0].beats, measured[0].responses
    page.problem = "; ".join(r.problem for r in results if r.problem) or None
    windows = {}
    for run, result in enumerate(results, 1):
        for row in result.phases:
            name = row["phase"] if row["phase"] not in windows else f"{row['phase']} (run {run})"
            if row["phase"] in result.windows:
                windows[name] = result.windows[row["phase"]]
            page.phases.append(row | {"phase": name})
    return page, windows


def read_session(folder: Path) -> dict:
    """session.json with ``participant`` and ``session`` always set (from the folder names where
    the file lacks them); DataError when it cannot be read."""
    record, unreadable = _session_record(folder)
    if unreadable:
        raise DataError(unreadable)
    return record


def session_events(folder: Path, record: dict) -> tuple[list[dict], list[dict]]:
    """events.csv's rows, and the session's phases: session.json's, else from events.csv."""
    with (folder / "events.csv").open(newline="") as handle:
        events = list(csv.DictReader(handle))
    phases = [p for p in record.get("phases") or [] if p.get("end_s") is not None]
    return events, phases or phases_from_events(events, str(folder))


def _session_number(record: dict, folder: Path) -> int:
    try:
        return int(record["session"])
    except (KeyError, TypeError, ValueError):
        digits = re.match(r"ses-(\d+)", folder.name)  # the folder says it: ses-<N>[_run-<K>]
        return int(digits.group(1)) if digits else 0


def _session_record(folder: Path) -> tuple[dict, str | None]:
    """session.json as a dict (participant and session filled in from the folder names where
    missing), and the sentence saying why it cannot be read, or None."""
    unreadable = None
    try:
        record = read_record(folder, check_types=False)
    except DataError as err:
        record, unreadable = {}, str(err)
    record["participant"] = str(record.get("participant") or folder.parent.name.removeprefix("sub-"))
    record["session"] = _session_number(record, folder)
    return record, unreadable


def _read_session_recording(physio_dir: Path, result: SessionResult, columns: Columns) -> Recording:
    export = find_export(physio_dir, result.participant, result.session)
    if export is None:
        extensions = "/".join(EXTENSIONS)
        raise DataError(f"no recording sub-{result.participant}_ses-{result.session}_physio{extensions}")
    return read_recording(export, columns)


def measure(
    result: SessionResult,
    events: list[dict],
    phases: list[dict],
    recording: Recording,
    where: str,
    corrections: Corrections | None = None,
    settings: AnalysisSettings | None = None,
    check_accepts: bool = True,
) -> Alignment:
    """Align ``recording`` to the session's ``events``, then fill ``result`` phase by phase, with
    a person's ``corrections`` applied first; returns the alignment.

    ``events``: events.csv rows (time_s, code, label, sent_ok as text); ``phases``: name, kind,
    start_s, end_s on the session clock. Raises DataError for a recording that cannot be used,
    CorrectionError for a line that cannot be applied (an ``accept`` outside this run's phases
    only with ``check_accepts``: a session of several runs checks all runs' phases)."""
    corrections = corrections or Corrections()
    settings = settings or AnalysisSettings(DEFAULT_MIN_AMPLITUDE_US)
    markers = recording.markers
    alignment = align(markers.times_s, markers.codes, events, markers.source)
    windows = phase_windows(alignment, phases, events)
    if not windows:
        raise DataError(f"none of the phases of {where} falls inside the recording: is it the right recording?")
    problems = []
    if recording.end_s < max(end for _, end in windows.values()) - 1.0:
        covered = sum(1 for _, end in windows.values() if end <= recording.end_s)
        problems.append(
            f"the recording stops at {recording.end_s:.0f} s, before the session ended "
            f"(only {covered} of {len(windows)} phases covered; those are in the tables): truncated export?"
        )
    signals = _find(recording, corrections, settings)
    beats = signals.beats
    if check_accepts:
        refuse_accepts_outside(corrections, windows.values())
    result.windows = windows
    result.responses = signals.responses
    _fill_phases(result, phases, windows, signals, corrections, settings)
    result.beats = beat_rows(beats)
    result.edits = [
        {"participant": result.participant, "session": result.session, "line": c.line, "action": c.action,
         "start_s": c.start_s, "end_s": "" if c.end_s is None else c.end_s, "note": c.note}
        for c in corrections.lines
    ]  # fmt: skip
    result.alignment = {
        "participant": result.participant,
        "session": result.session,
        "offset_s": round(alignment.offset_s, 6),
        "drift_ppm": round(alignment.drift_ppm, 2),
        "markers_matched": alignment.matched,
        "markers_sent": alignment.expected,
        "residual_rms_ms": round(alignment.residual_rms_ms, 3),
        "residual_max_ms": round(alignment.residual_max_ms, 3),
        "intervals_excluded": beats.abnormal,
        "extra_beats_removed": len(beats.removed_s),
    }
    if beats.flat_windows.mean() > 0.5:
        problems.append("the ECG is flat (no heart beats): electrodes off or the wrong channel exported")
    result.problem = "; ".join(problems) or None
    return alignment


@dataclass
class Signals:
    """A recording and what the analysis found in it, as the per-segment measures need it."""

    recording: Recording
    beats: Beats
    usable: np.ndarray | None = None  # per EDA sample: skin, not artefact (None: no EDA)
    responses: Responses | None = None


def _find(recording: Recording, corrections: Corrections, settings: AnalysisSettings) -> Signals:
    """The beats, the usable EDA and its responses, a person's corrections applied."""
    ecg = recording.ecg
    signals = Signals(recording, detect_beats(ecg.time_s, ecg.values, ecg.rate_hz, corrections))
    if recording.eda is not None:
        eda = recording.eda
        signals.usable = usable_samples(eda.values, eda.rate_hz) & ~in_spans(eda.time_s, excluded_spans(corrections))
        signals.responses = detect_responses(
            eda.time_s, eda.values, signals.usable, eda.rate_hz, settings.scr_min_amplitude_us
        )
    return signals


def _fill_phases(
    result: SessionResult, phases, windows, signals: Signals, corrections: Corrections, settings: AnalysisSettings
) -> None:
    """A row per phase and per whole minute of it, into ``result``."""
    common = {"participant": result.participant, "session": result.session, "group": result.group}
    reviewed = {"reviewed": int(corrections.reviewed), "scr_min_amplitude_us": settings.scr_min_amplitude_us}
    for phase in phases:
        if phase["name"] not in windows:
            continue
        start, end = windows[phase["name"]]
        row = common | {"phase": phase["name"], "kind": phase["kind"], "duration_s": round(end - start, 3)}
        measures = _accepted(_measures(signals, start, end), corrections, start, end)
        result.phases.append(row | measures | reviewed)
        for minute in range(int((end - start + 1.0) // 60)):  # a clock drift may shave off a millisecond
            m_start = start + 60 * minute
            measures = _accepted(_measures(signals, m_start, m_start + 60), corrections, start, end)
            result.minutes.append(
                common | {"phase": phase["name"], "minute": minute + 1} | reviewed
                | {k: measures[k] for k in MINUTE_COLUMNS if k in measures}
            )  # fmt: skip


def _measures(signals: Signals, start: float, end: float) -> dict:
    recording, beats = signals.recording, signals.beats
    cardiac = segment_metrics(beats, start, end)
    edited = int(((beats.edits_s >= start) & (beats.edits_s < end)).sum())
    if recording.eda is None:
        eda = EdaResult(float("nan"), "missing", "no EDA channel in the recording")
    else:
        eda = segment_level(recording.eda.time_s, recording.eda.values, signals.usable, start, end)
    scr = {"scr_n": "", "scr_per_min": float("nan"), "scr_amp_us": float("nan")}
    if signals.responses is not None and eda.quality not in ("missing", "lead off"):
        scr = signals.responses.in_segment(start, end)
    problems = [(cardiac.quality, f"ECG: {cardiac.reason}")] if cardiac.quality != "ok" else []
    problems += [(eda.quality, f"EDA: {eda.reason}")] if eda.quality != "ok" else []
    return {
        "hr_bpm": _round(cardiac.hr_bpm, 2),
        "rmssd_ms": _round(cardiac.rmssd_ms, 2),
        "hf_ms2": _round(cardiac.hf_ms2, 1),
        "scl_us": _round(eda.scl_us, 4),
        "scr_n": scr["scr_n"],
        "scr_per_min": _round(scr["scr_per_min"], 3),
        "scr_amp_us": _round(scr["scr_amp_us"], 4),
        "n_beats": cardiac.n_beats,
        "artefact_pct": _round(cardiac.artefact_pct, 2),
        "quality": problems[0][0] if problems else "ok",
        "reason": "; ".join(reason for _, reason in problems),
        "beats_edited": edited,
    }


def _accepted(measures: dict, corrections: Corrections, start: float, end: float) -> dict:
    """A flagged value in a phase a person accepted after review: quality 'accepted', the flag's
    reason kept after what the person wrote."""
    accepts = [c for c in corrections.of("accept") if start <= c.start_s < end]
    if not accepts or measures["quality"] == "ok":
        return measures
    notes = "; ".join(c.note for c in accepts if c.note) or "no note"
    return measures | {"quality": "accepted", "reason": f"accepted after review ({notes}): {measures['reason']}"}


def refuse_accepts_outside(corrections: Corrections, windows: Iterable[tuple[float, float]]) -> None:
    """CorrectionError for an ``accept`` line in none of ``windows`` (every run's phases of a session)."""
    windows = list(windows)
    for line in corrections.of("accept"):
        if not any(start <= line.start_s < end for start, end in windows):
            raise line.refuse("that time is in none of the session's phases, so there is no phase to accept")


def _round(value: float, digits: int):
    return "" if value is None or np.isnan(value) else round(float(value), digits)


def in_parallel(job, argument_lists: list[tuple], jobs: int | None = None):
    """``job(*arguments)`` for each, ``jobs`` worker processes at a time, in completion order."""
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1:
        for arguments in argument_lists:
            yield job(*arguments)
        return
    with ProcessPoolExecutor(jobs) as pool:
        for future in as_completed([pool.submit(job, *arguments) for arguments in argument_lists]):
            yield future.result()


class ProgressBar:
    """``[#####-----] 12/135 sub-P012`` on one line of stderr (a line per 10% when not a terminal)."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.live = stream.isatty()
        self.started = time.perf_counter()

    def step(self, label: str) -> None:
        self.done += 1
        line = f"[{bar(self.done / max(self.total, 1))}] {self.done}/{self.total} {label}"
        if self.live:
            self.stream.write("\r\033[K" + line)
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> float:
        if self.live:
            self.stream.write("\n")
        return time.perf_counter() - self.started
