"""Stimulus checks: the file decodes, is what the protocol pinned, is as long as expected,
is not silent, and its clipping is reported. No sound device is touched here; playback
lives in :mod:`experiment.playback`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from experiment.config import AudioSettings, Group, Protocol, file_sha256, load_protocol
from experiment.errors import ConfigError

log = logging.getLogger(__name__)
SILENCE_DBFS = -60.0
CLIP_LEVEL = 32767 / 32768  # a sample at full scale


@dataclass(frozen=True)
class StimulusInfo:
    path: Path
    sha256: str
    duration_s: float
    sample_rate_hz: int
    channels: int
    peak_dbfs: float
    clipped_samples: int

    def as_record(self) -> dict:
        return {
            "duration_s": round(self.duration_s, 3),
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "peak_dbfs": round(self.peak_dbfs, 2),
            "clipped_samples": self.clipped_samples,
        }


def check_stimulus(group: Group, settings: AudioSettings | None = None) -> StimulusInfo:
    """Decode the group's file and check it; raise ConfigError saying what to do."""
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
            peak, clipped = 0.0, 0
            for block in handle.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                magnitude = np.abs(block)
                peak = max(peak, float(magnitude.max(initial=0.0)))
                clipped += int(np.count_nonzero(magnitude >= CLIP_LEVEL))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise ConfigError(f"{path} cannot be decoded as audio ({err}): export it again as WAV or FLAC.") from None
    if frames == 0:
        raise ConfigError(f"{path} holds no audio: replace it with the group's recording.")
    if channels > 2:
        raise ConfigError(f"{path} has {channels} channels: export it as mono or stereo.")
    duration_s = frames / rate
    if settings is not None and settings.expected_duration_s is not None:
        expected, tolerance = settings.expected_duration_s, settings.duration_tolerance_s
        if abs(duration_s - expected) > tolerance:
            raise ConfigError(
                f"{path} lasts {duration_s:.1f} s, but the protocol expects {expected:g} s (give or take "
                f"{tolerance:g} s): check that this is the whole recording for group {group.key}."
            )
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_dbfs < SILENCE_DBFS:
        raise ConfigError(f"{path} is silent (peak {peak_dbfs:.0f} dBFS): replace it with the group's recording.")
    if clipped:
        log.warning("%s has %d samples at full scale (clipping): consider a quieter export.", path.name, clipped)
    return StimulusInfo(path, sha, duration_s, rate, channels, float(peak_dbfs), clipped)


def load_checked_protocol(path: Path) -> tuple[Protocol, dict[str, StimulusInfo]]:
    """The protocol file and each group's recording checked, before anything else is opened."""
    protocol = load_protocol(path)
    return protocol, check_stimuli(protocol)


def check_stimuli(protocol: Protocol) -> dict[str, StimulusInfo]:
    """Every group's recording checked (:func:`check_stimulus`), two at a time: decoding and
    hashing run outside the interpreter's lock, so two cores halve the wait. The first group's
    fault, in the protocol's order, is the one raised."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stimulus-check") as pool:
        checked = {key: pool.submit(check_stimulus, group, protocol.audio) for key, group in protocol.groups.items()}
        return {key: future.result() for key, future in checked.items()}


def load_samples(path: Path) -> tuple[np.ndarray, int]:
    """The file as int16 frames x channels (half the memory of float32) and its rate."""
    samples, rate = soundfile.read(path, dtype="int16", always_2d=True)
    return samples, rate


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Polyphase resampling of int16 frames (for a device that cannot play the file's rate)."""
    from math import gcd

    from scipy.signal import resample_poly

    divisor = gcd(from_hz, to_hz)
    out = resample_poly(samples.astype(np.float32), to_hz // divisor, from_hz // divisor, axis=0)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)
