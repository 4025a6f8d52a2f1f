"""A session's recording as BIDS physio files on the session clock.

The recorder's clock and the session's differ by an offset and a drift
(``recorder_s = offset + (1 + drift) * session_s``, from the marker alignment). Samples are
not moved: the file's ``StartTime`` is its first sample's session time, and its
``SamplingFrequency`` is the recorder's rate as the session clock measures it,
``rate * (1 + drift)``. Channels sampled at another rate than the ECG (AcqKnowledge's EDA
at 2000 Hz, say) go to their own ``recording-eda`` file. A channel stored with irregular
sample times (XDF, several LabChart blocks) is interpolated onto its nominal rate.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from experiment.analysis.align import Alignment
from experiment.analysis.recorders import Channel, Recording
from experiment.analysis.recorders.overview import digital_levels
from experiment.bids.layout import TASK, SessionRun

TRIGGER = {"Description": "The marker code on the recorder's digital input (0 between markers), as the analysis "
           "read it; each marker's code is held 10 ms from its onset.", "Units": "n/a"}  # fmt: skip


def write_physio(root: Path, run: SessionRun, recording: Recording, alignment: Alignment) -> list[Path]:
    """Write the physio file(s) of ``run``; returns their paths relative to ``root``."""
    factor = 1 + alignment.drift_ppm * 1e-6
    ecg_times, ecg = _regular(recording.ecg)
    columns = {"cardiac": ecg}
    described = {"cardiac": _described(recording.ecg, "ECG")}
    eda_apart = None
    if recording.eda is not None:
        eda_times, eda = _regular(recording.eda)
        if len(eda_times) == len(ecg_times) and np.allclose(eda_times, ecg_times, atol=0.5 / recording.ecg.rate_hz):
            columns["eda"], described["eda"] = eda, _described(recording.eda, "EDA")
        else:
            eda_apart = (eda_times, eda)
    columns["trigger"] = digital_levels(ecg_times, recording.markers.times_s, recording.markers.codes)
    described["trigger"] = TRIGGER
    common = _common(recording, alignment)
    written = [
        _write(root, run, None, columns, described, recording.ecg.rate_hz * factor, alignment.to_session(ecg_times[0]),
               common)
    ]  # fmt: skip
    if eda_apart is not None:
        eda_times, eda = eda_apart
        written.append(
            _write(root, run, "eda", {"eda": eda}, {"eda": _described(recording.eda, "EDA")},
                   recording.eda.rate_hz * factor, alignment.to_session(eda_times[0]), common)
        )  # fmt: skip
    return written


def _regular(channel: Channel) -> tuple[np.ndarray, np.ndarray]:
    """Sample times (recorder clock) and values on the channel's nominal rate."""
    if channel.times is None:
        return channel.time_s, np.asarray(channel.values, dtype=np.float64)
    times = channel.times
    grid = times[0] + np.arange(int(round((times[-1] - times[0]) * channel.rate_hz)) + 1) / channel.rate_hz
    if len(grid) == len(times) and np.allclose(grid, times, atol=0.1 / channel.rate_hz):
        return times, np.asarray(channel.values, dtype=np.float64)
    return grid, np.interp(grid, times, channel.values)


def _described(channel: Channel, what: str) -> dict:
    unit = {"mV": "mV", "µS": "uS"}.get(channel.unit, channel.unit)
    return {"Description": f"{what}: the recorder's channel '{channel.name}'", "Units": unit}


def _common(recording: Recording, alignment: Alignment) -> dict:
    common = {
        "SourceFile": recording.path.name,
        "SourceFormat": recording.source.format,
        "RecorderClockOffset": {"Description": "Recorder time at the session clock's zero.", "Value": round(
            alignment.offset_s, 6), "Units": "s"},
        "RecorderClockDrift": {"Description": "How much faster the recorder's clock ran than the session's.",
                               "Value": round(alignment.drift_ppm, 3), "Units": "ppm"},
        "AlignmentResidualMax": {"Description": "Largest marker disagreement after fitting offset and drift.",
                                 "Value": round(alignment.residual_max_ms, 3), "Units": "ms"},
        "MarkersMatched": f"{alignment.matched} of {alignment.expected}",
    }  # fmt: skip
    if recording.source.manufacturer:
        common = {"Manufacturer": recording.source.manufacturer} | common
    return common


def _write(root, run, label, columns, described, rate_hz, start_s, common) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    relative = run.beh("physio.tsv.gz", label)
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    text = pa.BufferOutputStream()
    pacsv.write_csv(table, text, pacsv.WriteOptions(include_header=False, delimiter="\t"))
    # gzip level 1: a fifth of pyarrow's default time for 20% more bytes; mtime 0 so an
    # unchanged recording gives the same file again
    path.write_bytes(gzip.compress(text.getvalue().to_pybytes(), compresslevel=1, mtime=0))
    sidecar = {
        "TaskName": TASK,
        "PhysioType": "generic",
        "SamplingFrequency": round(rate_hz, 9),
        "StartTime": round(start_s, 6),
        "Columns": list(columns),
    }
    sidecar |= {name: described[name] for name in columns} | common
    path.with_name(path.name.replace(".tsv.gz", ".json")).write_text(json.dumps(sidecar, indent=2) + "\n")
    return relative
