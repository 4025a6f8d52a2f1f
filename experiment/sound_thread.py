"""The sound system's own thread in this process, at real-time priority where the system allows.

On Linux, PortAudio reaches PulseAudio (and PipeWire's PulseAudio server) through libpulse,
which runs one thread of its own per stream in our process ("threaded-ml"). That thread reads
the server's timing replies, and libpulse dates each reply by the moment the thread reads it:
for a playback stream the time of the reply's own trip back is not taken off (libpulse
``stream.c``, the smoother is fed "now minus the request's trip"). So a reply read late - the
thread at normal priority, waiting for the processor - moves every output time PortAudio reports
after it, in steps the smoother spreads over seconds, while the sound itself keeps time. Measured
with the loopback self-test beside two busy programs: 5 runs of 8 missed at normal priority (sync
markers 1.0-8.3 ms off the recorded clicks), 2 of 8 at SCHED_FIFO (docs/development.md). When a
virtual machine's host takes the processor away, no priority helps.
On Windows and macOS there is no such thread and nothing to do.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

THREAD_NAME = "threaded-ml"  # libpulse's pa_threaded_mainloop
# Below PulseAudio's own real-time threads (5, daemon.conf realtime-priority), which play the
# sound, and below the marker thread (10): only the replies' reading is hurried.
FIFO_PRIORITY = 4


def sound_thread_ids() -> list[int]:
    """The kernel's ids of this process's libpulse threads (none where this is not Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    ids = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            if (task / "comm").read_text().strip() == THREAD_NAME:
                ids.append(int(task.name))
    return ids


def raise_sound_threads() -> str:
    """Every libpulse thread of this process at SCHED_FIFO ``FIFO_PRIORITY``; what they got:
    ``"SCHED_FIFO 4"``, ``"normal (not permitted)"``, or ``"none"`` where there is no such thread
    (not Linux, or a sound system reached without libpulse)."""
    ids = sound_thread_ids()
    # sound_thread_ids() finds none off Linux already; the platform test stays in sight here for
    # test_portability, which reads each POSIX-only call's own function for its guard.
    if not sys.platform.startswith("linux") or not ids:
        return "none"
    for tid in ids:
        try:
            if os.sched_getscheduler(tid) == os.SCHED_OTHER:
                os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(FIFO_PRIORITY))
        except PermissionError:
            return "normal (not permitted)"
        except ProcessLookupError:
            continue  # ended meanwhile (PortAudio opens and closes devices as it looks)
    return f"SCHED_FIFO {FIFO_PRIORITY}"
