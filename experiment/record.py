"""session.json: one session run's record, and the one schema its writers and readers share.

:data:`FIELDS` names every field with its type and meaning (docs/data-format.md is checked
against it). :class:`SessionRecord` writes the file - atomically, whenever a field changes -
and refuses a field the schema does not know, so a typo in a writer fails a test instead of
leaving readers without the field. :func:`read_record` is how everything else reads one: the
resume check, the analysis, the BIDS export and the recorder simulator.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import experiment
from experiment.datastore import write_json_atomic
from experiment.errors import DataError

NoneType = type(None)
RECORD_FILE = "session.json"
PACKAGES = ("psychopy", "numpy", "pandas", "pyserial", "sounddevice", "soundfile", "psychtoolbox", "pyglet")


@dataclass(frozen=True)
class Field:
    name: str
    types: tuple[type, ...]
    meaning: str


FIELDS = {
    f.name: f
    for f in (
        Field("participant", (str,), "the participant's pseudonym (matches the study's ID pattern)"),
        Field("session", (int,), "session number, from 1"),
        Field("run", (int,), "run of this session: 1, then 2, 3 ... for --new-run or a resumed session"),
        Field("previous_runs", (list,), "folders of this session's earlier runs"),
        Field("group", (str,), "the allocated condition (CBS, LKM, RUM, PE, NEU)"),
        Field("status", (str,), "running, completed, aborted or error"),
        Field("message", (str,), "why the session ended early (aborted or error)"),
        Field("started_at", (str,), "local date and time of session time 0 (ISO 8601)"),
        Field("ended_at", (str, NoneType), "local date and time the session ended (ISO 8601)"),
        Field("duration_s", (float, int), "session time at the end, seconds"),
        Field("technician", (str,), "the technician's initials"),
        Field("station", (str,), "the testing room's name in the ledger"),
        Field("protocol_file", (str,), "the protocol file the session ran"),
        Field("protocol_sha256", (str,), "its sha256"),
        Field("protocol_name", (str,), "the study's name from the protocol file"),
        Field("audio_file", (str,), "the recording played"),
        Field("audio_sha256", (str,), "its sha256"),
        Field("audio_duration_s", (float, int), "its duration, seconds"),
        Field("audio_check", (dict,), "the recording's checks: rate, channels, peak, clipping, silence"),
        Field("audio", (dict,), "playback: backend, device, rate, onset method, fit, latency, sync check, complete"),
        Field("sound_check", (dict,), "the technician's sound check before the first screen"),
        Field(
            "markers",
            (dict,),
            "the marker device: `protocol`; for a serial box also `port`, `baudrate`, `hold_ms`, `rest_ms`, "
            "and `usb` for a USB one (its USB id and serial number: which box it was; a Cedrus box adds `xid` "
            "and `pulse_ms`); for `lsl` the `stream`",
        ),
        Field("marker_codes", (dict,), "event label -> code (1-255) as sent"),
        Field("marker_faults", (int,), "markers that did not reach the recorder (sent_ok=false in events.csv)"),
        Field("marker_reconnects", (int,), "times the marker device was opened again after a fault"),
        Field("marker_thread_priority", (str, NoneType), "the marker thread's scheduling priority"),
        Field("recorder", (dict,), "the recorder's stream as watched: rate, markers seen and their delay, signals"),
        Field("allocation", (dict,), "ledger, stratum, position, replaces, entry and its hash, blind"),
        Field("autopilot", (dict, NoneType), "the simulated participant's seed, when one answered"),
        Field("clock", (str,), "what session times are measured with"),
        Field("clock_origin_s", (float,), "the monotonic clock at session time 0 (to align other tools' times)"),
        Field("software", (dict,), "versions of this program, Python and the packages"),
        Field("phases", (list,), "each phase: name, kind, start_s, end_s (session time)"),
        Field("current_phase", (str, NoneType), "the phase running now; null once the session ended"),
        Field("item_orders", (dict,), "each questionnaire phase's item order and its seed"),
        Field("incidents", (list,), "what went wrong and was survived: kind, time, detail"),
        Field("resumed_from", (str,), "the interrupted run this run resumed"),
        Field("resumed_at_phase", (str,), "the phase it resumed at"),
        Field("simulated", (bool,), "true for sessions written by the simulator, never run"),
    )
}


def check_fields(values: dict[str, Any], where: object) -> None:
    """Raise DataError naming the first field of ``values`` whose type the schema does not allow."""
    for name, value in values.items():
        spec = FIELDS.get(name)
        if spec is not None and not isinstance(value, spec.types):
            allowed = " or ".join("null" if t is NoneType else t.__name__ for t in spec.types)
            raise DataError(f"{where}: '{name}' is {value!r}, not {allowed}: the file was edited or is damaged.")


@dataclass
class SessionRecord:
    """session.json as it is written: rewritten atomically whenever something in it changes."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    def update(self, **fields: Any) -> None:
        unknown = set(fields) - set(FIELDS)
        if unknown:  # a writer's mistake, found by the tests
            raise ValueError(f"session.json has no field {', '.join(sorted(unknown))}: add it to record.FIELDS")
        check_fields(fields, self.path)
        self.data.update(fields)
        write_json_atomic(self.path, self.data)


