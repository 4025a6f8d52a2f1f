"""Real-time scheduling for the two threads whose lateness a recording or a participant would
notice: the marker thread (a late write is a wrong time) and the sound callback (a late buffer
is a gap the participant hears). Both are short bursts that then sleep, so real-time priority
cannot starve the machine."""

from __future__ import annotations

import os


def raise_thread_priority(priority: int) -> str:
    """Make the calling thread SCHED_FIFO ``priority`` where the system allows it; say what it got.

    At normal priority a busy machine can park the thread for tens of milliseconds behind
    other programs. (Linux: SCHED_FIFO needs root or an rtprio limit, e.g. in
    /etc/security/limits.d. Windows: PortAudio raises its own audio thread, and a lab PC's
    marker thread runs at normal priority.)
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return f"SCHED_FIFO {priority}"
    except (AttributeError, PermissionError, OSError):  # not Linux, or not permitted
        return "normal"
