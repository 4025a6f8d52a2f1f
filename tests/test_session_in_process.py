"""Session.run in-process, with a headless display and a silent player (tests/fakes.py) and the
marker device on pyserial's loop:// - the fast check of the timeline, the record and the markers.

The same session on the real parts (Xvfb, PulseAudio, a socat tty) is tests/test_session.py.
"""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
from fakes import HeadlessDisplay, NullPlayer

from experiment.clock import SessionClock
from experiment.config import load_protocol
from experiment.datastore import EVENT_COLUMNS, RESPONSE_COLUMNS, AppendOnlyCsv
from experiment.defaults import DEMO_PROTOCOL
from experiment.markers import MarkerSender, open_device
from experiment.record import FIELDS, SessionRecord, read_record
from experiment.session import Session
from experiment.ui.autopilot import Autopilot

RATE_HZ = 48_000
AUDIO_S = 0.6
SYNC_S = 0.2


def short_protocol(sound_check: bool = False):
    """The demo protocol with rests of 0.2 s, 0.6 s of audio and a sync every 0.2 s."""
    protocol = load_protocol(DEMO_PROTOCOL)
    phases = tuple(dataclasses.replace(p, duration_s=0.2) if p.kind == "rest" else p for p in protocol.phases)
    return dataclasses.replace(
        protocol,
        phases=phases,
        audio=dataclasses.replace(protocol.audio, sound_check=sound_check),
        markers=dataclasses.replace(protocol.markers, sync_interval_s=SYNC_S),
    )


def run_session(folder, protocol, start_phase=None, stop_after_s=None, group="CBS", player_class=NullPlayer):
    folder.mkdir(parents=True, exist_ok=True)
    clock = SessionClock()
    device = open_device("brainproducts", "loop://", None, 2.0)
    events = AppendOnlyCsv(folder / "events.csv", EVENT_COLUMNS)
    responses = AppendOnlyCsv(folder / "responses.csv", RESPONSE_COLUMNS)
    record = SessionRecord(folder / "session.json")
    record.update(participant="P001", session=1, run=1, group=group, status="running")
    markers = MarkerSender(device, protocol.markers.codes, clock, events)
    player = player_class(np.zeros((round(AUDIO_S * RATE_HZ), 2), np.int16), RATE_HZ, sync_every_s=SYNC_S)
    if stop_after_s is not None:
        player.stop_after_frames = round(stop_after_s * RATE_HZ)
    display = HeadlessDisplay(protocol.display, clock, Autopilot(7, speed=100))
    session = Session(protocol, protocol.groups[group], clock, markers, display, player, responses, record)
    session.start_phase = start_phase
    try:
        status = session.run()
        assert markers.flush()
    finally:
        markers.close()
        events.close()
        responses.close()
        device.close()
    record.update(status=status)
    with (folder / "events.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with (folder / "responses.csv").open() as handle:
        answers = list(csv.DictReader(handle))
    return status, rows, answers, read_record(folder)


def test_the_whole_timeline_runs_with_every_marker_in_order(tmp_path):
    protocol = short_protocol()
    status, rows, answers, record = run_session(tmp_path / "s", protocol)
    assert status == "completed"
    labels = [r["label"] for r in rows if r["label"] not in ("item_onset", "sync")]
    expected = ["session_start"]
    for phase in protocol.phases:
        expected.append(f"{phase.name}_start")
        if phase.kind == "audio":
            expected += ["audio_onset", "audio_offset"]
        expected.append(f"{phase.name}_end")
    assert labels == expected + ["session_end"]
    assert all(r["sent_ok"] == "true" for r in rows)
    assert [int(r["code"]) for r in rows] == [protocol.markers.codes[r["label"]] for r in rows]
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times)
    items = sum(len(protocol.questionnaires[q].items) for p in protocol.phases for q in p.questionnaires)
    assert len(answers) == items and len([r for r in rows if r["label"] == "item_onset"]) == items
    assert [p["name"] for p in record["phases"]] == [p.name for p in protocol.phases]
    assert set(record) <= set(FIELDS)


