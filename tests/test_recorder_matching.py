"""Markers written against the codes a recorder shows: matched once, in order, on one clock."""

from __future__ import annotations

import pytest

from experiment.recorder.matching import SEEN_WITHIN_S, MarkerMatcher, code_onsets


def test_a_digital_channel_gives_one_event_per_change_to_a_code_across_chunks():
    times = [i / 1000 for i in range(12)]
    first = code_onsets(times[:6], [0, 0, 7, 7, 7, 0])
    second = code_onsets(times[6:], [0, 9, 9, 7, 0, 0], previous=0)
    assert first == [(7, 0.002)] and second == [(9, 0.007), (7, 0.009)]
    assert code_onsets(times[:3], [7, 7, 0], previous=7) == []  # still the code held from the last chunk
    assert code_onsets([], []) == []


def test_each_written_marker_is_matched_once_in_order_with_its_delay():
    matcher = MarkerMatcher()
    matcher.wrote("baseline_start", 10, 100.000)
    matcher.wrote("item_onset", 100, 100.500)
    matcher.wrote("item_onset", 100, 101.000)
    matcher.saw(10, 100.0021)
    matcher.saw(100, 100.5019)
    matcher.saw(100, 101.0030)
    summary = matcher.summary()
    assert (summary["markers_sent"], summary["markers_seen"]) == (3, 3)
    assert summary["marker_delay_ms"] == {"median": pytest.approx(2.1), "max": pytest.approx(3.0)}
    assert matcher.overdue(110.0) == [] and matcher.unexpected == []


def test_a_marker_the_recorder_never_showed_is_overdue_once_after_a_second():
    matcher = MarkerMatcher()
    matcher.wrote("pre_start", 20, 50.0)
    matcher.wrote("pre_end", 21, 60.0)
    matcher.saw(21, 60.002)
    assert matcher.overdue(50.0 + SEEN_WITHIN_S - 0.01) == []
    assert [m.label for m in matcher.overdue(50.0 + SEEN_WITHIN_S + 0.01)] == ["pre_start"]
    assert matcher.overdue(70.0) == []  # said once
    assert matcher.summary()["markers_seen"] == 1


def test_a_code_too_late_or_never_written_is_not_taken_for_a_marker():
    matcher = MarkerMatcher()
    matcher.wrote("sync", 30, 10.0)
    matcher.saw(30, 10.0 + SEEN_WITHIN_S + 0.2)  # another marker's, or a stray: not this one
    matcher.saw(99, 10.1)
    assert matcher.written[0].seen_at_s is None
    assert matcher.unexpected == [(30, 11.2), (99, 10.1)]


def test_the_recorders_view_may_arrive_before_the_runner_says_it_wrote():
    matcher = MarkerMatcher()
    matcher.saw(10, 5.003)
    matcher.wrote("baseline_start", 10, 5.000)
    assert matcher.summary()["markers_seen"] == 1 and matcher.unexpected == []
