"""The recorder seen live: the stand-in recorder (tools/standin_recorder.py) streams real ECG over
real LSL on loopback and samples a real tty pair's far end as its trigger input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import (
    REPO,
    StandInRecorder,
    TtyPair,
    code_writes,
    logged_markers,
    read_csv,
    run_session,
    session_dir,
    slow_writes_and_their_incident,
    start_session,
    write_protocol,
    write_window_faults,
)
from kernel_trace import DescriptorWatch, WriteTrace
from quiet_host import preflight_on_a_quiet_host

from experiment.clock import SessionClock
from experiment.datastore import EVENT_COLUMNS, AppendOnlyCsv
from experiment.errors import ConfigError, DeviceError
from experiment.markers import MarkerSender, open_device
from experiment.markers.device import pulse_once
from experiment.markers.lsl import OWN_SOURCE_PREFIX, LslOutlet
from experiment.recorder.checks import recorder_checks
from experiment.recorder.inlet import RecorderColumns, RecorderInlet, recorders_marker_stream
from experiment.recorder.signals import check_ecg, check_eda, measured_rate_hz


@pytest.fixture
def cable(tmp_path):
    """A trigger box cable: the session writes to ``near``, the recorder's input reads ``far``."""
    pair = TtyPair(tmp_path, box=False)
    yield pair
    pair.close()


@pytest.fixture
def recorder(request, cable):
    options = getattr(request, "param", ())
    standin = StandInRecorder(f"StandIn{time.monotonic_ns()}", cable.far, *options)
    yield standin
    standin.stop()


def name_of(recorder: StandInRecorder) -> str:
    return recorder.proc.args[recorder.proc.args.index("--name") + 1]


def write_five_markers(tmp_path, cable, inlet: RecorderInlet) -> None:
    """Five codes through a brainproducts box on the cable, each handed to the inlet's matcher
    with its write time; returns once the recorder has had time to show them."""
    device = open_device("brainproducts", cable.near, None, 10.0)
    events = AppendOnlyCsv(tmp_path / "events.csv", EVENT_COLUMNS)
    sender = MarkerSender(device, {"a": 10, "b": 20, "c": 10}, SessionClock(), events)
    try:
        time.sleep(1.0)
        for label in ("a", "b", "c", "a", "b"):
            sender.send(label)
            time.sleep(0.2)
        sender.flush()
        for label, _, perf in sender.written:
            inlet.matcher.wrote(label, sender.codes[label], perf)
        time.sleep(1.5)
    finally:
        sender.close()
        events.close()  # the sender's log (in a session, the session closes it)
        device.close()


def five_markers_seen(tmp_path, cable, inlet: RecorderInlet) -> dict:
    """The inlet's matcher summary of :func:`write_five_markers` (the inlet is closed after)."""
    inlet.start()
    try:
        write_five_markers(tmp_path, cable, inlet)
        with inlet.lock:
            return inlet.matcher.summary()
    finally:
        inlet.close()


def test_every_marker_written_is_seen_by_the_recorder_with_its_delay(tmp_path, cable, recorder):
    inlet = RecorderInlet(name_of(recorder))
    assert inlet.channels == {"ecg": 0, "eda": 1, "digital": 2} and not inlet.has_marker_stream
    inlet.start()
    try:
        write_five_markers(tmp_path, cable, inlet)
        with inlet.lock:
            summary = inlet.matcher.summary()
            ecg = inlet.windows["ecg"].last(10.0)
            eda = inlet.windows["eda"].last(10.0)
            rate = measured_rate_hz(inlet.stamps.last(10.0))
    finally:
        inlet.close()
    assert (summary["markers_sent"], summary["markers_seen"]) == (5, 5), summary
    assert 0 <= summary["marker_delay_ms"]["median"] <= 5.0, summary  # the pty hop and a 1 ms sample
    assert abs(inlet.offset_s) < 0.001 and inlet.offset_uncertainty_s < 0.001  # one clock on Linux
    assert rate == pytest.approx(1000, rel=0.01)
    assert check_eda(eda, "EDA").ok
    assert len(ecg) > 1000 and check_ecg(ecg, 1000.0, "ECG").value == pytest.approx(75, abs=8)


