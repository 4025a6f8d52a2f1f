"""From the command line to a finished session, and the one place errors are caught.

Order matters: everything that can be checked is checked before the session folder exists
(protocol, participant ID, stimuli, earlier runs, marker port, sound output, window), so a
refusal leaves nothing half-made. Once the folder exists every outcome is written to it.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from experiment.allocation import describe_location, ledger_location
from experiment.allocation.ledger import open_for_protocol
from experiment.audio import check_stimuli
from experiment.audio_verdict import AudioVerdict
from experiment.clock import SessionClock
from experiment.config import Group, Protocol, check_participant_id, load_protocol
from experiment.console import TechnicianConsole
from experiment.datastore import (
    EVENT_COLUMNS,
    NEXT_SESSION_OR_NEW_RUN,
    RESPONSE_COLUMNS,
    AppendOnlyCsv,
    already_holds_data,
    create_session_folder,
    existing_runs,
)
from experiment.defaults import (
    DEFAULT_DATA_DIR,
    DEFAULT_PROTOCOL,
    DEMO_PROTOCOL,
    EXIT_ABORTED,
    EXIT_DEVICE,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
)
from experiment.errors import AllocationError, ConfigError, DataError, DeviceError, ExperimentError
from experiment.frames import FileFrames
from experiment.logs import log_to_console, log_to_file
from experiment.markers import MarkerSender
from experiment.markers.device import PROTOCOLS as MARKER_PROTOCOLS
from experiment.markers.device import SERIAL_PROTOCOLS, choose_device, open_for_session, pulse_once
from experiment.markers.lsl import LslOutlet
from experiment.markers.sender import uncertain_markers
from experiment.playback import open_player
from experiment.preflight import session_checks
from experiment.record import RECORD_FILE, SessionRecord, first_fields, now_iso
from experiment.recorder.checks import recorder_checks
from experiment.recorder.inlet import RecorderColumns
from experiment.recorder.watch import RecorderWatch
from experiment.resume import Interrupted, ask_to_resume, find_interrupted
from experiment.session import Session
from experiment.ui.dialog import SessionInfo
from experiment.ui.display import import_window_modules, require_screen
from experiment.verdict import session_verdict

log = logging.getLogger("experiment")


@dataclass
class RunOptions:
    protocol: Path
    data_dir: Path
    info: SessionInfo
    autopilot: bool
    autopilot_seed: int | None
    marker_protocol: str | None
    marker_port: str | None
    marker_lsl: bool
    audio_device: str | None
    new_run: bool
    screenshots: bool
    fullscreen: bool | None
    ledger: str | None = None  # None: DATA/allocation.sqlite
    station: str | None = None  # None: the computer's name
    recorder_stream: str | None = None  # None: the protocol's [recorder] stream, if any
    recorder_columns: str | None = None
    recorder_optional: bool = False  # start even if the recorder's checks fail (recorded)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_experiment.py",
        description="Run one session of the self-compassion paradigm.",
    )
    parser.add_argument("--participant", default="", help="participant ID (a pseudonym such as P001)")
    parser.add_argument("--session", type=int, default=1, help="session number (default 1)")
    parser.add_argument("--technician", default="", help="technician initials")
    parser.add_argument("--protocol", type=Path, help="protocol file (default stimuli/protocol.toml)")
    parser.add_argument("--demo", action="store_true", help="bundled short demo protocol and stimuli")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data go (default data/)")
    parser.add_argument("--autopilot", action="store_true", help="a seeded simulated participant answers; no dialog")
    parser.add_argument("--autopilot-seed", type=int, help="autopilot seed (default: from the participant ID)")
    parser.add_argument("--marker-port", help="marker device path (/dev/ttyUSB0, COM3) or pyserial URL (loop://)")
    parser.add_argument("--marker-protocol", choices=MARKER_PROTOCOLS, help="marker device protocol")
    parser.add_argument(
        "--marker-lsl", action="store_true", help="also send every marker to a Lab Streaming Layer outlet"
    )
    parser.add_argument("--audio-device", help="part of the sound output's name (default: the protocol's)")
    parser.add_argument(
        "--new-run", action="store_true", help="the session already has data: keep it and start a new run beside it"
    )
    parser.add_argument("--ledger", help="allocation ledger file or postgresql:// URL (default DATA/allocation.sqlite)")
    parser.add_argument("--stratum", help="the participant's stratum, when the protocol stratifies allocation")
    parser.add_argument("--station", help="this testing room's name in the ledger (default: the computer's name)")
    parser.add_argument("--screenshots", action="store_true", help="save the first frame of each screen")
    parser.add_argument("--windowed", action="store_true", help="use a window even if the protocol says fullscreen")
    parser.add_argument("--recorder-stream", help="the recorder's Lab Streaming Layer stream: check and watch it")
    parser.add_argument("--recorder-columns", help="ecg=NAME,eda=NAME,digital=NAME where its labels do not say")
    parser.add_argument(
        "--recorder-optional", action="store_true", help="start even if a recorder check fails (session.json says so)"
    )
    return parser


def options_from_args(args: argparse.Namespace) -> RunOptions:
    protocol = args.protocol or (DEMO_PROTOCOL if args.demo else DEFAULT_PROTOCOL)
    technician = args.technician or ("AP" if args.autopilot else "")
    info = SessionInfo(args.participant, args.session, technician, stratum=args.stratum)
    return RunOptions(
        protocol,
        args.data_dir.resolve(),
        info,
        args.autopilot,
        args.autopilot_seed,
        args.marker_protocol,
        args.marker_port,
        args.marker_lsl,
        args.audio_device,
        args.new_run,
        args.screenshots,
        False if args.windowed else None,
        args.ledger,
        args.station,
        args.recorder_stream,
        args.recorder_columns,
        args.recorder_optional,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_to_console()
    options = options_from_args(args)
    try:
        return run(options)
    except (ConfigError, DataError, AllocationError) as err:
        return _fail(EXIT_INPUT, str(err))
    except DeviceError as err:
        return _fail(EXIT_DEVICE, str(err))
    except KeyboardInterrupt:
        return _fail(EXIT_ABORTED, "Stopped from the keyboard (Ctrl+C) before the session began.")


def run(options: RunOptions) -> int:
    """Check, open, create, run, record: each step's resources closed in reverse on the way out."""
    ready = _check_before_anything_is_opened(options)
    if ready is None:
        return _fail(EXIT_ABORTED, "The session dialog was cancelled; nothing was recorded.")
    with ExitStack() as resources:
        parts = _open_parts(ready, options, resources)
        files = _create_session_files(ready, parts, options, resources)
        session = _connect_session(ready, parts, files, options, resources)
        status, message = _run_session(session)
        if not session.markers.flush():
            log.error("Some markers were still waiting to be written when the session ended.")
        if session.markers.uncertain:
            session.incident("marker_time_uncertain", uncertain_markers(session.markers.uncertain))
        if parts.recorder is not None:  # the recorder's view of the last markers, then its summary
            for kind, detail in parts.recorder.finish():
                session.incident(kind, detail)
        _record_outcome(parts.ledger, ready.protocol, ready.info, files.record, status)
        try:
            files.record.update(
                status=status,
                ended_at=now_iso(),
                duration_s=round(parts.clock.now(), 3),
                marker_faults=session.markers.faults,
                marker_reconnects=session.markers.reconnects,
                marker_thread_priority=session.markers.thread_priority,
                current_phase=None,
                **({"message": message} if message else {}),
                **({"recorder": parts.recorder.summary()} if parts.recorder else {}),
            )
        except DataError as err:  # the disk filled or the folder went: session.json says "running" still
            log.error("The session's end could not be recorded in session.json: %s", err)
            status, message = "error", message or str(err)
        return _report(status, message, files.folder, _verdict(session, status, files.record))


