"""Resuming a session that crashed: where it stopped, and the technician's consent.

A session whose last run still says ``running`` (the process died: crash, power cut) or
``error`` can be resumed at the start of the phase it was in. The resumed run goes to a new
folder beside the first (``ses-N_run-K``), whose session.json links to the runs before it;
nothing of the first run is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from experiment.config import Protocol
from experiment.errors import DataError
from experiment.record import read_record

RESUMABLE = ("running", "error")


@dataclass(frozen=True)
class Interrupted:
    folder: Path
    status: str
    phase: str  # the phase to start again


def find_interrupted(last_run: Path, protocol: Protocol) -> Interrupted | None:
    """The interrupted run in ``last_run``, or None when it ended (completed or aborted)."""
    try:
        record = read_record(last_run)
    except DataError:
        record = {"status": "running"}  # killed before session.json was complete
    status = record.get("status", "running")
    if status not in RESUMABLE:
        return None
    names = [p.name for p in protocol.phases]
    phase = record.get("current_phase")
    return Interrupted(last_run, status, phase if phase in names else names[0])


def ask_to_resume(interrupted: Interrupted, participant: str, session: int) -> bool:
    """Ask the technician (a dialog) whether to resume; True to resume."""
    from psychopy import gui

    dialog = gui.Dlg(title="Resume session?")
    dialog.addText(
        f"Participant {participant}, session {session} was interrupted during the phase "
        f"'{interrupted.phase}' ({interrupted.folder.name}, status {interrupted.status})."
    )
    dialog.addText(f"OK resumes at the start of '{interrupted.phase}' in a new run folder; both runs are kept.")
    dialog.show()
    return bool(dialog.OK)