@pytest.mark.parametrize("recorder", [("--marker-stream",)], indirect=True)
def test_the_recorders_own_marker_stream_confirms_the_markers(tmp_path, cable, recorder):
    inlet = RecorderInlet(name_of(recorder))
    assert inlet.marker_stream == f"{name_of(recorder)}-Markers"
    summary = five_markers_seen(tmp_path, cable, inlet)
    assert (summary["markers_sent"], summary["markers_seen"]) == (5, 5), summary
    assert 0 <= summary["marker_delay_ms"]["median"] <= 5.0, summary


def test_our_own_marker_outlet_is_never_taken_for_what_the_recorder_saw(tmp_path, cable, recorder):
    """Our --marker-lsl outlet carries labels, not codes the recorder received: even under the
    name a recorder's marker stream would have, it confirms no marker."""
    import pylsl

    ours = LslOutlet({"a": 10}, name=f"{name_of(recorder)}-Markers")
    assert pylsl.resolve_byprop("name", ours.name, timeout=10), "our outlet was not found on this machine"
    inlet = RecorderInlet(name_of(recorder))
    try:
        summary = five_markers_seen(tmp_path, cable, inlet)
    finally:
        ours.close()
    assert not inlet.has_marker_stream and inlet.marker_stream is None
    assert (summary["markers_sent"], summary["markers_seen"]) == (5, 5), summary  # from the digital channel


def test_only_the_recorders_own_marker_stream_is_taken():
    """Another program's or device's Markers stream (another worker's stand-in, here, once took
    the place of the digital channel) cannot be told from the recorder's."""
    import pylsl

    def stream(name: str, source: str = "box-1"):
        return pylsl.StreamInfo(name, "Markers", 1, 0, pylsl.cf_string, source)

    named, presentation, other_amp = stream("Amp-Markers"), stream("Presentation"), stream("Amp2-Markers")
    ours = stream("Amp-Markers", f"{OWN_SOURCE_PREFIX}Amp-Markers@pc")
    assert recorders_marker_stream("Amp", [presentation, named, other_amp]) is named
    assert recorders_marker_stream("Amp", [ours, named]) is named
    assert recorders_marker_stream("Amp", [ours]) is None
    assert recorders_marker_stream("Amp", [presentation, other_amp]) is None


def test_a_missing_stream_is_one_sentence_naming_the_streams_found(recorder):
    expected = r"No recorder stream named 'Nowhere' was found within 1 s \(streams found: .*StandIn"
    with pytest.raises(DeviceError, match=expected):
        RecorderInlet("Nowhere", resolve_s=1.0)


def test_a_named_channel_the_stream_lacks_is_refused(recorder):
    with pytest.raises(ConfigError, match="has no channel 'GSR100C'"):
        RecorderInlet(name_of(recorder), RecorderColumns.parse("eda=GSR100C"))
    with pytest.raises(ConfigError, match="is not of the form"):
        RecorderColumns.parse("ppg=PLETH")


def send_through(port: str):
    """A trigger box on ``port`` writing one code, as the checks' test marker: its write time."""

    def send(code: int) -> float:
        device = open_device("brainproducts", port, None, 10.0)
        try:
            return pulse_once(device, code)
        finally:
            device.close()

    return send


@pytest.mark.parametrize(
    "recorder, failing, sentence",
    [
        (("--fault", "flat-ecg"), "recorder ECG", "The ECG channel 'ECG' is flat: check that the electrodes"),
        (("--fault", "flat-eda"), "recorder EDA", "The EDA channel 'EDA' is flat: check that both electrodes"),
        (("--fault", "no-trigger"), "recorder markers", "did not appear in the recorder's digital channel 'Digital'"),
        (("--fault", "slow-rate"), "recorder stream", "delivers 95"),
    ],
    indirect=["recorder"],
    ids=["flat ECG", "flat EDA", "trigger cable unplugged", "5% of the samples lost"],
)
def test_each_recorder_fault_fails_its_own_check_with_its_own_sentence(cable, recorder, failing, sentence):
    checks, inlet = recorder_checks(name_of(recorder), RecorderColumns(), send_through(cable.near))
    inlet.close()
    failed = [c for c in checks if not c.ok]
    assert [c.name for c in failed] == [failing], [c.line() for c in checks]
    assert sentence in failed[0].detail


