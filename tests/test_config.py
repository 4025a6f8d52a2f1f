"""Protocol validation: every mistake a researcher can make gives one sentence naming it."""

from __future__ import annotations

import pytest
from helpers import DEMO_PROTOCOL, REPO, write_protocol

from experiment.config import GROUP_KEYS, check_participant_id, load_protocol
from experiment.errors import ConfigError


def test_demo_protocol_loads_with_the_paradigms_structure():
    protocol = load_protocol(DEMO_PROTOCOL)
    assert tuple(protocol.groups) == GROUP_KEYS
    assert [p.name for p in protocol.phases] == ["welcome", "baseline", "pre", "induction", "post", "recovery", "end"]
    assert protocol.phase("baseline").duration_s == 10
    assert len(set(protocol.markers.codes.values())) == len(protocol.markers.codes)
    assert len(protocol.sha256) == 64


def test_full_protocol_has_five_minute_rests_and_names_the_missing_recordings():
    # The licensed recordings are not shipped: loading must say which file to add.
    with pytest.raises(ConfigError) as err:
        load_protocol(REPO / "stimuli/protocol.toml")
    message = str(err.value)
    assert "protocol.toml" in message and "groups.CBS.audio" in message and "does not exist" in message
    text = (REPO / "stimuli/protocol.toml").read_text()
    assert text.count("duration_s = 300") == 2


MISTAKES = {
    "unknown key": (lambda t: t.replace("pulse_ms = 10", "pulse_ms = 10\npulse_width = 10"), "markers.pulse_width"),
    "misspelt phase key": (lambda t: t.replace("duration_s = 1.0", "duraton_s = 1.0", 1), "phases[2]"),
    "zero duration": (lambda t: t.replace("duration_s = 1.0", "duration_s = 0", 1), "phases[2].duration_s"),
    "negative duration": (lambda t: t.replace("duration_s = 1.0", "duration_s = -5", 1), "phases[2].duration_s"),
    "text duration": (lambda t: t.replace("duration_s = 1.0", 'duration_s = "five"', 1), "phases[2].duration_s"),
    "duplicate code": (lambda t: t.replace("baseline_end = 21", "baseline_end = 20"), "markers.codes.baseline"),
    "code zero": (lambda t: t.replace("session_end = 2", "session_end = 0"), "markers.codes.session_end"),
    "code too large": (lambda t: t.replace("item_onset = 100", "item_onset = 256"), "markers.codes.item_onset"),
    "missing code": (lambda t: t.replace("recovery_end = 61\n", ""), "markers.codes.recovery_end"),
    "missing audio": (lambda t: t.replace("audio/LKM.flac", "audio/missing.flac"), "groups.LKM.audio"),
    "missing questionnaire": (
        lambda t: t.replace('"state_short.toml"', '"nowhere.toml"'),
        "questionnaires.state_short",
    ),
    "unknown group": (lambda t: t.replace("[groups.PE]", "[groups.XYZ]"), "groups.XYZ"),
    "unknown phase kind": (lambda t: t.replace('kind = "rest"', 'kind = "nap"', 1), "phases[2].kind"),
    "broken TOML": (lambda t: t.replace("[study]", "[study"), "not valid TOML"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_mistake_is_one_sentence_naming_file_and_key(tmp_path, mistake):
    edit, expected = MISTAKES[mistake]
    path = write_protocol(tmp_path, edit=edit)
    with pytest.raises(ConfigError) as err:
        load_protocol(path)
    message = str(err.value)
    assert str(path) in message or "state_short" in message
    assert expected in message
    assert "\n" not in message and message.endswith(".")


def test_participant_ids_must_be_pseudonyms():
    protocol = load_protocol(DEMO_PROTOCOL)
    assert check_participant_id(protocol, "P001") == "P001"
    for bad in ("", "Anna Smith", "anna@example.org", "P1", "../P001"):
        with pytest.raises(ConfigError, match="pseudonym"):
            check_participant_id(protocol, bad)


def test_check_protocol_command(tmp_path):
    import subprocess
    import sys

    ok = subprocess.run(
        [sys.executable, "-m", "experiment", "check-protocol", str(DEMO_PROTOCOL)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert ok.returncode == 0 and "OK" in ok.stdout and "CBS" in ok.stdout
    broken = write_protocol(tmp_path, edit=lambda t: t.replace("session_end = 2", "session_end = 999"))
    bad = subprocess.run(
        [sys.executable, "-m", "experiment", "check-protocol", str(broken)], capture_output=True, text=True, cwd=REPO
    )
    assert bad.returncode == 2 and "markers.codes.session_end" in bad.stderr and "Traceback" not in bad.stderr


def test_the_sha256_command_prints_the_digest_to_pin_a_recording(tmp_path):
    import hashlib
    import subprocess
    import sys

    recording = tmp_path / "CBS.wav"
    recording.write_bytes(b"RIFF not really audio")
    result = subprocess.run(
        [sys.executable, "-m", "experiment", "sha256", str(recording)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0 and result.stdout.strip() == hashlib.sha256(recording.read_bytes()).hexdigest()
    missing = subprocess.run(
        [sys.executable, "-m", "experiment", "sha256", str(tmp_path / "none.wav")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_the_recorder_to_check_is_read_and_a_mistyped_key_refused(tmp_path):
    recorder = '\n[recorder]\nstream = "AcqKnowledge"\ncolumns = "ecg=ECG100C"\n'
    protocol = load_protocol(write_protocol(tmp_path / "a", edit=lambda text: text + recorder))
    assert (protocol.recorder.stream, protocol.recorder.columns) == ("AcqKnowledge", "ecg=ECG100C")
    assert load_protocol(write_protocol(tmp_path / "b")).recorder.stream is None
    with pytest.raises(ConfigError, match="strem"):
        load_protocol(write_protocol(tmp_path / "c", edit=lambda text: text + '\n[recorder]\nstrem = "X"\n'))
