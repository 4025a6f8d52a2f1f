"""BIDS physio files (``*_physio.tsv.gz`` + ``.json``): headerless columns whose names, rate
and start come from the JSON sidecar (``Columns``, ``SamplingFrequency``, ``StartTime``).

Ours name the ECG ``cardiac``, the skin conductance ``eda`` and the marker codes ``trigger``; an
``eda`` column at another rate is in the ``recording-eda`` file beside it, read along.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiment.analysis.recorders.digital import code_levels, onsets
from experiment.analysis.recorders.model import Channel, RecorderFile
from experiment.errors import DataError

NAMES = {"cardiac": "ECG", "eda": "EDA"}  # BIDS column -> the name the analysis looks for


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name.replace(".tsv.gz", ".json"))


def read_bids_physio(path: Path) -> RecorderFile:
    channels, markers = _channels(path)
    companion = path.with_name(path.name.replace("_physio.tsv.gz", "_recording-eda_physio.tsv.gz"))
    if "_recording-" not in path.name and companion.exists():
        channels += _channels(companion)[0]
    manufacturer = _sidecar(path).get("Manufacturer")
    return RecorderFile(path, "BIDS physio", channels, markers, manufacturer)


def _sidecar(path: Path) -> dict:
    try:
        return json.loads(sidecar_of(path).read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{sidecar_of(path).name} cannot be read ({err}): every physio file needs its JSON.") from None


def _channels(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sidecar = _sidecar(path)
    try:
        columns, rate, start = sidecar["Columns"], float(sidecar["SamplingFrequency"]), float(sidecar["StartTime"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{sidecar_of(path).name} lacks Columns, SamplingFrequency or StartTime.") from None
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=columns),
            parse_options=pacsv.ParseOptions(delimiter="\t"),
        )
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path.name} cannot be read as a BIDS physio file ({err}).") from None
    channels, markers = [], None
    for name in columns:
        values = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
        unit = (sidecar.get(name) or {}).get("Units", "") if isinstance(sidecar.get(name), dict) else ""
        channel = Channel(NAMES.get(name, name), "" if unit == "n/a" else unit, rate, values, start)
        if name == "trigger":
            markers = onsets(channel.time_s, code_levels(channel), f"BIDS physio 'trigger' column ({path.name})")
        else:
            channels.append(channel)
    return channels, markers
