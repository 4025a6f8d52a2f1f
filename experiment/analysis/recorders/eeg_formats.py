"""BrainVision (``.vhdr`` + ``.vmrk`` + ``.eeg``), EDF/EDF+ and BioSemi BDF, read with MNE-Python.

Markers come from the file itself:

- BrainVision: the ``.vmrk``'s ``Stimulus`` entries, ``S  n`` being code n (what a Brain
  Products TriggerBox writes); other entries (responses, segments, sync) are counted, not used.
- BDF: the ``Status`` channel, whose low 16 bits are the trigger lines; BioSemi's own flags
  (CMS in range, battery, speed mode, new epoch) live above them and are masked off.
- EDF+: annotations whose text is a code (1-255).

Units: MNE hands voltages (and, for BrainVision, other prefixed SI units) over in base SI
units, and leaves a unit it does not know unscaled without saying which it was; so the unit
is taken from the file's own header and every channel's values are given back in it (a
trigger channel stored in µV keeps its codes).
MNE brings the channels of an EDF whose channels differ in rate to the highest rate.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from experiment.analysis.recorders.digital import onsets
from experiment.analysis.recorders.model import Channel, Markers, RecorderFile, markers_from_texts
from experiment.errors import DataError, first_line

BIOSEMI_TRIGGER_MASK = 0xFFFF
STIMULUS = re.compile(r"^Stimulus/S\s*(\d+)$")
SI_PREFIXED = re.compile(r"^(n|u|µ|μ|m)?(V|S)$")  # units MNE converts to V or S
PREFIX = {None: 1.0, "m": 1e3, "u": 1e6, "µ": 1e6, "μ": 1e6, "n": 1e9}


def read_brainvision(path: Path) -> RecorderFile:
    raw = _mne_read(path, "read_raw_brainvision")
    units = _vhdr_units(path)
    markers = markers_from_texts(_annotations(raw), ".vmrk Stimulus markers (S n = code n)", _stimulus_code)
    return RecorderFile(path, "BrainVision", _channels(raw, units), markers, "Brain Products")


def read_edf(path: Path) -> RecorderFile:
    bdf = path.suffix.lower() == ".bdf"
    raw = _mne_read(path, "read_raw_bdf" if bdf else "read_raw_edf")
    units, samples_per_record = _edf_signals(path)
    channels = _channels(raw, units)
    notes = []
    if len(set(samples_per_record)) > 1:
        notes.append(f"channels of different rates brought to {raw.info['sfreq']:g} Hz by MNE")
    status = next((c for c in channels if c.name.lower() == "status"), None) if bdf else None
    if status is not None:
        levels = np.nan_to_num(status.values).astype(np.int64) & BIOSEMI_TRIGGER_MASK
        markers = onsets(status.time_s, levels, "BDF Status channel (low 16 bits)")
        channels = [c for c in channels if c is not status]
        return RecorderFile(path, "BioSemi BDF", channels, markers, "BioSemi", notes)
    markers = _annotation_markers(raw, "EDF+ annotations" if not bdf else "BDF+ annotations")
    return RecorderFile(path, "BDF" if bdf else "EDF/EDF+", channels, markers, None, notes)


def _mne_read(path: Path, reader: str):
    import mne

    try:
        return getattr(mne.io, reader)(path, preload=True, verbose="error")
    except Exception as err:  # noqa: BLE001 - MNE raises many kinds for a damaged or partial file
        raise DataError(
            f"{path.name} cannot be read ({first_line(err)}): check that the whole recording is there."
        ) from None


def _channels(raw, file_units: dict[str, str]) -> list[Channel]:
    data = raw.get_data()
    rate_hz = float(raw.info["sfreq"])
    understood = getattr(raw, "_orig_units", {}) or {}  # the units MNE recognised (and scaled)
    channels = []
    for i, name in enumerate(raw.ch_names):
        values = data[i]
        scaled = SI_PREFIXED.match(understood.get(name, "").strip())
        if scaled and raw.info["chs"][i]["kind"] != _stim_kind():
            values = values * PREFIX[scaled.group(1)]  # MNE gave V or S: back to the file's own unit
        channels.append(Channel(name, file_units.get(name, ""), rate_hz, values, float(raw.first_time)))
    return channels


def _stim_kind():
    from mne.io.constants import FIFF

    return FIFF.FIFFV_STIM_CH


def _annotation_markers(raw, source: str) -> Markers | None:
    return markers_from_texts(_annotations(raw), source) if len(raw.annotations) else None


def _annotations(raw) -> list[tuple[float, str]]:
    return [(float(t), text) for t, text in zip(raw.annotations.onset, raw.annotations.description, strict=True)]


def _stimulus_code(text: str) -> int | None:
    match = STIMULUS.match(text)
    return int(match.group(1)) if match else None


def _vhdr_units(path: Path) -> dict[str, str]:
    """``ChN=name,reference,resolution,unit`` lines of the header (an empty unit is µV)."""
    units = {}
    text = path.read_bytes().decode("utf-8", errors="replace")
    for match in re.finditer(r"^Ch\d+=([^,\r\n]*),[^,\r\n]*,[^,\r\n]*,?([^,\r\n]*)", text, re.MULTILINE):
        name = match.group(1).replace(r"\1", ",")
        units[name] = match.group(2).strip() or "µV"
    return units


def _edf_signals(path: Path) -> tuple[dict[str, str], list[int]]:
    """From the EDF/BDF header itself: each signal's label -> physical dimension, and each
    signal's samples per data record (they differ where the channels' rates do)."""
    with path.open("rb") as handle:
        head = handle.read(256)
        count = int(head[252:256].decode("ascii", errors="replace").strip() or 0)
        signals = handle.read(256 * count)

    def field(offset: int, width: int) -> list[str]:  # one fixed-width field per signal
        return [signals[offset + width * i : offset + width * (i + 1)].decode("latin-1").strip() for i in range(count)]

    labels, units = field(0, 16), field(96 * count, 8)  # after label (16) and transducer (80)
    samples = field(count * (16 + 80 + 8 * 5 + 80), 8)  # after dimension, 4 ranges and prefilter
    return dict(zip(labels, units, strict=True)), [int(n or 0) for n in samples]
