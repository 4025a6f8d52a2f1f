"""``python -m experiment analyse`` and ``python -m experiment simulate-recorder``."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from experiment.defaults import EXIT_INPUT, EXIT_OK
from experiment.errors import ExperimentError


def _parser(command: str, description: str, data_help: str, physio_help: str, required=True) -> argparse.ArgumentParser:
    """The options both commands share: the session folders, the recordings, the workers."""
    parser = argparse.ArgumentParser(prog=f"python -m experiment {command}", description=description)
    parser.add_argument("--data-dir", type=Path, required=required, help=data_help)
    parser.add_argument("--physio-dir", type=Path, required=required, help=physio_help)
    parser.add_argument("--jobs", type=int, help="worker processes (default: one per core)")
    return parser


def refuse_in_one_sentence(job, args, what: str, also: tuple[type[BaseException], ...] = ()) -> int:
    """``job(args)``; an input fault (and the ``also`` kinds) printed as 'WHAT NOT DONE: sentence'."""
    try:
        return job(args)
    except (ExperimentError, ValueError, *also) as err:
        print(f"{what} NOT DONE: {err}", file=sys.stderr)
        return EXIT_INPUT


def analyse_main(argv: list[str]) -> int:
    parser = _parser(
        "analyse",
        "Heart rate, HRV and skin conductance per phase and group, next to the self-report scores.",
        "the session folders (sub-*/ses-*)",
        "recordings sub-<ID>_ses-<N>_physio.<ext>: .csv .txt (LabChart, AcqKnowledge) .acq .vhdr .edf .bdf .xdf",
        required=False,
    )
    parser.add_argument("--bids", type=Path, help="analyse a BIDS dataset made by export-bids instead of DATA/PHYSIO")
    parser.add_argument("--out", type=Path, required=True, help="where the tables, figures and report go")
    parser.add_argument("--columns", help="recorder column names, e.g. time=Time,ecg=ECG100C,eda=EDA100C,digital=D1")
    parser.add_argument("--protocol", type=Path, help="protocol file whose questionnaires score the self-report")
    parser.add_argument(
        "--ledger", help="the allocation ledger: withdrawn participants are left out (default DATA/allocation.sqlite)"
    )
    parser.add_argument(
        "--scr-min-amplitude",
        type=float,
        help="smallest skin-conductance response counted, µS (default: the protocol's [analysis], else 0.05)",
    )
    parser.add_argument(
        "--corrections",
        type=Path,
        help="folder of sub-<ID>_ses-<N>_corrections.csv files made in review (default: PHYSIO/corrections)",
    )
    return refuse_in_one_sentence(_analyse, parser.parse_args(argv), "ANALYSIS")


def _analyse(args) -> int:
    from experiment.analysis import report

    settings = analysis_settings(args)
    results, selfreport, elapsed = _results(args, settings)
    _refuse_unappliable_corrections(results)
    args.out.mkdir(parents=True, exist_ok=True)
    outputs, audio_phase = _tables(results, selfreport)
    for name, frame in outputs.items():
        _write(frame, args.out / name)
    _write_beats(results, args.out / "beats")
    _write_review_index(results, args, settings)
    problems = outputs["problems.csv"].to_dict("records")
    from experiment.analysis.responses import METHOD

    note = (
        f"{len(results)} sessions analysed ({len(problems)} with problems, listed below) in {elapsed:.1f} s; "
        f"change from baseline during '{audio_phase}'; contrasts are uncorrected planned comparisons. "
        f"Skin-conductance responses: {METHOD.format(min_amplitude_us=settings.scr_min_amplitude_us)}."
    )
    page = report.write_report(args.out, outputs, audio_phase, note)
    print(f"{note}\nResults: {args.out} (open {page.name})")
    for problem in problems:
        print(f"  problem: sub-{problem['participant']} ses-{problem['session']}: {problem['reason']}")
    return EXIT_OK


def _results(args, settings):
    """Every session's results (from session folders and recordings, or a BIDS dataset)."""
    from experiment.analysis import pipeline
    from experiment.analysis.recorders import Columns
    from experiment.analysis.review_page import REVIEW_FOLDER
    from experiment.errors import DataError
    from experiment.study.withdrawn import leave_out_withdrawn, withdrawn_participants

    if args.bids is not None:
        if args.corrections is not None:
            raise DataError(
                "--corrections is for raw recordings: a BIDS dataset carries its review's corrections "
                "(export-bids writes them to derivatives/); leave --corrections out."
            )
        return _from_bids(args, settings)
    if args.data_dir is None or args.physio_dir is None:
        raise DataError("Name the sessions and recordings (--data-dir and --physio-dir), or a dataset (--bids).")
    sessions = pipeline.find_sessions(args.data_dir)
    if not sessions:
        raise DataError(f"No session folders (sub-*/ses-*/session.json) under {args.data_dir}: check --data-dir.")
    kept = leave_out_withdrawn(sessions, withdrawn_participants(args.data_dir, args.ledger))
    left_out = sorted({folder.parent.name.removeprefix("sub-") for folder in set(sessions) - set(kept)})
    if left_out:
        print(f"{len(left_out)} withdrawn participant(s) left out: {', '.join(left_out)}", file=sys.stderr)
    sessions = kept
    if not args.physio_dir.is_dir():
        raise DataError(f"The recordings folder {args.physio_dir} does not exist: check --physio-dir.")
    review = args.out / REVIEW_FOLDER
    review.mkdir(parents=True, exist_ok=True)
    columns = Columns.parse(args.columns)
    runs = pipeline.session_runs(sessions)
    jobs = [(folders, args.physio_dir, columns, args.corrections, review, settings) for folders in runs]
    results, elapsed = _run(pipeline.analyse_runs, jobs, args.jobs)
    return results, _selfreport(sessions, args.protocol), elapsed