@dataclass
class Ready:
    """What is known before anything is opened: a refusal here leaves nothing behind."""

    protocol: Protocol
    info: SessionInfo
    marker_protocol: str
    marker_port: str | None
    stimuli: dict
    previous: list[Path]
    new_run: bool
    resume: Interrupted | None
    recorder_stream: str | None = None  # the recorder's LSL stream to check and watch
    recorder_columns: RecorderColumns = RecorderColumns()


@dataclass
class Parts:
    """The opened devices and the allocation, before the session folder exists."""

    device: object
    ledger: object
    ledger_described: str  # where the ledger is, without a password (for session.json)
    allocation: object
    group: Group  # the allocated one
    player: object
    backend_note: str
    audio_device: str | None
    clock: SessionClock
    autopilot: object
    display: object
    recorder: RecorderWatch | None = None  # the recorder's stream, watched during the session


@dataclass
class Files:
    folder: Path
    record: SessionRecord
    events: AppendOnlyCsv
    responses: AppendOnlyCsv


def _check_before_anything_is_opened(options: RunOptions) -> Ready | None:
    protocol = load_protocol(options.protocol)
    # The recordings are decoded and hashed in the background (most of it outside the
    # interpreter's lock) while the dialog waits for the technician and the window's modules
    # are imported: launch to the first screen is then little more than PsychoPy's own start.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stimuli") as background:
        checking = background.submit(check_stimuli, protocol)
        marker_protocol, marker_port = choose_device(
            options.marker_protocol, options.marker_port, protocol.markers.protocol, protocol.markers.port,
            protocol.path,
        )  # fmt: skip
        info = _session_info(options, protocol)
        if info is None:
            return None
        check_participant_id(protocol, info.participant)
        previous = existing_runs(options.data_dir, info.participant, info.session)
        new_run, resume = options.new_run, None
        if previous and not new_run:
            resume = _offer_resume(previous[-1], protocol, info, options.autopilot)
            new_run = True
        require_screen()  # before anything is allocated or opened
        import_window_modules()
        stimuli = checking.result()
    stream = options.recorder_stream or protocol.recorder.stream
    columns = RecorderColumns.parse(options.recorder_columns or protocol.recorder.columns)
    return Ready(protocol, info, marker_protocol, marker_port, stimuli, previous, new_run, resume, stream, columns)


