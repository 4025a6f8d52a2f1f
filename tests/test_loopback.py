"""The audio loopback self-test on this machine's PulseAudio: the null sink's monitor is the cable."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import quiet_host
from helpers import REPO, dead_starts
from quiet_host import MEASUREMENTS_IN_ALL, measure_again_while_missed, preflight_on_a_quiet_host

from experiment import loopback
from experiment.playback import SoundDevicePlayer
from experiment.stream_clock import StreamClock

# A lab runs the self-test again when it fails. On this VM's null sink a self-test failed 6 times
# in 24 on a busy day, 3 times in a row once in CI, and 5 in a row once (stop 32's landing CI),
# while the VM's host took the processors away. So: at most five measurements made while the host
# was quiet, and a measurement during which it was busy (tests/quiet_host.py) does not count.
MEASUREMENTS = 5


def preflight_with_loopback(tmp_path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiment", "preflight", "--demo", "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=env,
    )


@pytest.mark.timing
def test_the_markers_agree_with_the_recorded_clicks_within_a_millisecond(tmp_path, sound_server):
    """As a lab would, the test runs the self-test again when it failed (``measure_again_while_missed``).
    On this 2-core VM's null sink a measurement misses now and then (an output underflow, buffers
    or the output's reported timing moving by milliseconds while the VM's host takes the CPU away:
    6 of 24 runs on one day, 1 of 40 on another, docs/development.md)."""
    result, host = measure_again_while_missed(
        lambda: preflight_with_loopback(tmp_path, "--audio-loopback"),
        lambda result: result.returncode == 0,
        lambda result: next((line for line in result.stdout.splitlines() if "audio loopback" in line), result.stdout),
        MEASUREMENTS,
    )
    assert result.returncode == 0, f"{host}\n{result.stdout}{result.stderr}"
    line = next(line for line in result.stdout.splitlines() if line.startswith("[PASS] audio loopback"))
    figures = re.search(
        r"onset marker ([-+.\d]+) ms and sync markers within ([.\d]+) ms .*\((\d+) of 20 measured\); "
        r"output latency ([.\d]+) ms, jitter ([.\d]+) ms SD \(PortAudio reports ([.\d]+) ms\)",
        line,
    )
    assert figures, line
    onset, worst_sync, measured, latency, jitter, reported = (float(x) for x in figures.groups())
    assert abs(onset) <= 1.0 and worst_sync <= 1.0 and measured >= 16
    assert abs(latency - reported) < 5 and jitter < 2  # the round trip is what PortAudio says, near enough
    assert "READY: 9 of 9" in result.stdout


@pytest.mark.timing
def test_a_marker_three_milliseconds_late_fails_the_test(monkeypatch, sound_server):
    """A timing test (runs alone). A measurement during which the output did not keep time is
    rightly reported as such instead of as late markers, and says nothing about the markers; one
    whose onset is not 3 +/- 1 ms off was itself more than 1 ms off, a miss by the positive test's
    criterion (t14 of stop 34: 1.99 ms with the output keeping time). Both are measured again on
    the positive test's rule (``measure_again_while_missed``)."""

    def late_by(result) -> str:
        return f"the onset marker {result.onset_error_s * 1000:.2f} ms off where 3 ms was added"

    class LatePlayer(SoundDevicePlayer):
        def output_time(self, stream_frame: float) -> float:
            return super().output_time(stream_frame) + 0.003

    monkeypatch.setattr(loopback, "SoundDevicePlayer", LatePlayer)
    result, host = measure_again_while_missed(
        lambda: loopback.run_loopback(None, None),
        lambda result: not result.stutters and 2.0 < result.onset_error_s * 1000 < 4.0,
        lambda result: f"the output did not keep time: {result.stutters}" if result.stutters else late_by(result),
        MEASUREMENTS,
    )
    assert not result.passed and not result.stutters, host
    assert result.clicks_measured >= 16
    assert 2.0 < result.onset_error_s * 1000 < 4.0
    with pytest.raises(loopback.DeviceError, match="more than 1 ms off the recorded sound"):
        monkeypatch.setattr(loopback, "run_loopback", lambda *args: result)
        loopback.check_loopback(None, None, 1.0)


@pytest.mark.parametrize(("busy_host", "measured"), [(False, MEASUREMENTS), (True, MEASUREMENTS_IN_ALL)])
def test_a_measurement_while_the_host_was_busy_does_not_count(monkeypatch, busy_host, measured):
    monkeypatch.setattr(quiet_host, "BUSY_HOST", -1.0 if busy_host else 2.0)  # any share is busy / none is
    made = []
    with pytest.warns(UserWarning, match="measured again") as measured_again:
        made_again = measure_again_while_missed(lambda: made.append(1) or len(made), lambda n: False, str, MEASUREMENTS)
    result, host = made_again
    assert result == len(made) == measured and len(measured_again) == measured - 1
    assert host.busy == busy_host and ("not counted" in str(host)) == busy_host


def test_the_first_good_measurement_ends_the_measuring():
    made = []
    with pytest.warns(UserWarning, match="measurement 1 missed"):
        result, _ = measure_again_while_missed(lambda: made.append(1) or len(made), lambda n: n == 2, str, MEASUREMENTS)
    assert result == 2 and len(made) == 2


