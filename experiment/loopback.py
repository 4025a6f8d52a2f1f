"""The audio loopback self-test: are the onset and sync markers where the sound really is?

With one cable from the sound card's output to its line input, a click train is played by the
very player a session uses (:class:`~experiment.playback.SoundDevicePlayer`, with a sync time
at every click), and recorded from the input. Each recorded click is put on the computer's
clock by the input stream's own ADC timestamps, and compared with the time the player stamped
for it - the time a session's ``audio_onset`` (first click) and ``sync`` markers carry.

Input timestamps are trusted only where the input stream itself runs steadily: the offsets of
the callbacks around a click from the nominal rate must agree within half a millisecond. Right
after a stream starts, PulseAudio's input delivers frames faster than real time for a second
or two, with timestamps that drift by milliseconds per buffer.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from experiment.errors import DeviceError
from experiment.playback import SoundDevicePlayer, sounddevice_rate
from experiment.stream_clock import UNSTEADY_MS, StreamClock
from experiment.stream_start import (
    FIRST_INPUT_CALLBACK_S,
    StartFailure,
    note_callback,
    start_stream,
    start_with_one_retry,
)

CLICKS = 20
PERIOD_S = 0.5  # a click every half second: well beyond any round trip
CLICK_MS = 1.0
CLICK_LEVEL = 0.5  # of full scale, before the volume
# The clicks begin after this much silence: a sound system may re-time its inputs when an
# output starts (PulseAudio's monitor jumped by 0.3-0.5 s about a second after it, measured
# here), so the first sample itself is not recorded reliably; its marker is checked through
# the line every click lies on.
LEAD_S = 2.0
AGREEMENT_S = 0.001  # the issue's, and PsychoPy's audio validator's, criterion
NEIGHBOURS_S = 0.25  # input callbacks this far either side of a click time it ...
STEADY_SPREAD_S = 0.0005  # ... if their offsets from the nominal rate agree this well (median deviation)
INPUT_STEADY_WAIT_S = 8.0
MIN_PEAK = 0.02  # a recorded click below this (of full scale) did not come back


@dataclass
class LoopbackResult:
    output_device: str
    input_device: str
    clicks_played: int
    clicks_heard: int
    peak: float  # the loudest recorded sample, of full scale
    reported_latency_s: float  # what PortAudio says the output's latency is
    stutters: str = ""  # how the output stuttered during the test ("" when it kept time)
    # Per click (None where the input's timestamps were not steady around it):
    sync_minus_sound_s: list[float | None] = field(default_factory=list)  # the sync marker's time
    onset_minus_sound_s: list[float | None] = field(default_factory=list)  # the onset marker, via the card's rate
    output_latency_s: list[float | None] = field(default_factory=list)  # buffer handed over -> sound recorded

    @staticmethod
    def _known(values: list[float | None]) -> list[float]:
        return [v for v in values if v is not None]

    @property
    def clicks_measured(self) -> int:
        return len(self._known(self.sync_minus_sound_s))

    @property
    def onset_error_s(self) -> float | None:
        known = self._known(self.onset_minus_sound_s)
        return float(np.median(known)) if known else None

    @property
    def worst_sync_error_s(self) -> float | None:
        known = self._known(self.sync_minus_sound_s)
        return max(known, key=abs) if known else None

    @property
    def passed(self) -> bool:
        return (
            self.clicks_measured >= 0.8 * self.clicks_played
            and abs(self.onset_error_s) <= AGREEMENT_S
            and abs(self.worst_sync_error_s) <= AGREEMENT_S
        )

    def summary(self) -> dict:
        """The figures, in ms, as the self-test prints them."""
        latencies = self._known(self.output_latency_s)
        return {
            "output_device": self.output_device,
            "input_device": self.input_device,
            "clicks_played": self.clicks_played,
            "clicks_heard": self.clicks_heard,
            "clicks_measured": self.clicks_measured,
            "onset_marker_minus_sound_ms": _ms(self.onset_error_s),
            "worst_sync_marker_minus_sound_ms": _ms(self.worst_sync_error_s),
            "output_latency_ms": _ms(float(np.median(latencies))) if latencies else None,
            "output_latency_jitter_ms": _ms(float(np.std(latencies))) if len(latencies) > 1 else None,
            "reported_latency_ms": _ms(self.reported_latency_s),
            "passed": self.passed,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def click_train(rate_hz: int, clicks: int = CLICKS, period_s: float = PERIOD_S) -> np.ndarray:
    """Stereo int16: ``LEAD_S`` of silence, then a 1 ms click every ``period_s``."""
    train = np.zeros((click_frame(clicks, period_s, rate_hz) + round(0.2 * rate_hz), 2), dtype=np.int16)
    width = max(1, round(CLICK_MS / 1000 * rate_hz))
    for k in range(clicks):
        start = click_frame(k, period_s, rate_hz)
        train[start : start + width] = round(CLICK_LEVEL * 32767)
    return train


def click_frame(k: int, period_s: float, rate_hz: int) -> int:
    """Where click ``k`` starts in the click train, in frames (the player, the wander check and
    the comparison all find the clicks by this one rule)."""
    return round((LEAD_S + k * period_s) * rate_hz)


class _Recorder:
    """An input stream that keeps its samples and, per callback, the frame and its ADC time."""

    def __init__(self, device: str | None, rate_hz: int) -> None:
        import sounddevice

        self._sd = sounddevice
        self._device = device
        self.rate_hz = rate_hz
        self.start_retries = 0  # streams that did not start in time and were opened afresh
        self._open_stream()
        self.device_name = sounddevice.query_devices(self._stream.device)["name"]

    def _open_stream(self) -> None:
        """A new stream, and everything its callbacks fill in from zero."""
        self.blocks: list[np.ndarray] = []
        self.clock = StreamClock(self.rate_hz)  # its steadiness test; frames and ADC times per callback
        self._frames = 0
        self._lock = threading.Lock()
        self._called_back = threading.Event()
        try:
            self._stream = self._sd.InputStream(
                samplerate=self.rate_hz, channels=1, dtype="float32", device=self._device, callback=self._callback
            )
        except (self._sd.PortAudioError, ValueError) as err:
            raise DeviceError(
                f"Cannot open the sound input {self._device or '(default)'} ({err}): "
                "choose the line input the loopback cable is plugged into with --audio-input."
            ) from None

    def _callback(self, indata, frames, timing, status) -> None:
        note_callback(self._called_back)
        now = time.perf_counter()
        adc = now + (timing.inputBufferAdcTime - timing.currentTime) if timing.currentTime > 0 else now
        with self._lock:
            self.clock.add(self._frames, adc, now)
            self.blocks.append(indata[:, 0].copy())
            self._frames += frames

    def start(self) -> None:
        # Nothing has been recorded before the start: a new stream costs the self-test nothing.
        failure, self.start_retries = start_with_one_retry(self._start_stream, self._open_afresh, "sound input")
        if failure:
            raise DeviceError(
                f"The sound input {self.device_name} did not start ({failure.reason}): "
                "check the input device and the sound settings, and close other programs using it."
            )
        deadline = time.perf_counter() + INPUT_STEADY_WAIT_S
        while not self.clock.steady:
            if time.perf_counter() > deadline:
                raise DeviceError(
                    f"The sound input {self.device_name} never delivered a steady stream: "
                    "check the input device and the sound settings."
                )
            time.sleep(0.02)

    def _start_stream(self) -> StartFailure | None:
        return start_stream(self._stream, self._called_back, self._sd.PortAudioError, FIRST_INPUT_CALLBACK_S)

    def _open_afresh(self) -> None:
        self._stream.close(ignore_errors=True)
        self._open_stream()

    def close(self) -> np.ndarray:
        """Stop; the recorded samples."""
        self._stream.stop()
        self._stream.close()
        with self._lock:
            return np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.float32)

    def time_of(self, frame: float) -> float | None:
        """The ADC time of ``frame`` from the callbacks around it, or None where they do not agree
        (once the stream is closed)."""
        frames, adc_s = np.array(self.clock.frames, dtype=np.float64), np.array(self.clock.dac_s)
        near = np.abs(frames - frame) <= NEIGHBOURS_S * self.rate_hz
        if near.sum() < 4:
            return None
        offsets = adc_s[near] - frames[near] / self.rate_hz  # constant while the input runs steadily
        offset = float(np.median(offsets))
        if np.median(np.abs(offsets - offset)) > STEADY_SPREAD_S:
            return None
        return offset + frame / self.rate_hz


def find_clicks(samples: np.ndarray, rate_hz: int, period_s: float = PERIOD_S) -> tuple[list[int], float]:
    """Frames where a click begins (the first sample above half the loudest), and that peak."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak < MIN_PEAK:
        return [], peak
    loud = np.flatnonzero(np.abs(samples) >= peak / 2)
    starts = loud[np.insert(np.diff(loud) > period_s * rate_hz / 2, 0, True)]
    return [int(s) for s in starts], peak


