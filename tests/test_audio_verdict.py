"""The audio's verdict from made-up player figures: what is an incident, what only a figure."""

from __future__ import annotations

import pytest

from experiment.audio_verdict import MARKER_TOLERANCE_MS, judge_audio, sync_disagreement

ONSET = 100.0  # perf_counter of the audio_onset marker


def written(sync_errors_ms=(0.3, -0.2, 0.1), card_ppm: float = -200.0):
    """The markers as the marker thread wrote them: the onset, then a sync every 5 s of audio,
    each off the card's line by the given error."""
    card = 1 + card_ppm * 1e-6
    rows = [("audio_onset", "", ONSET)]
    for n, error_ms in enumerate(sync_errors_ms, start=1):
        rows.append(("sync", f"audio_s={5.0 * n:.3f}", ONSET + 5.0 * n * card + error_ms / 1000))
    return rows


def timing(**changes):
    figures = {
        "onset_method": "steady-state fit of stream position against DAC time",
        "output_underflows": 0,
        "decode_underruns": 0,
        "fit_residual_max_ms": 0.4,
        "sound_card_clock_ppm": -200.0,
        "onset_by_whole_fit_perf": ONSET + 0.0001,
        "onset_by_first_callback_perf": ONSET - 1.95,  # PulseAudio fills its queue first: always early
    }
    return figures | changes


def session_s(perf: float) -> float:
    return perf - 90.0


def test_a_good_playback_has_figures_and_no_incident():
    verdict = judge_audio(timing(), ONSET, written(), session_s)
    assert verdict.incidents == []
    assert verdict.figures["onset_by_first_callback_s"] == pytest.approx(8.05)
    assert verdict.figures["onset_by_whole_fit_s"] == pytest.approx(10.0001)
    assert "onset_by_first_callback_perf" not in verdict.figures
    assert verdict.figures["sync_markers_checked"] == 3 and verdict.figures["sync_vs_onset_max_ms"] == 0.3
    assert verdict.summary(played_whole=True) == "audio played whole, onset exact to 0.3 ms"


def test_callbacks_straying_from_the_line_without_a_gap_are_only_a_figure():
    verdict = judge_audio(timing(fit_residual_max_ms=10.1), ONSET, written(), session_s)
    assert verdict.incidents == [] and verdict.figures["fit_residual_max_ms"] == 10.1


@pytest.mark.parametrize("field", ["output_underflows", "decode_underruns"])
def test_a_sound_output_that_ran_short_is_an_incident(field):
    verdict = judge_audio(timing(**{field: 2}), ONSET, written(), session_s)
    assert [kind for kind, _ in verdict.incidents] == ["audio_unsteady"]
    assert "ran short 2 time(s)" in verdict.incidents[0][1]


def test_a_sound_output_started_a_second_time_is_an_incident():
    """Its markers agree with the stream's own account, and that account is off (docs/development.md)."""
    assert judge_audio(timing(stream_start_retries=0), ONSET, written(), session_s).incidents == []
    verdict = judge_audio(timing(stream_start_retries=1), ONSET, written(), session_s)
    assert [kind for kind, _ in verdict.incidents] == ["audio_start_retried"]
    assert "a few milliseconds off" in verdict.incidents[0][1]


def test_an_onset_marker_off_the_whole_playbacks_fit_is_an_incident_beyond_the_tolerance():
    within = judge_audio(timing(onset_by_whole_fit_perf=ONSET + 0.0019), ONSET, written(), session_s)
    beyond = judge_audio(timing(onset_by_whole_fit_perf=ONSET - 0.0031), ONSET, written(), session_s)
    assert within.incidents == []
    assert [kind for kind, _ in beyond.incidents] == ["audio_onset_estimate"]
    assert "-3.1 ms from the audio_onset marker" in beyond.incidents[0][1]


def test_sync_markers_off_the_onset_line_beyond_the_tolerance_are_an_incident():
    near = judge_audio(timing(), ONSET, written((0.3, MARKER_TOLERANCE_MS - 0.1)), session_s)
    far = judge_audio(timing(), ONSET, written((0.3, -2.5, 1.0)), session_s)
    assert near.incidents == [] and near.onset_exact_ms == pytest.approx(1.9)
    assert [kind for kind, _ in far.incidents] == ["audio_sync_disagreement"]
    assert "audio_s=10.000 was written -2.50 ms" in far.incidents[0][1]
    assert far.summary(played_whole=True) == "audio played whole, onset exact to 2.5 ms"


def test_the_disagreement_follows_the_cards_own_clock():
    """A card 100 ppm slow: after 600 s of audio its sample x sits 60 ms later on the computer's
    clock; a sync marker there agrees exactly, one written on the computer's seconds is 60 ms off."""
    on_card = [(600.0, ONSET + 600.0 * (1 + 100e-6))]
    assert sync_disagreement(ONSET, on_card, 100.0) == (600.0, pytest.approx(0.0, abs=1e-9))
    assert sync_disagreement(ONSET, [(600.0, ONSET + 600.0)], 100.0) == (600.0, pytest.approx(-0.06))


def test_without_the_cards_clock_there_is_no_sync_figure():
    """The ptb player reports no card clock: the verdict says only whether it played whole."""
    verdict = judge_audio({"onset_method": "ptb"}, ONSET, written(), session_s)
    assert "sync_vs_onset_max_ms" not in verdict.figures and verdict.onset_exact_ms is None
    assert verdict.summary(played_whole=False) == "audio NOT played whole"
