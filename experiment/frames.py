"""Where a player's samples come from: a file decoded a little ahead, or an array.

An 11-minute 48 kHz stereo recording is 127 MB as 16-bit samples; the session needs only the
next few seconds. :class:`FileFrames` decodes ``AHEAD_S`` seconds ahead of playback on its own
thread, in blocks, and drops what was played, so memory does not grow with the recording's
length. The sound callback only copies from memory; a block not decoded in time is played as
silence and counted (``underruns``), never waited for.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Protocol

import numpy as np

AHEAD_S = 4.0
BLOCK_S = 0.5


class Frames(Protocol):
    rate_hz: int
    total_frames: int
    channels: int
    underruns: int

    def read(self, start: int, count: int) -> np.ndarray:
        """int16 frames ``start`` .. ``start + count`` (fewer at the end); called in order."""
        ...

    def close(self) -> None: ...


class ArrayFrames:
    """Frames already in memory (a test tone, a resampled recording)."""

    def __init__(self, samples: np.ndarray, rate_hz: int) -> None:
        self.samples = samples
        self.rate_hz = rate_hz
        self.total_frames = len(samples)
        self.channels = samples.shape[1]
        self.underruns = 0

    def read(self, start: int, count: int) -> np.ndarray:
        return self.samples[start : start + count]

    def close(self) -> None:
        pass


class FileFrames:
    """A sound file decoded ``AHEAD_S`` seconds ahead of what was last read."""

    def __init__(self, path: Path, ahead_s: float = AHEAD_S, block_s: float = BLOCK_S) -> None:
        import soundfile

        self.path = path
        self._file = soundfile.SoundFile(path)
        self.rate_hz = self._file.samplerate
        self.total_frames = self._file.frames
        self.channels = self._file.channels
        self.underruns = 0
        self._block = max(1, int(block_s * self.rate_hz))
        self._ahead = int(ahead_s * self.rate_hz)
        self._blocks: deque[tuple[int, np.ndarray]] = deque()  # (first frame, int16 frames)
        self._decoded = 0  # frames decoded so far
        self._wanted = 0  # the reader's position
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._decode_ahead, name="audio-decoder", daemon=True)
        self._thread.start()

    def _decode_ahead(self) -> None:
        while True:
            with self._changed:
                while not self._closed and (
                    self._decoded >= self.total_frames or self._decoded - self._wanted >= self._ahead
                ):
                    self._changed.wait()
                if self._closed:
                    return
            block = self._file.read(self._block, dtype="int16", always_2d=True)
            with self._changed:
                self._blocks.append((self._decoded, block))
                self._decoded += len(block)
                self._changed.notify_all()
            if not len(block):
                return

    def wait_ready(self, timeout_s: float = 5.0) -> bool:
        """Wait until the first seconds are decoded (before playback starts)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._decoded >= min(self.total_frames, self._ahead), timeout=timeout_s
            )

    def read(self, start: int, count: int) -> np.ndarray:
        count = max(0, min(count, self.total_frames - start))
        out = np.zeros((count, self.channels), dtype=np.int16)
        with self._changed:
            while self._blocks and self._blocks[0][0] + len(self._blocks[0][1]) <= start:
                self._blocks.popleft()  # played: let it go
            filled = 0
            for first, block in self._blocks:
                lo, hi = max(start, first), min(start + count, first + len(block))
                if hi > lo:
                    out[lo - start : hi - start] = block[lo - first : hi - first]
                    filled += hi - lo
            if filled < count:
                self.underruns += 1
            self._wanted = start + count
            self._changed.notify_all()
        return out

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=2)
        self._file.close()


def as_frames(samples, rate_hz: int) -> Frames:
    return ArrayFrames(samples, rate_hz) if isinstance(samples, np.ndarray) else samples


def whole(frames: Frames) -> np.ndarray:
    """All frames in memory (for a backend that needs the whole buffer, such as ptb)."""
    if isinstance(frames, ArrayFrames):
        return frames.samples
    from experiment.audio import load_samples

    return load_samples(frames.path)[0]
