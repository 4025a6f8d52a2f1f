"""The kernel's own time of every ``write()`` a process makes, for the marker timing tests.

A trigger box emulator on the far end of a pty sees a byte only after the kernel's pty hop (a
worker thread of normal priority, now and then milliseconds late on a busy 2-core VM), so it
cannot tell whether the program logged the right time. The claim a marker log makes is narrower:
each ``time_s`` is the moment the program handed the code to the operating system. This module
reads that moment from the kernel: a private ftrace instance records ``sys_enter_write`` on
CLOCK_MONOTONIC, the clock ``time.perf_counter`` reads on Linux, so no clock has to be converted.
A tracepoint costs the traced write well under a microsecond (tools/bench_markers.py measures it);
unlike strace, nothing stops the program at each call.

The instance is this test process's own (``instances/experiment-<pid>-<n>``): the machine's
main trace buffer and other users' instances are never touched, and it is removed on exit.
Needs tracefs writable (root); :func:`unavailable` says why not otherwise. A fresh machine may not
have tracefs mounted (a fresh Debian VM here did not): as root it is mounted for this process
and unmounted when it ends, so the machine is left as it was found.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
BUFFER_KB_PER_CPU = 8192
# Marker writes are 1-6 bytes (a code, "RR", "_c1", "mh"+2, "mp"+4); larger writes are left out
# so a session's logging cannot fill the buffer.
MAX_TRACED_COUNT = 8
_PREFIX = r"^\s*\S.*?-(?P<tid>\d+)\s+\(\s*(?P<tgid>\d+)\)\s+\[\d+\]\s+\S+\s+(?P<time>\d+\.\d+): "
_WRITE = re.compile(_PREFIX + r"sys_write\(fd: (?P<fd>\w+), buf: \w+, count: (?P<count>\w+)\)")
_OPEN = re.compile(_PREFIX + r"sys_openat -> (?P<fd>\w+)$")
_CLOSE = re.compile(_PREFIX + r"sys_close\(fd: (?P<fd>\w+)\)")
EVENTS = ("sys_enter_write", "sys_exit_openat", "sys_enter_close")
_instances = itertools.count()


@dataclass(frozen=True)
class Write:
    time_s: float  # CLOCK_MONOTONIC (time.perf_counter) at the kernel's entry to write()
    tgid: int  # the process
    tid: int  # the thread
    fd: int
    count: int


def unavailable() -> str | None:
    """Why the kernel's write times cannot be read here, or None when they can."""
    if not (TRACEFS / "instances").is_dir():
        return f"tracefs is not mounted at {TRACEFS} (mount -t tracefs nodev {TRACEFS})"
    if not (TRACEFS / "events/syscalls/sys_enter_write").is_dir():
        return "this kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS)"
    if not os.access(TRACEFS / "instances", os.W_OK):
        return f"{TRACEFS} is not writable by this user: run the timing tests as root"
    return None


