"""Questionnaire item banks and scoring. No PsychoPy here.

An item file is TOML::

    id = "state"
    title = "How you feel right now"
    instructions = "..."
    [[items]]
    id = "sc_kind"
    text = "Right now I am being kind to myself."
    subscale = "self_compassion"
    reverse = false                      # optional, default false
    anchors = ["Not at all", "Completely"]

Every item is a 0-100 visual analogue scale; a reverse-scored item counts as 100 - value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiment.tables import Table, load_toml

VAS_MIN = 0
VAS_MAX = 100
_ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    subscale: str
    reverse: bool
    anchor_low: str
    anchor_high: str


@dataclass(frozen=True)
class Questionnaire:
    id: str
    title: str
    instructions: str
    items: tuple[Item, ...]
    source: Path


def load_questionnaire(path: Path) -> Questionnaire:
    """Load and validate one item file; raise ConfigError naming the file and key."""
    top = Table(load_toml(path, "The questionnaire file"), path)
    qid = top.str("id")
    if not _ID_PATTERN.match(qid):
        raise top.error("id", "must start with a letter and hold only letters, digits and _")
    title = top.str("title")
    instructions = top.str("instructions")
    items = []
    seen: set[str] = set()
    for table in top.table_list("items"):
        item = _read_item(table)
        if item.id in seen:
            raise table.error("id", f"repeats the item id '{item.id}': give each item its own id")
        seen.add(item.id)
        items.append(item)
    top.finish()
    return Questionnaire(qid, title, instructions, tuple(items), path)


def _read_item(table: Table) -> Item:
    item_id = table.str("id")
    if not _ID_PATTERN.match(item_id):
        raise table.error("id", "must start with a letter and hold only letters, digits and _")
    anchors = table.str_list("anchors")
    if len(anchors) != 2:
        raise table.error("anchors", "must hold two labels: the low end and the high end")
    item = Item(
        id=item_id,
        text=table.str("text"),
        subscale=table.str("subscale"),
        reverse=table.bool("reverse", False),
        anchor_low=anchors[0],
        anchor_high=anchors[1],
    )
    table.finish()
    return item


def score(responses: pd.DataFrame, questionnaires: dict[str, Questionnaire]) -> pd.DataFrame:
    """Subscale means per phase, with reverse-scored items turned round.

    Parameters
    ----------
    responses : DataFrame
        Rows of responses.csv (columns ``phase``, ``questionnaire``, ``item``, ``value``).
    questionnaires : dict
        Item banks by questionnaire id.

    Returns
    -------
    DataFrame
        Columns ``phase``, ``questionnaire``, ``subscale``, ``score``, ``n_items``.
    """
    rows = []
    for row in responses.itertuples(index=False):
        bank = questionnaires[row.questionnaire]
        item = next(i for i in bank.items if i.id == row.item)
        value = float(row.value)
        rows.append(
            {
                "phase": row.phase,
                "questionnaire": row.questionnaire,
                "subscale": item.subscale,
                "value": VAS_MAX - value if item.reverse else value,
            }
        )
    columns = ["phase", "questionnaire", "subscale", "score", "n_items"]
    if not rows:
        return pd.DataFrame(columns=columns)
    scored = pd.DataFrame(rows).groupby(["phase", "questionnaire", "subscale"], sort=False)
    out = scored["value"].agg(score="mean", n_items="count").reset_index()
    return out[columns]
