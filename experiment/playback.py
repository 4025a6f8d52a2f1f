"""Audio playback that knows when the sound really started and whether all of it played.

Two backends behind one interface:

- ``ptb``: Psychtoolbox's PortAudio engine (what PsychoPy's ``ptb`` sound backend uses), with a
  scheduled start and the engine's own onset timestamp. We open the stream ourselves with
  exactly the file's channel count: PsychoPy opens as many channels as the device reports
  (32 on PulseAudio) and then refuses stereo data.
- ``sounddevice``: PortAudio through python-sounddevice, a callback stream whose frame count
  proves how much was played. Works wherever PortAudio does, including PulseAudio.

``auto`` tries ``ptb`` with a short silent probe and falls back to ``sounddevice`` when the
probe fails or stalls (the ALSA ``pulse`` plugin stalls PsychPortAudio), saying why. A failed
probe is remembered for this computer and its software (experiment/machine.py), so later
launches skip it.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from experiment import machine
from experiment.audio import resample
from experiment.errors import DeviceError
from experiment.frames import FileFrames, Frames, as_frames, whole
from experiment.sound_thread import raise_sound_threads
from experiment.stream_clock import StreamClock
from experiment.stream_start import StartFailure, note_callback, start_stream, start_with_one_retry

log = logging.getLogger(__name__)
INT16_SCALE = 1.0 / 32768.0


class Player(Protocol):
    backend: str
    onset_perf_s: float | None  # perf_counter time the first sample reached the output
    offset_perf_s: float | None  # perf_counter time playback ended
    frames_played: int
    total_frames: int
    rate_hz: int
    channels: int
    # (audio position s, perf_counter time that sample reached the output), every sync interval
    sync_times: list[tuple[float, float]]

    def start(self) -> None: ...

    def finished(self) -> bool: ...

    def stop(self) -> None: ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


class _Playback:
    """What both backends keep: how much was played, when it started and ended, sync times."""

    def __init__(self, frames: Frames, rate_hz: int, sync_every_s: float | None) -> None:
        self.rate_hz = rate_hz
        self.total_frames = frames.total_frames
        self.channels = frames.channels
        self.frames_played = 0
        self.onset_perf_s: float | None = None
        self.offset_perf_s: float | None = None
        self.sync_times: list[tuple[float, float]] = []
        self._sync_targets = _sync_targets(frames.total_frames, rate_hz, sync_every_s)

    def _record_syncs(self, frames_reached: int, perf_of_sample: Callable[[int], float]) -> None:
        """Time every sync sample below ``frames_reached`` with ``perf_of_sample(index)``."""
        while self._sync_targets and self._sync_targets[0] < frames_reached:
            target = self._sync_targets.pop(0)
            self.sync_times.append((target / self.rate_hz, perf_of_sample(target)))


class SoundDevicePlayer(_Playback):
    """Plays int16 frames through a PortAudio callback stream (python-sounddevice).

    The stream starts with silence; the recording's first sample is placed only once the
    stream runs steadily (:class:`~experiment.stream_clock.StreamClock`), ``START_MARGIN_S``
    ahead, so its output time - and every sync sample's, and the last's - comes from the fitted
    line and is known before it happens: the onset marker is written when the sound is heard.
    """

    backend = "sounddevice"
    START_MARGIN_S = 0.1  # the first sample is placed this far after the steady stream's next buffer
    STEADY_WAIT_S = 6.0  # a stream that never runs steadily starts anyway, on its own estimate

    def __init__(
        self,
        samples: np.ndarray | Frames,
        rate_hz: int,
        volume: float = 1.0,
        device: str | None = None,
        sync_every_s: float | None = None,
    ) -> None:
        import sounddevice

        frames = as_frames(samples, rate_hz)
        super().__init__(frames, rate_hz, sync_every_s)
        self._sd = sounddevice
        self.frames = frames
        self.gain = volume * INT16_SCALE
        self._device = device
        self.start_retries = 0  # streams that did not start in time and were opened afresh
        self._open_stream()
        self.latency_s = float(self._stream.latency)
        self.device_name = sounddevice.query_devices(self._stream.device)["name"]

    def _open_stream(self) -> None:
        """A new stream, and everything its callbacks fill in from zero."""
        self._done = threading.Event()
        self._called_back = threading.Event()
        self.clock = StreamClock(self.rate_hz)
        self._stream_frames = 0  # frames written, the leading silence included
        self.underflows = 0  # buffers the sound system asked for too late: the output stuttered
        self._audio_start: int | None = None  # stream frame of the recording's first sample
        self._started_perf = 0.0
        self._first_dac: float | None = None
        self.onset_method = ""
        self.first_callback_onset_perf: float | None = None  # what the first callback alone would say
        try:
            self._stream = self._sd.OutputStream(
                samplerate=self.rate_hz,
                channels=self.channels,
                dtype="float32",
                device=self._device,
                callback=self._callback,
                finished_callback=self._finished,
            )
        except (self._sd.PortAudioError, ValueError) as err:
            raise DeviceError(
                f"Cannot open the sound output {self._device or '(default)'} ({err}): "
                "check the headphones and sound settings."
            ) from None
        # libpulse's thread, started with the stream, dates the timing replies the output times come from.
        self.sound_thread_priority = raise_sound_threads()

    def _dac_perf(self, stream_time: float, current_time: float, now: float) -> float:
        # PortAudio's DAC time is on the stream clock; where the host reports 0 there, the
        # stream's nominal latency is the best estimate we have.
        if stream_time > 0 and current_time > 0:
            return now + (stream_time - current_time)
        return now + self.latency_s

    def _callback(self, outdata, frames, timing, status) -> None:
        note_callback(self._called_back)
        if status.output_underflow:
            self.underflows += 1
            log.warning("Audio output underflow at frame %d", self.frames_played)
        now = time.perf_counter()
        dac = self._dac_perf(timing.outputBufferDacTime, timing.currentTime, now)
        self.clock.add(self._stream_frames, dac, now)
        if self._first_dac is None:
            self._first_dac = dac
        if self._audio_start is None:
            self._place_first_sample(dac, now)
        outdata[:] = 0
        if self._audio_start is not None:
            self._fill(outdata, frames)
        self._stream_frames += frames
        if self.frames_played >= self.total_frames and self.offset_perf_s is not None:
            raise self._sd.CallbackStop

    def _place_first_sample(self, dac: float, now: float) -> None:
        steady = self.clock.steady
        if not steady and now - self._started_perf < self.STEADY_WAIT_S:
            return
        self._audio_start = self._stream_frames + round(self.START_MARGIN_S * self.rate_hz)
        self.first_callback_onset_perf = self._first_dac + self._audio_start / self.rate_hz
        if steady:
            self.onset_method = "steady-state fit of stream position against DAC time"
            self.onset_perf_s = self.output_time(self._audio_start)
        else:
            self.onset_method = "callback estimate (the stream never ran steadily)"
            self.onset_perf_s = dac + self.START_MARGIN_S

    def output_time(self, stream_frame: float) -> float:
        """When ``stream_frame`` leaves the sound card (perf_counter), from the running fit."""
        fit = self.clock.fit()
        if fit is None:  # never steady: the first sample's estimate and the nominal rate
            return self.onset_perf_s + (stream_frame - self._audio_start) / self.rate_hz
        return fit.at(stream_frame)

    def stream_frame(self, audio_frame: int) -> int:
        """The stream frame that plays the recording's ``audio_frame`` (after the leading silence)."""
        return self._audio_start + audio_frame

    def callback_time_of(self, stream_frame: int) -> float | None:
        """When the program handed ``stream_frame`` to the sound system: its callback's time, plus
        the frame's place in that buffer (the start of the output latency)."""
        index = bisect.bisect_right(self.clock.frames, stream_frame) - 1
        if index < 0:
            return None
        return self.clock.wall_s[index] + (stream_frame - self.clock.frames[index]) / self.rate_hz

    def _fill(self, outdata, frames: int) -> None:
        first = self._stream_frames - self._audio_start  # the recording's frame at this buffer's start
        begin, end = max(first, 0), min(first + frames, self.total_frames)
        if end > begin:
            outdata[begin - first : end - first] = self.frames.read(begin, end - begin) * self.gain
        # The sound card's own clock decides when a sync sample is played: that is the point.
        self._record_syncs(end, lambda target: self.output_time(self._audio_start + target))
        self.frames_played = max(self.frames_played, end)
        if end >= self.total_frames and self.offset_perf_s is None:
            self.offset_perf_s = self.output_time(self._audio_start + self.total_frames)

    def _finished(self) -> None:
        if self.offset_perf_s is None:
            self.offset_perf_s = time.perf_counter()
        self._done.set()

    def start(self) -> None:
        """Start playing. A stream that did not start in time is replaced, once, while none of the
        recording has been handed to the sound system (its first sample waits for a steady
        stream): a new stream costs the participant nothing; a failed session costs the study one."""
        if isinstance(self.frames, FileFrames):
            self.frames.wait_ready()  # the first seconds decoded before the stream asks for them
        failure, self.start_retries = start_with_one_retry(
            self._start_stream, self._open_afresh, "sound output", may_retry=lambda: not self.frames_played
        )
        if failure:
            raise DeviceError(
                f"The sound output {self.device_name} did not start ({failure.reason}): "
                "check the headphones and sound settings, and close other programs playing sound."
            )

    def _start_stream(self) -> StartFailure | None:
        self._started_perf = time.perf_counter()
        return start_stream(self._stream, self._called_back, self._sd.PortAudioError)

    def _open_afresh(self) -> None:
        self._stream.close(ignore_errors=True)
        self._open_stream()

    def finished(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        self._stream.abort()

    def timing(self) -> dict:
        """How the onset was found and how well the stream kept to one line (for session.json)."""
        whole = self.clock.fit(recent=False)
        info = {
            "onset_method": self.onset_method,
            "output_latency_s": _rounded(self.clock.latency_s(), 5),
            "decode_underruns": self.frames.underruns,
            "output_underflows": self.underflows,
            "stream_start_retries": self.start_retries,
            "callback_gap_max_ms": _rounded(self.clock.longest_steady_gap_s(), 3, scale=1000),
            "sound_thread_priority": self.sound_thread_priority,
        }
        if whole is not None and self._audio_start is not None:
            info |= {
                "fit_residual_rms_ms": round(whole.residual_rms_s * 1000, 3),
                "fit_residual_max_ms": round(whole.residual_max_s * 1000, 3),
                "fit_callbacks": whole.points,
                "sound_card_clock_ppm": round((whole.seconds_per_frame * self.rate_hz - 1) * 1e6, 1),
                "onset_by_whole_fit_perf": whole.at(self._audio_start),
            }
        if self.first_callback_onset_perf is not None:
            info["onset_by_first_callback_perf"] = self.first_callback_onset_perf
        return info

    def describe(self) -> dict:
        return {
            "backend": self.backend,
            "device": self.device_name,
            "sample_rate_hz": self.rate_hz,
            "latency_s": round(self.latency_s, 4),
        }

    def close(self) -> None:
        self._stream.close()
        self.frames.close()


def _rounded(value: float | None, digits: int, scale: float = 1.0) -> float | None:
    return None if value is None else round(value * scale, digits)


class PtbPlayer(_Playback):
    """Plays through Psychtoolbox's PsychPortAudio with a scheduled start."""

    backend = "ptb"
    lead_s = 0.1  # schedule this far ahead so the engine can start on time

    def __init__(
        self,
        samples: np.ndarray | Frames,
        rate_hz: int,
        volume: float = 1.0,
        device: str | None = None,
        sync_every_s: float | None = None,
    ) -> None:
        import psychtoolbox
        import psychtoolbox.audio as ptb_audio

        source = as_frames(samples, rate_hz)
        samples = whole(source)  # PsychPortAudio plays from one buffer
        source.close()  # a file's decoder is not needed any more
        super().__init__(as_frames(samples, rate_hz), rate_hz, sync_every_s)
        self._get_secs = psychtoolbox.GetSecs
        device_id = _ptb_device_index(ptb_audio, device)
        try:
            with _quiet():
                self._stream = ptb_audio.Stream(
                    mode=1, device_id=device_id, freq=rate_hz, channels=samples.shape[1], latency_class=1
                )
            self._stream.volume = volume
            self._stream.fill_buffer((samples * INT16_SCALE).astype(np.float32))
        except Exception as err:  # noqa: BLE001 - PsychPortAudio raises plain Exception
            raise DeviceError(f"Psychtoolbox cannot open the sound output ({err}).") from None
        self.device_name = device or "(default)"

    def _to_perf(self, ptb_time: float) -> float:
        # GetSecs and perf_counter tick at the same rate; read both together to map one to the other.
        return ptb_time - self._get_secs() + time.perf_counter()

    def start(self) -> None:
        # Never wait_for_start: a stalled device would block the session forever.
        self._stream.start(repetitions=1, when=self._get_secs() + self.lead_s, wait_for_start=0)

    def finished(self) -> bool:
        status = self._stream.status
        self.frames_played = int(status["ElapsedOutSamples"])
        if self.onset_perf_s is None and status["StartTime"] > 0 and self.frames_played > 0:
            self.onset_perf_s = self._to_perf(status["StartTime"])
        if self.onset_perf_s is not None:  # the engine's start time plus the position
            self._record_syncs(self.frames_played, lambda target: self.onset_perf_s + target / self.rate_hz)
        # State 0 = stopped; 1 = waiting to start; 2 = playing.
        if status["Active"] or status["State"] != 0:
            return False
        if self.offset_perf_s is None:
            stop = status.get("EstimatedStopTime") or 0.0
            self.offset_perf_s = self._to_perf(stop) if stop > 0 else time.perf_counter()
        return True

    def stop(self) -> None:
        self._stream.stop()

    def describe(self) -> dict:
        return {"backend": self.backend, "device": self.device_name, "sample_rate_hz": self.rate_hz}

    def close(self) -> None:
        self._stream.close()


def _sync_targets(total_frames: int, rate_hz: int, every_s: float | None) -> list[int]:
    """Sample indices at every ``every_s`` seconds of audio, excluding the start and the end."""
    if not every_s:
        return []
    step = int(round(every_s * rate_hz))
    return list(range(step, total_frames, step))


def _ptb_device_index(ptb_audio, name: str | None) -> int | None:
    if not name:
        return None
    for device in ptb_audio.get_devices():
        if device["NrOutputChannels"] > 0 and name.lower() in device["DeviceName"].lower():
            return int(device["DeviceIndex"])
    raise DeviceError(
        f"No sound output whose name contains '{name}' was found: check [audio] device in the protocol file."
    )


PTB_PROBE = "ptb sound backend"


def ptb_verdict(rate_hz: int, channels: int, device: str | None, probe_again: bool = False) -> tuple[str | None, str]:
    """Why ptb cannot play here (None: it can), and how that is known ("" when probed just now).

    A failed probe costs up to 9 s (a stalled stream takes seconds to close), and a sound server
    that stalls ptb stalls it every time: the failure is remembered for this computer, software
    and output (experiment/machine.py) and the probe is skipped while they stay the same. A probe
    that plays takes 0.3 s and is never skipped. ``probe_again`` ignores what was remembered.
    """
    when = machine.conditions(
        "psychtoolbox", "sounddevice", device=device, rate_hz=rate_hz, channels=channels,
        sound_server=os.environ.get("PULSE_SERVER"),
    )  # fmt: skip
    known = None if probe_again else machine.remembered(PTB_PROBE, when)
    if known is not None:
        return known["outcome"]["failure"], f"; found on {known['found_at'][:10]}, not probed again"
    failure = _ptb_works(rate_hz, channels, device)
    if failure is None:
        machine.forget(PTB_PROBE, when)
    else:
        machine.remember(PTB_PROBE, when, {"failure": failure})
    return failure, ""


def _ptb_works(rate_hz: int, channels: int, device: str | None) -> str | None:
    """Play 0.2 s of silence through ptb; return why it failed, or None when it played."""
    try:
        probe = PtbPlayer(np.zeros((int(0.2 * rate_hz), channels), dtype=np.int16), rate_hz, 0.0, device)
    except DeviceError as err:
        return str(err)
    except ImportError as err:
        return f"psychtoolbox is not installed ({err})"
    try:
        probe.start()
        deadline = time.perf_counter() + 1.5
        while not probe.finished():
            if time.perf_counter() > deadline:
                return "a 0.2 s test sound had not finished after 1.5 s (the stream stalled)"
            time.sleep(0.02)
        if probe.frames_played < probe.total_frames:
            return f"a 0.2 s test sound stopped after {probe.frames_played} of {probe.total_frames} frames"
        return None
    finally:
        probe.close()


@contextlib.contextmanager
def _quiet():
    """Send Psychtoolbox's PTB-INFO chatter to the log instead of the technician's console."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield
    for line in (out.getvalue() + err.getvalue()).splitlines():
        if line.strip():
            log.debug("%s", line)


def open_player(
    samples: np.ndarray | Frames,
    rate_hz: int,
    backend: str,
    volume: float,
    device: str | None,
    sync_every_s: float | None = None,
) -> tuple[Player, str]:
    """Open a player for ``backend`` ("auto", "ptb" or "sounddevice").

    Returns the player and a note on how the backend was chosen (for session.json).
    """
    frames = as_frames(samples, rate_hz)
    if backend in ("auto", "ptb"):
        failure, known = ptb_verdict(rate_hz, frames.channels, device, probe_again=backend == "ptb")
        if failure is None:
            return PtbPlayer(frames, rate_hz, volume, device, sync_every_s), "ptb probe played"
        if backend == "ptb":
            raise DeviceError(
                f'The ptb sound backend does not work here: {failure}. Set [audio] backend = "auto" or "sounddevice".'
            )
        log.info("ptb sound backend unusable (%s%s); using sounddevice", failure, known)
        note = f"ptb unusable ({failure}{known}); fell back to sounddevice"
    else:
        note = "sounddevice chosen in the protocol"
    device_rate_hz = sounddevice_rate(rate_hz, frames.channels, device)
    if device_rate_hz != rate_hz:
        log.info("The sound output cannot play %d Hz; resampling the recording to %d Hz", rate_hz, device_rate_hz)
        resampled = resample(whole(frames), rate_hz, device_rate_hz)  # in memory: rare, and resampling needs it
        frames.close()
        frames = as_frames(resampled, device_rate_hz)
        note += f"; resampled from {rate_hz} Hz to {device_rate_hz} Hz"
        rate_hz = device_rate_hz
    return SoundDevicePlayer(frames, rate_hz, volume, device, sync_every_s), note


def sounddevice_rate(rate_hz: int, channels: int, device: str | None) -> int:
    """``rate_hz`` if the output plays it, else the output's own default rate."""
    import sounddevice

    try:
        sounddevice.check_output_settings(device=device, samplerate=rate_hz, channels=channels)
        return rate_hz
    except ValueError as err:
        if "device" in str(err).lower() and "sample" not in str(err).lower():
            raise DeviceError(
                f"No sound output matches '{device}' ({err}): check [audio] device or --audio-device."
            ) from None
    except sounddevice.PortAudioError:
        pass
    return int(sounddevice.query_devices(device, "output")["default_samplerate"])