def _open_parts(ready: Ready, options: RunOptions, resources: ExitStack) -> Parts:
    """Marker device, ledger (and the allocation), sound output and window; then the checklist."""
    protocol, info = ready.protocol, ready.info
    options.data_dir.mkdir(parents=True, exist_ok=True)
    device, warning = open_for_session(ready.marker_protocol, ready.marker_port, protocol.markers)
    _close_later(resources, device.close)
    if warning:
        log.warning("%s", warning)
    recorder_checking = _start_recorder_checks(ready, device)  # 8 s of signal, while the rest opens
    ledger_at = ledger_location(options.ledger, options.data_dir)
    ledger = open_for_protocol(
        ledger_at,
        protocol.allocation,
        list(protocol.groups),
        options.station,
        create_missing=not options.ledger,
    )
    _close_later(resources, ledger.close)
    allocation = ledger.allocate(info.participant, info.stratum)
    group = protocol.groups[allocation.group]
    recording = FileFrames(group.audio)  # decoded a few seconds ahead, never whole
    audio_device = options.audio_device or info.audio_device or protocol.audio.device
    audio = protocol.audio
    player, note = open_player(
        recording, recording.rate_hz, audio.backend, audio.volume, audio_device, protocol.markers.sync_interval_s
    )
    _close_later(resources, player.close)
    clock = SessionClock()
    autopilot = _make_autopilot(options, info)
    from experiment.ui.checklist import show_checklist
    from experiment.ui.display import Display

    display = Display(protocol.display, clock, autopilot, fullscreen=options.fullscreen)
    _close_later(resources, display.close)
    if options.screenshots:  # moved into the session folder once it exists
        display.screenshot_dir = Path(tempfile.mkdtemp(prefix="experiment-screens-"))
    checks = session_checks(protocol, device.describe(), player.describe(), ledger, options.data_dir, display.win)
    recorder_lines, recorder = _recorder_watch(recorder_checking, options.recorder_optional, resources)
    show_checklist(display, checks + recorder_lines)
    _refuse_on_failed(checks, recorder_lines, options.recorder_optional)
    return Parts(
        device, ledger, describe_location(ledger_at), allocation, group, player, note, audio_device, clock, autopilot,
        display, recorder,
    )  # fmt: skip


def _start_recorder_checks(ready: Ready, device) -> Future | None:
    """The recorder's checks (experiment/recorder/checks.py) on a thread of their own, the test
    marker sent through the session's trigger box; None when no recorder stream is named."""
    if not ready.recorder_stream:
        return None
    serial = ready.marker_protocol in SERIAL_PROTOCOLS
    send = (lambda code: pulse_once(device, code)) if serial else None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-checks")
    checking = pool.submit(recorder_checks, ready.recorder_stream, ready.recorder_columns, send)
    pool.shutdown(wait=False)
    return checking


def _recorder_watch(checking: Future | None, optional: bool, resources: ExitStack):
    """The recorder checks' lines and the watch over the stream (None: no stream, or not found)."""
    if checking is None:
        return [], None
    lines, inlet = checking.result()
    if inlet is None:
        return lines, None
    watch = RecorderWatch(inlet, [line.line() for line in lines], optional and not all(c.ok for c in lines))
    _close_later(resources, watch.close)
    return lines, watch