def test_a_recording_recorder_passes_every_check_and_says_its_figures(cable, recorder):
    checks, inlet = recorder_checks(name_of(recorder), RecorderColumns(), send_through(cable.near))
    inlet.close()
    assert all(c.ok for c in checks), [c.line() for c in checks]
    lines = {c.name: c.detail for c in checks}
    assert "1000 Hz (measured 99" in lines["recorder stream"] or "(measured 1000" in lines["recorder stream"]
    assert re.search(r"'ECG': \d+ bpm, quality", lines["recorder ECG"])
    assert re.search(r"test marker 255 seen by the recorder after \d+\.\d ms", lines["recorder markers"])


# Timing tier: its READY needs preflight's sound check to play steadily (docs/development.md, Tests).
@pytest.mark.timing
def test_preflight_checks_the_recorder_through_the_sessions_trigger_box(tmp_path, cable, recorder):
    def run_preflight():
        marker_args = ["--marker-protocol", "brainproducts", "--marker-port", cable.near]
        return subprocess.run(
            [sys.executable, "-m", "experiment", "preflight", "--demo", "--data-dir", str(tmp_path / "data")]
            + marker_args + ["--recorder-stream", name_of(recorder)],
            capture_output=True, text=True, cwd=REPO, timeout=180,
        )  # fmt: skip

    result, host = preflight_on_a_quiet_host(run_preflight)  # its tone stutters while the VM's host is busy
    assert result.returncode == 0, f"{host}\n{result.stdout}{result.stderr}"
    for name in ("recorder stream", "recorder ECG", "recorder EDA", "recorder markers"):
        assert f"[PASS] {name}: " in result.stdout, result.stdout
    assert "READY: 12 of 12" in result.stdout


def session_args(protocol, data, cable, recorder, *more: str) -> tuple[str, ...]:
    return (
        *("--protocol", str(protocol), "--autopilot", "--participant", "P401", "--data-dir", str(data)),
        *("--marker-protocol", "brainproducts", "--marker-port", cable.near, "--recorder-stream", name_of(recorder)),
        *more,
    )


def annotated_heart_rates(first_s: float, last_s: float) -> tuple[float, float]:
    """The lowest and highest heart rate of the cardiologists' beats over 10-s windows in a span
    of the excerpt the stand-in streams from its start."""
    import wfdb

    notes = wfdb.rdann(str(REPO / "tests" / "data" / "ecg" / "mitdb-100-20min"), "atr")
    beats = notes.sample[np.isin(notes.symbol, ["N", "A", "V"])] / 360.0
    rates = []
    for end in np.arange(first_s + 10, last_s, 1.0):
        inside = beats[(beats >= end - 10) & (beats < end)]
        rates.append(60.0 / np.median(np.diff(inside)))
    return min(rates), max(rates)


def test_a_session_with_the_recorder_watched_sees_every_marker_and_shows_the_heart_rate(tmp_path, cable, recorder):
    protocol = write_protocol(tmp_path / "protocol", rest_s=3.0, audio_s=3.0)
    started = time.monotonic()
    result = run_session(*session_args(protocol, tmp_path / "data", cable, recorder))
    lasted_s = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((session_dir(tmp_path / "data", "P401") / "session.json").read_text())
    rows = read_csv(session_dir(tmp_path / "data", "P401") / "events.csv")
    seen = record["recorder"]
    assert seen["markers_sent"] == seen["markers_seen"] == len(rows), seen
    assert 0 <= seen["marker_delay_ms"]["median"] <= 5.0 and seen["marker_delay_ms"]["max"] < 100, seen
    assert seen["measured_rate_hz"] == pytest.approx(1000, rel=0.01) and seen["optional"] is False
    recorder_kinds = {"marker_not_recorded", "recorder_lost", "signal_lost"}
    assert not [i for i in record.get("incidents", []) if i["kind"] in recorder_kinds], record["incidents"]
    assert f"the recorder saw {len(rows)}/{len(rows)}" in result.stdout
    shown = [float(hr) for hr in re.findall(r"\| HR (\d+) bpm \|", result.stdout)]
    low, high = annotated_heart_rates(0.0, lasted_s + 5)
    assert shown and all(low - 2 <= hr <= high + 2 for hr in shown), (shown, low, high)