def test_sync_markers_sit_on_the_players_line(tmp_path):
    _, rows, _, record = run_session(tmp_path / "s", short_protocol())
    onset = next(float(r["time_s"]) for r in rows if r["label"] == "audio_onset")
    syncs = [(float(r["detail"].removeprefix("audio_s=")), float(r["time_s"])) for r in rows if r["label"] == "sync"]
    assert [x for x, _ in syncs] == pytest.approx([0.2, 0.4])
    for position_s, time_s in syncs:  # write times: how exact they are is the timing tests' job (run alone)
        assert time_s - onset == pytest.approx(position_s, abs=0.015)
    assert record["audio"]["complete"] is True and record["audio"]["frames_played"] == round(AUDIO_S * RATE_HZ)


class CardClockPlayer(NullPlayer):
    """Reports the sound card's clock rate, as a real player does, so the session checks its sync
    markers against the onset marker; ``sync_late_s`` puts every sync sample that much late."""

    sync_late_s = 0.0

    def timing(self) -> dict:
        return {"sound_card_clock_ppm": 0.0}

    def _record_syncs(self, frames_reached: int, perf_of_sample) -> None:
        super()._record_syncs(frames_reached, lambda index: perf_of_sample(index) + self.sync_late_s)


class LateSyncPlayer(CardClockPlayer):
    sync_late_s = 0.05


def test_the_session_measures_its_sync_markers_against_the_onset_marker(tmp_path):
    _, rows, _, record = run_session(tmp_path / "s", short_protocol(), player_class=CardClockPlayer)
    onset = next(float(r["time_s"]) for r in rows if r["label"] == "audio_onset")
    worst_ms = max(
        abs(float(r["time_s"]) - onset - float(r["detail"].removeprefix("audio_s="))) * 1000
        for r in rows
        if r["label"] == "sync"
    )
    assert record["audio"]["sync_markers_checked"] == 2
    assert record["audio"]["sync_vs_onset_max_ms"] == pytest.approx(worst_ms, abs=0.01)


def test_sync_markers_off_the_onset_marker_are_an_incident(tmp_path):
    _, _, _, record = run_session(tmp_path / "s", short_protocol(), player_class=LateSyncPlayer)
    # 50 ms late, give or take the writes' jitter (in-process beside other tests: up to ~8 ms seen)
    assert 25 < record["audio"]["sync_vs_onset_max_ms"] < 100
    said = [i["detail"] for i in record["incidents"] if i["kind"] == "audio_sync_disagreement"]
    assert len(said) == 1 and "the onset marker may be off by as much" in said[0]


def test_a_lost_sound_output_is_an_incident_and_the_session_goes_on(tmp_path):
    status, rows, _, record = run_session(tmp_path / "s", short_protocol(), stop_after_s=0.3)
    assert status == "completed"
    assert [i["kind"] for i in record["incidents"]] == ["audio_stopped_early"]
    assert record["audio"]["complete"] is False
    assert any(r["label"] == "post_start" for r in rows)


def test_a_resumed_run_starts_at_the_interrupted_phase(tmp_path):
    protocol = short_protocol()
    _, rows, answers, record = run_session(tmp_path / "s", protocol, start_phase="post")
    starts = [r["label"] for r in rows if r["label"].endswith("_start") and r["label"] != "session_start"]
    assert starts == ["post_start", "recovery_start", "end_start"]
    assert {a["phase"] for a in answers} == {"post"}


def test_the_sound_check_is_recorded(tmp_path):
    _, _, _, record = run_session(tmp_path / "s", short_protocol(sound_check=True))
    assert record["sound_check"]["confirmed"] is True and record["sound_check"]["plays"] == 1


def test_the_record_refuses_a_field_the_schema_does_not_know(tmp_path):
    record = SessionRecord(tmp_path / "session.json")
    with pytest.raises(ValueError, match="no field statsu"):
        record.update(statsu="completed")
    with pytest.raises(Exception, match="'session' is '1', not int"):
        record.update(session="1")
    assert not (tmp_path / "session.json").exists()