def _refuse_on_failed(checks: list, recorder_lines: list, recorder_optional: bool) -> None:
    """Stop the launch on the first failed check; a failed recorder check only when the
    technician did not say to go on without it (--recorder-optional, recorded in session.json)."""
    recorder_failed = [c for c in recorder_lines if not c.ok]
    if recorder_failed and recorder_optional:
        log.warning("Going on although the recorder check failed (--recorder-optional): %s", recorder_failed[0].detail)
        recorder_failed = []
    if failed := [c for c in checks if not c.ok] + recorder_failed:
        error = failed[0].error
        raise error if isinstance(error, ExperimentError) else DataError(failed[0].detail)


def _create_session_files(ready: Ready, parts: Parts, options: RunOptions, resources: ExitStack) -> Files:
    """The session folder with its log, events.csv, responses.csv and session.json."""
    info, display = ready.info, parts.display
    folder = create_session_folder(options.data_dir, info.participant, info.session, ready.new_run)
    if options.screenshots:
        early_shots, display.screenshot_dir = display.screenshot_dir, folder / "screenshots"
        shutil.move(early_shots, display.screenshot_dir)
    file_log = log_to_file(folder / "session.log")
    _close_later(resources, lambda: logging.getLogger().removeHandler(file_log))
    events = AppendOnlyCsv(folder / "events.csv", EVENT_COLUMNS)
    _close_later(resources, events.close)
    responses = AppendOnlyCsv(folder / "responses.csv", RESPONSE_COLUMNS)
    _close_later(resources, responses.close)
    record = SessionRecord(folder / RECORD_FILE)
    record.update(
        **first_fields(
            ready.protocol, info, parts.allocation, parts.group, ready.stimuli[parts.group.key], parts.clock,
            previous_runs=ready.previous,
            ledger=parts.ledger_described,
            markers=parts.device.describe(),
            audio=parts.player.describe() | {"backend_choice": parts.backend_note},
            autopilot=parts.autopilot,
        )
    )  # fmt: skip
    log.info("Session folder: %s", folder)
    log.info("Participant %s, session %s: ledger entry %d", info.participant, info.session, parts.allocation.entry)
    if ready.resume is not None:
        record.update(resumed_from=str(ready.resume.folder), resumed_at_phase=ready.resume.phase)
        log.warning("Resuming %s at the start of phase '%s'", ready.resume.folder.name, ready.resume.phase)
    return Files(folder, record, events, responses)


def _connect_session(ready: Ready, parts: Parts, files: Files, options: RunOptions, resources: ExitStack) -> Session:
    """Markers (and the LSL outlet), the technician's console, and the session walking the timeline."""
    protocol = ready.protocol
    lsl = None
    if ready.marker_protocol == "lsl" or protocol.markers.lsl or options.marker_lsl:
        lsl = LslOutlet(protocol.markers.codes)
        _close_later(resources, lsl.close)
    markers = MarkerSender(parts.device, protocol.markers.codes, parts.clock, files.events, lsl)
    _close_later(resources, markers.close)
    window = _console_window(parts.display.win)
    if window is not None:
        _close_later(resources, window.close)
    shown_group = None if protocol.allocation.blind else parts.group.key
    console = TechnicianConsole(ready.info.participant, protocol.phases, markers, group=shown_group, window=window)
    _close_later(resources, console.close)
    session = Session(
        protocol, parts.group, parts.clock, markers, parts.display, parts.player, files.responses, files.record,
        parts.audio_device, console, parts.recorder,
    )  # fmt: skip
    session.start_phase = ready.resume.phase if ready.resume else None
    return session


def _close_later(resources: ExitStack, close) -> None:
    """Close on the way out; a failure to close is logged, never hiding the session's own outcome."""

    def quietly() -> None:
        try:
            close()
        except Exception as err:  # noqa: BLE001 - see above
            log.warning("While closing: %s", err)

    resources.callback(quietly)


def _console_window(win):
    """The console's own window on a second screen, when there is one (never on the participant's)."""
    from experiment.ui.console_window import ConsoleWindow, second_screen

    geometry = second_screen(win)
    if geometry is None:
        return None
    log.info("Second screen found: the technician console also opens there")
    return ConsoleWindow(geometry)


