"""LabRecorder ``.xdf`` files, read with pyxdf on LabRecorder's synchronised clock.

pyxdf applies the clock offsets LabRecorder measured between each stream's computer and its
own (``synchronize_clocks``), so a physiology stream from an amplifier's PC and our marker
stream from the presentation PC share one clock. Every numeric stream's channels keep their
own sample times; time 0 is the first physiology sample.

Markers: a string stream of type ``Markers``. Ours (``SelfCompassionMarkers``) sends each
event's label and lists every label's code in its description; a stream that sends codes
as text (``"12"``) works too. With several marker streams, ours is taken.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiment.analysis.recorders.model import Channel, Markers, RecorderFile, code_in_text, markers_from_texts
from experiment.errors import DataError
from experiment.markers.lsl import STREAM_NAME


def read_xdf(path: Path) -> RecorderFile:
    import logging

    import pyxdf

    logging.getLogger("pyxdf").setLevel(logging.ERROR)  # its clock-segment notes are not the reader's
    try:
        streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=True, dejitter_timestamps=True, verbose=False)
    except Exception as err:  # noqa: BLE001 - pyxdf raises many kinds for a damaged file
        raise DataError(f"{path.name} cannot be read as an XDF file ({err}).") from None
    numeric = [s for s in streams if _is_signal(s)]
    marker_streams = [s for s in streams if _is_marker_stream(s)]
    if not numeric:
        raise DataError(f"{path.name} holds no physiology stream (only {_names(streams) or 'empty streams'}).")
    zero = min(float(s["time_stamps"][0]) for s in numeric)
    channels = [channel for stream in numeric for channel in _channels(stream, zero)]
    markers = _markers(marker_streams, zero) if marker_streams else None
    notes = [f"streams: {_names(streams)}"]
    return RecorderFile(path, "XDF (LabRecorder)", channels, markers, None, notes)


def _first(info: dict, key: str, default: str = "") -> str:
    value = info.get(key, [default])
    return value[0] if isinstance(value, list) and value else (value or default)


def _is_signal(stream: dict) -> bool:
    info = stream["info"]
    return (
        _first(info, "channel_format") != "string"
        and float(_first(info, "nominal_srate", "0")) > 0
        and len(stream["time_stamps"]) > 1
    )


def _is_marker_stream(stream: dict) -> bool:
    return _first(stream["info"], "channel_format") == "string" and len(stream["time_stamps"]) > 0


def _names(streams: list[dict]) -> str:
    return ", ".join(f"{_first(s['info'], 'name')} ({_first(s['info'], 'type')})" for s in streams)


def _channels(stream: dict, zero: float) -> list[Channel]:
    info = stream["info"]
    name = _first(info, "name")
    values = np.asarray(stream["time_series"], dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    described = _described_channels(info)
    times = np.asarray(stream["time_stamps"], dtype=np.float64) - zero
    # the rate the (dejittered) time stamps really have: one interval per sample after the first
    rate = (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else float(_first(info, "nominal_srate"))
    channels = []
    for i in range(values.shape[1]):
        label, unit = described[i] if i < len(described) else (f"{name}_{i + 1}", "")
        channels.append(Channel(label, unit, rate, values[:, i], float(times[0]), times))
    return channels


def _described_channels(info: dict) -> list[tuple[str, str]]:
    try:
        entries = info["desc"][0]["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        return []
    return [(_first(entry, "label"), _first(entry, "unit")) for entry in entries]


def _code_table(info: dict) -> dict[str, int]:
    try:
        table = info["desc"][0]["codes"][0]
    except (KeyError, IndexError, TypeError):
        return {}
    return {label: int(values[0]) for label, values in table.items() if values and str(values[0]).isdigit()}


def _markers(streams: list[dict], zero: float) -> Markers:
    ours = [s for s in streams if _first(s["info"], "name") == STREAM_NAME]
    stream = (ours or streams)[0]
    table = _code_table(stream["info"])

    def code_of(text: str) -> int | None:
        return code_in_text(text) or code_in_text(str(table.get(text, "")))

    stamped = [
        (float(stamp) - zero, str(sample[0] if isinstance(sample, (list, tuple, np.ndarray)) else sample))
        for stamp, sample in zip(stream["time_stamps"], stream["time_series"], strict=True)
    ]
    return markers_from_texts(stamped, f"XDF marker stream '{_first(stream['info'], 'name')}'", code_of)
