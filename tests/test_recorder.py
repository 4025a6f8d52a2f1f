"""The recorder seen live: the stand-in recorder (tools/standin_recorder.py) streams real ECG over
real LSL on loopback and samples a real tty pair's far end as its trigger input."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from helpers import REPO, StandInRecorder, TtyPair

from experiment.clock import SessionClock
from experiment.datastore import EVENT_COLUMNS, AppendOnlyCsv
from experiment.errors import ConfigError, DeviceError
from experiment.markers import MarkerSender, open_device
from experiment.markers.device import pulse_once
from experiment.recorder.checks import recorder_checks
from experiment.recorder.inlet import RecorderColumns, RecorderInlet
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


def test_every_marker_written_is_seen_by_the_recorder_with_its_delay(tmp_path, cable, recorder):
    inlet = RecorderInlet(name_of(recorder))
    assert inlet.channels == {"ecg": 0, "eda": 1, "digital": 2}
    inlet.start()
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
        with inlet.lock:
            summary = inlet.matcher.summary()
            ecg = inlet.windows["ecg"].last(10.0)
            eda = inlet.windows["eda"].last(10.0)
            rate = measured_rate_hz(inlet.stamps.last(10.0))
    finally:
        sender.close()
        device.close()
        inlet.close()
    assert (summary["markers_sent"], summary["markers_seen"]) == (5, 5), summary
    assert 0 <= summary["marker_delay_ms"]["median"] <= 5.0, summary  # the pty hop and a 1 ms sample
    assert abs(inlet.offset_s) < 0.001 and inlet.offset_uncertainty_s < 0.001  # one clock on Linux
    assert rate == pytest.approx(1000, rel=0.01)
    assert check_eda(eda, "EDA").ok
    assert len(ecg) > 1000 and check_ecg(ecg, 1000.0, "ECG").value == pytest.approx(75, abs=8)


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


def test_preflight_checks_the_recorder_through_the_sessions_trigger_box(tmp_path, cable, recorder):
    result = subprocess.run(
        [sys.executable, "-m", "experiment", "preflight", "--demo", "--data-dir", str(tmp_path / "data")]
        + ["--marker-protocol", "brainproducts", "--marker-port", cable.near, "--recorder-stream", name_of(recorder)],
        capture_output=True, text=True, cwd=REPO, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("recorder stream", "recorder ECG", "recorder EDA", "recorder markers"):
        assert f"[PASS] {name}: " in result.stdout, result.stdout
    assert "READY: 11 of 11" in result.stdout