def run_loopback(
    output_device: str | None,
    input_device: str | None,
    volume: float = 1.0,
    clicks: int = CLICKS,
    period_s: float = PERIOD_S,
) -> LoopbackResult:
    """Play the click train through the session's player and time its recording."""
    rate_hz = sounddevice_rate(48_000, 2, output_device)
    recorder = _Recorder(input_device, rate_hz)
    player = SoundDevicePlayer(click_train(rate_hz, clicks, period_s), rate_hz, volume, output_device, period_s)
    try:
        recorder.start()
        player.start()
        deadline = time.perf_counter() + LEAD_S + clicks * period_s + 15
        while not player.finished() and time.perf_counter() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the last click's way back
    finally:
        player.stop()
        player.close()
        samples = recorder.close()
    if player.frames_played < player.total_frames:
        raise DeviceError(
            f"The sound output {player.device_name} stopped after {player.frames_played} of "
            f"{player.total_frames} samples: check the sound settings and run the test again."
        )
    starts, peak = find_clicks(samples, rate_hz, period_s)
    result = LoopbackResult(
        player.device_name,
        recorder.device_name,
        clicks,
        len(starts),
        peak,
        player.latency_s,
        _stutters(player, clicks, period_s),
    )
    if len(starts) == clicks:
        _compare(result, player, recorder, starts, period_s)
    return result


