"""Text exports: LabChart's, AcqKnowledge's, and a CSV/TXT with one header row of names.

Which one a file is, is read from its first lines, never from its extension alone:

- **LabChart** (ADInstruments, *File > Export > Text*): a header block of ``Key=<TAB>values``
  lines (``Interval=``, ``ExcelDateTime=``, ``TimeFormat=``, ``DateFormat=``,
  ``ChannelTitle=``, ``Range=``, ``UnitName=``, ``TopValue=``, ``BottomValue=``), then rows
  of tab-separated values whose first column (the time, untitled) may be left out; a
  comment is written at the end of its row as ``#* text`` (all channels) or ``#3 text``
  (channel 3). Each recording block repeats the header; ``ExcelDateTime`` places the blocks
  on one clock.
- **AcqKnowledge** (BIOPAC, *File > Save As > Text*): a title line, ``0.5 msec/sample``,
  ``3 channels``, then a name line and a unit line per channel, a row of column names
  (``CH1``..., after an optional time column such as ``sec``), an optional row of sample
  counts, then the samples.
- **A CSV or TXT with one header row** (our simulator, spreadsheets): a time column in
  seconds (``--columns time=NAME``) and one column per channel; units are not stated.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from experiment.analysis.recorders.model import Channel, Markers, RecorderFile, markers_from_texts
from experiment.errors import DataError, first_line

ACQ_RATE_LINE = re.compile(r"^\s*([0-9.eE+-]+)\s*(msec|millisec|sec|usec|µsec)/sample", re.IGNORECASE)
UNIT_AFTER_NUMBER = re.compile(r"^\s*[-+0-9.eE]+\s*(\S*)\s*$")
EXCEL_EPOCH_DAYS_TO_S = 86400.0


def sniff(path: Path) -> str:
    """``labchart``, ``acqknowledge-text`` or ``header-csv`` from the file's first lines."""
    head = _read_text(path, limit=4096).splitlines()[:12]
    if head and head[0].startswith("Interval="):
        return "labchart"
    if any(ACQ_RATE_LINE.match(line) for line in head[:4]):
        return "acqknowledge-text"
    return "header-csv"


def _read_text(path: Path, limit: int | None = None) -> str:
    try:
        if limit is None:
            raw = path.read_bytes()
        else:
            with path.open("rb") as handle:
                raw = handle.read(limit)
    except OSError as err:
        raise DataError(f"{path.name} cannot be opened ({err.strerror}).") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # LabChart and AcqKnowledge on Windows write µ in Latin-1


# --- LabChart -----------------------------------------------------------------------------------


def read_labchart(path: Path) -> RecorderFile:
    blocks = _labchart_blocks(path)
    titles = blocks[0]["titles"]
    if any(block["titles"] != titles for block in blocks):
        raise DataError(f"{path.name}: the blocks of this LabChart export have different channels: export them apart.")
    origin = blocks[0]["start_day"]
    values: list[list[np.ndarray]] = [[] for _ in titles]
    times: list[np.ndarray] = []
    comments: list[tuple[float, str]] = []
    for block in blocks:
        offset_s = (block["start_day"] - origin) * EXCEL_EPOCH_DAYS_TO_S if origin is not None else 0.0
        data, first_s, block_comments = _labchart_rows(path, block)
        interval_s = block["interval_s"]
        block_times = offset_s + first_s + np.arange(data.shape[0]) * interval_s
        times.append(block_times)
        for column, store in enumerate(values):
            store.append(data[:, column])
        comments += [(offset_s + first_s + row * interval_s, text) for row, text in block_comments]
    all_times = np.concatenate(times)
    zero = all_times[0] if len(all_times) else 0.0
    rate_hz = 1.0 / blocks[0]["interval_s"]
    regular = len(blocks) == 1
    channels = [
        Channel(
            name,
            blocks[0]["units"][i],
            rate_hz,
            np.concatenate(values[i]),
            start_s=0.0,
            times=None if regular else all_times - zero,
        )
        for i, name in enumerate(titles)
    ]
    notes = [f"{len(blocks)} blocks on one clock from ExcelDateTime"] if len(blocks) > 1 else []
    return RecorderFile(
        path,
        "LabChart text export",
        channels,
        _comment_markers([(t - zero, text) for t, text in comments], "LabChart comments"),
        "ADInstruments",
        notes,
    )


