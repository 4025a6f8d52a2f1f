"""Reading recorder exports: a time column in seconds, ECG (mV), EDA (microsiemens) and a
digital marker channel, from CSV/TXT files or BIOPAC AcqKnowledge ``.acq`` files.

Column names differ between recorders and lab habits; :class:`Columns` maps ours to theirs
(``--columns time=Time,ecg=ECG100C,eda=EDA100C,digital="Digital input"``). CSV and tab-
separated TXT are read with pyarrow (an order of magnitude faster than the csv module for a
25-minute, 1000 Hz export).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from experiment.errors import DataError

EXTENSIONS = (".csv", ".txt", ".acq")


@dataclass(frozen=True)
class Columns:
    time: str = "time"
    ecg: str = "ECG"
    eda: str = "EDA"
    digital: str = "Digital"

    @classmethod
    def parse(cls, text: str | None) -> Columns:
        """``time=Time,ecg=CH1`` -> Columns (unnamed ones keep their defaults)."""
        columns = cls()
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            key, _, name = part.partition("=")
            if key.strip() not in cls.__dataclass_fields__ or not name.strip():
                raise DataError(f"--columns '{part}' is not of the form time=NAME, ecg=NAME, eda=NAME or digital=NAME.")
            columns = replace(columns, **{key.strip(): name.strip().strip('"')})
        return columns


@dataclass
class Recording:
    path: Path
    time_s: np.ndarray  # recorder clock, seconds
    ecg_mv: np.ndarray
    eda_us: np.ndarray
    digital: np.ndarray  # integer marker code on the recorder's digital lines, 0 between markers
    rate_hz: float


def find_export(physio_dir: Path, participant: str, session: int) -> Path | None:
    stem = f"sub-{participant}_ses-{session}_physio"
    return next((physio_dir / f"{stem}{ext}" for ext in EXTENSIONS if (physio_dir / f"{stem}{ext}").exists()), None)


def read_recording(path: Path, columns: Columns = Columns()) -> Recording:
    """Read one export; DataError names the file and what is wrong with it."""
    if path.suffix.lower() == ".acq":
        return _read_acq(path, columns)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delimiter = "\t" if path.suffix.lower() == ".txt" else ","
    wanted = _header_names(path, delimiter, [columns.time, columns.ecg, columns.eda, columns.digital])
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(include_columns=wanted),
        )
    except (pa.ArrowInvalid, KeyError) as err:
        raise DataError(f"{path.name} cannot be read as a recorder export ({_first_line(err)}): {_advice()}") from None
    arrays = [table.column(name).to_numpy() for name in wanted]
    return _recording(path, *arrays)


def _header_names(path: Path, delimiter: str, names: list[str]) -> list[str]:
    """The header's own spelling of each name, matched without regard to case ("Time" = "time")."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            header = [h.strip().strip('"') for h in handle.readline().rstrip("\r\n").split(delimiter)]
    except OSError as err:
        raise DataError(f"{path.name} cannot be opened ({err.strerror}).") from None
    spelled = {h.lower(): h for h in header}
    return [spelled.get(name.lower(), name) for name in names]


def _read_acq(path: Path, columns: Columns) -> Recording:
    import bioread

    try:
        data = bioread.read_file(str(path))
    except Exception as err:  # noqa: BLE001 - bioread raises many kinds for a damaged file
        raise DataError(f"{path.name} cannot be read as an AcqKnowledge file ({err}).") from None
    by_name = {channel.name: channel for channel in data.channels}
    try:
        ecg, eda, digital = (by_name[name] for name in (columns.ecg, columns.eda, columns.digital))
    except KeyError as err:
        raise DataError(
            f"{path.name} has no channel {err} (it has {', '.join(by_name)}): name the channels with --columns."
        ) from None
    n = min(len(ecg.data), len(eda.data), len(digital.data))
    return _recording(path, ecg.time_index[:n], ecg.data[:n], eda.data[:n], digital.data[:n])


def _recording(path: Path, time_s, ecg, eda, digital) -> Recording:
    time_s = np.asarray(time_s, dtype=np.float64)
    if len(time_s) < 2 or np.any(np.isnan(time_s)):
        raise DataError(f"{path.name} holds no usable samples: check the export.")
    rate_hz = (len(time_s) - 1) / (time_s[-1] - time_s[0])
    codes = np.nan_to_num(np.asarray(digital, dtype=np.float64)).round().astype(np.int32)
    return Recording(
        path,
        time_s,
        np.asarray(ecg, dtype=np.float64),
        np.asarray(eda, dtype=np.float64),
        codes,
        float(rate_hz),
    )


def _advice() -> str:
    return "export a header row with time, ECG, EDA and digital columns, or name yours with --columns."


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
