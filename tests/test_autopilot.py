from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from experiment.ui.autopilot import vas_keys
from experiment.ui.vas import KEY_STEPS, VisualAnalogueScale


@given(st.integers(0, 100))
def test_autopilot_keys_reach_the_target(target):
    value = None
    keys = vas_keys(target)
    assert keys[-1] == "return"
    for key in keys[:-1]:
        value = 50 if value is None else min(100, max(0, value + KEY_STEPS[key]))
    assert value == target


@given(st.integers(0, 100))
def test_scale_position_round_trips(value):
    assert VisualAnalogueScale.value_at(VisualAnalogueScale.x_of(value)) == value
