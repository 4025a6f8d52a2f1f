"""When a sound stream's samples really leave the sound card: a line fitted to its callbacks.

Each callback of a PortAudio stream says which frame it fills and (through the DAC time) when
that buffer will be heard. Right after ``start()`` those figures lie: the sound system asks for
several buffers at once to fill its queue, and some (PulseAudio's null sink, measured here)
then wait seconds before playing anything. Only once callbacks arrive at the pace the frames
are played is ``DAC time = onset + frame / rate`` true. :class:`StreamClock` waits for that
steady state, fits the line, and gives any frame's output time from it, with the residuals
that say how well it holds. The line's slope (the sound card's clock against the computer's,
tens to hundreds of ppm) is fitted once 5 s have played (the slope of a shorter span is mostly
callback jitter); until then the nominal rate is used with the median offset of the last
second's callbacks. The whole playback's line (``recent=False``) is always fitted: its slope is the
card's measured rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEADY_CALLBACKS = 10  # this many in a row at the playing pace make a steady stream
MAX_RESIDUAL_S = 0.001  # ... their DAC times within this of one line
SLOPE_SPAN_S = 5.0  # the sound card's clock rate is fitted over at least this much playing ...
RECENT_S = 120.0  # ... and over the last two minutes at most (it can wander)
UNSTEADY_MS = 5.0  # buffers further than this from the stream's line: the playback stuttered
OFFSET_SPAN_S = 1.0  # before that, the offset at the nominal rate comes from the last second


@dataclass(frozen=True)
class Fit:
    intercept_s: float  # output time of frame 0 (perf_counter)
    seconds_per_frame: float
    residual_rms_s: float
    residual_max_s: float
    points: int

    def at(self, frame: float) -> float:
        return self.intercept_s + frame * self.seconds_per_frame


class StreamClock:
    """Frames -> output times, from (frame, DAC time, wall time) of every callback."""

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = rate_hz
        self.frames: list[int] = []
        self.dac_s: list[float] = []
        self.wall_s: list[float] = []
        self.steady_from: int | None = None  # index of the first steady callback

    def add(self, frame: int, dac_s: float, wall_s: float) -> None:
        self.frames.append(frame)
        self.dac_s.append(dac_s)
        self.wall_s.append(wall_s)
        if self.steady_from is None and self._pace_is_steady():
            self.steady_from = len(self.frames) - STEADY_CALLBACKS

    @property
    def steady(self) -> bool:
        return self.steady_from is not None

    def _pace_is_steady(self) -> bool:
        if len(self.frames) < STEADY_CALLBACKS:
            return False
        frames = np.array(self.frames[-STEADY_CALLBACKS:], dtype=np.float64)
        wall = np.array(self.wall_s[-STEADY_CALLBACKS:])
        audio_span_s = (frames[-1] - frames[0]) / self.rate_hz
        if audio_span_s <= 0 or (wall[-1] - wall[0]) < 0.7 * audio_span_s:
            return False  # still filling the queue: callbacks faster than the sound plays
        fit = _line(frames, np.array(self.dac_s[-STEADY_CALLBACKS:]))
        return fit.residual_max_s < MAX_RESIDUAL_S

    def fit(self, recent: bool = True) -> Fit | None:
        """The line through the steady callbacks (the last ``RECENT_S`` of them if ``recent``)."""
        if self.steady_from is None:
            return None
        frames = np.array(self.frames[self.steady_from :], dtype=np.float64)
        dac = np.array(self.dac_s[self.steady_from :])
        if not recent:
            return _line(frames, dac)
        if (frames[-1] - frames[0]) / self.rate_hz < SLOPE_SPAN_S:
            # The nominal rate is off the card's by up to hundreds of ppm: the offset follows the
            # last second only, so that error cannot build up over the first seconds.
            last = frames >= frames[-1] - OFFSET_SPAN_S * self.rate_hz
            return _offset_only(frames[last], dac[last], 1.0 / self.rate_hz)
        keep = frames >= frames[-1] - RECENT_S * self.rate_hz
        return _line(frames[keep], dac[keep])

    def longest_steady_gap_s(self) -> float | None:
        """The longest wait between two callbacks once the stream ran steadily: about one buffer
        when all is well; near the output latency or beyond, the program was late to refill it."""
        if self.steady_from is None or len(self.wall_s) - self.steady_from < 2:
            return None
        return float(np.max(np.diff(self.wall_s[self.steady_from :])))

    def latency_s(self) -> float | None:
        """Median time from a callback to its buffer being heard, over the steady callbacks."""
        if self.steady_from is None:
            return None
        return float(np.median(np.subtract(self.dac_s[self.steady_from :], self.wall_s[self.steady_from :])))


def _offset_only(frames: np.ndarray, dac_s: np.ndarray, seconds_per_frame: float) -> Fit:
    origin = dac_s[0]
    offsets = dac_s - origin - frames * seconds_per_frame
    intercept = float(np.median(offsets))
    residuals = offsets - intercept
    return Fit(
        float(origin + intercept),
        seconds_per_frame,
        float(np.sqrt(np.mean(residuals**2))),
        float(np.max(np.abs(residuals))),
        len(frames),
    )


def _line(frames: np.ndarray, dac_s: np.ndarray) -> Fit:
    origin = dac_s[0]  # fitted relative to the first point: perf_counter values are large
    slope, intercept = np.polyfit(frames, dac_s - origin, 1) if len(frames) > 1 else (0.0, 0.0)
    residuals = dac_s - origin - (intercept + slope * frames)
    return Fit(
        float(origin + intercept),
        float(slope),
        float(np.sqrt(np.mean(residuals**2))),
        float(np.max(np.abs(residuals))),
        len(frames),
    )
