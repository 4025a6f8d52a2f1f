"""Checks before a session: everything the technician would otherwise find out too late.

    python -m experiment preflight [--protocol FILE | --demo] [--marker-port PORT]
                                   [--marker-protocol NAME] [--data-dir DIR]
                                   [--audio-loopback [--audio-input NAME]]

Prints one line per check, PASS or FAIL, each failure with what to do, and exits non-zero
when anything failed. Nothing here writes session data.
"""

from __future__ import annotations

import getpass
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiment.allocation import ledger_location
from experiment.audio import load_checked_protocol
from experiment.checks import Check, run_check
from experiment.defaults import EXIT_FAILED, EXIT_OK
from experiment.errors import ExperimentError

MIN_FREE_MB = 500  # a session writes well under 1 MB; leave room for the OS and backups


TONE_S = 2.0  # long enough for a sound output that runs short to show it


def check_audio(device: str | None, volume: float) -> str:
    """Play a quiet 2-second tone: every sample must go out, and the output must not run short
    (an underflow is a gap the participant hears: found here, not after a session). A tone that
    ran short is played once more: an output that really is unsteady runs short again, while a
    moment's load on the computer does not."""
    first = _play_tone(device, volume)
    if not first.underflows:
        return f"a {TONE_S:g}-second test tone played whole and steadily on '{first.device}'"
    second = _play_tone(device, volume)
    if not second.underflows:
        return (
            f"a {TONE_S:g}-second test tone played whole on '{second.device}' (it ran short once, steadily the "
            "second time)"
        )
    from experiment.errors import DeviceError

    raise DeviceError(
        f"The sound output {second.device} ran short {first.underflows} and then {second.underflows} time(s) in a "
        f"{TONE_S:g}-second tone (a participant would hear gaps): close other programs on this PC, turn off power "
        "saving, and run preflight again."
    )


@dataclass(frozen=True)
class TonePlayed:
    device: str
    underflows: int


def _play_tone(device: str | None, volume: float) -> TonePlayed:
    """The test tone played through the session's own player; DeviceError when it did not all go out."""
    import sounddevice

    from experiment.errors import DeviceError
    from experiment.playback import SoundDevicePlayer

    rate = 48_000
    t = np.arange(int(rate * TONE_S)) / rate
    tone = (0.1 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)[:, None].repeat(2, axis=1)
    try:
        player = SoundDevicePlayer(tone, rate, volume, device)
    except (sounddevice.PortAudioError, ValueError) as err:
        raise DeviceError(
            f"No usable sound output ({err}): plug in the headphones and check the sound settings."
        ) from None
    try:
        player.start()
        deadline = time.perf_counter() + TONE_S + 5.0
        while not player.finished() and time.perf_counter() < deadline:
            time.sleep(0.02)
        if player.frames_played < player.total_frames:
            raise DeviceError(
                f"The sound output {player.device_name} stopped after {player.frames_played} of "
                f"{player.total_frames} samples: check the headphones and sound settings."
            )
        return TonePlayed(player.device_name, player.underflows)
    finally:
        player.close()


def check_sound_backend(backend: str, device: str | None, formats: set[tuple[int, int]]) -> str:
    """Which engine sessions will play with, probed afresh for every recording format (a session
    remembers a failed ptb probe and skips it: this is where the memory is renewed)."""
    from experiment.errors import DeviceError
    from experiment.playback import ptb_verdict

    if backend == "sounddevice":
        return "sounddevice (set in the protocol)"
    failures = {f for rate_hz, channels in sorted(formats) if (f := ptb_verdict(rate_hz, channels, device, True)[0])}
    if not failures:
        return "ptb plays here"
    if backend == "ptb":
        raise DeviceError(f'ptb does not work here ({"; ".join(failures)}): set [audio] backend = "auto".')
    return f"sounddevice (ptb does not work here: {'; '.join(failures)}; sessions skip that probe)"


def check_marker_port(protocol, cli_protocol: str | None, cli_port: str | None) -> str:
    from experiment.markers.device import choose_device, open_for_session, pulse_once

    markers = protocol.markers
    protocol_name, port = choose_device(cli_protocol, cli_port, markers.protocol, markers.port, protocol.path)
    device, warning = open_for_session(protocol_name, port, markers)
    try:
        pulse_once(device, 255)  # every line
        if protocol_name == "none":
            return "none: markers are only logged (no recorder attached)"
        detail = f"{protocol_name}: port opened and a test pulse (255) sent"
        return detail + (f"; WARNING: {warning}" if warning else "")
    finally:
        device.close()


