"""What the tests share besides fixtures: the repository's paths, protocols written for a test,
socat tty pairs, a throwaway PostgreSQL server, starting a session and reading what it wrote,
the technician's keys through X (xdotool), and what the marker timing tests check."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from emulators import BoxEmulator, decode, real_time  # noqa: E402
from kernel_trace import Write  # noqa: E402
from make_demo_audio import GROUPS, SAMPLE_RATE_HZ, tone  # noqa: E402,F401
from virtual_lab import SoundServer, VirtualScreen, find_window, xdotool  # noqa: E402,F401

from experiment.markers.sender import UNCERTAIN_WRITE_S  # noqa: E402

DEMO_PROTOCOL = REPO / "stimuli" / "demo" / "protocol.toml"


def write_protocol(folder: Path, rest_s: float = 1.0, audio_s: float = 2.0, edit=None) -> Path:
    """A copy of the demo protocol in ``folder`` with short rests and short, distinct tones.

    ``edit`` (text -> text) makes a deliberate mistake for the validation tests.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    for key, (_, frequency_hz) in GROUPS.items():
        soundfile.write(
            folder / "audio" / f"{key}.flac",
            tone(frequency_hz, audio_s).astype(np.float32),
            SAMPLE_RATE_HZ,
            subtype="PCM_16",
        )
    shutil.copy(REPO / "stimuli/questionnaires/state_short.toml", folder / "state_short.toml")
    text = DEMO_PROTOCOL.read_text()
    text = re.sub(r"\nduration_s = \d+", f"\nduration_s = {rest_s}", text)
    text = re.sub(r"expected_duration_s = \d+", f"expected_duration_s = {audio_s}", text)
    text = re.sub(r"duration_tolerance_s = \d+", "duration_tolerance_s = 0.5", text)
    text = text.replace("../questionnaires/state_short.toml", "state_short.toml")
    if edit is not None:
        text = edit(text)
    path = folder / "protocol.toml"
    path.write_text(text)
    return path


