from __future__ import annotations

import io

from helpers import DEMO_PROTOCOL

from experiment.clock import SessionClock
from experiment.config import load_protocol
from experiment.console import TechnicianConsole, bar
from experiment.datastore import EVENT_COLUMNS, AppendOnlyCsv
from experiment.markers import MarkerSender, open_device


def test_status_line_shows_phase_progress_and_markers(tmp_path):
    protocol = load_protocol(DEMO_PROTOCOL)
    events = AppendOnlyCsv(tmp_path / "events.csv", EVENT_COLUMNS)
    markers = MarkerSender(open_device("none", None, None, 10), protocol.markers.codes, SessionClock(), events)
    out = io.StringIO()
    console = TechnicianConsole("P001", protocol.phases, markers, out)
    console.phase_started_now(protocol.phase("pre"), items_total=5)
    markers.send("pre_start")
    markers.flush()
    console.item_answered()
    console.item_answered()
    line = console.render()
    assert line.startswith("P001 | phase 3/7 pre | item 2/5 [")
    assert "last marker pre_start (30) sent" in line
    assert "WARNINGS" not in line
    console.incidents = 1
    assert "WARNINGS: 0 marker fault(s), 1 incident(s)" in console.render()
    assert out.getvalue().startswith("STATUS P001 | phase 3/7 pre")  # not a terminal: plain lines
    markers.close()
    events.close()


def test_bar_is_bounded():
    assert bar(-1) == "-" * 20 and bar(0.5) == "#" * 10 + "-" * 10 and bar(3) == "#" * 20
