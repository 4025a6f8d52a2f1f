"""Starting a PortAudio stream, and knowing it really started: it is active and calls back.

PortAudio's ALSA host waits 1 s for a stream's audio thread to come up; on a machine busy at
that moment it gives up (``paTimedOut``), cancels the thread and waits for it to end. Worse,
PortAudio 19.6 (pa_unix_util.c) keeps its last error in one static variable that the audio
thread writes too: when that write lands while a timed-out start reports, the start returns
success with its audio thread gone (2 of about 30 stalled-server tests here, docs/development.md).
The thread may even have called back before it was cancelled: the race's window is the moment
the stalled server answers again, and the start waits for the cancelled thread to end. A thread
that ends always marks its stream inactive (pa_linux_alsa.c, OnExit), so a started stream must be
active and have called back. Both are cured by a new stream; any other failure is not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

PA_TIMED_OUT = -9987  # PortAudio's paTimedOut
# PortAudio's own wait for a stream's audio thread. A started output stream calls back well within
# it (before the start returned, or within 11 ms of it here, beside four busy processes: it asks
# for its first buffers at once); an input stream only once the sound system hands it a buffer, which
# PulseAudio's monitor did after about 10 ms, or only after 1.5-2.0 s in 8 of 26 starts (measured here).
FIRST_CALLBACK_S = 1.0
FIRST_INPUT_CALLBACK_S = 4.0


@dataclass(frozen=True)
class StartFailure:
    reason: str  # for the sentence: "did not start (<reason>)"
    worth_a_new_stream: bool  # the start timed out: a new stream may start where this one did not


def start_stream(
    stream, called_back: threading.Event, portaudio_error: type[Exception], wait_s: float = FIRST_CALLBACK_S
) -> StartFailure | None:
    """Start ``stream``; None when it is active and has called back within ``wait_s`` (``called_back``
    is set by its callback through :func:`note_callback`), else why not."""
    try:
        stream.start()
    except portaudio_error as err:
        return StartFailure(str(err.args[0]), worth_a_new_stream=err.args[1:2] == (PA_TIMED_OUT,))
    if not stream.active:
        return StartFailure("its audio thread ended as it started", worth_a_new_stream=True)
    if not called_back.wait(wait_s):
        return StartFailure(f"no callback {wait_s:g} s after it started", worth_a_new_stream=True)
    return None


def start_with_one_retry(
    start: Callable[[], StartFailure | None],
    open_afresh: Callable[[], None],
    what: str,
    may_retry: Callable[[], bool] = lambda: True,
) -> tuple[StartFailure | None, int]:
    """``start()``; when it fails in a way a new stream may cure and ``may_retry()`` (the caller's
    rule: nothing the stream was given may be lost), ``open_afresh()`` and ``start()`` once more.
    Returns the last start's failure (None: started) and how many new streams were opened."""
    failure = start()
    if failure is None or not failure.worth_a_new_stream or not may_retry():
        return failure, 0
    log.warning("The %s took too long to start (%s): starting a new stream", what, failure.reason)
    open_afresh()
    return start(), 1


def note_callback(called_back: threading.Event) -> None:
    """For a stream's callback: the first call sets the event; later ones only read it (setting
    takes a lock and wakes waiters, not for every buffer of a real-time thread)."""
    if not called_back.is_set():
        called_back.set()