def _tables(results, selfreport) -> tuple[dict, str]:
    """The output tables by file name, and the audio phase the contrasts are about."""
    import pandas as pd

    from experiment.analysis import pipeline, stats

    phases = pd.DataFrame([row for r in results for row in r.phases], columns=pipeline.PHASE_COLUMNS)
    minutes = pd.DataFrame([row for r in results for row in r.minutes], columns=pipeline.MINUTE_COLUMNS)
    alignment = pd.DataFrame([r.alignment for r in results if r.alignment], columns=pipeline.ALIGNMENT_COLUMNS)
    problems = [{"participant": r.participant, "session": r.session, "reason": r.problem} for r in results if r.problem]
    for frame in (phases, minutes):
        for measure in stats.MEASURES:
            frame[measure] = pd.to_numeric(frame[measure], errors="coerce")
    change = stats.change_from_baseline(phases)
    summary = stats.summarise(change, ["group", "phase"], list(stats.MEASURES))
    audio_phase = next(iter(phases.loc[phases["kind"] == "audio", "phase"]), "induction")
    anova, contrasts = stats.contrasts(change[change["phase"] == audio_phase], list(stats.MEASURES))
    report_summary = (
        stats.summarise(selfreport, ["group", "subscale"], ["change"]) if len(selfreport) else pd.DataFrame()
    )
    if len(selfreport):
        wide = selfreport.pivot_table(index=["participant", "group"], columns="subscale", values="change").reset_index()
        sr_anova, sr_contrasts = stats.contrasts(wide, [c for c in wide.columns if c not in ("participant", "group")])
        anova, contrasts = pd.concat([anova, sr_anova]), pd.concat([contrasts, sr_contrasts])
    outputs = {
        "physio_phases.csv": phases, "physio_minutes.csv": minutes, "alignment.csv": alignment,
        "selfreport.csv": selfreport, "group_summary.csv": summary, "selfreport_summary.csv": report_summary,
        "anova.csv": anova, "contrasts.csv": contrasts,
        "problems.csv": pd.DataFrame(problems, columns=["participant", "session", "reason"]),
        "corrections.csv": pd.DataFrame(
            [edit for r in results for edit in r.edits],
            columns=["participant", "session", "line", "action", "start_s", "end_s", "note"],
        ),
    }  # fmt: skip
    return outputs, audio_phase


def analysis_settings(args):
    """The protocol's [analysis] settings (--protocol, else the shipped one), --scr-min-amplitude first."""
    from dataclasses import replace

    from experiment.config import load_analysis_settings_of
    from experiment.defaults import DEFAULT_PROTOCOL
    from experiment.errors import ConfigError

    settings = load_analysis_settings_of(args.protocol or DEFAULT_PROTOCOL)
    amplitude = getattr(args, "scr_min_amplitude", None)
    if amplitude is not None:
        if not 0.005 <= amplitude <= 1.0:
            raise ConfigError(
                f"--scr-min-amplitude {amplitude:g} is outside 0.005-1 µS: 0.05 is common, 0.01 the smallest."
            )
        settings = replace(settings, scr_min_amplitude_us=amplitude)
    return settings


