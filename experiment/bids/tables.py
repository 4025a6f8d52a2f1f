"""The session's tables in BIDS form, and the JSON that describes every column and code.

events.tsv: one row per marker (onset on the session clock, duration 0, trial_type = its
label, value = its code, phase, sent_ok, detail, write_ms) and one per phase (trial_type ``phase``, its
duration, detail = its kind). beh.tsv: one row per questionnaire answer. participants.tsv:
participant_id and group (and stratum where the study is stratified).
"""

from __future__ import annotations

import csv
from pathlib import Path

TASK_NAME = "selfcompassion"
EVENT_COLUMNS = ("onset", "duration", "trial_type", "value", "phase", "sent_ok", "detail", "write_ms")
BEH_COLUMNS = (
    "onset", "response_time", "phase", "questionnaire", "item", "value", "input", "position", "response_type",
)  # fmt: skip
CONDITIONS = {
    "CBS": "compassionate body scan: attend to bodily sensations with interest and calm (self-compassion)",
    "LKM": "self-focused loving-kindness: kind, soothing thoughts to a loved one, then to oneself (self-compassion)",
    "RUM": "self-critical rumination: a critical inner voice (negative valence control)",
    "PE": "positive excitement: competitive, self-enhancing (positive valence control)",
    "NEU": "neutral: an emotionally neutral shopping scenario (neutral control)",
}
EVENT_MEANINGS = {
    "session_start": "the session began (the clock's zero is just before it)",
    "session_end": "the session ended normally",
    "session_abort": "the technician ended the session early",
    "audio_onset": "the recording's first sample left the sound card",
    "audio_offset": "the recording's last sample left the sound card",
    "sync": "periodic sync marker, tied to the audio position (detail: seconds into the recording)",
    "item_onset": "a questionnaire item appeared on the screen (detail: the item's id)",
}


def corrections_rows(corrections, to_session) -> list[dict]:
    """A review's corrections lines with their times moved to the session clock (``to_session``)."""
    return [
        {"action": c.action, "start_s": f"{to_session(c.start_s):.6f}",
         "end_s": None if c.end_s is None else f"{to_session(c.end_s):.6f}", "note": c.note}
        for c in corrections.lines
    ]  # fmt: skip


CORRECTIONS_DESCRIPTION = {
    "Description": "Corrections a person made while reviewing this recording's beats and skin conductance "
    "(python -m experiment review), applied in file order by the analysis in this folder and by "
    "analyse --bids. A file with no lines: the recording was reviewed and nothing changed.",
    "action": {
        "Description": "What the line does",
        "Levels": {
            "add_beat": "a beat the detector missed, at start_s (placed on the R peak within 50 ms)",
            "remove_beat": "the beat nearest start_s (within 50 ms) is no beat",
            "exclude": "start_s to end_s is left out of every measure (heart and skin conductance)",
            "accept": "the flagged phase that start_s falls in is accepted after review",
        },
    },
    "start_s": {"Description": "Where the line applies, on the session clock (the physio files' time)", "Units": "s"},
    "end_s": {"Description": "The end of an excluded span, on the session clock", "Units": "s"},
    "note": {"Description": "The reviewer's note"},
}


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def na(value) -> str:
    return "n/a" if value is None or str(value).strip() == "" else str(value)


def event_rows(events: list[dict], phases: list[dict]) -> list[dict]:
    rows = [
        {
            "onset": f"{float(e['time_s']):.6f}",
            "duration": "0",
            "trial_type": e["label"],
            "value": e["code"],
            "phase": na(e.get("phase")),
            "sent_ok": e.get("sent_ok", "true"),
            "detail": na(e.get("detail")),
            "write_ms": na(e.get("write_ms")),
        }
        for e in events
    ]
    rows += [
        {
            "onset": f"{float(p['start_s']):.6f}",
            "duration": f"{float(p['end_s']) - float(p['start_s']):.6f}",
            "trial_type": "phase",
            "value": "n/a",
            "phase": p["name"],
            "sent_ok": "n/a",
            "detail": p.get("kind") or "n/a",
            "write_ms": "n/a",
        }
        for p in phases
    ]
    return sorted(rows, key=lambda r: (float(r["onset"]), r["trial_type"] != "phase"))


def beh_rows(responses: list[dict]) -> list[dict]:
    return [
        {
            "onset": na(r.get("onset_s")),
            "response_time": na(r.get("rt_s")),
            "phase": r["phase"],
            "questionnaire": r["questionnaire"],
            "item": r["item"],
            "value": na(r.get("value")),
            "input": na(r.get("input")),
            "position": na(r.get("position")),
            "response_type": na(r.get("response_type")),
        }
        for r in responses
    ]


