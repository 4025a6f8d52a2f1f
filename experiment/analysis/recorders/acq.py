"""BIOPAC AcqKnowledge ``.acq`` files (3.8 to 5.x, compressed or not), read with bioread.

Every channel keeps its own rate (AcqKnowledge stores each as a divider of the file's base
rate). Digital inputs recorded as one channel per line are combined into codes by the
analysis (``--columns digital=D0+D1+...``, or found by their names); the file's own event
markers serve as markers where their text is a code (1-255).
"""

from __future__ import annotations

from pathlib import Path

from experiment.analysis.recorders.model import Channel, Markers, RecorderFile, markers_from_texts
from experiment.errors import DataError


def read_acq(path: Path) -> RecorderFile:
    import bioread

    try:
        data = bioread.read_file(str(path))
    except Exception as err:  # noqa: BLE001 - bioread raises many kinds for a damaged file
        raise DataError(f"{path.name} cannot be read as an AcqKnowledge file ({err}).") from None
    channels = [
        Channel(channel.name.strip(), channel.units or "", float(channel.samples_per_second), channel.data)
        for channel in data.channels
    ]
    version = getattr(data, "version_string", "") or ""
    return RecorderFile(
        path,
        f"AcqKnowledge {version}".strip(),
        channels,
        _event_markers(data),
        "BIOPAC",
        ["compressed"] if getattr(data, "is_compressed", False) else [],
    )


def _event_markers(data) -> Markers | None:
    markers = [m for m in data.event_markers if (m.text or "").strip() and m.type_code != "apnd"]
    if not markers:
        return None
    # Marker positions count samples at the file's base rate (its fastest channel's).
    stamped = [(m.sample_index / data.samples_per_second, m.text) for m in markers]
    return markers_from_texts(stamped, "AcqKnowledge event markers")
