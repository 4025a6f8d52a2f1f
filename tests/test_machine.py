"""What a probe found out about the computer is remembered only while its conditions hold."""

from __future__ import annotations

import pytest

from experiment import machine


@pytest.fixture
def memory(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPERIMENT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_an_outcome_is_remembered_under_its_conditions_only(memory):
    when = machine.conditions("numpy", device=None, rate_hz=48000)
    assert machine.remembered("probe", when) is None
    machine.remember("probe", when, {"failure": "it stalled"})
    assert machine.remembered("probe", when)["outcome"] == {"failure": "it stalled"}
    newer = when | {"versions": {"numpy": "99.0"}}
    assert machine.remembered("probe", newer) is None  # another version: probe again
    assert machine.remembered("probe", when | {"rate_hz": 44100}) is None  # another format
    assert machine.remembered("other probe", when) is None


def test_forgetting_and_replacing_keep_one_entry_per_conditions(memory):
    when = machine.conditions(device="USB")
    machine.remember("probe", when, {"failure": "first"})
    machine.remember("probe", when, {"failure": "second"})
    assert machine.remembered("probe", when)["outcome"] == {"failure": "second"}
    machine.forget("probe", when)
    assert machine.remembered("probe", when) is None


def test_a_damaged_or_unwritable_memory_only_costs_the_probe(memory):
    memory.mkdir()
    (memory / machine.MEMORY_FILE).write_text("{not json")
    assert machine.remembered("probe", machine.conditions()) is None
    (memory / machine.MEMORY_FILE).unlink()
    memory.rmdir()
    memory.write_text("a file where the cache folder should be")  # unwritable, even for root
    machine.remember("probe", machine.conditions(), {"failure": "x"})  # no exception
    assert machine.remembered("probe", machine.conditions()) is None
