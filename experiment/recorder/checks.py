"""The recorder's checks before a session (preflight, and the session's own checklist): the
stream is there and keeps its rate, the ECG has heartbeats, the skin conductance is a skin's,
and a test marker sent through the trigger box comes back in the recorder.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from experiment.checks import Check
from experiment.errors import ConfigError, DeviceError
from experiment.recorder.inlet import RecorderColumns, RecorderInlet
from experiment.recorder.signals import check_ecg, check_eda, measured_rate_hz, rate_problem

SETTLE_S = 8.0  # seconds of signal the checks look at
TEST_CODE = 255  # every line up: a cable in the wrong socket or a missing line shows
MARKER_WAIT_S = 1.5  # the recorder's view of the test marker: its delay plus the stream's


def recorder_checks(
    stream: str, columns: RecorderColumns, send_test_marker: Callable[[int], float] | None
) -> tuple[list[Check], RecorderInlet | None]:
    """The checks' lines, and the inlet left reading (None when the stream could not be used).

    ``send_test_marker(code)`` writes ``code`` through the session's trigger box and returns the
    perf_counter time it was written (None: no box is configured, the markers are not checked).
    """
    try:
        inlet = RecorderInlet(stream, columns)
        inlet.start()
    except (DeviceError, ConfigError) as err:
        return [Check("recorder stream", False, str(err), err)], None
    time.sleep(SETTLE_S)
    with inlet.lock:
        stamps = inlet.stamps.last(SETTLE_S)
        ecg = inlet.windows["ecg"].last(SETTLE_S)
        eda = inlet.windows["eda"].last(SETTLE_S) if "eda" in inlet.windows else None
    if stamps.size < 2:
        error = DeviceError(
            f"The recorder stream '{stream}' was found but sent no samples in {SETTLE_S:g} s: check that the "
            "recorder is recording (not paused or stopped)."
        )
        return [Check("recorder stream", False, str(error), error)], inlet
    checks = [_stream_check(inlet, measured_rate_hz(stamps)), _ecg_check(inlet, ecg), _eda_check(inlet, eda)]
    return [*checks, _marker_check(inlet, send_test_marker)], inlet


def _fail(name: str, sentence: str) -> Check:
    return Check(name, False, sentence, DeviceError(sentence))


def _stream_check(inlet: RecorderInlet, measured_hz: float) -> Check:
    problem = rate_problem(inlet.name, inlet.nominal_rate_hz, measured_hz)
    if problem:
        return _fail("recorder stream", problem)
    markers = f"its marker stream '{inlet.marker_stream}'" if inlet.has_marker_stream else "its digital channel"
    return Check(
        "recorder stream",
        True,
        f"'{inlet.name}' {inlet.nominal_rate_hz:g} Hz (measured {measured_hz:.1f}); markers confirmed from {markers}",
    )


def _ecg_check(inlet: RecorderInlet, ecg) -> Check:
    channel = inlet.labels[inlet.channels["ecg"]]
    result = check_ecg(ecg, inlet.nominal_rate_hz, channel)
    if not result.ok:
        return _fail("recorder ECG", result.problem)
    return Check("recorder ECG", True, f"'{channel}': {result.value:.0f} bpm, quality {result.quality:.2f}")


def _eda_check(inlet: RecorderInlet, eda) -> Check:
    if eda is None:
        return _fail(
            "recorder EDA",
            f"No skin-conductance channel was recognised in the recorder stream '{inlet.name}' (its channels: "
            f"{', '.join(inlet.labels)}): name it with --recorder-columns eda=NAME.",
        )
    channel = inlet.labels[inlet.channels["eda"]]
    result = check_eda(eda, channel)
    if not result.ok:
        return _fail("recorder EDA", result.problem)
    return Check("recorder EDA", True, f"'{channel}': {result.value:.2f} µS")


def _marker_check(inlet: RecorderInlet, send_test_marker: Callable[[int], float] | None) -> Check:
    if send_test_marker is None:
        return Check("recorder markers", True, "not checked: no trigger box is configured")
    digital = inlet.channels["digital"]
    if digital is None and not inlet.has_marker_stream:
        return _fail(
            "recorder markers",
            f"The recorder stream '{inlet.name}' has no digital (trigger) channel and no marker stream, so markers "
            "cannot be confirmed: name the channel with --recorder-columns digital=NAME.",
        )
    written_at = send_test_marker(TEST_CODE)
    with inlet.lock:
        inlet.matcher.wrote("test_marker", TEST_CODE, written_at)
    deadline = time.perf_counter() + MARKER_WAIT_S
    while time.perf_counter() < deadline:
        with inlet.lock:
            delay_s = inlet.matcher.written[-1].delay_s
        if delay_s is not None:
            seen = f"test marker {TEST_CODE} seen by the recorder after {delay_s * 1000:.1f} ms"
            return Check("recorder markers", True, seen)
        time.sleep(0.05)
    where = (
        f"marker stream '{inlet.marker_stream}'"
        if inlet.has_marker_stream
        else f"digital channel '{inlet.labels[digital]}'"
    )
    return _fail(
        "recorder markers",
        f"The test marker {TEST_CODE} sent through the trigger box did not appear in the recorder's {where} "
        f"within {MARKER_WAIT_S:g} s: check that the trigger cable is in the recorder's trigger input (not another "
        "socket), that the box is powered, and that the recorder is recording.",
    )
