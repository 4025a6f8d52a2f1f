"""How a stream start is judged (experiment/stream_start.py), with a stand-in stream object: the
cases a real PortAudio stream gives only by chance (tests/test_playback.py and test_loopback.py
start real streams on the test's sound server)."""

from __future__ import annotations

import threading

from experiment.stream_start import PA_TIMED_OUT, note_callback, start_stream


class PortAudioError(Exception):
    pass


class StandInStream:
    def __init__(self, active: bool = True, error: PortAudioError | None = None, calls_back: bool = True) -> None:
        self.active, self.error, self.calls_back = active, error, calls_back
        self.called_back = threading.Event()

    def start(self) -> None:
        if self.error:
            raise self.error
        if self.calls_back:
            threading.Timer(0.01, note_callback, (self.called_back,)).start()


def judged(stream: StandInStream):
    return start_stream(stream, stream.called_back, PortAudioError, wait_s=0.2)


def test_an_active_stream_that_calls_back_has_started():
    assert judged(StandInStream()) is None


def test_a_timed_out_start_is_worth_a_new_stream_and_another_error_is_not():
    timed_out = judged(StandInStream(error=PortAudioError("Wait timed out", PA_TIMED_OUT)))
    assert timed_out.worth_a_new_stream and timed_out.reason == "Wait timed out"
    other = judged(StandInStream(error=PortAudioError("Device unavailable", -9985)))
    assert not other.worth_a_new_stream and other.reason == "Device unavailable"


def test_a_stream_whose_thread_ended_or_that_never_calls_back_is_worth_a_new_stream():
    ended = judged(StandInStream(active=False))
    assert ended.worth_a_new_stream and ended.reason == "its audio thread ended as it started"
    silent = judged(StandInStream(calls_back=False))
    assert silent.worth_a_new_stream and silent.reason == "no callback 0.2 s after it started"