def test_with_one_counted_run_a_miss_on_a_quiet_host_is_final(monkeypatch):
    """preflight's READY tests (preflight_on_a_quiet_host): a NOT READY on a quiet host is final."""
    monkeypatch.setattr(quiet_host, "BUSY_HOST", 2.0)  # no share is busy
    made = []

    def not_ready() -> subprocess.CompletedProcess:
        made.append(1)
        return subprocess.CompletedProcess([], 1, stdout="[FAIL] sound output: ran short\nNOT READY: 8 of 9\n")

    result, host = preflight_on_a_quiet_host(not_ready)
    assert result.returncode == 1 and len(made) == 1 and not host.busy


def test_no_cable_is_named_with_what_to_do(tmp_path, sound_server):
    env = os.environ | sound_server.env()
    module = subprocess.run(
        ["pactl", "load-module", "module-null-source", "source_name=unplugged"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        result = preflight_with_loopback(tmp_path, "--audio-loopback", env=env | {"PULSE_SOURCE": "unplugged"})
    finally:
        subprocess.run(["pactl", "unload-module", module], env=env, check=True)
    assert result.returncode == 1
    assert "[FAIL] audio loopback: No click came back on the sound input" in result.stdout
    assert "line input" in result.stdout and "Traceback" not in result.stderr
    assert "NOT READY: 8 of 9" in result.stdout


def test_an_input_without_the_loopback_is_refused(tmp_path):
    result = preflight_with_loopback(tmp_path, "--audio-input", "USB")
    assert result.returncode == 2
    assert "--audio-input names the loopback's line input: add --audio-loopback" in result.stderr


def test_an_input_stream_whose_audio_thread_is_gone_after_the_start_is_started_afresh(sound_server, monkeypatch):
    """PortAudio 19.6's race (experiment/stream_start.py) can meet the input stream too."""
    monkeypatch.setenv("PULSE_SERVER", sound_server.server)
    calls = dead_starts(monkeypatch, "InputStream", 1)
    recorder = loopback._Recorder(None, 48_000)
    try:
        recorder.start()
        assert calls == ["dead", "real"] and recorder.start_retries == 1 and recorder.clock.steady
    finally:
        samples = recorder.close()
    assert samples.size > 0


def test_a_second_dead_input_start_stops_with_one_sentence(sound_server, monkeypatch):
    monkeypatch.setenv("PULSE_SERVER", sound_server.server)
    dead_starts(monkeypatch, "InputStream", 2)
    recorder = loopback._Recorder(None, 48_000)
    try:
        ended = r"did not start \(its audio thread ended as it started\): check the input device"
        with pytest.raises(loopback.DeviceError, match=ended):
            recorder.start()
    finally:
        samples = recorder.close()
    assert recorder.start_retries == 1 and samples.size == 0


def test_clicks_are_found_where_they_begin():
    train = loopback.click_train(48_000, clicks=4, period_s=0.5)[:, 0].astype(float) / 32767
    recorded = 0.3 * np.concatenate([np.zeros(123), train]) + 0.001 * np.sin(np.arange(123 + len(train)))
    starts, peak = loopback.find_clicks(recorded, 48_000, 0.5)
    lead = round(loopback.LEAD_S * 48_000)
    assert starts == [123 + lead + k * 24_000 for k in range(4)]
    assert peak == pytest.approx(0.15, abs=0.002)


class PlayedStream:
    """What ``_output_wander_s`` reads of a player: its clock, fed with made-up paced callbacks
    whose reported output times move by ``moved_s`` from the fourth second on."""

    rate_hz = 48_000
    block = 1024

    def __init__(self, moved_s: float, jitter_s: float = 0.0003) -> None:
        self.clock = StreamClock(self.rate_hz)
        self.onset_perf_s = 100.0
        seconds = loopback.LEAD_S + loopback.CLICKS * loopback.PERIOD_S + 1
        noise = np.random.default_rng(7).uniform(-jitter_s, jitter_s, round(seconds * self.rate_hz / self.block))
        for n, jitter in enumerate(noise):
            frame = n * self.block
            dac = self.onset_perf_s + frame / self.rate_hz + jitter + (moved_s if frame > 4 * self.rate_hz else 0.0)
            self.clock.add(frame, dac, dac - 0.035)

    def stream_frame(self, audio_frame: int) -> int:
        return audio_frame


@pytest.mark.parametrize("moved_ms", [1.5, -2.0, 4.0])
def test_an_output_whose_timing_moves_is_named_as_not_keeping_time(moved_ms):
    """The movement the self-test saw on this VM: below ``UNSTEADY_MS`` for every buffer, yet
    milliseconds for a marker."""
    wander_s = loopback._output_wander_s(PlayedStream(moved_ms / 1000), loopback.CLICKS, loopback.PERIOD_S)
    # Measured against the whole playback's line, which a step tilts a little towards itself.
    assert 0.8 * abs(moved_ms) < wander_s * 1000 <= 1.05 * abs(moved_ms)
    assert abs(moved_ms) < loopback.UNSTEADY_MS and wander_s > loopback.AGREEMENT_S


def test_callback_jitter_alone_is_not_wandering():
    wander_s = loopback._output_wander_s(PlayedStream(0.0), loopback.CLICKS, loopback.PERIOD_S)
    assert wander_s < 0.5 * loopback.AGREEMENT_S  # +-0.3 ms callback jitter, medians of ~23 callbacks
