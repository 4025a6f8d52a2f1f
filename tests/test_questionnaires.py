from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers import REPO

from experiment.errors import ConfigError
from experiment.questionnaires import load_questionnaire, score, score_change

VAS_ITEM = """
[[items]]
id = "a"
text = "Right now, I feel safe."
subscale = "safe"
anchors = ["Not at all", "Completely"]
"""
LIKERT_ITEM = """
[[items]]
id = "b"
text = "How likely?"
subscale = "likely"
response = "likert"
labels = ["No", "", "", "", "Yes"]
"""


def write_bank(tmp_path, items: str, header: str = ""):
    path = tmp_path / "bank.toml"
    path.write_text(f'id = "bank"\ntitle = "T"\ninstructions = "I"\n{header}{items}')
    return path


def line_named(err: ConfigError, path) -> str:
    """The text of the line the error names."""
    number = int(re.search(r"bank\.toml, line (\d+)", str(err)).group(1))
    return path.read_text().splitlines()[number - 1]


def test_shipped_banks_load():
    bank = load_questionnaire(REPO / "stimuli/questionnaires/state.toml")
    assert len(bank.items) >= 10
    subscales = {item.subscale for item in bank.items}
    assert {"self_compassion", "self_criticism", "affiliative_affect", "threat", "positive_activation"} <= subscales
    assert {item.response for item in bank.items} == {"vas", "likert"}


MALFORMED = {
    "duplicate item id": (VAS_ITEM + VAS_ITEM, "repeats the item id", 'id = "a"'),
    "empty text": (VAS_ITEM.replace('"Right now, I feel safe."', '""'), "text", 'text = ""'),
    "missing text": (VAS_ITEM.replace('text = "Right now, I feel safe."\n', ""), "is missing", "[[items]]"),
    "missing subscale": (VAS_ITEM.replace('subscale = "safe"\n', ""), "subscale", "[[items]]"),
    "unknown response type": (
        VAS_ITEM.replace('subscale = "safe"', 'subscale = "safe"\nresponse = "slider"'),
        "not one of vas, likert",
        'response = "slider"',
    ),
    "one anchor": (VAS_ITEM.replace('["Not at all", "Completely"]', '["Only one"]'), "anchors", "anchors ="),
    "likert without labels": (LIKERT_ITEM.replace('labels = ["No", "", "", "", "Yes"]\n', ""), "labels", "[[items]]"),
    "likert end unnamed": (LIKERT_ITEM.replace('"Yes"]', '""]'), "first and the last", "labels ="),
    "unknown column": (VAS_ITEM + "colour = 1\n", "not a known setting", "colour = 1"),
    "mixed scales in a subscale": (
        VAS_ITEM + LIKERT_ITEM.replace('"likely"', '"safe"'),
        "one scale",
        'response = "likert"',
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bank_is_refused_with_file_line_and_key(tmp_path, case):
    items, expected, line_text = MALFORMED[case]
    path = write_bank(tmp_path, VAS_ITEM.replace('"a"', '"first"') + items)
    with pytest.raises(ConfigError, match=expected) as err:
        load_questionnaire(path)
    assert str(path) in str(err.value)
    assert line_text in line_named(err.value, path)


def test_unknown_order_is_refused(tmp_path):
    path = write_bank(tmp_path, VAS_ITEM, header='order = "random"\n')
    with pytest.raises(ConfigError, match="order"):
        load_questionnaire(path)


def test_shuffled_order_is_seeded_per_participant_and_phase(tmp_path):
    items = "".join(VAS_ITEM.replace('"a"', f'"i{n}"') for n in range(8))
    bank = load_questionnaire(write_bank(tmp_path, items, header='order = "shuffled"\n'))
    first, seed = bank.ordered_items("P001/1/pre")
    again, seed_again = bank.ordered_items("P001/1/pre")
    post, _ = bank.ordered_items("P001/1/post")
    other, _ = bank.ordered_items("P002/1/pre")
    assert first == again and seed == seed_again and seed is not None
    assert sorted(i.id for i in first) == sorted(i.id for i in bank.items)
    assert len({tuple(i.id for i in order) for order in (first, post, other)}) > 1
    fixed = load_questionnaire(write_bank(tmp_path, items))
    assert fixed.ordered_items("P001/1/pre") == (fixed.items, None)


def test_scoring_turns_reverse_items_round_and_reports_change():
    bank = load_questionnaire(REPO / "stimuli/questionnaires/state_short.toml")
    rows = [
        ("pre", "state_short", "sc_kind", 80),
        ("pre", "state_short", "sc_cold", 30),  # reverse-scored: counts as 70
        ("pre", "state_short", "aff_safe", 40),
        ("pre", "state_short", "kind_likely", 2),
        ("post", "state_short", "sc_kind", 20),
        ("post", "state_short", "sc_cold", 90),  # counts as 10
        ("post", "state_short", "aff_safe", ""),  # skipped: left out, not counted as 0
        ("post", "state_short", "kind_likely", 6),
    ]
    responses = pd.DataFrame(rows, columns=["phase", "questionnaire", "item", "value"])
    scores = score(responses, {"state_short": bank}).set_index(["phase", "subscale"])["score"]
    assert scores[("pre", "self_compassion")] == pytest.approx(75)
    assert scores[("post", "self_compassion")] == pytest.approx(15)
    assert ("post", "affiliative_affect") not in scores.index
    change = score_change(responses, {"state_short": bank}).set_index("subscale")
    assert change.loc["self_compassion", "change"] == pytest.approx(-60)
    assert change.loc["kindness_intention", ["pre", "post", "change"]].tolist() == [2, 6, 4]
    assert pd.isna(change.loc["affiliative_affect", "post"])


def test_likert_reverse_is_points_plus_one_minus_value(tmp_path):
    bank = load_questionnaire(
        write_bank(tmp_path, LIKERT_ITEM.replace('response = "likert"', 'response = "likert"\nreverse = true'))
    )
    assert bank.items[0].scored(1) == 5 and bank.items[0].scored(4) == 2
