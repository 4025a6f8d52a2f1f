from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from experiment.ui.autopilot import vas_keys
from experiment.ui.scales import KEY_STEPS, VasScale


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
    assert VasScale.value_at_x(VasScale.x_of(value)) == value


@given(st.integers(1, 11), st.data())
def test_autopilot_likert_keys_reach_the_target(points, data):
    from experiment.questionnaires import Item
    from experiment.ui.autopilot import likert_keys
    from experiment.ui.scales import LikertScale

    target = data.draw(st.integers(1, points))
    item = Item("x", "t", "s", False, "likert", labels=("a",) + ("",) * (points - 2) + ("b",))
    scale = LikertScale.__new__(LikertScale)  # the key logic needs no window
    scale.points = item.points
    value = None
    keys = likert_keys(target, points)
    assert keys[-1] == "return"
    for key in keys[:-1]:
        value = scale.after_key(value, key)
    assert value == target
