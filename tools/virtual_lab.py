"""Stand-ins for a lab PC's screen and sound card on a machine that has neither.

- :class:`VirtualScreen`: an X display of its own (Xvfb), found through ``-displayfd`` so
  several can run side by side without guessing free display numbers.
- :class:`SoundServer`: a private PulseAudio server with one silent (null) sink, reached
  through its own socket (``PULSE_SERVER``); its sink's monitor records what was played.

Each is started by this process and stopped by its own pid, never by name: the machine's own
display and sound server (a developer's desktop) are never touched. The tests start one of
each per test worker; the demo starts them when there is no screen.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SINK = "experiment_test"
SINK_RATE_HZ = 48_000
SERVER_RR_PRIORITY = 5  # PulseAudio's own for its sink threads (daemon.conf realtime-priority)


class VirtualScreen:
    """An Xvfb display of its own: ``display`` is ``":N"``."""

    def __init__(self, *screens: str, xinerama: bool = False) -> None:
        if shutil.which("Xvfb") is None:
            raise RuntimeError("Xvfb is not installed: run the set-up (python3 tools/setup.py dev).")
        read, write = os.pipe()
        geometry = [arg for n, size in enumerate(screens or ("1280x1024x24",)) for arg in ("-screen", str(n), size)]
        # -noreset: by default an X server resets when its last client leaves, and a client that
        # connects during the reset is closed at once (Qt then aborts: "could not connect to
        # display"). The tests' polling xdotool is often the only client, so on a busy machine
        # about one connection in ten hit a reset (measured); with -noreset none in 23,000.
        command = ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-noreset", *geometry]
        if xinerama:
            command.insert(1, "+xinerama")
        self.proc = subprocess.Popen(command, pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as handle:
            number = handle.readline().strip()
        if not number:
            self.stop()
            raise RuntimeError("Xvfb did not start (no display number came back).")
        self.display = f":{number}"

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display}

    def stop(self) -> None:
        _stop(self.proc)

    def __enter__(self) -> VirtualScreen:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class SoundServer:
    """A private PulseAudio server with one null sink, ``sink``, as its default output.

    Clients reach it through ``env()`` (``PULSE_SERVER``); PortAudio's ALSA ``pulse`` and
    ``default`` devices, ``pactl`` and ``parec`` all honour it.
    """

    def __init__(self, sink: str = SINK, rate_hz: int = SINK_RATE_HZ) -> None:
        if shutil.which("pulseaudio") is None:
            raise RuntimeError("PulseAudio is not installed: run the set-up (python3 tools/setup.py dev).")
        self.sink = sink
        self.folder = Path(tempfile.mkdtemp(prefix="experiment-sound-"))
        socket = self.folder / "native"
        self.server = f"unix:{socket}"
        # Its own home and runtime folders: nothing is shared with a sound server already running.
        private = {
            "HOME": str(self.folder),
            "XDG_RUNTIME_DIR": str(self.folder),
            "XDG_CONFIG_HOME": str(self.folder / "config"),
            "PULSE_RUNTIME_PATH": str(self.folder / "runtime"),
            "PULSE_STATE_PATH": str(self.folder / "state"),
        }
        env = {k: v for k, v in os.environ.items() if k not in ("PULSE_SERVER", "DISPLAY")} | private
        self._log = (self.folder / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "pulseaudio",
                "-n",  # no default.pa: only the modules below
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "-L",
                f"module-native-protocol-unix socket={socket} auth-anonymous=1",
                "-L",
                f"module-null-sink sink_name={sink} rate={rate_hz}",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PulseAudio did not start: see {self.folder / 'server.log'}")
            time.sleep(0.05)
        self._real_time()

    def _real_time(self) -> None:
        """Every thread of the server at SCHED_RR where permitted, as its sink's thread already is.
        It stands in for a sound card, whose clock no program on the machine can delay; its main
        thread carries every client's audio and the timing replies the clients' timestamps are
        made of. A server that stalls makes PortAudio give up starting a stream after 1 s
        (tests/test_playback.py), which four test sessions beside a normal-priority server on
        two cores did once."""
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                if os.sched_getscheduler(int(task.name)) == os.SCHED_OTHER:
                    os.sched_setscheduler(int(task.name), os.SCHED_RR, os.sched_param(SERVER_RR_PRIORITY))
            except (AttributeError, PermissionError, OSError):
                pass  # not permitted: it runs at normal priority, and a busy machine can delay it

    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": self.server}

    def answers(self) -> bool:
        probe = subprocess.run(
            ["pactl", "info"], env=os.environ | self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return probe.returncode == 0

    def record(self, path: Path, channels: int = 1) -> subprocess.Popen:
        """Record the sink's monitor into ``path`` (raw s16le at the sink's rate) until stopped.

        ``--latency-msec``: without it PulseAudio hands a record stream its audio in 2-s fragments,
        so stopping parec up to 2 s after a sound ended lost that sound's tail (measured: 0.2-1.7 s
        of a 2-s tone missing); at 20 ms every tone stopped 0.2-2.5 s after it ended was whole."""
        with path.open("wb") as recording:  # parec writes to its own copy of the descriptor
            return subprocess.Popen(
                [
                    "parec",
                    "-d",
                    f"{self.sink}.monitor",
                    "--format=s16le",
                    f"--rate={SINK_RATE_HZ}",
                    f"--channels={channels}",
                    "--latency-msec=20",
                ],
                env=os.environ | self.env(),
                stdout=recording,
                stderr=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        """The sound server dies (SIGKILL), as when a sound system crashes mid-session."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> SoundServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def xdotool(*args: str) -> str:
    """Run xdotool on the current display; ``windowfocus`` waits until the window can take it."""
    if args[:1] == ("windowfocus",):
        return focus(args[-1])
    return subprocess.run(["xdotool", *args], check=True, capture_output=True, text=True).stdout


def focus(window_id: str, timeout_s: float = 10) -> str:
    """Give ``window_id`` the keyboard. A window found a moment ago may not be mapped yet on a
    busy machine (xdotool then fails with BadMatch), so this tries again for a while."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = subprocess.run(["xdotool", "windowfocus", "--sync", window_id], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout
        if time.monotonic() > deadline:
            raise AssertionError(f"window {window_id} never took the focus: {result.stderr.strip()}")
        time.sleep(0.25)


def find_window(title: str, timeout_s: float = 60, process: subprocess.Popen | None = None) -> str:
    """The X window id of the newest window titled exactly ``title``. Given the ``process`` that
    should show it, a process that ends first (or never shows it) fails with what it printed."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = subprocess.run(["xdotool", "search", "--name", f"^{title}$"], capture_output=True, text=True)
        if found.stdout.split():
            return found.stdout.split()[-1]
        ended = process is not None and process.poll() is not None
        if ended or time.monotonic() > deadline:
            why = f"the program ended (exit {process.returncode})" if ended else f"timed out after {timeout_s:.0f} s"
            raise AssertionError(f"no window '{title}': {why}{_printed_by(process)}")
        time.sleep(0.1)


def _printed_by(process: subprocess.Popen | None) -> str:
    """The last lines a process printed (stopping it if it still runs), for a failure message."""
    if process is None or process.stdout is None:
        return ""
    if process.poll() is None:
        process.kill()
    out, err = process.communicate(timeout=10)
    tail = "\n".join(((out or "") + (err or "")).strip().splitlines()[-15:])
    return f"; it printed:\n{tail}" if tail else "; it printed nothing"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