class TtyPair:
    """A real tty pair from socat: the program writes to ``near``; a box emulator on ``far``."""

    def __init__(self, folder: Path, protocol: str = "brainproducts", box: bool = True) -> None:
        self.near = str(folder / "ttyA")
        self.far = str(folder / "ttyB")
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.near}", f"pty,raw,echo=0,link={self.far}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # socat stands in for the USB cable: a busy 2-core machine must not make it late
        # instead of the program, so it relays at real-time priority where allowed.
        real_time(self.proc.pid)
        deadline = time.time() + 5
        while not (os.path.exists(self.near) and os.path.exists(self.far)):
            if time.time() > deadline:
                raise RuntimeError("socat did not create the tty pair")
            time.sleep(0.02)
        self.box = BoxEmulator(self.far, protocol) if box else None  # None: another reader (a recorder) has it

    @property
    def received(self) -> list[tuple[float, int]]:
        return self.box.received

    def bytes(self, settle_s: float = 0.3) -> list[int]:
        return list(self.box.raw(settle_s))

    def kill(self) -> None:
        """The cable pulled: socat dies, and the port's name goes with it, as /dev/ttyUSB0 does.
        A link left behind would name whichever pty the kernel hands out next (the lowest free
        number), perhaps another test worker's: the program's reconnection would write there."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        for link in (self.near, self.far):
            Path(link).unlink(missing_ok=True)

    def close(self) -> None:
        if self.box is not None:
            self.box.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


# The claim a marker log makes: each code reached the kernel within its write window - after its
# logged time and no later than its write_ms (events.csv) after it. Checked against the kernel's
# own time of the write() (tests/kernel_trace.py), whose times are whole microseconds.
TRACE_RESOLUTION_S = 0.000002
# The program writes within microseconds of its clock reading: a median window longer than this
# means something sits between the reading and the write (the claim would hold, but loosely).
MEDIAN_WRITE_WINDOW_LIMIT_S = 0.0001
# From write() to the box emulator's read: the stand-in cable, not the program. A pty passes
# each write to its reader through a kernel worker of normal priority; tools/bench_markers.py
# measured that hop at up to 3.7 ms through the tests' socat pair and up to 55 ms for a bare pty
# while demo sessions run on this 2-core VM (a USB adapter has no such hop). A byte later than
# this bound is taken as lost, not late: order and codes are checked exactly anyway.
PTY_HOP_TOLERANCE_S = 0.100


def marker_timing_faults(
    protocol: str,
    received: Sequence[tuple[float, int]],
    writes: Sequence[Write],
    logged: Sequence[tuple[float, float]],
    codes: Sequence[int],
    hold_s: float,
    rest_s: float,
) -> list[str]:
    """What is wrong with the markers a box received, as readable lines (none: all is well).

    ``received``: (perf_counter, byte) at the box; ``writes``: the kernel's record of the
    program's write() calls to the port, in order; ``logged``: each marker's (time, write
    window) from the log (events.csv's time_s on the perf_counter clock, and write_ms), and
    ``codes`` its codes. Checks that the box decodes exactly the logged codes in order, the
    kernel's write time of every code lies within its logged window and the windows are short
    (median at most MEDIAN_WRITE_WINDOW_LIMIT_S), every code reached the box within
    PTY_HOP_TOLERANCE_S of its write, and on the kernel's times each code was held ``hold_s``
    and the lines rested at 0 for ``rest_s`` before the next.
    """
    if sum(w.count for w in writes) != len(received):
        return [f"the program wrote {sum(w.count for w in writes)} bytes but the box received {len(received)}"]
    byte_write_times = [w.time_s for w in writes for _ in range(w.count)]
    at_box = decode(protocol, list(received))
    at_write = decode(protocol, [(t, b) for t, (_, b) in zip(byte_write_times, received, strict=True)])
    if [p.code for p in at_box] != list(codes):
        return [f"the box decoded codes {[p.code for p in at_box]}, the log has {list(codes)}"]
    faults = [f"code {p.code} never ended" for p in at_box if p.end is None]
    faults += write_window_faults([write.start for write in at_write], logged, codes)
    for index, (box, write) in enumerate(zip(at_box, at_write, strict=True)):
        hop_s = box.start - write.start
        if not 0 <= hop_s <= PTY_HOP_TOLERANCE_S:
            faults.append(f"marker {index + 1} (code {box.code}) reached the box {hop_s * 1000:+.2f} ms after it")
        if write.end is not None and write.end - write.start < hold_s - TRACE_RESOLUTION_S:
            faults.append(f"code {box.code} held {(write.end - write.start) * 1000:.3f} ms")
    faults += [
        f"lines at 0 for {(after.start - before.end) * 1000:.3f} ms before code {after.code}"
        for before, after in zip(at_write, at_write[1:], strict=False)
        if before.end is not None and after.start - before.end < rest_s - TRACE_RESOLUTION_S
    ]
    return faults


def write_window_faults(
    write_times_s: Sequence[float], logged: Sequence[tuple[float, float]], codes: Sequence[int]
) -> list[str]:
    """Markers whose code the kernel took outside its logged write window, and windows that are
    loose (median over MEDIAN_WRITE_WINDOW_LIMIT_S). ``write_times_s``: the kernel's time of
    each code's write(); ``logged``: (time, write window) from :func:`logged_markers`."""
    faults = []
    windows = sorted(window_s for _, window_s in logged)
    if windows and windows[len(windows) // 2] > MEDIAN_WRITE_WINDOW_LIMIT_S:
        faults.append(f"the median write window is {windows[len(windows) // 2] * 1000:.3f} ms")
    for index, (write_s, (logged_s, window_s), code) in enumerate(zip(write_times_s, logged, codes, strict=True)):
        lag_s = write_s - logged_s
        if not -TRACE_RESOLUTION_S <= lag_s <= window_s + TRACE_RESOLUTION_S:
            faults.append(
                f"marker {index + 1} (code {code}) written {lag_s * 1000:+.3f} ms from its log "
                f"(its window: {window_s * 1000:.3f} ms)"
            )
    return faults


def slow_writes_and_their_incident(rows: Sequence[dict], record: dict) -> tuple[list[str], list[dict]]:
    """The markers whose write took longer than the session calls certain, and the session's
    ``marker_time_uncertain`` incidents: a session must raise one exactly when there are such."""
    slow = [r["label"] for r in rows if float(r["write_ms"]) > UNCERTAIN_WRITE_S * 1000]
    flagged = [i for i in record.get("incidents", []) if i["kind"] == "marker_time_uncertain"]
    return slow, flagged


def logged_markers(rows: Sequence[dict], origin_s: float) -> list[tuple[float, float]]:
    """events.csv rows as (perf_counter time, write window) for :func:`write_window_faults`."""
    return [(float(r["time_s"]) + origin_s, float(r["write_ms"]) / 1000) for r in rows]


class StandInRecorder:
    """tools/standin_recorder.py streaming over LSL as ``name``, reading a trigger box's lines from
    ``trigger_port`` (a tty pair's far end); stopped by its pid."""

    def __init__(self, name: str, trigger_port: str | None = None, *options: str) -> None:
        command = [sys.executable, str(REPO / "tools" / "standin_recorder.py"), "--name", name, *options]
        command += ["--trigger-port", trigger_port] if trigger_port else []
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("streaming"):
            self.proc.kill()
            raise RuntimeError(f"the stand-in recorder did not start: {line}{self.proc.stderr.read()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def code_writes(writes: Sequence[Write], rows: Sequence[dict]) -> list[tuple]:
    """(write, events.csv row) of each session marker: a brainproducts box gets a clear at open,
    the recorder check's test code and its clear (when watched), each code and its clear, and a
    clear at close."""
    sets = writes[1::2][:-1]  # every code written (the last odd one is the clear at close)
    return list(zip(sets[len(sets) - len(rows) :], rows, strict=True))


def session_command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "run_experiment.py"), *args]


def run_session(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(session_command(*args), capture_output=True, text=True, timeout=timeout, cwd="/")


class PostgresServer:
    """A throwaway PostgreSQL server (the Debian package's binaries) on a free local port."""

    def __init__(self, folder: Path) -> None:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            raise RuntimeError(
                "PostgreSQL is not installed: run python3 tools/setup.py dev as root (Debian package postgresql)"
            )
        self.bin = binaries[-1].parent
        self.folder = folder
        self.data = folder / "pgdata"
        self.port = _free_port()
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the server refuses to run as root: it runs as the postgres account
            shutil.chown(folder, "postgres", "postgres")
        self._as_server_user(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._as_server_user(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}")

    def new_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._as_server_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def display_nobody_answers() -> str:
    """An X display number with no server behind it that no test worker will start one on.
    A display stopped by this test would not do: Xvfb -displayfd takes the lowest free number
    from 0 up, so another worker's screen soon answers there (and then goes away mid-session)."""
    for number in range(59_000, 59_500):  # the top of X's range (display 65535 - 6000 is the last)
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return f":{number}"
    raise RuntimeError("Every display from :59000 to :59499 is taken on this machine.")


def validate_bids(dataset: Path) -> list[dict]:
    """The official validator's issues with ``dataset`` and, validated as datasets of their own,
    its derivatives (with --recursive, bids-validator 3.0.2 ignores a derivative's .bidsignore)."""
    validator = Path(sys.executable).with_name("bids-validator-deno")
    issues = []
    for root in [dataset, *sorted(dataset.glob("derivatives/*/"))]:
        result = subprocess.run([str(validator), str(root), "--format", "json"], capture_output=True, text=True)
        assert result.stdout, result.stderr
        issues += [issue | {"dataset": str(root)} for issue in json.loads(result.stdout)["issues"]["issues"]]
    return issues


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def session_dir(data: Path, participant: str, session: int = 1) -> Path:
    return data / f"sub-{participant}" / f"ses-{session}"


def autopilot_answers(log_text: str) -> list[tuple[str, int]]:
    return [(item, int(v)) for item, v in re.findall(r"autopilot answers (\w+) with (\d+)", log_text)]


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def wait_for_marker(folder: Path, label: str, timeout_s: float = 60) -> None:
    """Wait until the session in ``folder`` has logged the marker ``label``."""
    events = folder / "events.csv"
    wait_for(lambda: events.exists() and label in events.read_text(), timeout_s, f"the marker {label}")


def start_session(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a session; ``env`` adds to (or overrides) this process's environment."""
    return subprocess.Popen(
        session_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | (env or {})
    )


def press_until(window_id: str, key: str, done, what: str, timeout_s: float = 60) -> None:
    """Press ``key`` every half second until ``done()``: a press that lands before the screen
    listens is cleared by it, so the technician's habit of pressing again is what works."""
    xdotool("windowfocus", "--sync", window_id)
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        xdotool("key", key)
        time.sleep(0.5)


def pass_checks_and_sound_check(window_id: str, folder: Path) -> None:
    """The technician's part before the participant: Space on the checklist, Y after the tone."""
    log = folder / "session.log"
    press_until(window_id, "space", log.exists, "the checklist to pass (the session folder)")
    press_until(window_id, "y", lambda: "Sound check confirmed" in log.read_text(), "the sound check")


def press_escape_and_confirm(window_id: str) -> None:
    """The technician's abort, through the real X input path."""
    xdotool("windowfocus", "--sync", window_id)
    xdotool("key", "Escape")
    time.sleep(1.0)
    xdotool("key", "y")


def count_rows(path: Path) -> int:
    return len(read_csv(path)) if path.exists() else 0


def abort_at_welcome(proc: subprocess.Popen, folder: Path) -> None:
    """The technician's part once the dialog is done: the checks, the sound check, then Escape
    and Y on the welcome screen; the session must end as aborted (exit 3)."""
    window = find_window("PsychoPy", process=proc)
    pass_checks_and_sound_check(window, folder)
    wait_for_marker(folder, "welcome_start")
    press_escape_and_confirm(window)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, out + err


def headless_chromium(width: int = 1400, height: int = 1000):
    """Debian's Chromium, headless, driven by Selenium through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        raise RuntimeError("Chromium is not installed: run python3 tools/setup.py dev as root (chromium, its driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(driver))


def dead_starts(monkeypatch, stream_class: str, how_many: int, called_back: bool = False) -> list[str]:
    """The first ``how_many`` starts of a sounddevice ``stream_class`` stream return as if done
    but leave no audio thread: what PortAudio 19.6 does when its shared error variable is
    overwritten during a timed-out start (a race no test can provoke at will; the stalled-server
    test met it twice in about 30 runs, experiment/stream_start.py). With ``called_back`` the
    thread has called back before it ended, as a cancelled thread may (the start waits for it to
    end). Later starts are real."""
    import sounddevice  # here, not at collection: importing it starts PortAudio

    real_start = getattr(sounddevice, stream_class).start
    calls: list[str] = []

    def start(stream):
        calls.append("dead" if len(calls) < how_many else "real")
        if calls[-1] == "real":
            real_start(stream)
        elif called_back:
            real_start(stream)
            time.sleep(0.3)  # a few buffers' callbacks
            stream.abort()

    monkeypatch.setattr(getattr(sounddevice, stream_class), "start", start)
    return calls
