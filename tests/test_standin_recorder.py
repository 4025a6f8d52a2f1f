"""The stand-in recorder's trigger input keeps every code the box set, as a recorder's trigger
input on a cable would, even when the pty hands a code and its clear over together."""

from __future__ import annotations

import numpy as np
from standin_recorder import TriggerInput

from experiment.recorder.matching import code_onsets

RATE_HZ = 1000


def trigger_with(*changes: tuple[float, int]) -> TriggerInput:
    trigger = TriggerInput(None, drop_code=None, connected=True, clock=lambda: 0.0)
    trigger.changes.extend(changes)
    return trigger


def test_a_code_and_its_clear_read_together_still_mark_one_sample():
    stamps = np.arange(20) / RATE_HZ
    lines = trigger_with((0.0104, 100), (0.0104, 0)).lines(stamps)
    assert code_onsets(stamps, lines) == [(100, stamps[11])]
    assert np.count_nonzero(lines) == 1


def test_changes_stamped_before_the_chunk_are_kept_in_order():
    """The reader thread stamped two codes before the previous chunk was built but appended them
    after it: both still appear, in order, at the start of the next chunk."""
    stamps = 1.0 + np.arange(20) / RATE_HZ
    lines = trigger_with((0.990, 7), (0.995, 0), (0.996, 9)).lines(stamps)
    assert code_onsets(stamps, lines) == [(7, stamps[0]), (9, stamps[2])]


def test_a_change_after_the_chunk_waits_for_the_next_one():
    trigger = trigger_with((0.005, 3), (0.050, 0))
    first = trigger.lines(np.arange(20) / RATE_HZ)
    second = trigger.lines((20 + np.arange(40)) / RATE_HZ)
    assert first[5:].tolist() == [3] * 15 and second[:30].tolist() == [3] * 30 and second[30:].tolist() == [0] * 10
