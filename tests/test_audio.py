"""Stimulus checks: the wrong file, a silent, short or corrupt one is refused before any
participant screen; resampling keeps the sound."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile
from helpers import GROUPS, SAMPLE_RATE_HZ, run_session, tone, write_protocol

from experiment.audio import check_stimulus, resample
from experiment.config import load_protocol
from experiment.errors import ConfigError
from experiment.ui.soundcheck import TONE_DBFS, calibration_tone


def protocol_with(tmp_path, rewrite_file=None, edit=None):
    path = write_protocol(tmp_path / "protocol", rest_s=0.5, audio_s=2.0, edit=edit)
    if rewrite_file is not None:
        rewrite_file(path.parent / "audio" / "LKM.flac")
    return path


def write_samples(path, samples, rate=SAMPLE_RATE_HZ):
    soundfile.write(path, samples.astype(np.float32), rate, subtype="PCM_16")


CASES = {
    "silent": (lambda p: write_samples(p, np.zeros(2 * SAMPLE_RATE_HZ)), None, "is silent"),
    "too short": (lambda p: write_samples(p, tone(415.0, 0.5)), None, "lasts 0.5 s, but the protocol expects 2"),
    "too long": (lambda p: write_samples(p, tone(415.0, 9.0)), None, "lasts 9.0 s"),
    "corrupt": (lambda p: p.write_bytes(b"fLaC" + bytes(range(256)) * 40), None, "cannot be decoded"),
    "six channels": (lambda p: write_samples(p, np.tile(tone(415.0, 2.0)[:, None], (1, 6))), None, "6 channels"),
    "pinned sha256": (
        None,
        lambda t: t.replace('audio = "audio/LKM.flac"', 'audio = "audio/LKM.flac"\naudio_sha256 = "' + "0" * 64 + '"'),
        "not the file the protocol pinned",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_stimulus_is_refused_naming_the_file(tmp_path, case):
    rewrite, edit, expected = CASES[case]
    protocol = load_protocol(protocol_with(tmp_path, rewrite, edit))
    with pytest.raises(ConfigError, match=expected) as err:
        check_stimulus(protocol.groups["LKM"], protocol.audio)
    assert "LKM.flac" in str(err.value)
    for key in ("CBS", "RUM", "PE", "NEU"):  # the good files pass
        check_stimulus(protocol.groups[key], protocol.audio)


def test_matching_pin_passes_and_sha_is_reported(tmp_path):
    plain = protocol_with(tmp_path)
    sha = hashlib.sha256((plain.parent / "audio" / "CBS.flac").read_bytes()).hexdigest()
    text = plain.read_text().replace('audio = "audio/CBS.flac"', f'audio = "audio/CBS.flac"\naudio_sha256 = "{sha}"')
    plain.write_text(text)
    protocol = load_protocol(plain)
    assert check_stimulus(protocol.groups["CBS"], protocol.audio).sha256 == sha


def test_clipping_is_counted(tmp_path):
    path = protocol_with(tmp_path, lambda p: write_samples(p, np.clip(3 * tone(415.0, 2.0), -1, 1)))
    protocol = load_protocol(path)
    assert check_stimulus(protocol.groups["LKM"], protocol.audio).clipped_samples > 1000
    assert check_stimulus(protocol.groups["CBS"], protocol.audio).clipped_samples == 0


def test_refused_before_any_participant_screen(tmp_path):
    protocol = protocol_with(tmp_path, CASES["silent"][0])
    data = tmp_path / "data"
    result = run_session("--protocol", str(protocol), "--autopilot", "--participant", "P009", "--data-dir", str(data))
    assert result.returncode == 2
    assert "is silent" in result.stderr and "Traceback" not in result.stderr
    assert not list(data.glob("sub-*")) if data.exists() else True


def test_resampling_keeps_length_and_pitch():
    rate_in, rate_out = 44_100, 48_000
    t = np.arange(rate_in) / rate_in
    samples = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)[:, None]
    out = resample(samples, rate_in, rate_out)
    assert out.dtype == np.int16 and out.shape == (rate_out, 1)
    spectrum = np.abs(np.fft.rfft(out[:, 0].astype(float)))
    assert abs(np.fft.rfftfreq(len(out), 1 / rate_out)[np.argmax(spectrum)] - 440) < 2


def test_calibration_tone_level():
    samples = calibration_tone(48_000, 2)
    assert samples.shape == (72_000, 2)
    peak_dbfs = 20 * np.log10(np.abs(samples).max() / 32767)
    assert abs(peak_dbfs - TONE_DBFS) < 0.1


def test_groups_are_distinct_tones():
    assert len({frequency for _, frequency in GROUPS.values()}) == 5


def test_eleven_minute_recordings_pass_the_full_protocol_and_start_playing(tmp_path):
    """The full-length path: five 11-minute 48 kHz stereo files, checked against the shipped
    protocol's 660 s, loaded whole and started on the sound output (played for 2 s here; a
    whole 11-minute playback is what tools/bench_audio.py and a lab's dry run are for)."""
    import subprocess
    import sys
    import time

    from bench_audio import full_protocol_copy, write_recordings
    from helpers import REPO

    from experiment.audio import load_samples
    from experiment.playback import SoundDevicePlayer

    write_recordings(tmp_path, 11.0)
    protocol = full_protocol_copy(tmp_path, 11.0)
    assert "expected_duration_s = 660" in protocol.read_text()
    check = subprocess.run(
        [sys.executable, "-m", "experiment", "check-protocol", str(protocol)], capture_output=True, text=True, cwd=REPO
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.count("660.0 s  48000 Hz  2 ch") == 5

    samples, rate = load_samples(tmp_path / "audio" / "CBS.wav")
    assert samples.shape == (660 * 48_000, 2) and samples.dtype == np.int16
    player = SoundDevicePlayer(samples, rate, sync_every_s=60)
    try:
        player.start()
        # PulseAudio's null sink takes ~2 s to get going here, and once in a suite run it sat
        # for over 10 s after the first buffer: wait up to 30 s for 2 s of sound to pass.
        deadline = time.monotonic() + 30
        while player.frames_played < 2 * rate and time.monotonic() < deadline:
            time.sleep(0.1)
        assert player.onset_perf_s is not None, "the stream never started"
        assert player.frames_played >= 2 * rate, f"the stream stalled after {player.frames_played} frames"
        assert not player.finished()
    finally:
        player.stop()
        player.close()


def test_a_recording_is_streamed_from_its_file_in_blocks_never_held_whole(tmp_path):
    import time

    from experiment.frames import FileFrames

    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    samples = (rng.normal(0, 3000, (30 * SAMPLE_RATE_HZ, 2))).astype(np.int16)
    soundfile.write(path, samples, SAMPLE_RATE_HZ, subtype="PCM_16")
    frames = FileFrames(path, ahead_s=2.0, block_s=0.5)
    try:
        assert frames.wait_ready() and (frames.total_frames, frames.channels) == (len(samples), 2)
        most_held, position, chunk = 0, 0, 2048
        while position < frames.total_frames:
            block = frames.read(position, chunk)
            assert np.array_equal(block, samples[position : position + chunk]), position
            position += len(block)
            most_held = max(most_held, sum(len(b) for _, b in frames._blocks))
            if position % (SAMPLE_RATE_HZ // 2) < chunk:
                time.sleep(0.002)  # let the decoder catch up, as real time does
        assert frames.underruns == 0
        assert most_held <= 3.0 * SAMPLE_RATE_HZ  # 2 s ahead plus the block being played: never the 30 s
    finally:
        frames.close()