def _stutters(player: SoundDevicePlayer, clicks: int, period_s: float) -> str:
    """How the output stuttered during the self-test, or "". Stricter than a session's verdict
    (which counts only gaps, experiment/audio_verdict.py): the self-test times single clicks, so
    buffers straying from the stream's line spoil its measurement even when nothing was heard."""
    timing = player.timing()
    strayed_ms = timing.get("fit_residual_max_ms", 0.0)
    if timing["output_underflows"]:
        return f"{timing['output_underflows']} output underflow(s)"
    if strayed_ms > UNSTEADY_MS:
        return f"buffers up to {strayed_ms:.1f} ms off the stream's line"
    wander_s = _output_wander_s(player, clicks, period_s)
    if wander_s > AGREEMENT_S:
        return f"its timing wandered by {wander_s * 1000:.1f} ms"
    return ""


def _output_wander_s(player: SoundDevicePlayer, clicks: int, period_s: float) -> float:
    """How far the output's own timing moved during the test: the spread, over the onset and
    every click, of the callbacks' median distance from the whole playback's line. A sound
    card's clock keeps that within a fraction of a millisecond; on a busy machine PulseAudio's
    reported output times moved by 1-5 ms over seconds (measured here, docs/development.md)
    without any buffer straying ``UNSTEADY_MS`` - and markers stamped from moving times cannot
    be checked against the 1-ms criterion, nor can a steady click tell which side moved."""
    whole = player.clock.fit(recent=False)
    if whole is None or player.onset_perf_s is None:
        return 0.0
    frames = np.array(player.clock.frames, dtype=np.float64)
    residuals = np.array(player.clock.dac_s) - whole.at(frames)
    moments = [player.stream_frame(0)] + [
        player.stream_frame(click_frame(k, period_s, player.rate_hz)) for k in range(clicks)
    ]
    local = []
    for frame in moments:
        near = np.abs(frames - frame) <= NEIGHBOURS_S * player.rate_hz
        if near.any():
            local.append(float(np.median(residuals[near])))
    return max(local) - min(local) if local else 0.0