def _record_outcome(ledger, protocol: Protocol, info: SessionInfo, record: SessionRecord, status: str) -> None:
    """Append the session's outcome to the ledger; a ledger fault never costs the session's data."""
    run = record.data.get("run", 1)
    try:
        ledger.record_outcome(
            info.participant,
            status,
            session=f"{info.session}" + (f" run {run}" if run > 1 else ""),
            replace=protocol.allocation.replace_aborted,
        )
    except AllocationError as err:
        log.error(
            "The session's outcome is not in the allocation ledger: %s Once that is fixed, record it with: "
            "python -m experiment allocation outcome --ledger %s --participant %s --status %s",
            err,
            ledger.where,
            info.participant,
            status,
        )


def _offer_resume(last_run: Path, protocol: Protocol, info: SessionInfo, autopilot: bool) -> Interrupted:
    """Resume an interrupted run (the autopilot accepts; a technician is asked), else refuse."""
    interrupted = find_interrupted(last_run, protocol)
    already = already_holds_data(last_run, info.participant, info.session)
    if interrupted is None:
        raise DataError(f"{already}: {NEXT_SESSION_OR_NEW_RUN}")
    if autopilot or ask_to_resume(interrupted, info.participant, info.session):
        return interrupted
    raise DataError(
        f"{already} (interrupted in '{interrupted.phase}') and resuming was declined: "
        f"nothing was recorded; use --new-run to start the session again from the beginning."
    )


def _run_session(session: Session) -> tuple[str, str | None]:
    """Run and translate every way a session can end into a status and a message."""
    try:
        return session.run(), None
    except ExperimentError as err:
        log.error("%s", err)
        return "error", str(err)
    except KeyboardInterrupt:
        log.error("Stopped from the keyboard (Ctrl+C)")
        return "aborted", "Stopped from the keyboard (Ctrl+C)."
    except Exception as err:  # noqa: BLE001 - a bug: keep the traceback in the log, the data on disk
        log.exception("Unexpected error")
        return "error", f"Unexpected error ({type(err).__name__}: {err})"


def _verdict(session: Session, status: str, record: SessionRecord) -> str:
    sent = len(session.markers.written)
    audio = record.data.get("audio", {})
    summary = None
    if "complete" in audio:  # the recording was reached
        summary = (session.audio_verdict or AudioVerdict({})).summary(audio["complete"])
    seen = None
    if session.recorder is not None:
        markers = session.recorder.summary()
        seen = f"the recorder saw {markers['markers_seen']}/{markers['markers_sent']}"
    return session_verdict(status, sent, sent + session.markers.faults, session.incidents, summary, seen)


def _report(status: str, message: str | None, folder: Path, verdict: str) -> int:
    if status == "completed":
        if "PROBLEMS" in verdict:
            log.warning("%s Data: %s", verdict, folder)
        else:
            log.info("%s Data: %s", verdict, folder)
        return EXIT_OK
    log.warning("%s", verdict)
    if status == "aborted":
        kept = f"everything recorded so far is in {folder}" if folder.exists() else "its folder has gone"
        return _fail(EXIT_ABORTED, f"The session was ended early; {kept}.")
    kept = f"Everything recorded so far is in {folder}; the details are in session.log." if folder.exists() else ""
    return _fail(EXIT_FAILED, f"{message} {kept}".strip())


def _session_info(options: RunOptions, protocol: Protocol) -> SessionInfo | None:
    if options.autopilot:
        if not options.info.participant:
            raise ConfigError("--autopilot needs --participant ID (the dialog is skipped).")
        return options.info
    from experiment.ui.dialog import ask_session_info

    allocation = protocol.allocation
    return ask_session_info(options.info, protocol.id_pattern, protocol.name, allocation.strata, allocation.stratify_by)


def _make_autopilot(options: RunOptions, info: SessionInfo):
    if not options.autopilot:
        return None
    from experiment.ui.autopilot import Autopilot

    seed = options.autopilot_seed
    if seed is None:
        seed = int(hashlib.sha256(f"{info.participant}/{info.session}".encode()).hexdigest()[:8], 16)
    log.info("Autopilot on (seed %d): a simulated participant answers every screen", seed)
    return Autopilot(seed)


def _fail(code: int, sentence: str) -> int:
    log.error("%s", sentence)
    print(f"\nSESSION NOT COMPLETED: {sentence}", file=sys.stderr)
    return code
