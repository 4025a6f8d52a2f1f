"""``inspect-recording`` and ``convert-recording``: a recorder file as the analysis sees it.

``inspect-recording FILE`` is the screen a researcher reads before analysing: each channel's
name, unit, rate and duration, where the markers come from and the codes found with their
counts, and which channels ``--columns`` picks. ``convert-recording FILE OUT.csv`` writes
the recording as one CSV (``time,ECG,EDA,Digital``) on the ECG channel's clock: the EDA is
interpolated at the ECG's sample times from its own (never shifted or stretched), and each
marker's code is held on ``Digital`` from the first ECG sample at or after its onset for
10 ms (at least two samples) or until the next marker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiment.analysis.recorders import (
    DEFAULT_COLUMNS,
    Columns,
    RecorderFile,
    Recording,
    marker_source,
    pick,
    read_file,
)
from experiment.analysis.recorders.pick import find_role
from experiment.errors import DataError

HOLD_S = 0.010


def describe(path: Path, columns: Columns = DEFAULT_COLUMNS) -> str:
    source = read_file(path, columns)
    lines = [f"{path.name}: {source.format}" + (f" ({source.manufacturer})" if source.manufacturer else "")]
    lines += [f"  note: {note}" for note in source.notes]
    try:
        recording: Recording | None = pick(source, columns, markers_required=False)
        problem = None
    except DataError as err:
        recording, problem = None, str(err)
    roles = {}
    for role in ("ecg", "eda"):  # each shown on its own, even when the other cannot be picked
        try:
            channel = find_role(source, role, columns)
        except DataError:
            continue
        if channel is not None:
            roles[channel.name] = role.upper()
    width = max([len(c.name) for c in source.channels] + [7])
    lines.append(f"  {'channel':<{width}}  {'unit':<12} {'rate (Hz)':>10} {'duration':>10}")
    for channel in source.channels:
        role = f"  <- {roles[channel.name]}" if channel.name in roles else ""
        unit = channel.unit or "(not stated)"
        lines.append(
            f"  {channel.name:<{width}}  {unit:<12} {channel.rate_hz:>10.6g} {channel.duration_s:>9.3f}s{role}"
        )
    lines += _marker_lines(source, columns, recording)
    if problem:
        lines.append(f"  --columns: {problem}")
    else:
        eda = f"'{recording.eda.name}' (in {recording.eda.unit})" if recording.eda else "none found"
        lines.append(f"  --columns picks: ECG '{recording.ecg.name}' (in {recording.ecg.unit}), EDA {eda}")
    return "\n".join(lines)


def _marker_lines(source: RecorderFile, columns: Columns, recording: Recording | None) -> list[str]:
    lines = []
    picked = {recording.ecg.name} | ({recording.eda.name} if recording.eda else set()) if recording else set()
    try:
        markers = marker_source(source, columns, exclude=picked)
    except DataError as err:
        lines.append(f"  markers: none found ({err})")
    else:
        counts = ", ".join(f"{code} x{n}" for code, n in markers.counts().items()) or "no codes"
        lines.append(f"  markers: {markers.source}: {len(markers.codes)} markers; codes {counts}")
        if len(markers.codes):
            lines.append(f"           first at {markers.times_s[0]:.3f} s, last at {markers.times_s[-1]:.3f} s")
    own = source.markers
    if own is not None and own.other:
        shown = sorted(own.other.items(), key=lambda item: -item[1])[:8]
        more = f", ... ({len(own.other) - 8} more)" if len(own.other) > 8 else ""
        text = ", ".join(f"'{t[:30]}' x{n}" for t, n in shown)
        lines.append(f"  other annotations in the file (not codes, not used): {text}{more}")
    return lines


def convert(path: Path, out: Path, columns: Columns = DEFAULT_COLUMNS) -> Recording:
    """Write ``out`` (time,ECG,EDA,Digital on the ECG's clock); returns what was written from."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from experiment.datastore import replaced_whole

    recording = pick(read_file(path, columns), columns, markers_required=False)
    time_s = recording.ecg.time_s
    eda = np.full(len(time_s), np.nan)
    if recording.eda is not None:
        eda = np.interp(time_s, recording.eda.time_s, recording.eda.values, left=np.nan, right=np.nan)
    table = pa.table(
        {
            "time": pa.array(time_s),
            "ECG": pa.array(recording.ecg.values.astype(np.float64)),
            "EDA": pa.array(eda),
            "Digital": pa.array(digital_levels(time_s, recording.markers.times_s, recording.markers.codes)),
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with replaced_whole(out, "choose an output file in a folder you can write to") as tmp:
        pacsv.write_csv(table, tmp)
    return recording


def digital_levels(time_s: np.ndarray, onsets_s: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """A code per sample: each marker held from its onset for HOLD_S (two samples at least)."""
    levels = np.zeros(len(time_s), dtype=np.int32)
    if not len(time_s):
        return levels
    rate_hz = (len(time_s) - 1) / (time_s[-1] - time_s[0]) if len(time_s) > 1 else 1.0
    hold = max(2, int(round(HOLD_S * rate_hz)))
    starts = np.searchsorted(time_s, onsets_s)
    for i, (start, code) in enumerate(zip(starts, codes, strict=True)):
        end = min(start + hold, starts[i + 1] if i + 1 < len(starts) else len(levels))
        if start < len(levels):
            levels[start:end] = code
    return levels