def task_description(study: str) -> dict:
    return {
        "TaskName": TASK_NAME,
        "TaskDescription": f"{study}: a resting baseline, questionnaires, an 11-minute guided audio recording of the "
        "participant's condition, the questionnaires again, and a recovery rest, with markers sent to the "
        "physiological recorder at every step.",
        "Instructions": "Each phase's instructions, as the participant read them, are in the protocol file named in "
        "sourcedata/.../session.json (protocol_file, protocol_sha256).",
    }


def events_description(codes: dict[str, int], phase_kinds: dict[str, str], software: dict) -> dict:
    labels = {label: _meaning(label) for label in sorted(codes)}
    return {
        "onset": {"Description": "When the marker's code was written to the marker device, or the phase began, "
                  "in seconds on the session clock (monotonic; zero at the session's start).", "Units": "s"},
        "duration": {"Description": "0 for a marker; the phase's length for a phase row.", "Units": "s"},
        "trial_type": {
            "Description": "The marker's label, or 'phase' for a row that spans a whole phase.",
            "Levels": labels | {"phase": "a phase of the protocol, from its start to its end marker"},
        },
        "value": {
            "Description": "The marker code (1-255) sent to the recorder's digital input; n/a for phase rows.",
            "Levels": {str(code): label for label, code in sorted(codes.items(), key=lambda item: item[1])},
        },
        "phase": {"Description": "The protocol phase the row belongs to.",
                  "Levels": {name: f"a phase of kind '{kind}'" for name, kind in phase_kinds.items()}},
        "sent_ok": {
            "Description": "Whether the code reached the marker device.",
            "Levels": {"true": "written to the device", "false": "the device failed: the recorder did not get it",
                       "n/a": "a phase row"},
        },
        "detail": {"Description": "The item id (item_onset), the seconds into the recording (sync), the audio "
                   "file (audio markers, unless the study is blind), or the phase's kind (phase rows)."},
        "write_ms": {"Description": "How long the write of the marker's code took: the code reached the operating "
                     "system between onset and onset + write_ms. Over 2 ms the session recorded the incident "
                     "marker_time_uncertain. n/a for phase rows and sessions recorded before it was kept.",
                     "Units": "ms"},
        "StimulusPresentation": software,
    }  # fmt: skip


def _meaning(label: str) -> str:
    if label in EVENT_MEANINGS:
        return EVENT_MEANINGS[label]
    for edge, word in (("_start", "first"), ("_end", "last")):
        if label.endswith(edge):
            return f"the {word} marker of phase '{label.removesuffix(edge)}'"
    return "a marker of the protocol"


def beh_description(questionnaires: dict) -> dict:
    items, scales = {}, []
    for questionnaire in questionnaires.values():
        for item in questionnaire.items:
            if item.response == "likert":
                labels = ", ".join(f"{i} = {text}" for i, text in enumerate(item.labels, 1) if text)
                scale = f"Likert 1-{item.points}" + (f" ({labels})" if labels else "")
            else:
                scale = f"slider 0-100 (0 = {item.anchor_low or 'left end'}, 100 = {item.anchor_high or 'right end'})"
            reverse = "; reverse-scored" if item.reverse else ""
            items[item.id] = f"{item.text} [{scale}; subscale {item.subscale}{reverse}]"
        scales.append(f"{questionnaire.id}: {questionnaire.title}")
    return {
        "onset": {"Description": "When the item first appeared on the screen, session clock.", "Units": "s"},
        "response_time": {"Description": "From the item's appearance to the answer.", "Units": "s"},
        "phase": {"Description": "The questionnaire phase (before or after the recording).",
                  "Levels": {"pre": "before the recording", "post": "after the recording"}},
        "questionnaire": {"Description": "The questionnaire the item belongs to.",
                          "Levels": {q.id: q.title for q in questionnaires.values()}},
        "item": {"Description": "The item's id; each level gives its text, scale and subscale.", "Levels": items},
        "value": {"Description": "The answer on the item's scale: 0-100 on a slider, 1-k on a Likert scale; "
                  "n/a when the participant skipped the item."},
        "input": {"Description": "How the answer was given.",
                  "Levels": {"mouse": "clicked", "keyboard": "keys", "skipped": "no answer"}},
        "position": {"Description": "The item's place in the order the participant saw (1 = first)."},
        "response_type": {"Description": "The kind of scale.", "Levels": {"vas": "visual analogue slider 0-100",
                                                                          "likert": "Likert buttons 1-k"}},
    }  # fmt: skip


def participants_description(groups: dict[str, str], stratified: bool) -> dict:
    description = {
        "participant_id": {"Description": "The participant's pseudonym in the study (no identifying information)."},
        "group": {
            "Description": "The condition allocated by the study's randomisation ledger (permuted blocks).",
            "Levels": {key: groups.get(key) or CONDITIONS.get(key, key) for key in CONDITIONS},
        },
    }
    if stratified:
        description["stratum"] = {"Description": "The stratum the participant was allocated in."}
    return description