def _compare(result, player, recorder, starts, period_s) -> None:
    """Each recorded click against the markers the player stamped for it."""
    rate_hz = player.rate_hz
    syncs = {round(audio_s * rate_hz): perf for audio_s, perf in player.sync_times}
    whole = player.clock.fit(recent=False)
    card_s_per_frame = whole.seconds_per_frame if whole else 1 / rate_hz
    for k, start in enumerate(starts):
        audio_frame = click_frame(k, period_s, rate_hz)
        heard = recorder.time_of(start)
        if heard is None:
            result.sync_minus_sound_s.append(None)
            result.onset_minus_sound_s.append(None)
            result.output_latency_s.append(None)
            continue
        result.sync_minus_sound_s.append(syncs[audio_frame] - heard)
        result.onset_minus_sound_s.append(player.onset_perf_s + audio_frame * card_s_per_frame - heard)
        handed_over = player.callback_time_of(player.stream_frame(audio_frame))
        result.output_latency_s.append(None if handed_over is None else heard - handed_over)


def check_loopback(output_device: str | None, input_device: str | None, volume: float) -> str:
    """The preflight line for the loopback self-test; a DeviceError sentence when it fails."""
    result = run_loopback(output_device, input_device, volume)
    where = f"{result.output_device} -> {result.input_device}"
    if result.clicks_heard == 0:
        raise DeviceError(
            f"No click came back on the sound input {result.input_device}: connect the output to the line "
            "input with the loopback cable (not the microphone socket), unmute the input and raise its level."
        )
    if result.clicks_heard != result.clicks_played:
        raise DeviceError(
            f"Heard {result.clicks_heard} of {result.clicks_played} clicks on {result.input_device} (loudest at "
            f"{result.peak:.0%} of full scale): check the input level and that nothing else plays, then run it again."
        )
    unsteady = result.clicks_played - result.clicks_measured
    if result.clicks_measured < 0.8 * result.clicks_played:
        raise DeviceError(
            f"The sound input {result.input_device} was not steady around {unsteady} of "
            f"{result.clicks_played} clicks: close other programs and run the test again."
        )
    figures = describe(result)
    if result.stutters and not result.passed:
        raise DeviceError(
            f"The sound output {result.output_device} did not keep time during the test "
            f"({result.stutters}; {figures}): the computer was too busy - close other programs and run the test again."
        )
    if not result.passed:
        raise DeviceError(
            f"The audio markers on {where} are more than 1 ms off the recorded sound ({figures}): do not run "
            "sessions on this output; use the sound card's own device and run the test again (docs/technician.md)."
        )
    return f"{where}: {figures}"


def describe(result: LoopbackResult) -> str:
    figures = result.summary()
    latency = figures["output_latency_ms"]
    jitter = figures["output_latency_jitter_ms"]
    return (
        f"onset marker {figures['onset_marker_minus_sound_ms']:+.2f} ms and sync markers within "
        f"{abs(figures['worst_sync_marker_minus_sound_ms']):.2f} ms of the recorded clicks "
        f"({figures['clicks_measured']} of {figures['clicks_played']} measured); output latency {latency:.2f} ms, "
        f"jitter {jitter:.2f} ms SD (PortAudio reports {figures['reported_latency_ms']:.2f} ms)"
    )
