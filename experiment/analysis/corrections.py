"""Corrections a person made after looking at a recording, kept apart from the data.

One file per recording, ``PHYSIO/corrections/sub-<ID>_ses-<N>_corrections.csv`` (or under
``--corrections DIR``), with the columns ``action,start_s,end_s,note`` and times on the
recording's own clock (the ``time_s`` of the beats table and the review page):

- ``add_beat``: a beat the detector missed, at ``start_s``, placed on the R peak within 50 ms;
- ``remove_beat``: the beat nearest ``start_s`` (within 50 ms) is no beat;
- ``exclude``: ``start_s`` to ``end_s`` is left out of every measure (heart and skin conductance);
- ``accept``: the phase that ``start_s`` falls in was flagged and is accepted after review.

Lines are applied in file order, each to what the lines before it left, so a removal and a
later addition of the same beat cancel exactly. The file is the only state: the analysis run
again gives the same result. A line that cannot be applied stops the analysis with one
sentence naming the file and the line, never silently skipped.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiment.errors import DataError

HEADER = ("action", "start_s", "end_s", "note")
ACTIONS = ("add_beat", "remove_beat", "exclude", "accept")
SNAP_S = 0.050  # how far a hand-placed or hand-removed beat may be from the R peak it means


class CorrectionError(DataError):
    """A corrections line that cannot be applied: the analysis stops rather than ignore it."""


@dataclass(frozen=True)
class Correction:
    action: str
    start_s: float
    end_s: float | None
    note: str
    line: int  # in the file, the header being line 1
    file: str = ""

    def refuse(self, why: str) -> CorrectionError:
        return CorrectionError(f"{self.file} line {self.line} ({self.action} at {self.start_s:g} s): {why}.")


@dataclass
class Corrections:
    """A recording's corrections file as read: ``reviewed`` once the file exists, even empty
    (a person looked and changed nothing)."""

    path: Path | None = None
    lines: list[Correction] = field(default_factory=list)

    @property
    def reviewed(self) -> bool:
        return self.path is not None

    def of(self, action: str) -> list[Correction]:
        return [c for c in self.lines if c.action == action]


def corrections_file(folder: Path, participant: str, session: int) -> Path:
    return folder / f"sub-{participant}_ses-{session}_corrections.csv"


def read_corrections(path: Path, delimiter: str = ",", blank: str = "") -> Corrections:
    """The file's lines, checked one by one; no file: nothing reviewed, nothing to apply.
    ``delimiter`` and ``blank`` (an empty cell's text) read the same table as BIDS writes it."""
    if not path.exists():
        return Corrections()
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [["" if cell == blank else cell for cell in row] for row in csv.reader(handle, delimiter=delimiter)]
    except (OSError, UnicodeDecodeError) as err:
        raise CorrectionError(f"The corrections file {path} cannot be read ({err}).") from None
    if not rows or tuple(cell.strip() for cell in rows[0]) != HEADER:
        raise CorrectionError(f"{path} line 1: the first line must be the header {','.join(HEADER)}.")
    return Corrections(path, [_parse(row, number, str(path)) for number, row in enumerate(rows[1:], 2) if row])


def _parse(row: list[str], line: int, file: str) -> Correction:
    where = f"{file} line {line}"
    cells = [cell.strip() for cell in row] + [""] * (len(HEADER) - len(row))
    action, start, end, note = cells[0], cells[1], cells[2], ",".join(cells[3:]).strip(",")
    if action not in ACTIONS:
        raise CorrectionError(f"{where}: the action '{action}' is none of {', '.join(ACTIONS)}.")
    start_s, end_s = _seconds(start, where, "start_s"), _seconds(end, where, "end_s") if end else None
    if action == "exclude" and (end_s is None or end_s <= start_s):
        raise CorrectionError(f"{where}: exclude needs an end_s after its start_s ({start_s:g} s).")
    return Correction(action, start_s, end_s, note, line, file)


def _seconds(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise CorrectionError(f"{where}: {column} '{text}' is not a time in seconds.")
    return value


@dataclass
class EditedBeats:
    times_s: np.ndarray  # the beats after the edits, in time order
    by_hand: np.ndarray  # per beat: added by hand
    removed_s: np.ndarray  # beats a person removed
    edits_s: np.ndarray  # where each add or remove was made (to count edits per phase)


def edit_beats(
    detected_s: np.ndarray, corrections: Corrections, r_peak_near: Callable[[float], float | None]
) -> EditedBeats:
    """The detected beats with every ``add_beat`` and ``remove_beat`` applied in file order.
    ``r_peak_near(t)``: the R peak within ``SNAP_S`` of t, or None where t is off the recording."""
    times = list(np.asarray(detected_s, dtype=np.float64))
    by_hand = [False] * len(times)
    removed, edits = [], []
    for line in corrections.lines:
        if line.action == "remove_beat":
            nearest = int(np.argmin(np.abs(np.asarray(times) - line.start_s))) if times else -1
            if nearest < 0 or abs(times[nearest] - line.start_s) > SNAP_S:
                raise line.refuse(f"there is no beat within {SNAP_S * 1000:g} ms to remove")
            removed.append(times.pop(nearest))
            by_hand.pop(nearest)
        elif line.action == "add_beat":
            peak = r_peak_near(line.start_s)
            if peak is None:
                raise line.refuse("that time is outside the recording's ECG")
            if times and np.min(np.abs(np.asarray(times) - peak)) <= SNAP_S:
                raise line.refuse(f"there is a beat already at the R peak ({peak:.3f} s)")
            at = int(np.searchsorted(times, peak))
            times.insert(at, peak)
            by_hand.insert(at, True)
        else:
            continue
        edits.append(line.start_s)
    return EditedBeats(np.asarray(times), np.asarray(by_hand, bool), np.asarray(removed), np.asarray(edits))


def excluded_spans(corrections: Corrections) -> list[tuple[float, float]]:
    return [(c.start_s, c.end_s) for c in corrections.of("exclude")]


def in_spans(times_s: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """Per time: inside any of ``spans`` (start inclusive, end exclusive)."""
    inside = np.zeros(np.shape(times_s), bool)
    for start, end in spans:
        inside |= (times_s >= start) & (times_s < end)
    return inside