@pytest.mark.parametrize("recorder", [("--fault", "drop-code=5")], indirect=True)
def test_a_code_the_recorder_missed_is_an_incident_for_exactly_that_marker(tmp_path, cable, recorder):
    """The stand-in drops the 5th code it receives: the checks' test marker was the 1st."""
    protocol = write_protocol(tmp_path / "protocol", rest_s=1.0, audio_s=2.0)
    result = run_session(*session_args(protocol, tmp_path / "data", cable, recorder))
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((session_dir(tmp_path / "data", "P401") / "session.json").read_text())
    rows = read_csv(session_dir(tmp_path / "data", "P401") / "events.csv")
    missed = [i for i in record["incidents"] if i["kind"] == "marker_not_recorded"]
    assert len(missed) == 1 and f"the marker {rows[3]['label']} (code {rows[3]['code']})" in missed[0]["detail"]
    assert record["recorder"]["markers_seen"] == len(rows) - 1
    assert "INCIDENT marker_not_recorded: the recorder did not show a marker" in result.stdout


@pytest.mark.parametrize("recorder", [("--fault", "stop-after=22")], indirect=True)
def test_a_recorder_that_stops_streaming_is_recorder_lost_within_two_seconds(tmp_path, cable, recorder):
    protocol = write_protocol(tmp_path / "protocol", rest_s=10.0, audio_s=2.0)
    proc = start_session(*session_args(protocol, tmp_path / "data", cable, recorder))
    try:
        recorder.proc.wait(timeout=60)
        stopped = time.perf_counter()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    record = json.loads((session_dir(tmp_path / "data", "P401") / "session.json").read_text())
    lost = [i for i in record["incidents"] if i["kind"] == "recorder_lost"]
    assert len(lost) == 1, record["incidents"]
    assert lost[0]["time_s"] + record["clock_origin_s"] - stopped < 2.0
    assert record["status"] == "completed" and len(read_csv(session_dir(tmp_path / "data", "P401") / "responses.csv"))


@pytest.mark.parametrize("recorder", [("--fault", "flat-ecg")], indirect=True)
def test_a_failed_recorder_check_stops_the_launch_unless_the_technician_says_go_on(tmp_path, cable, recorder):
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5, audio_s=2.0)
    refused = run_session(*session_args(protocol, tmp_path / "data", cable, recorder))
    assert refused.returncode == 4 and "The ECG channel 'ECG' is flat" in refused.stderr
    assert not (tmp_path / "data" / "sub-P401").exists()
    went_on = run_session(*session_args(protocol, tmp_path / "data", cable, recorder, "--recorder-optional"))
    assert went_on.returncode == 0, went_on.stdout + went_on.stderr
    record = json.loads((session_dir(tmp_path / "data", "P401") / "session.json").read_text())
    assert record["recorder"]["optional"] is True
    assert any(line.startswith("[FAIL] recorder ECG") for line in record["recorder"]["checks"])


@pytest.mark.timing
def test_watching_the_recorder_leaves_every_logged_marker_time_on_its_write(tmp_path, cable, recorder):
    """The session with the recorder watched (its checks, its inlet and live threads) makes the
    box tests' claim (helpers.write_window_faults): the kernel took each code inside its logged
    write window, the windows are tight, and a slow write is flagged. The recorder saw every
    marker."""
    protocol = write_protocol(tmp_path / "protocol", rest_s=2.0, audio_s=3.0)
    with WriteTrace() as trace:
        proc = start_session(*session_args(protocol, tmp_path / "data", cable, recorder))
        port = DescriptorWatch(proc.pid, cable.near)
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, out + err
        writes = trace.writes(proc.pid, *port.result())
        assert trace.overruns() == 0
    folder = session_dir(tmp_path / "data", "P401")
    record = json.loads((folder / "session.json").read_text())
    rows = read_csv(folder / "events.csv")
    assert [w.count for w in writes] == [1] * (2 * len(rows) + 4)  # open, test marker, the codes, close
    code_times_s = [write.time_s for write, _ in code_writes(writes, rows)]
    faults = write_window_faults(
        code_times_s, logged_markers(rows, record["clock_origin_s"]), [int(r["code"]) for r in rows]
    )
    assert not faults, faults
    slow, flagged = slow_writes_and_their_incident(rows, record)
    assert bool(slow) == bool(flagged), (slow, flagged)
    assert record["recorder"]["markers_seen"] == len(rows)