def _refuse_unappliable_corrections(results) -> None:
    """A corrections line that cannot be applied stops the analysis: results without it would
    look reviewed and are not."""
    from experiment.analysis.corrections import CorrectionError

    refusals = [r.refusal for r in results if getattr(r, "refusal", None)]
    if refusals:
        more = f" (and {len(refusals) - 1} more such line(s))" if len(refusals) > 1 else ""
        raise CorrectionError(f"{refusals[0]} Correct or delete that line and run the analysis again{more}.")


def _write_review_index(results, args, settings) -> None:
    from experiment.analysis.review_page import REVIEW_FOLDER, write_review_index

    if args.bids is not None:  # pages for looking: the review server edits raw recordings only
        manifest = {"bids": str(args.bids.resolve()), "scr_min_amplitude_us": settings.scr_min_amplitude_us}
    else:
        manifest = {
            "data_dir": str(args.data_dir.resolve()),
            "physio_dir": str(args.physio_dir.resolve()),
            "corrections_dir": str((args.corrections or args.physio_dir / "corrections").resolve()),
            "columns": args.columns or "",
            "scr_min_amplitude_us": settings.scr_min_amplitude_us,
        }
    write_review_index(args.out / REVIEW_FOLDER, results, manifest)


def _write_beats(results, folder: Path) -> None:
    import pandas as pd

    from experiment.analysis.beats import COLUMNS

    folder.mkdir(exist_ok=True)
    # the runs of a session share one recording, so one table (unless each run has its own file)
    tables = {f"sub-{r.participant}_ses-{r.session}{r.run_label}_beats.csv": r.beats for r in results if r.beats}
    for name, beats in tables.items():
        _write(pd.DataFrame(beats, columns=COLUMNS), folder / name)


def _run(job, argument_lists: list[tuple], jobs: int | None):
    """Every session through ``job`` (a result, or a result per run) with a progress bar; results in
    participant order."""
    from experiment.analysis import pipeline

    progress = pipeline.ProgressBar(len(argument_lists))
    results = []
    for outcome in pipeline.in_parallel(job, argument_lists, jobs):
        runs = outcome if isinstance(outcome, list) else [outcome]
        results += runs
        progress.step(f"sub-{runs[0].participant}" + (" (problem)" if any(r.problem for r in runs) else ""))
    elapsed = progress.close()
    return sorted(results, key=lambda r: (r.participant, r.session, r.run)), elapsed


def _from_bids(args, settings):
    from experiment.analysis.review_page import REVIEW_FOLDER
    from experiment.bids import read
    from experiment.config import load_questionnaires_of
    from experiment.defaults import DEFAULT_PROTOCOL

    files = read.event_files(args.bids)
    group_of = read.groups(args.bids)
    review = args.out / REVIEW_FOLDER
    review.mkdir(parents=True, exist_ok=True)
    jobs = [(path, group_of.get(path.name.split("_")[0].removeprefix("sub-"), ""), settings, review) for path in files]
    results, elapsed = _run(read.analyse_run, jobs, args.jobs)
    banks = load_questionnaires_of(args.protocol or DEFAULT_PROTOCOL)
    return results, read.selfreport(args.bids, banks, group_of), elapsed


def _selfreport(sessions: list[Path], protocol: Path | None):
    """Subscale scores pre, post and change per session, scored by the protocol's item banks."""
    import pandas as pd

    from experiment.analysis.pipeline import read_session
    from experiment.config import load_questionnaires_of
    from experiment.defaults import DEFAULT_PROTOCOL
    from experiment.questionnaires import score_change

    banks = load_questionnaires_of(protocol or DEFAULT_PROTOCOL)
    frames = []
    for folder in sessions:
        responses = folder / "responses.csv"
        if not responses.exists():
            continue
        record = read_session(folder)
        data = pd.read_csv(responses, dtype={"value": "object"})
        data = data[data["questionnaire"].isin(banks)]
        if data.empty:
            continue
        scores = score_change(data, banks)
        scores.insert(0, "group", record["group"])
        scores.insert(0, "session", record["session"])
        scores.insert(0, "participant", record["participant"])
        frames.append(scores)
    columns = ["participant", "session", "group", "questionnaire", "subscale", "pre", "post", "change"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _write(frame, path: Path) -> None:
    from experiment.datastore import replaced_whole

    with replaced_whole(path, "choose an --out folder you can write to") as tmp:
        frame.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)


