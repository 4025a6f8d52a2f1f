"""The session dialog: participant ID, session number, technician initials."""

from __future__ import annotations

import re
from dataclasses import dataclass

from experiment.config import participant_id_problem

INITIALS_PATTERN = r"^[A-Za-z]{2,4}$"


PROTOCOL_DEFAULT = "(as the protocol file says)"
CHOOSE = "(choose)"


@dataclass
class SessionInfo:
    participant: str
    session: int
    technician: str
    audio_device: str | None = None  # chosen in the dialog; None keeps the protocol's
    stratum: str | None = None  # when the protocol stratifies the allocation


def ask_session_info(
    prefill: SessionInfo, id_pattern: str, study_name: str, strata: tuple[str, ...] = (), stratum_label: str = ""
) -> SessionInfo | None:
    """Show the dialog until its fields are valid; None when the technician cancels."""
    from experiment.ui.display import require_screen

    require_screen()
    from psychopy import gui

    info = prefill
    problem = ""
    while True:
        dialog = gui.Dlg(title="New session")
        dialog.addText(study_name)
        if problem:
            dialog.addText(problem, color="red")
        label = "Participant ID (pseudonym, no names):"
        dialog.addField("participant", initial=info.participant, label=label, required=True)
        dialog.addField("session", initial=str(info.session), label="Session number:", required=True)
        dialog.addField("technician", initial=info.technician, label="Technician initials:", required=True)
        if strata:  # no preset answer: a stratum left at a default would allocate from the wrong list
            chosen_stratum = info.stratum if info.stratum in strata else CHOOSE
            dialog.addField("stratum", initial=chosen_stratum, choices=[CHOOSE, *strata], label=f"{stratum_label}:")
        dialog.addField("audio", choices=[PROTOCOL_DEFAULT, *output_devices()], label="Sound output:")
        answers = dialog.show()
        if not dialog.OK:
            return None
        chosen = str(answers["audio"])
        info = SessionInfo(
            str(answers["participant"]).strip(),
            info.session,
            str(answers["technician"]).strip(),
            None if chosen == PROTOCOL_DEFAULT else chosen,
            str(answers["stratum"]) if strata else None,
        )
        problem = validate(info, str(answers["session"]).strip(), id_pattern)
        if not problem and strata and info.stratum not in strata:
            problem = f"Choose the participant's {stratum_label.lower()}."
        if not problem:
            info.session = int(str(answers["session"]).strip())
            return info


def output_devices() -> list[str]:
    """Names of the sound outputs PortAudio sees."""
    import sounddevice

    return [d["name"] for d in sounddevice.query_devices() if d["max_output_channels"] > 0]


def validate(info: SessionInfo, session_text: str, id_pattern: str) -> str:
    """An empty string when the fields are valid, otherwise what to correct."""
    if problem := participant_id_problem(id_pattern, info.participant):
        return problem
    if not session_text.isdigit() or int(session_text) < 1:
        return "The session number must be a whole number from 1."
    if not re.fullmatch(INITIALS_PATTERN, info.technician):
        return "Technician initials: two to four letters."
    return ""
