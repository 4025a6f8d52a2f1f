"""Which channel is the ECG, which the EDA, and where the markers come from.

``--columns ecg=NAME,eda=NAME,digital=NAME`` names them (case does not matter). A name not
given is looked for: the ECG among channels called ECG/EKG, the EDA among EDA/GSR/SCL/skin
conductance, the markers first in the file's own markers (.vmrk, BDF Status, EDF+
annotations, XDF marker stream), then a code channel (Digital, Trigger, Status, Stim), then
one channel per digital line (``D0``, ``Digital input 1``, ...), then, for AcqKnowledge and
LabChart, event markers or comments whose text is a code. ``digital=A+B+C`` names the line
channels themselves, line 0 first. Two candidates for one role are never guessed between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from experiment.analysis.recorders.digital import code_levels, combine_lines, onsets
from experiment.analysis.recorders.model import Channel, Markers, RecorderFile, Recording
from experiment.analysis.recorders.units import in_microsiemens, in_millivolts
from experiment.errors import DataError

ECG_NAMES = re.compile(r"\b(ecg|ekg)", re.IGNORECASE)
EDA_NAMES = re.compile(r"\b(eda|gsr|scl|skin ?conductance)", re.IGNORECASE)
CODE_CHANNEL_NAMES = re.compile(r"^(digital( input)?|trigger|triggers|status|stim|marker|markers|event|events)$", re.I)
LINE_CHANNEL = re.compile(r"^(?:d|din|digital(?: input)?|stp(?: input)?|ttl)\s*[-_ ]?\s*(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Columns:
    """The channel names the analysis uses; ``given`` holds the roles named by the user."""

    time: str = "time"
    ecg: str = "ECG"
    eda: str = "EDA"
    digital: str = "Digital"
    given: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str | None) -> Columns:
        """``time=Time,ecg=CH1,digital=D0+D1`` -> Columns (unnamed ones keep their defaults)."""
        columns = cls()
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            key, _, name = part.partition("=")
            key = key.strip()
            if key not in ("time", "ecg", "eda", "digital") or not name.strip():
                raise DataError(f"--columns '{part}' is not of the form time=NAME, ecg=NAME, eda=NAME or digital=NAME.")
            columns = replace(columns, **{key: name.strip().strip('"')}, given=columns.given | {key})
        return columns


DEFAULT_COLUMNS = Columns()


def pick(source: RecorderFile, columns: Columns = DEFAULT_COLUMNS, markers_required: bool = True) -> Recording:
    """The analysis's view of ``source``; DataError names the file and what to name.

    ``markers_required`` False (inspecting, converting) gives no markers instead of refusing.
    """
    ecg = find_role(source, "ecg", columns)
    eda = find_role(source, "eda", columns)
    exclude = {c.name for c in (ecg, eda) if c is not None}
    try:
        markers = marker_source(source, columns, exclude)
    except DataError:
        if markers_required:
            raise
        markers = Markers(np.array([]), np.array([], dtype=np.int64), "no marker source (see inspect-recording)")
    return Recording(
        source,
        in_millivolts(ecg, source.path.name),
        in_microsiemens(eda, source.path.name) if eda is not None else None,
        markers,
    )


def find_role(source: RecorderFile, role: str, columns: Columns = DEFAULT_COLUMNS) -> Channel | None:
    """The channel for ``role`` (``ecg``, required; ``eda``, required only when named)."""
    pattern = ECG_NAMES if role == "ecg" else EDA_NAMES
    required = role == "ecg" or role in columns.given
    wanted = getattr(columns, role)
    exact = [c for c in source.channels if c.name.lower() == wanted.lower()]
    if exact:
        return exact[0]
    names = ", ".join(c.name for c in source.channels)
    if role in columns.given:
        raise DataError(f"{source.path.name} has no channel '{wanted}' (it has {names}): check --columns {role}=NAME.")
    guesses = [c for c in source.channels if pattern.search(c.name)]
    if len(guesses) == 1:
        return guesses[0]
    if len(guesses) > 1:
        raise DataError(
            f"{source.path.name} has several channels that could be the {role.upper()} "
            f"({', '.join(c.name for c in guesses)}): name one with --columns {role}=NAME."
        )
    if required:
        raise DataError(
            f"{source.path.name} has no {role.upper()} channel that can be recognised (it has {names}): "
            f"name it with --columns {role}=NAME."
        )
    return None


def marker_source(source: RecorderFile, columns: Columns = DEFAULT_COLUMNS, exclude: set[str] = frozenset()) -> Markers:
    """Where the markers come from, in the order the module docstring gives."""
    name = source.path.name
    if "digital" in columns.given:
        return _from_channels(source, columns.digital.split("+"), name)
    if source.markers is not None and len(source.markers.codes) and not _own_markers_are_fallback(source):
        return source.markers
    candidates = [c for c in source.channels if c.name not in exclude]
    code_channels = [c for c in candidates if c.name.lower() == columns.digital.lower()] or [
        c for c in candidates if CODE_CHANNEL_NAMES.match(c.name)
    ]
    if len(code_channels) == 1:
        channel = code_channels[0]
        return onsets(channel.time_s, code_levels(channel), f"code channel '{channel.name}'")
    if len(code_channels) > 1:
        raise DataError(
            f"{name} has several marker channels ({', '.join(c.name for c in code_channels)}): "
            "name one with --columns digital=NAME."
        )
    lines = sorted((c for c in candidates if LINE_CHANNEL.match(c.name)), key=_line_number)
    if len(lines) >= 2:
        return _from_channels(source, [c.name for c in lines], name)
    if source.markers is not None and len(source.markers.codes):
        return source.markers
    raise DataError(
        f"{name} has no markers: no marker channel was recognised (it has {', '.join(c.name for c in candidates)}) "
        "and the file holds no marker codes of its own: name the channel with --columns digital=NAME "
        "(or the line channels with digital=D0+D1+...)."
    )


def _own_markers_are_fallback(source: RecorderFile) -> bool:
    # AcqKnowledge event markers and LabChart comments are typed by hand: a digital channel,
    # where there is one, is what the trigger box wrote.
    return source.markers is not None and source.markers.source in ("AcqKnowledge event markers", "LabChart comments")


def _line_number(channel: Channel) -> int:
    return int(LINE_CHANNEL.match(channel.name).group(1))


def _from_channels(source: RecorderFile, names: list[str], file_name: str) -> Markers:
    by_name = {c.name.lower(): c for c in source.channels}
    missing = [n for n in names if n.strip().lower() not in by_name]
    if missing:
        have = ", ".join(c.name for c in source.channels)
        raise DataError(f"{file_name} has no channel '{missing[0]}' (it has {have}): check --columns digital=NAME.")
    chosen = [by_name[n.strip().lower()] for n in names]
    if len(chosen) == 1:
        return onsets(chosen[0].time_s, code_levels(chosen[0]), f"code channel '{chosen[0].name}'")
    levels = combine_lines(chosen, file_name)
    return onsets(chosen[0].time_s, levels, f"digital lines {', '.join(c.name for c in chosen)} (line 0 first)")
