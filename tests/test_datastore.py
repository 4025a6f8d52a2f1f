from __future__ import annotations

import csv
import json

import pytest

from experiment.datastore import EVENT_COLUMNS, AppendOnlyCsv, create_session_folder, existing_runs, write_json_atomic
from experiment.errors import DataError


def test_rows_are_on_disk_before_close(tmp_path):
    writer = AppendOnlyCsv(tmp_path / "events.csv", EVENT_COLUMNS)
    writer.append({"time_s": 1.25, "code": 20, "label": "baseline_start", "phase": "baseline", "sent_ok": True})
    # Read through a separate handle while the writer is still open.
    with (tmp_path / "events.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {
            "time_s": "1.250000",
            "code": "20",
            "label": "baseline_start",
            "phase": "baseline",
            "sent_ok": "true",
            "detail": "",
            "write_ms": "",
        }
    ]
    writer.close()


def test_existing_file_is_never_overwritten(tmp_path):
    (tmp_path / "events.csv").write_text("precious\n")
    with pytest.raises(DataError, match="never overwritten"):
        AppendOnlyCsv(tmp_path / "events.csv", EVENT_COLUMNS)
    assert (tmp_path / "events.csv").read_text() == "precious\n"


def test_unknown_column_is_a_programming_error(tmp_path):
    writer = AppendOnlyCsv(tmp_path / "e.csv", EVENT_COLUMNS)
    with pytest.raises(ValueError):
        writer.append({"nonsense": 1})
    writer.close()


def test_session_folder_refuses_reuse_and_numbers_new_runs(tmp_path):
    first = create_session_folder(tmp_path, "P001", 1, allow_new_run=False)
    assert first == tmp_path / "sub-P001" / "ses-1"
    assert oct(first.stat().st_mode & 0o777) == "0o700"
    with pytest.raises(DataError, match="--new-run"):
        create_session_folder(tmp_path, "P001", 1, allow_new_run=False)
    second = create_session_folder(tmp_path, "P001", 1, allow_new_run=True)
    assert second.name == "ses-1_run-2"
    assert existing_runs(tmp_path, "P001", 1) == [first, second]
    assert create_session_folder(tmp_path, "P001", 2, allow_new_run=False).name == "ses-2"


def test_json_is_replaced_whole(tmp_path):
    path = tmp_path / "session.json"
    write_json_atomic(path, {"status": "running"})
    write_json_atomic(path, {"status": "completed"})
    assert json.loads(path.read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]