class WriteTrace:
    """Records every small ``write()`` (and every ``openat()`` and ``close()``, to tell a reused
    descriptor number apart) of this process and of every thread and process it starts from now
    on, until closed. Use as a context manager."""

    def __init__(self) -> None:
        _mount_tracefs_if_missing()
        reason = unavailable()
        if reason:
            raise RuntimeError(f"The marker timing tests read the kernel's write() times, but {reason}.")
        self.folder = TRACEFS / "instances" / f"experiment-{os.getpid()}-{next(_instances)}"

    def __enter__(self) -> WriteTrace:
        _remove_instances_of_ended_tests()
        self.folder.mkdir()
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        events = self.folder / "events/syscalls"
        settings = [
            ("buffer_size_kb", BUFFER_KB_PER_CPU),
            ("trace_clock", "mono"),
            ("options/record-tgid", 1),
            ("options/event-fork", 1),  # threads and processes started later are traced too
            ("set_event_pid", os.getpid()),
            (events / "sys_enter_write/filter", f"count <= {MAX_TRACED_COUNT}"),
            (events / "sys_exit_openat/filter", "ret >= 0"),
        ]
        settings += [(events / name / "enable", 1) for name in EVENTS]
        for name, value in [*settings, ("tracing_on", 1)]:
            (self.folder / name).write_text(f"{value}\n")

    def writes(self, tgid: int, fd: int, open_at_s: float) -> list[Write]:
        """The traced writes of process ``tgid`` to its file descriptor ``fd`` while it was the
        file that was open at ``open_at_s`` (a number is reused once its file is closed)."""
        opened_s, closed_s = float("-inf"), float("inf")
        writes = []
        for kind, match in self._events(tgid):
            if int(match["fd"], 0) != fd:
                continue
            time_s = float(match["time"])
            if kind is _OPEN and time_s <= open_at_s:
                opened_s = time_s
            elif kind is _CLOSE and open_at_s <= time_s < closed_s:
                closed_s = time_s
            elif kind is _WRITE:
                writes.append(Write(time_s, tgid, int(match["tid"]), fd, int(match["count"], 0)))
        return [w for w in writes if opened_s <= w.time_s <= closed_s]

    def overruns(self) -> int:
        """Events lost because the buffer was full (then the trace is incomplete)."""
        stats = (self.folder / "per_cpu").glob("cpu*/stats")
        return sum(int(re.search(r"overrun: (\d+)", path.read_text()).group(1)) for path in stats)

    def _events(self, tgid: int):
        """(kind, match) of every traced event of process ``tgid``, in time order."""
        found = []
        for line in (self.folder / "trace").read_text().splitlines():
            for kind in (_WRITE, _OPEN, _CLOSE):
                match = kind.match(line)
                if match and int(match["tgid"]) == tgid:
                    found.append((float(match["time"]), kind, match))
                    break
        return [(kind, match) for _, kind, match in sorted(found, key=lambda event: event[0])]

    def __exit__(self, *exc) -> None:
        _remove(self.folder)


def _remove(instance: Path) -> None:
    """Stop an instance's tracing and remove it (tracefs refuses while an event is enabled)."""
    with contextlib.suppress(OSError):
        (instance / "tracing_on").write_text("0\n")
        for name in EVENTS:
            (instance / "events/syscalls" / name / "enable").write_text("0\n")
    instance.rmdir()


def _mount_tracefs_if_missing() -> None:
    """Mount tracefs where the kernel has it but nothing mounted it, as root; unmounted at exit."""
    if (TRACEFS / "instances").is_dir() or not TRACEFS.is_dir() or os.geteuid() != 0:
        return
    if "tracefs" not in Path("/proc/filesystems").read_text():
        return
    if subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)], capture_output=True).returncode == 0:
        atexit.register(subprocess.run, ["umount", str(TRACEFS)], capture_output=True)


def _remove_instances_of_ended_tests() -> None:
    """Instances left by a test process that was killed mid-trace (its pid is gone): ours by name."""
    for instance in (TRACEFS / "instances").glob("experiment-*-*"):
        pid = int(instance.name.split("-")[1])
        if not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                _remove(instance)


class DescriptorWatch:
    """Finds which file descriptor process ``pid`` opens ``path`` as (polling /proc, so start it
    before the process opens the file and keep it until the file is open)."""

    def __init__(self, pid: int, path: str) -> None:
        self.pid = pid
        self.target = os.path.realpath(path)
        self.fd: int | None = None
        self.seen_at_s = 0.0  # perf_counter when it was seen open
        self.seen: dict[str, str] = {}  # every descriptor seen -> its file (to say what was open instead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        folder = Path(f"/proc/{self.pid}/fd")
        while not self._stop.is_set() and self.fd is None:
            try:
                links = list(folder.iterdir())
            except OSError:  # the process has ended
                return
            for link in links:
                try:
                    target = os.readlink(link)
                except OSError:  # closed while listing
                    continue
                self.seen[link.name] = target
                if target == self.target:
                    self.seen_at_s, self.fd = time.perf_counter(), int(link.name)
            time.sleep(0.002)

    def result(self) -> tuple[int, float]:
        """The descriptor and a perf_counter time it was open (for :meth:`WriteTrace.writes`)."""
        self._stop.set()
        self._thread.join(timeout=1)
        if self.fd is None:
            raise AssertionError(f"process {self.pid} never opened {self.target}; its files: {self.seen}")
        return self.fd, self.seen_at_s
