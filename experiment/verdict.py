"""The session's last line: whether the data are fine, or what to do - in one sentence.

A technician who sees warnings in every session stops reading them, so a session with nothing
wrong says so plainly ("Session completed: markers 54/54 sent, audio played whole, onset exact
to 0.4 ms"), and every incident kind has one thing to do (:data:`WHAT_TO_DO`, the same words as
docs/technician.md's incident table). Pure: the launcher prints it.
"""

from __future__ import annotations

from collections.abc import Sequence

CHECK_THE_SOUND = "check the headphones, their cable and the sound settings before the next participant"
NOTE_AND_LOOPBACK = (
    "note it in the lab log; before the next session run preflight --audio-loopback, and close other programs"
)
WHAT_TO_DO = {
    "audio_stopped_early": f"the recording stopped before its end: {CHECK_THE_SOUND}",
    "audio_stalled": f"the sound output stopped playing: {CHECK_THE_SOUND}",
    "audio_unsteady": "the sound ran short and the participant may have heard a gap: close other programs on this "
    "PC and note it in the lab log; run preflight before the next session",
    "audio_start_retried": "the sound system stalled as the audio began and the audio markers may be a few "
    "milliseconds off: note it in the lab log; close other programs on this PC before the next session",
    "audio_onset_estimate": f"the audio onset marker may be more than 2 ms off: {NOTE_AND_LOOPBACK}",
    "audio_sync_disagreement": f"the audio's sync markers disagree with its onset marker by more than 2 ms: "
    f"{NOTE_AND_LOOPBACK}",
    "marker_time_uncertain": "the PC was too busy to write some markers on time and their times may be over "
    "2 ms off: note it in the lab log (session.json names them); close other programs on this PC",
    "marker_not_recorded": "the recorder did not show a marker the trigger box was sent: check the trigger cable "
    "in the recorder's trigger input and note the marker in the lab log (session.json names it)",
    "recorder_lost": "the recorder's stream stopped: check that the recorder is still recording before the next "
    "participant; what it recorded while it streamed is in its own file",
    "signal_lost": "an ECG or EDA electrode lost contact (the signal went flat): check the electrodes before the "
    "next participant and note the time in the lab log",
}
MARKERS_LOST = "check the trigger box cable and its port before the next participant (events.csv flags them)"


def session_verdict(
    status: str,
    markers_sent: int,
    markers_total: int,
    incidents: Sequence[dict],
    audio_summary: str | None,
    recorder_summary: str | None = None,
) -> str:
    """One line: 'Session completed: ...' when all is well, else what went wrong and what to do."""
    done = {"completed": "Session completed", "aborted": "Session ended early"}.get(status, "Session failed")
    facts = [f"markers {markers_sent}/{markers_total} sent"] + [f for f in (audio_summary, recorder_summary) if f]
    problems = []
    if markers_sent < markers_total:
        problems.append(f"{markers_total - markers_sent} marker(s) did not reach the recorder: {MARKERS_LOST}")
    for kind in dict.fromkeys(incident["kind"] for incident in incidents):  # each kind once, in order
        problems.append(f"INCIDENT {kind}: {WHAT_TO_DO.get(kind, 'see session.json')}")
    if not problems:
        return f"{done}: {', '.join(facts)}."
    return f"{done} WITH PROBLEMS ({', '.join(facts)}). " + " ".join(f"{p}." for p in problems)
