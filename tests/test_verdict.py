"""The session's last line says in one sentence whether the data are fine, or what to do."""

from __future__ import annotations

from experiment.audio_verdict import judge_audio
from experiment.verdict import WHAT_TO_DO, session_verdict


def test_a_session_with_nothing_wrong_says_so_plainly():
    line = session_verdict("completed", 54, 54, [], "audio played whole, onset exact to 0.4 ms")
    assert line == "Session completed: markers 54/54 sent, audio played whole, onset exact to 0.4 ms."


def test_each_problem_is_named_once_with_what_to_do():
    incidents = [{"kind": "audio_stopped_early"}, {"kind": "audio_unsteady"}, {"kind": "audio_unsteady"}]
    line = session_verdict("completed", 50, 54, incidents, "audio NOT played whole")
    assert line.startswith("Session completed WITH PROBLEMS (markers 50/54 sent, audio NOT played whole). ")
    assert "4 marker(s) did not reach the recorder: check the trigger box cable" in line
    assert line.count("INCIDENT audio_unsteady") == 1 and "INCIDENT audio_stopped_early" in line
    assert "check the headphones" in line


def test_an_early_end_is_not_called_completed():
    assert session_verdict("aborted", 12, 12, [], None) == "Session ended early: markers 12/12 sent."
    assert session_verdict("error", 3, 3, [], None).startswith("Session failed")


def test_every_incident_the_audio_can_report_has_something_to_do():
    verdict = judge_audio(
        {"output_underflows": 1, "sound_card_clock_ppm": 0.0, "onset_by_whole_fit_perf": 0.01},
        0.0,
        [("audio_onset", "", 0.0), ("sync", "audio_s=5.000", 5.01)],
        lambda perf: perf,
    )
    kinds = {kind for kind, _ in verdict.incidents}
    assert kinds == {"audio_unsteady", "audio_onset_estimate", "audio_sync_disagreement"}
    assert kinds <= set(WHAT_TO_DO)


def test_every_incident_the_program_raises_has_what_to_do_here_and_in_the_technicians_guide():
    import re

    from helpers import REPO

    raised = set()
    for path in (REPO / "experiment").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r'incident\(\s*"([a-z_]+)"', text))
        raised |= set(re.findall(r'append\(\s*\(\s*"([a-z_]+)",', text))
    assert {"audio_stalled", "audio_unsteady", "marker_not_recorded", "recorder_lost", "signal_lost"} <= raised
    assert raised <= set(WHAT_TO_DO), raised - set(WHAT_TO_DO)
    guide = (REPO / "docs" / "technician.md").read_text(encoding="utf-8")
    assert all(f"| `{kind}` |" in guide for kind in WHAT_TO_DO)
