"""In-process stand-ins for the parts a unit test cannot open: a window and a sound card.

They run ``Session`` in-process in a second or so, for changes to the timeline, the record
or the markers; the real parts (Xvfb, PulseAudio, socat ttys) are exercised by the tests
marked ``slow``. The marker device needs no stand-in: pyserial's ``loop://`` is a real port
object, and ``none`` the device a session without a recorder uses.
"""

from __future__ import annotations

import time

from experiment.frames import as_frames
from experiment.playback import _Playback
from experiment.ui.display import Display


class _Stim:
    """Any PsychoPy stimulus: takes its settings, draws nothing."""

    def __init__(self, *args, **settings) -> None:
        self.__dict__.update(settings)

    def draw(self) -> None:
        pass


class _Visual:
    def __getattr__(self, name: str):
        return _Stim


class _Window:
    size = (1280, 800)

    def __init__(self) -> None:
        self._on_flip = []

    def callOnFlip(self, function) -> None:  # noqa: N802 - PsychoPy's name
        self._on_flip.append(function)

    def flip(self) -> None:
        for function in self._on_flip:
            function()
        self._on_flip = []

    def close(self) -> None:
        pass


class _Mouse:
    def getPressed(self, getTime=False):  # noqa: N802, N803 - PsychoPy's names
        return ([0, 0, 0], [0.0, 0.0, 0.0]) if getTime else [0, 0, 0]

    def getPos(self):  # noqa: N802
        return (0.0, 0.0)

    def clickReset(self) -> None:  # noqa: N802
        pass


class _Keyboard:
    """psychopy.event's key queue, filled by :meth:`HeadlessDisplay.press`."""

    def __init__(self) -> None:
        self.pressed: list[tuple[str, float]] = []

    def getKeys(self, timeStamped=False):  # noqa: N802, N803
        keys, self.pressed = self.pressed, []
        return keys if timeStamped else [name for name, _ in keys]

    def clearEvents(self) -> None:  # noqa: N802
        self.pressed = []


class HeadlessDisplay(Display):
    """The session's Display with no window: every screen, key and marker-on-flip path of the
    real class runs; only drawing is skipped. Frames come every ``frame_s`` (1 ms)."""

    frame_s = 0.001

    def __init__(self, settings, clock, autopilot=None) -> None:
        self.settings, self.clock, self.autopilot = settings, clock, autopilot
        self.screenshot_dir = None
        self._shots_taken: set[str] = set()
        self.on_frame = None
        self._last_flip = 0.0
        self.visual, self.win, self.mouse, self._event = _Visual(), _Window(), _Mouse(), _Keyboard()
        self.aspect = 1.6
        self._psychopy_time = time.perf_counter

    def press(self, key: str) -> None:
        self._event.pressed.append((key, time.perf_counter()))

    def screenshot(self, name: str):
        return None


class NullPlayer(_Playback):
    """Plays nothing, in real time: the first sample 'leaves' ``LATENCY_S`` after start(), and
    frames, syncs and the offset follow the nominal rate exactly."""

    backend = "null"
    LATENCY_S = 0.05  # beyond the marker just before it (the phase start) and its rest

    def __init__(self, samples, rate_hz: int, volume: float = 1.0, device=None, sync_every_s=None) -> None:
        super().__init__(as_frames(samples, rate_hz), rate_hz, sync_every_s)
        self.stop_after_frames: int | None = None  # a sound output lost here
        self._stopped = False

    def start(self) -> None:
        self.onset_perf_s = time.perf_counter() + self.LATENCY_S

    def _advance(self) -> None:
        if self.onset_perf_s is None or self._stopped:
            return
        reached = int(max(0.0, time.perf_counter() - self.onset_perf_s) * self.rate_hz)
        reached = min(reached, self.total_frames, self.stop_after_frames or self.total_frames)
        self.frames_played = max(self.frames_played, reached)
        # Like a sound card's buffer, each sync sample is known a latency before it plays.
        ahead = min(reached + round(self.LATENCY_S * self.rate_hz), self.stop_after_frames or self.total_frames)
        self._record_syncs(ahead, lambda frame: self.onset_perf_s + frame / self.rate_hz)
        if reached >= self.total_frames and self.offset_perf_s is None:
            self.offset_perf_s = self.onset_perf_s + self.total_frames / self.rate_hz
        elif reached == self.stop_after_frames:
            self.stop()

    def finished(self) -> bool:
        self._advance()
        return self._stopped or self.offset_perf_s is not None

    def stop(self) -> None:
        self._stopped = True
        if self.offset_perf_s is None:
            self.offset_perf_s = time.perf_counter()

    def describe(self) -> dict:
        return {"backend": self.backend, "device": "none", "sample_rate_hz": self.rate_hz, "latency_s": self.LATENCY_S}

    def close(self) -> None:
        pass