def _labchart_blocks(path: Path) -> list[dict]:
    lines = _read_text(path).splitlines()
    blocks: list[dict] = []
    for number, line in enumerate(lines):
        key, _, rest = line.partition("\t")
        if key.endswith("=") and not _is_number(key[:-1]):
            if key == "Interval=":
                blocks.append({"header": {}, "number": len(blocks) + 1, "lines": []})
            if not blocks:
                raise DataError(f"{path.name} line {number + 1}: a LabChart header line before 'Interval='.")
            blocks[-1]["header"][key[:-1]] = rest.split("\t")
        elif line.strip() and blocks:
            blocks[-1]["lines"].append((number + 1, line))
    if not blocks:
        raise DataError(f"{path.name} has no 'Interval=' line: export it from LabChart as text with the header.")
    for block in blocks:
        _labchart_header(path, block)
    return blocks


def _labchart_header(path: Path, block: dict) -> None:
    header = block["header"]
    interval = (header.get("Interval") or [""])[0].split()
    try:
        value = float(interval[0])
        block["interval_s"] = value / 1000 if interval[1:] == ["ms"] else value
    except (IndexError, ValueError):
        raise DataError(f"{path.name}: 'Interval=' does not hold a sampling interval such as '0.001 s'.") from None
    titles = [t.strip() for t in header.get("ChannelTitle", [])]
    while titles and titles[0] == "":
        titles.pop(0)  # the untitled time column
    if not titles:
        raise DataError(f"{path.name}: no 'ChannelTitle=' line: export with the header (channel titles) on.")
    block["titles"] = titles
    ranges = [r.strip() for r in header.get("Range", [])][-len(titles) :]
    named = [u.strip() for u in header.get("UnitName", [])][-len(titles) :]
    units = []
    for i in range(len(titles)):
        unit = named[i] if i < len(named) else ""
        if unit in ("", "*") and i < len(ranges):  # '*': the unit is the one in Range= ("500.0 mV")
            match = UNIT_AFTER_NUMBER.match(ranges[i])
            unit = match.group(1) if match else ""
        units.append("" if unit == "*" else unit)
    block["units"] = units
    excel = header.get("ExcelDateTime", [""])[0].strip()
    block["start_day"] = float(excel) if _is_number(excel) else None


def _labchart_rows(path: Path, block: dict) -> tuple[np.ndarray, float, list[tuple[int, str]]]:
    """The block's samples (rows x channels), the first row's time, and comments by row.

    Comments are cut off the few rows that have them; the rows are then parsed by pyarrow
    (a 25-minute 1000 Hz export in about a second).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = len(block["titles"])
    numbers = [number for number, _ in block["lines"]]
    lines = [line for _, line in block["lines"]]
    comments = []
    for row in [i for i, line in enumerate(lines) if "#" in line]:
        cells = lines[row].split("\t")
        first = next(i for i, cell in enumerate(cells) if cell.startswith("#"))
        text = "\t".join(cells[first:])
        comments.append((row, re.sub(r"^#[*\d]*\s*", "", text).strip()))
        lines[row] = "\t".join(cells[:first])
    if not lines:
        return np.zeros((0, n)), 0.0, comments
    widths = {len(line.rstrip("\t").split("\t")) for line in (lines[0], lines[-1])}
    width = widths.pop() if len(widths) == 1 else -1
    if width not in (n, n + 1):
        raise DataError(
            f"{path.name} line {numbers[0]}: {width if width > 0 else 'a varying number of'} values where the "
            f"header names {n} channels (and an optional time column): export all channels with the header."
        )
    text = "\n".join(line.rstrip("\t") for line in lines).encode()
    try:
        table = pacsv.read_csv(
            pa.BufferReader(text),
            read_options=pacsv.ReadOptions(column_names=[f"c{i}" for i in range(width)]),
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(column_types={f"c{i}": pa.float64() for i in range(width)}),
        )
    except pa.ArrowInvalid as err:
        raise DataError(
            f"{path.name}: a row of block {block['number']} is not {width} numbers ({first_line(err)}): "
            "export numbers only, all channels, with the header."
        ) from None
    data = np.column_stack([table.column(i).to_numpy() for i in range(width)])
    first_s = float(data[0, 0]) if width == n + 1 else 0.0
    return (data[:, 1:] if width == n + 1 else data), first_s, comments


# --- AcqKnowledge text --------------------------------------------------------------------------


def read_acqknowledge_text(path: Path) -> RecorderFile:
    lines = _read_text(path).splitlines()
    rate_at = next(i for i, line in enumerate(lines[:6]) if ACQ_RATE_LINE.match(line))
    value, unit = ACQ_RATE_LINE.match(lines[rate_at]).groups()
    interval_s = float(value) * {"msec": 1e-3, "millisec": 1e-3, "sec": 1.0}.get(unit.lower(), 1e-6)
    count_match = re.match(r"^\s*(\d+)\s+channels?", lines[rate_at + 1], re.IGNORECASE)
    if not count_match:
        raise DataError(f"{path.name} line {rate_at + 2}: expected 'N channels' after the sampling interval.")
    n = int(count_match.group(1))
    names_at = rate_at + 2
    names = [lines[names_at + 2 * i].strip() for i in range(n)]
    units = [lines[names_at + 2 * i + 1].strip() for i in range(n)]
    header_at = names_at + 2 * n
    columns = [c.strip() for c in lines[header_at].split("\t") if c.strip()]
    has_time = len(columns) == n + 1
    rows = [line.split("\t") for line in lines[header_at + 1 :] if line.strip()]
    data = _numbers(path, rows, header_at + 2)
    if len(data) and _is_count_row(data[0], len(data) - 1, has_time):
        data = data[1:]
    if has_time:
        time_unit = columns[0].lower()
        scale = 60.0 if time_unit.startswith("min") else 1e-3 if "milli" in time_unit or "msec" in time_unit else 1.0
        start_s, data = float(data[0, 0]) * scale if len(data) else 0.0, data[:, 1:]
    else:
        start_s = 0.0
    channels = [
        Channel(names[i].split(" - ")[0].strip() or f"CH{i + 1}", units[i], 1.0 / interval_s, data[:, i], start_s)
        for i in range(n)
    ]
    return RecorderFile(path, "AcqKnowledge text export", channels, None, "BIOPAC")


def _is_count_row(row: np.ndarray, remaining: int, has_time: bool) -> bool:
    """AcqKnowledge may write each channel's sample count before the samples."""
    counts = row[1:] if has_time else row
    return bool(len(counts)) and np.all(counts == np.round(counts)) and np.all(counts >= max(remaining - 1, 1))