def read_record(folder: Path, check_types: bool = True) -> dict[str, Any]:
    """A session folder's session.json (DataError in one sentence when it cannot be read).

    ``check_types=False`` for readers that also take hand-made or other tools' records (the
    analysis fills in what they lack from the folder names)."""
    path = folder / RECORD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} is missing: the session never started, or the folder is not a session.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}): restore it from the backup.") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} does not hold a session record: restore it from the backup.")
    if check_types:
        check_fields(data, path)
    return data


def first_fields(
    protocol, info, allocation, group, stimulus, clock, *, previous_runs, ledger: str, markers, audio, autopilot
) -> dict[str, Any]:
    """What session.json says as the session folder is made: who, what, with which devices.

    ``ledger``: where the ledger is (without a password); ``markers`` and ``audio``: the
    devices' descriptions; ``autopilot``: the simulated participant, or None.
    """
    return {
        "participant": info.participant,
        "session": info.session,
        "run": len(previous_runs) + 1,
        "previous_runs": [str(p) for p in previous_runs],
        "group": group.key,
        "status": "running",
        "started_at": clock.started_at_iso,
        "ended_at": None,
        "technician": info.technician,
        "station": allocation.station,
        "protocol_file": str(protocol.path),
        "protocol_sha256": protocol.sha256,
        "protocol_name": protocol.name,
        "audio_file": str(group.audio),
        "audio_sha256": stimulus.sha256,
        "audio_duration_s": round(stimulus.duration_s, 3),
        "audio_check": stimulus.as_record(),
        "audio": audio,
        "markers": markers,
        "marker_codes": dict(protocol.markers.codes),
        "marker_faults": 0,
        "allocation": {
            "ledger": ledger,
            "stratum": allocation.stratum or None,
            "position": None if allocation.position is None else allocation.position + 1,
            "replaces": allocation.replaces,
            "allocated_at": allocation.allocated_at,
            "station": allocation.station,
            "ledger_entry": allocation.entry,
            "entry_hash": allocation.hash,
            "blind": protocol.allocation.blind,
        },
        "autopilot": {"seed": autopilot.seed} if autopilot else None,
        "clock": "time.perf_counter (monotonic), seconds since started_at",
        "clock_origin_s": clock.origin_s,
        "software": software_versions(),
    }


def software_versions() -> dict[str, str | None]:
    versions = {
        "experiment": experiment.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def now_iso() -> str:
    """The local date and time, as session.json's ``started_at`` and ``ended_at`` carry them."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")
