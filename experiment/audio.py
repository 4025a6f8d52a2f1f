"""Stimulus checks: the file decodes, is what the protocol pinned, and is not silent.

No sound device is touched here; playback lives in :mod:`experiment.playback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from experiment.config import Group, file_sha256
from experiment.errors import ConfigError

SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class StimulusInfo:
    path: Path
    sha256: str
    duration_s: float
    sample_rate_hz: int
    channels: int
    peak_dbfs: float


def check_stimulus(group: Group) -> StimulusInfo:
    """Decode the group's file and check it; raise ConfigError with what to do."""
    path = group.audio
    sha = file_sha256(path)
    if group.audio_sha256 and sha != group.audio_sha256:
        raise ConfigError(
            f"{path} is not the file the protocol pinned for group {group.key} (sha256 {sha[:12]}... "
            f"instead of {group.audio_sha256[:12]}...): restore the original recording."
        )
    try:
        with soundfile.SoundFile(path) as handle:
            rate, channels, frames = handle.samplerate, handle.channels, handle.frames
            peak = 0.0
            for block in handle.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                peak = max(peak, float(np.abs(block).max(initial=0.0)))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise ConfigError(f"{path} cannot be decoded as audio ({err}): export it again as WAV or FLAC.") from None
    if frames == 0:
        raise ConfigError(f"{path} holds no audio: replace it with the group's recording.")
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_dbfs < SILENCE_DBFS:
        raise ConfigError(f"{path} is silent (peak {peak_dbfs:.0f} dBFS): replace it with the group's recording.")
    return StimulusInfo(path, sha, frames / rate, rate, channels, float(peak_dbfs))


def load_samples(path: Path) -> tuple[np.ndarray, int]:
    """The file as int16 frames x channels (half the memory of float32) and its rate."""
    samples, rate = soundfile.read(path, dtype="int16", always_2d=True)
    return samples, rate
