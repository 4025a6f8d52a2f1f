"""Is the recorder recording a person? Its rate, ECG and skin conductance checked from the
last seconds of its stream, each fault one sentence naming the channel and what to check.

Pure functions of sample arrays (the live reader hands them over): the same beat detector as
the analysis (:func:`experiment.analysis.cardiac.detect_beats`), so "beats found" here means
what it will mean for the results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE_TOLERANCE = 0.01  # measured against nominal sampling rate
HEART_RATE_BPM = (35.0, 200.0)
EDA_RANGE_US = (0.05, 100.0)
RAIL_SHARE = 0.05  # this share of samples at the channel's extreme value: clipped
REGULAR = 0.2  # an interval within 20% of the median one counts as regular (the quality figure)


@dataclass(frozen=True)
class SignalCheck:
    channel: str
    value: float | None  # heart rate (bpm) or skin-conductance level (µS)
    quality: float | None  # ECG: the share of regular beat intervals, 0-1
    problem: str = ""  # one sentence; "" when the channel looks like a person's

    @property
    def ok(self) -> bool:
        return not self.problem


def measured_rate_hz(stamps_s: np.ndarray) -> float:
    """Samples per second of the recorder's own time stamps."""
    return (len(stamps_s) - 1) / (stamps_s[-1] - stamps_s[0]) if len(stamps_s) > 1 else 0.0


def rate_problem(stream: str, nominal_hz: float, measured_hz: float) -> str:
    if nominal_hz and abs(measured_hz / nominal_hz - 1) > RATE_TOLERANCE:
        return (
            f"The recorder stream '{stream}' delivers {measured_hz:.1f} samples/s, not its nominal {nominal_hz:g}: "
            "samples are being lost or the recorder's rate setting is wrong - check the recorder and its network."
        )
    return ""


def _flat_or_clipped(samples: np.ndarray) -> str:
    if samples.size == 0 or np.unique(samples).size < 3:
        return "flat"
    for rail in (samples.min(), samples.max()):
        if np.mean(samples == rail) > RAIL_SHARE:
            return "clipped"
    return ""


def check_ecg(samples: np.ndarray, rate_hz: float, channel: str) -> SignalCheck:
    """Heart rate and regularity of the last seconds of ECG, or why there is no heartbeat in it."""
    from experiment.analysis.cardiac import detect_beats

    shape = _flat_or_clipped(samples)
    if shape == "flat":
        return SignalCheck(
            channel,
            None,
            None,
            f"The ECG channel '{channel}' is flat: check that the electrodes "
            "are on and connected to the amplifier, and that the recorder is recording.",
        )
    if shape == "clipped":
        return SignalCheck(
            channel,
            None,
            None,
            f"The ECG channel '{channel}' is clipped at the end of its range: "
            "lower the amplifier's gain, or check the electrodes' contact.",
        )
    beats = detect_beats(np.arange(samples.size) / rate_hz, samples.astype(np.float64), rate_hz).times_s
    intervals = np.diff(beats)
    if intervals.size < 3:
        return SignalCheck(
            channel,
            None,
            None,
            f"No heartbeat was found in the ECG channel '{channel}': check the "
            "electrodes' placement and contact, and that this channel is the ECG.",
        )
    median = float(np.median(intervals))
    heart_rate, quality = 60.0 / median, float(np.mean(np.abs(intervals / median - 1) <= REGULAR))
    low, high = HEART_RATE_BPM
    if not low <= heart_rate <= high:
        return SignalCheck(
            channel,
            heart_rate,
            quality,
            f"The ECG channel '{channel}' gives a heart rate of "
            f"{heart_rate:.0f} bpm, outside {low:g}-{high:g}: check the electrodes and that this "
            "channel is the ECG.",
        )
    return SignalCheck(channel, heart_rate, quality)


def check_eda(samples: np.ndarray, channel: str) -> SignalCheck:
    """The skin-conductance level of the last seconds (µS), or why it is no skin's."""
    shape = _flat_or_clipped(samples)
    if shape:
        return SignalCheck(
            channel,
            None,
            None,
            f"The EDA channel '{channel}' is {shape}: check that both "
            "electrodes touch the skin and are connected, and the amplifier's range.",
        )
    level = float(np.median(samples))
    low, high = EDA_RANGE_US
    if not low <= level <= high:
        return SignalCheck(
            channel,
            level,
            None,
            f"The EDA channel '{channel}' reads {level:.2g} µS, outside "
            f"{low:g}-{high:g} µS: check the electrodes' contact and the amplifier's gain and "
            "units.",
        )
    return SignalCheck(channel, level, None)
