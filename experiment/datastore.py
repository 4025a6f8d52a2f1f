"""Crash-safe data files: every row appended, flushed and fsynced when it happens.

A process killed at any moment loses at most the row being written. Nothing here ever
overwrites data: session folders are created exclusively, CSV files are opened in ``x``
mode, and session.json is replaced atomically (write a temporary file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from experiment.errors import DataError

EVENT_COLUMNS = ("time_s", "code", "label", "phase", "sent_ok", "detail", "write_ms")
RESPONSE_COLUMNS = (
    "time_s",
    "phase",
    "questionnaire",
    "item",
    "value",
    "rt_s",
    "onset_s",
    "input",
    "position",
    "response_type",
)


def _fsync_dir(path: Path) -> None:
    # On POSIX a new or renamed file is only durable once its directory entry is synced.
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AppendOnlyCsv:
    """A CSV file that exists from its header on and gets one durable row at a time.

    A row is written whole or not at all: when the disk fills (or the folder goes) mid-row, the
    file is cut back to its last whole row before the fault is raised.
    """

    def __init__(self, path: Path, columns: Iterable[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        try:
            self._file = path.open("xb", buffering=0)  # unbuffered: nothing waits in memory to fail later
        except FileExistsError:
            raise DataError(f"{path} already exists and is never overwritten: choose a new session folder.") from None
        except OSError as err:
            raise cannot_write(path, err) from None
        self._size = 0
        self._write_line(self.columns)
        _fsync_dir(path.parent)

    def _write_line(self, values: Iterable[Any]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        data = memoryview(buffer.getvalue().encode("utf-8"))
        try:
            written = 0
            while written < len(data):
                written += self._file.write(data[written:])
            os.fsync(self._file.fileno())
        except OSError as err:
            with contextlib.suppress(OSError):
                os.ftruncate(self._file.fileno(), self._size)  # never half a row
            raise cannot_write(self.path, err) from None
        self._size += len(data)

    def append(self, row: Mapping[str, Any]) -> None:
        """Write one row (keys are column names; missing ones are left empty)."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"unknown columns for {self.path.name}: {sorted(unknown)}")
        self._write_line(_cell(row.get(column, "")) for column in self.columns)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


@contextmanager
def replaced_whole(path: Path, what_to_do: str | None = None) -> Iterator[Path]:
    """Write a temporary file beside ``path`` (the block gets its name); when the block ends it
    replaces ``path`` durably, so a reader sees the old file or the new one, never half.

    On failure the temporary file is removed and an OSError becomes one sentence (DataError),
    ending with ``what_to_do`` (default: the advice for session data).
    """
    tmp = path.with_name(f".{path.name}.partial")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if not isinstance(err, OSError):
            raise
        if what_to_do is None:
            raise cannot_write(path, err) from None
        raise DataError(f"Cannot write {path} ({err.strerror or err}): {what_to_do}.") from None


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never half."""
    with replaced_whole(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")


def cannot_write(path: Path, err: OSError) -> DataError:
    """One true sentence for a write that failed: a full disk, a folder that has gone, or else."""
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DataError(
            f"The disk holding {path.parent} is full ({err.strerror}), so {path.name} could not be written: "
            "free space on that disk, then start the session again for the same participant and session to "
            "resume it where it stopped."
        )
    if not path.parent.exists():
        return DataError(
            f"The folder {path.parent} has gone (deleted, or its drive was disconnected), so {path.name} could not "
            "be written: what was written there is lost unless the folder comes back - reconnect the drive or "
            "restore the folder from the backup before the next session."
        )
    return DataError(
        f"Cannot write {path} ({err.strerror or err}): check that the data folder still exists and the disk has space."
    )


def session_folder_name(session: int, run: int) -> str:
    return f"ses-{session}" if run == 1 else f"ses-{session}_run-{run}"


def existing_runs(data_dir: Path, participant: str, session: int) -> list[Path]:
    """Folders already holding this participant's session, first run first."""
    subject = data_dir / f"sub-{participant}"
    pattern = re.compile(rf"^ses-{session}(_run-(\d+))?$")
    found = []
    for child in subject.glob(f"ses-{session}*"):
        match = pattern.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(2) or 1), child))
    return [path for _, path in sorted(found)]


NEXT_SESSION_OR_NEW_RUN = "use the next session number, or --new-run to keep it and start a new run beside it."


def already_holds_data(run_folder: Path, participant: str, session: int) -> str:
    return f"{run_folder} already holds data for participant {participant}, session {session}"


def create_session_folder(data_dir: Path, participant: str, session: int, allow_new_run: bool) -> Path:
    """Make DATA/sub-ID/ses-N/ (or ses-N_run-K when asked for a new run); never reuse one.

    Raises
    ------
    DataError
        The session already has a folder and no new run was asked for, or the disk refuses.
    """
    runs = existing_runs(data_dir, participant, session)
    if runs and not allow_new_run:
        raise DataError(f"{already_holds_data(runs[-1], participant, session)}: {NEXT_SESSION_OR_NEW_RUN}")
    run = len(runs) + 1
    folder = data_dir / f"sub-{participant}" / session_folder_name(session, run)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(mode=0o700)
    except FileExistsError:
        raise DataError(f"{folder} appeared while this session was starting: start again.") from None
    except OSError as err:
        raise DataError(f"Cannot create {folder} ({err.strerror}): check the data folder and free space.") from None
    _fsync_dir(folder.parent)
    return folder
