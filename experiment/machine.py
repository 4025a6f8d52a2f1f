"""What a slow probe found out about this computer, remembered for the next launch.

Some facts about a lab PC take seconds to learn and do not change from one session to the
next (that the ``ptb`` sound engine stalls on this sound server; what a recording's samples
hold). A probe's outcome is remembered with the conditions it was true for - the computer, the
software versions, the device - and used only while every condition still holds: a new
PsychoPy, another sound output or another file makes the probe run again. ``preflight`` always
probes afresh and replaces what was remembered.

The memory is one JSON file in the user's cache folder (``EXPERIMENT_CACHE_DIR`` overrides it),
never in the data folder, which stations may share. A memory that cannot be read or written
only costs the probe's time: it never stops a session.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from experiment.datastore import write_json_atomic

log = logging.getLogger(__name__)
MEMORY_FILE = "probes.json"


def cache_dir() -> Path:
    """Where this user's remembered probes live on this computer."""
    if override := os.environ.get("EXPERIMENT_CACHE_DIR"):
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "self-compassion-experiment"


def conditions(*packages: str, **more: Any) -> dict[str, Any]:
    """The computer, Python and ``packages``' versions, plus ``more`` (device, rate, ...)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"computer": platform.node(), "platform": platform.platform(), "python": platform.python_version()} | {
        "versions": versions,
        **more,
    }


def remembered(probe: str, when: dict[str, Any]) -> dict[str, Any] | None:
    """The outcome ``probe`` had under exactly the conditions ``when``, or None."""
    for entry in _read().get(probe, []):
        if entry.get("conditions") == when:
            return entry
    return None


def remember(probe: str, when: dict[str, Any], outcome: dict[str, Any]) -> None:
    """Keep ``outcome`` for ``probe`` under ``when`` (replacing what was known for them)."""
    memory = _read()
    kept = [entry for entry in memory.get(probe, []) if entry.get("conditions") != when]
    found_at = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    memory[probe] = [*kept, {"conditions": when, "outcome": outcome, "found_at": found_at}][-20:]
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        write_json_atomic(cache_dir() / MEMORY_FILE, memory)
    except Exception as err:  # noqa: BLE001 - remembering saves time only; the session goes on
        log.debug("Could not remember the probe %s (%s)", probe, err)


def forget(probe: str, when: dict[str, Any]) -> None:
    """Drop what was remembered for ``probe`` under ``when`` (it no longer holds)."""
    memory = _read()
    if probe in memory:
        memory[probe] = [entry for entry in memory[probe] if entry.get("conditions") != when]
        try:
            write_json_atomic(cache_dir() / MEMORY_FILE, memory)
        except Exception as err:  # noqa: BLE001 - see remember()
            log.debug("Could not forget the probe %s (%s)", probe, err)


def _read() -> dict[str, list[dict[str, Any]]]:
    try:
        memory = json.loads((cache_dir() / MEMORY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.debug("The remembered probes could not be read (%s); probing again", err)
        return {}
    return memory if isinstance(memory, dict) else {}