# --- CSV / TXT with a header row ----------------------------------------------------------------


def read_header_csv(path: Path, time_column: str) -> RecorderFile:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delimiter = "\t" if path.suffix.lower() == ".txt" else ","
    try:
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    except pa.ArrowInvalid as err:
        raise DataError(
            f"{path.name} cannot be read as a recorder export ({first_line(err)}): export a header row with a "
            "time column and the channels, or a LabChart or AcqKnowledge text export."
        ) from None
    spelled = {name.strip().lower(): name for name in table.column_names}
    time_name = spelled.get(time_column.lower())
    if time_name is None:
        raise DataError(
            f"{path.name} has no time column '{time_column}' (it has {', '.join(table.column_names)}): "
            "name it with --columns time=NAME."
        )
    time_s = np.asarray(table.column(time_name).to_numpy(zero_copy_only=False), dtype=np.float64)
    if len(time_s) < 2 or np.isnan(time_s).any():
        raise DataError(f"{path.name} holds no usable samples: check the export.")
    rate_hz = (len(time_s) - 1) / (time_s[-1] - time_s[0])
    channels = []
    for name in table.column_names:
        if name == time_name:
            continue
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            continue
        values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        channels.append(Channel(name.strip(), "", float(rate_hz), values, float(time_s[0]), time_s))
    return RecorderFile(path, "CSV/TXT with a header row", channels)


# --- shared -------------------------------------------------------------------------------------


def _comment_markers(comments: list[tuple[float, str]], source: str) -> Markers | None:
    """Comments whose text is a code (1-255) are markers; the others are counted by text."""
    return markers_from_texts(comments, source) if comments else None


def _numbers(path: Path, rows: list[list[str]], first_line: int) -> np.ndarray:
    width = max((len(r) for r in rows), default=0)
    try:
        return np.array([[float(c) if c.strip() else np.nan for c in r] + [np.nan] * (width - len(r)) for r in rows])
    except ValueError:
        bad = next(i for i, r in enumerate(rows) if not all(_is_number(c) or not c.strip() for c in r))
        raise DataError(f"{path.name} line {first_line + bad}: a value is not a number.") from None


def _number(path: Path, line: int, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path.name} line {line}: the time '{text}' is not a number of seconds.") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
