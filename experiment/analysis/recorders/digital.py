"""Marker codes from digital lines: one channel holding the code, or one channel per line.

A trigger box drives up to eight TTL lines; recorders store them either as one channel whose
value is the code (LabChart's digital input channel, BrainVision's and BioSemi's trigger
channel, our CSV ``Digital`` column) or as one channel per line (AcqKnowledge: each digital
input is a channel of 0 and 5 V, or 0 and 1). A marker is an onset: the moment the lines
change to a new non-zero code.
"""

from __future__ import annotations

import numpy as np

from experiment.analysis.recorders.model import Channel, Markers
from experiment.errors import DataError


def onsets(time_s: np.ndarray, levels: np.ndarray, source: str) -> Markers:
    """Markers where ``levels`` (integer codes per sample) change to a new non-zero code."""
    levels = np.asarray(levels)
    changes = np.flatnonzero(np.diff(levels) != 0) + 1
    if len(levels) and levels[0] != 0:
        changes = np.r_[0, changes]  # a code already on the lines at the first sample
    at = changes[levels[changes] != 0]
    return Markers(np.asarray(time_s)[at], levels[at].astype(np.int64), source)


def code_levels(channel: Channel) -> np.ndarray:
    """A code channel's values as integer codes (a recorder may store them as floats)."""
    return np.nan_to_num(np.asarray(channel.values, dtype=np.float64)).round().astype(np.int64)


def combine_lines(lines: list[Channel], file_name: str) -> np.ndarray:
    """One code per sample from one channel per line, the first channel being line 0 (bit 0).

    Each line is high above half of its own highest value (2.5 V for 0/5 V lines, 0.5 for
    0/1), so the recorder's scaling does not matter.
    """
    lengths = {len(line.values) for line in lines}
    rates = {line.rate_hz for line in lines}
    if len(lengths) > 1 or len(rates) > 1:
        raise DataError(
            f"{file_name}: the digital line channels ({', '.join(line.name for line in lines)}) differ in rate or "
            "length, so they cannot be read as one code: check the export."
        )
    code = np.zeros(lengths.pop(), dtype=np.int64)
    for bit, line in enumerate(lines):
        values = np.nan_to_num(np.asarray(line.values, dtype=np.float64))
        high = values.max() if len(values) else 0.0
        if high > 0:
            code |= (values > high / 2).astype(np.int64) << bit
    return code
