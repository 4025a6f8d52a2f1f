"""The sound card's clock from made-up callbacks: a queue burst, a card 100 ppm slow, a stutter."""

from __future__ import annotations

import pytest

from experiment.stream_clock import STEADY_CALLBACKS, StreamClock

RATE_HZ = 48_000
BLOCK = 1024
ONSET_S = 1000.0  # output time of stream frame 0 on the computer's clock
LATENCY_S = 0.035  # from a callback to its buffer being heard


def card_seconds(frames: float, ppm: float) -> float:
    """How long ``frames`` take on a card whose clock runs ``ppm`` slow against the computer's."""
    return frames / RATE_HZ * (1 + ppm * 1e-6)


def feed(clock: StreamClock, callbacks: int, ppm: float = 0.0, start: int = 0, stutter_at: int | None = None):
    """Paced callbacks from stream frame ``start``: each asks for its block ``LATENCY_S`` before
    it is heard; at ``stutter_at`` one buffer is heard 6 ms late."""
    for n in range(start, start + callbacks):
        dac = ONSET_S + card_seconds(n * BLOCK, ppm) + (0.006 if n == stutter_at else 0.0)
        clock.add(n * BLOCK, dac, dac - LATENCY_S)


def test_a_queue_burst_is_not_taken_for_the_stream():
    """PulseAudio asks for 2 s of buffers at once, all 'heard' at once: never steady until the
    callbacks come at the pace the frames play."""
    clock = StreamClock(RATE_HZ)
    burst = 90
    for n in range(burst):
        clock.add(n * BLOCK, ONSET_S - 2.0, ONSET_S - 2.0 + n * 1e-4)
    assert not clock.steady and clock.fit() is None
    feed(clock, STEADY_CALLBACKS, start=burst)
    assert clock.steady_from == burst
    assert clock.latency_s() == pytest.approx(LATENCY_S, abs=1e-9)


def test_the_whole_playbacks_line_is_the_cards_own_clock():
    clock = StreamClock(RATE_HZ)
    feed(clock, 60 * RATE_HZ // BLOCK, ppm=100.0)  # a minute
    whole = clock.fit(recent=False)
    assert (whole.seconds_per_frame * RATE_HZ - 1) * 1e6 == pytest.approx(100.0, abs=0.01)
    assert whole.at(30 * RATE_HZ) == pytest.approx(ONSET_S + card_seconds(30 * RATE_HZ, 100.0), abs=1e-7)
    assert whole.residual_max_s < 1e-7


def test_before_five_seconds_the_nominal_rate_drifts_only_over_the_last_second():
    """The recent fit at 4 s uses the nominal rate with the last second's offset: at the newest
    frame it is off by at most 100 ppm of half that second, not of all four."""
    clock = StreamClock(RATE_HZ)
    feed(clock, 4 * RATE_HZ // BLOCK, ppm=100.0)
    fit, newest = clock.fit(), clock.frames[-1]
    assert fit.seconds_per_frame == 1 / RATE_HZ
    error_s = fit.at(newest) - (ONSET_S + card_seconds(newest, 100.0))
    assert abs(error_s) <= 100e-6 * 0.5 + 1e-6
    assert abs(error_s) > 10e-6  # the nominal rate is used: the drift shows, just not 4 s of it


def test_a_six_millisecond_stutter_shows_in_the_residuals_and_barely_moves_the_line():
    clock = StreamClock(RATE_HZ)
    callbacks = 30 * RATE_HZ // BLOCK
    feed(clock, callbacks, stutter_at=callbacks // 2)
    whole = clock.fit(recent=False)
    assert whole.residual_max_s == pytest.approx(0.006, abs=0.0001)
    assert whole.at(0) == pytest.approx(ONSET_S, abs=2e-5)


def test_a_late_refill_shows_as_the_longest_gap_between_steady_callbacks():
    """The queue-filling burst before the steady state is not counted; one refill 30 ms late is."""
    clock = StreamClock(RATE_HZ)
    assert clock.longest_steady_gap_s() is None
    for n in range(20):  # the burst: callbacks 0.1 ms apart, then seconds before the stream plays
        clock.add(n * BLOCK, ONSET_S - 2.0, ONSET_S - 4.0 + n * 1e-4)
    feed(clock, 100, start=20)
    assert clock.longest_steady_gap_s() == pytest.approx(BLOCK / RATE_HZ, abs=1e-9)
    late = clock.frames[-1] + BLOCK
    clock.add(late, ONSET_S + late / RATE_HZ, ONSET_S + late / RATE_HZ - LATENCY_S + 0.030)
    assert clock.longest_steady_gap_s() == pytest.approx(BLOCK / RATE_HZ + 0.030, abs=1e-9)
