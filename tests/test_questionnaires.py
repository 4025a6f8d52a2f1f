from __future__ import annotations

import pandas as pd
import pytest
from conftest import REPO

from experiment.errors import ConfigError
from experiment.questionnaires import load_questionnaire, score

GOOD_ITEM = """
[[items]]
id = "a"
text = "Right now, I feel safe."
subscale = "safe"
anchors = ["Not at all", "Completely"]
"""


def write_bank(tmp_path, items: str):
    path = tmp_path / "bank.toml"
    path.write_text(f'id = "bank"\ntitle = "T"\ninstructions = "I"\n{items}')
    return path


def test_shipped_banks_load():
    bank = load_questionnaire(REPO / "stimuli/questionnaires/state.toml")
    assert len(bank.items) >= 10
    subscales = {item.subscale for item in bank.items}
    assert {"self_compassion", "self_criticism", "affiliative_affect", "threat"} <= subscales


@pytest.mark.parametrize(
    "items, expected",
    [
        (GOOD_ITEM + GOOD_ITEM, "repeats the item id"),
        (GOOD_ITEM.replace('text = "Right now, I feel safe."', 'text = ""'), "items[1].text"),
        (GOOD_ITEM.replace('subscale = "safe"\n', ""), "items[1].subscale"),
        (GOOD_ITEM.replace('["Not at all", "Completely"]', '["Only one"]'), "items[1].anchors"),
        (GOOD_ITEM + "colour = 1\n", "items[1].colour"),
    ],
)
def test_malformed_bank_is_refused_naming_the_key(tmp_path, items, expected):
    with pytest.raises(ConfigError, match="bank.toml") as err:
        load_questionnaire(write_bank(tmp_path, items))
    assert expected in str(err.value)


def test_scoring_turns_reverse_items_round(tmp_path):
    bank = load_questionnaire(REPO / "stimuli/questionnaires/state_short.toml")
    rows = [
        ("pre", "state_short", "sc_kind", 80),
        ("pre", "state_short", "sc_cold", 30),  # reverse-scored: counts as 70
        ("pre", "state_short", "aff_safe", 40),
        ("post", "state_short", "sc_kind", 20),
        ("post", "state_short", "sc_cold", 90),  # counts as 10
    ]
    responses = pd.DataFrame(rows, columns=["phase", "questionnaire", "item", "value"])
    scores = score(responses, {"state_short": bank}).set_index(["phase", "subscale"])["score"]
    assert scores[("pre", "self_compassion")] == pytest.approx(75)
    assert scores[("post", "self_compassion")] == pytest.approx(15)
    assert scores[("pre", "affiliative_affect")] == pytest.approx(40)