def check_realtime_priority() -> str:
    """Whether this account may run the marker thread and the sound system's thread at real-time
    priority (Linux); without it a busy PC can delay a marker between its clock reading and its
    write, and move the output times the audio's markers are stamped from."""
    from experiment.errors import DeviceError
    from experiment.markers.sender import MARKER_THREAD_FIFO_PRIORITY, raise_thread_priority
    from experiment.sound_thread import FIFO_PRIORITY

    if not sys.platform.startswith("linux"):
        return "normal priority on this system (no real-time scheduling to grant)"
    got: list[str] = []
    probe = threading.Thread(target=lambda: got.append(raise_thread_priority()), name="priority-probe")
    probe.start()  # a thread of its own: the priority it gets ends with it
    probe.join()
    if got != [f"SCHED_FIFO {MARKER_THREAD_FIFO_PRIORITY}"]:
        user = getpass.getuser()
        raise DeviceError(
            f"The account {user} may not run threads at real-time priority, so a busy PC can delay "
            f'markers: run  echo "{user} - rtprio {MARKER_THREAD_FIFO_PRIORITY}" | sudo tee '
            "/etc/security/limits.d/90-experiment.conf  and log in again."
        )
    return (
        f"permitted: markers at SCHED_FIFO {MARKER_THREAD_FIFO_PRIORITY}, "
        f"the sound system's thread at SCHED_FIFO {FIFO_PRIORITY}"
    )


def check_data_dir(data_dir: Path) -> str:
    from experiment.errors import DataError

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".preflight-") as probe:
            probe.write(b"x")
            probe.flush()
    except OSError as err:
        raise DataError(
            f"Cannot write in {data_dir} ({err.strerror}): choose another --data-dir or fix its permissions."
        ) from None
    free_mb = shutil.disk_usage(data_dir).free / 1e6
    if free_mb < MIN_FREE_MB:
        raise DataError(f"Only {free_mb:.0f} MB free where {data_dir} is: free at least {MIN_FREE_MB} MB first.")
    return f"{data_dir} is writable, {free_mb / 1000:.1f} GB free"


def check_ledger(location: str | Path, protocol) -> str:
    from experiment.allocation import describe_location, is_database_url
    from experiment.allocation.ledger import open_for_protocol

    if not is_database_url(location) and not Path(location).exists():
        return f"{location} does not exist yet: the first session creates it (or use allocation init)"
    ledger = open_for_protocol(location, protocol.allocation, list(protocol.groups))
    try:
        ledger.check_writable()
        total = len(ledger.allocations())
    finally:
        ledger.close()
    return f"{describe_location(location)} reachable and intact, {total} participant(s) allocated"


def check_display(settings) -> str:
    from experiment.clock import SessionClock
    from experiment.ui.display import Display

    display = Display(settings, SessionClock(), fullscreen=settings.fullscreen)
    try:
        return describe_window(display.win)
    finally:
        display.close()


def describe_window(win) -> str:
    """The window's size and measured refresh rate, as a technician reads them."""
    width, height = win.size
    rate = win.getActualFrameRate(nIdentical=10, nMaxFrames=120, nWarmUpFrames=10, threshold=1)
    if not rate:
        rate_text = "refresh rate not measurable"
    elif rate > 250:  # flips that do not wait for the screen: a virtual display or vsync off
        rate_text = f"{rate:.0f} flips/s: no vsync (virtual display?), flip times are not screen times"
    else:
        rate_text = f"{rate:.1f} Hz"
    return f"{width}x{height} px, {rate_text}"


def preflight(
    protocol_path: Path,
    data_dir: Path,
    marker_protocol: str | None,
    marker_port: str | None,
    audio_device: str | None = None,
    ledger: str | None = None,
    loopback: bool = False,
    audio_input: str | None = None,
    recorder_stream: str | None = None,
    recorder_columns: str | None = None,
) -> list[Check]:
    """Every check; ``loopback`` adds the audio loopback self-test (experiment/loopback.py),
    recording from ``audio_input`` (part of its name; None: the default input); a recorder
    stream (here or in the protocol's ``[recorder]``) adds the recorder's checks."""
    try:
        protocol, stimuli = load_checked_protocol(protocol_path)
    except (ExperimentError, OSError) as err:
        return [Check("protocol and stimuli", False, str(err))]  # nothing else can be checked without it
    checks = [Check("protocol and stimuli", True, f"{protocol_path} valid; {len(protocol.groups)} recordings verified")]
    output = audio_device or protocol.audio.device
    checks.append(run_check("sound output", lambda: check_audio(output, protocol.audio.volume)))
    formats = {(info.sample_rate_hz, info.channels) for info in stimuli.values()}
    checks.append(run_check("sound engine", lambda: check_sound_backend(protocol.audio.backend, output, formats)))
    if loopback:
        from experiment.loopback import check_loopback

        checks.append(run_check("audio loopback", lambda: check_loopback(output, audio_input, protocol.audio.volume)))
    checks.append(run_check("marker device", lambda: check_marker_port(protocol, marker_protocol, marker_port)))
    checks.append(run_check("real-time priority", check_realtime_priority))
    checks.append(run_check("data folder", lambda: check_data_dir(data_dir)))
    checks.append(run_check("allocation ledger", lambda: check_ledger(ledger_location(ledger, data_dir), protocol)))
    checks.append(run_check("display", lambda: check_display(protocol.display)))
    stream = recorder_stream or protocol.recorder.stream
    if stream:
        columns = recorder_columns or protocol.recorder.columns
        checks += check_recorder(protocol, stream, columns, marker_protocol, marker_port)
    return checks


