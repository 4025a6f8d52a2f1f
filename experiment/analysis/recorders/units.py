"""Bringing a channel to the analysis's units: ECG in millivolts, EDA in microsiemens.

Recorders state units in many spellings (``µV``, ``uV``, ``microvolts``, ``mV``, ``V``;
``µS``, ``microsiemens``, ``umho``). A unit that is stated is always honoured - BrainVision
Recorder writes ECG in µV, MNE hands voltages over in V - and one that is not a voltage (or a
conductance) is refused rather than guessed. Only a file that states no unit at all (a plain
CSV) is taken to be in mV and µS, and inspect-recording says so.
"""

from __future__ import annotations

from dataclasses import replace

from experiment.analysis.recorders.model import Channel
from experiment.errors import DataError

TO_MILLIVOLT = {
    "v": 1e3, "volt": 1e3, "volts": 1e3,
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "nv": 1e-6,
}  # fmt: skip
TO_MICROSIEMENS = {
    "s": 1e6, "siemens": 1e6,
    "ms": 1e3, "millisiemens": 1e3,
    "us": 1.0, "microsiemens": 1.0, "umho": 1.0, "umhos": 1.0, "micromho": 1.0, "micromhos": 1.0,
    "ns": 1e-3,
}  # fmt: skip
NOT_STATED = ("", "*", "none", "n/a")


def _key(unit: str) -> str:
    # µ (micro sign) and μ (Greek mu) are both written; "µS" and "uS" mean the same.
    return unit.strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


def unit_stated(unit: str) -> bool:
    return _key(unit) not in NOT_STATED


def in_millivolts(channel: Channel, file_name: str) -> Channel:
    return _convert(channel, file_name, TO_MILLIVOLT, "mV", "a voltage (V, mV, µV)")


def in_microsiemens(channel: Channel, file_name: str) -> Channel:
    return _convert(channel, file_name, TO_MICROSIEMENS, "µS", "a conductance (µS, mS, S, µmho)")


def _convert(channel: Channel, file_name: str, factors: dict[str, float], target: str, kind: str) -> Channel:
    key = _key(channel.unit)
    if key in NOT_STATED:
        return replace(channel, unit=target)  # unstated: the documented assumption
    if key not in factors:
        raise DataError(
            f"{file_name}: channel '{channel.name}' is in '{channel.unit}', not {kind}: "
            f"name the right channel with --columns."
        )
    factor = factors[key]
    values = channel.values if factor == 1.0 else channel.values * factor
    return replace(channel, values=values, unit=target)