def recording_main(command: str, argv: list[str]) -> int:
    """``inspect-recording FILE`` and ``convert-recording FILE OUT.csv``."""
    parser = argparse.ArgumentParser(prog=f"python -m experiment {command}")
    parser.add_argument("file", type=Path, help="a recorder file (.acq .txt .csv .vhdr .edf .bdf .xdf)")
    if command == "convert-recording":
        parser.add_argument("out", type=Path, help="the CSV to write (time,ECG,EDA,Digital)")
    parser.add_argument("--columns", help="channel names, e.g. ecg=ECG100C,eda=EDA100C,digital=D0+D1+D2")
    return refuse_in_one_sentence(_recording, parser.parse_args(argv), "RECORDING NOT READ")


def _recording(args) -> int:
    from experiment.analysis.recorders import Columns
    from experiment.analysis.recorders.overview import convert, describe

    columns = Columns.parse(args.columns)
    if getattr(args, "out", None) is None:
        print(describe(args.file, columns))
        return EXIT_OK
    recording = convert(args.file, args.out, columns)
    markers = recording.markers
    print(
        f"{args.out}: {len(recording.ecg.values)} rows at {recording.ecg.rate_hz:g} Hz "
        f"({recording.ecg.duration_s:.3f} s), {len(markers.codes)} markers from {markers.source}"
    )
    return EXIT_OK


def simulate_main(argv: list[str]) -> int:
    parser = _parser(
        "simulate-recorder",
        "Write realistic recorder exports (ECG, EDA, markers) for session folders, with the truth.",
        "session folders to simulate recordings for",
        "where the exports (and truth/) go",
    )
    parser.add_argument("--make-sessions", type=int, default=0, help="first create this many full-length sessions")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--effect-scale", type=float, default=1.0, help="multiply the group effects (0: none)")
    parser.add_argument("--faults", default="", help="e.g. S003=truncated,S004=no_markers,S005=flat_ecg")
    return refuse_in_one_sentence(_simulate, parser.parse_args(argv), "SIMULATION")


def _simulate(args) -> int:
    import os
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    from experiment.analysis import simulate
    from experiment.analysis.pipeline import ProgressBar, find_sessions

    parts = [part.strip() for part in args.faults.split(",") if part.strip()]
    if any("=" not in part for part in parts):
        raise ValueError(f"--faults '{args.faults}' must look like S003=truncated,S004=no_markers")
    faults = dict(part.split("=", 1) for part in parts)
    unknown = sorted(set(faults.values()) - set(simulate.FAULTS))
    if unknown:
        raise ValueError(f"--faults: unknown fault {unknown[0]}; choose from {', '.join(simulate.FAULTS)}")
    existing = sorted(args.physio_dir.glob("sub-*_physio.*"))
    if existing:
        raise ValueError(
            f"{args.physio_dir} already holds recordings ({existing[0].name}, ...): simulate into an empty "
            "folder; recordings are never overwritten"
        )
    rng = np.random.default_rng(args.seed)
    groups = list(simulate.EFFECTS)
    for number in range(args.make_sessions):
        if number % len(groups) == 0:
            rng.shuffle(groups)  # permuted blocks: balanced groups
        simulate.make_session(args.data_dir, f"S{number + 1:03d}", groups[number % len(groups)], rng)
    sessions = find_sessions(args.data_dir)
    if not sessions:
        raise ValueError(f"no session folders under {args.data_dir}: run sessions or use --make-sessions N")
    progress = ProgressBar(len(sessions))
    with ProcessPoolExecutor(args.jobs or os.cpu_count()) as pool:
        jobs = []
        for index, folder in enumerate(sessions):
            participant = folder.parent.name.removeprefix("sub-")
            person = simulate.random_participant(rng, args.seed * 100003 + index, faults.get(participant))
            jobs.append(pool.submit(simulate.render, folder, args.physio_dir, person, args.effect_scale))
        for job in jobs:
            progress.step(job.result().name)
    progress.close()
    print(f"{len(sessions)} recording(s) written to {args.physio_dir} (truth in {args.physio_dir / 'truth'})")
    return EXIT_OK