def check_recorder(protocol, stream: str, columns: str | None, cli_protocol: str | None, cli_port: str | None):
    """The recorder's checks, the test marker sent through the session's trigger box."""
    from experiment.markers.device import SERIAL_PROTOCOLS, choose_device, open_for_session, pulse_once
    from experiment.recorder.checks import recorder_checks
    from experiment.recorder.inlet import RecorderColumns

    markers = protocol.markers
    name, port = choose_device(cli_protocol, cli_port, markers.protocol, markers.port, protocol.path)

    def send_test_marker(code: int) -> float:
        device, _ = open_for_session(name, port, markers)
        try:
            return pulse_once(device, code)
        finally:
            device.close()

    try:
        parsed = RecorderColumns.parse(columns)
    except ExperimentError as err:
        return [Check("recorder stream", False, str(err), err)]
    checks, inlet = recorder_checks(stream, parsed, send_test_marker if name in SERIAL_PROTOCOLS else None)
    if inlet is not None:
        inlet.close()
    return checks


def main(argv: list[str]) -> int:
    import argparse

    from experiment.defaults import DEFAULT_DATA_DIR, DEFAULT_PROTOCOL, DEMO_PROTOCOL
    from experiment.markers.device import PROTOCOLS

    parser = argparse.ArgumentParser(prog="python -m experiment preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", type=Path)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--marker-protocol", choices=PROTOCOLS)
    parser.add_argument("--marker-port")
    parser.add_argument("--audio-device")
    parser.add_argument(
        "--audio-loopback",
        action="store_true",
        help="also play clicks and record them through a cable from the output to the line input",
    )
    parser.add_argument("--audio-input", help="part of the line input's name (default: the default input)")
    parser.add_argument("--ledger", help="allocation ledger file or postgresql:// URL (default DATA/allocation.sqlite)")
    parser.add_argument("--recorder-stream", help="the recorder's Lab Streaming Layer stream: check it too")
    parser.add_argument("--recorder-columns", help="ecg=NAME,eda=NAME,digital=NAME where its labels do not say")
    args = parser.parse_args(argv)
    protocol = args.protocol or (DEMO_PROTOCOL if args.demo else DEFAULT_PROTOCOL)
    if args.audio_input and not args.audio_loopback:
        parser.error("--audio-input names the loopback's line input: add --audio-loopback")
    checks = preflight(
        protocol, args.data_dir, args.marker_protocol, args.marker_port, args.audio_device, args.ledger,
        args.audio_loopback, args.audio_input, args.recorder_stream, args.recorder_columns,
    )  # fmt: skip
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"\n{'READY' if not failed else 'NOT READY'}: {len(checks) - len(failed)} of {len(checks)} checks passed.")
    return EXIT_FAILED if failed else EXIT_OK


def session_checks(protocol, device: dict, audio: dict, ledger, data_dir: Path, win) -> list[Check]:
    """The preflight checks for a session about to start, from what the launcher already opened.

    The stimuli, port, sound output and ledger were opened (a failure there has already
    stopped the launch with its sentence); these lines show the technician what was found,
    and re-check what can change between sessions: free space and the ledger's lock.
    """
    port = device.get("port")
    marker_text = f"{device['protocol']} on {port}, open" if port else f"{device['protocol']}, open"
    if device["protocol"] == "none":
        marker_text = "none: markers are only logged, no recorder receives them"
    rate = f", {audio['sample_rate_hz']} Hz" if audio.get("sample_rate_hz") else ""
    return [
        Check("protocol and stimuli", True, f"{protocol.path.name}; {len(protocol.groups)} recordings verified"),
        Check("sound output", True, f"{audio.get('device') or 'default'} ({audio.get('backend')}{rate}); tone next"),
        Check("marker device", True, marker_text),
        run_check("data folder", lambda: check_data_dir(data_dir)),
        run_check("allocation ledger", lambda: _ledger_line(ledger)),
        run_check("display", lambda: describe_window(win)),
    ]


def _ledger_line(ledger) -> str:
    ledger.check_writable()
    return f"{ledger.where} reachable and intact"
