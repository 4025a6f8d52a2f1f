"""Questionnaire item banks and scoring. No PsychoPy here.

An item file is TOML (see stimuli/questionnaires/state.toml for a complete one)::

    id = "state"
    title = "How you feel right now"
    instructions = "..."
    order = "fixed"                 # or "shuffled": a new order per participant, seeded and logged
    required = true                 # an answer is needed to go on (default true)

    [[items]]
    id = "sc_kind"
    text = "Right now, I am kind to myself."
    subscale = "self_compassion"
    response = "vas"                # 0-100 visual analogue scale (default)
    anchors = ["Not at all", "Completely"]
    reverse = false                 # optional: scored as 100 - value

    [[items]]
    id = "kind_likely"
    text = "How likely is it that you will be kind to yourself today?"
    subscale = "kindness_intention"
    response = "likert"             # k buttons, scored 1..k (reverse: k + 1 - value)
    labels = ["Not at all", "", "", "Somewhat", "", "", "Extremely"]   # one per point

A subscale holds items of one response type (and one number of points), so its score is a
plain mean on one scale.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from experiment.tables import Table, load_toml

if TYPE_CHECKING:
    import pandas as pd

VAS_MIN = 0
VAS_MAX = 100
RESPONSE_TYPES = ("vas", "likert")
ORDERS = ("fixed", "shuffled")
_ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    subscale: str
    reverse: bool
    response: str = "vas"
    anchor_low: str = ""
    anchor_high: str = ""
    labels: tuple[str, ...] = ()  # Likert: one label per point (empty strings allowed)

    @property
    def points(self) -> int:
        return len(self.labels)

    def scored(self, value: float) -> float:
        """The value as it counts towards the subscale (reverse-scored items turned round)."""
        if not self.reverse:
            return value
        return VAS_MAX - value if self.response == "vas" else self.points + 1 - value


@dataclass(frozen=True)
class Questionnaire:
    id: str
    title: str
    instructions: str
    items: tuple[Item, ...]
    source: Path
    order: str = "fixed"
    required: bool = True

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)

    def ordered_items(self, seed_text: str) -> tuple[tuple[Item, ...], int | None]:
        """The items in presentation order, and the seed used (None when the order is fixed).

        The seed comes from ``seed_text`` (participant, session, phase), so a participant's
        order can always be rebuilt from the data, and differs between pre and post.
        """
        if self.order == "fixed":
            return self.items, None
        seed = int(hashlib.sha256(f"{seed_text}/{self.id}".encode()).hexdigest()[:12], 16)
        items = list(self.items)
        random.Random(seed).shuffle(items)
        return tuple(items), seed


def load_questionnaire(path: Path) -> Questionnaire:
    """Load and validate one item file; raise ConfigError naming the file, line and key."""
    top = Table(load_toml(path, "The questionnaire file"), path)
    qid = top.str("id")
    if not _ID_PATTERN.match(qid):
        raise top.error("id", "must start with a letter and hold only letters, digits and _")
    title = top.str("title")
    instructions = top.str("instructions")
    order = top.str("order", "fixed")
    if order not in ORDERS:
        raise top.error("order", f"is '{order}', not one of {', '.join(ORDERS)}")
    required = top.bool("required", True)
    items: list[Item] = []
    scales: dict[str, tuple[str, int]] = {}
    for table in top.table_list("items"):
        item = _read_item(table)
        if any(i.id == item.id for i in items):
            raise table.error("id", f"repeats the item id '{item.id}': give each item its own id")
        scale = (item.response, item.points)
        if scales.setdefault(item.subscale, scale) != scale:
            raise table.error("response", f"differs from the other '{item.subscale}' items: a subscale uses one scale")
        items.append(item)
    top.finish()
    return Questionnaire(qid, title, instructions, tuple(items), path, order, required)


def _read_item(table: Table) -> Item:
    item_id = table.str("id")
    if not _ID_PATTERN.match(item_id):
        raise table.error("id", "must start with a letter and hold only letters, digits and _")
    response = table.str("response", "vas")
    if response not in RESPONSE_TYPES:
        raise table.error("response", f"is '{response}', not one of {', '.join(RESPONSE_TYPES)}")
    common = {
        "id": item_id,
        "text": table.str("text"),
        "subscale": table.str("subscale"),
        "reverse": table.bool("reverse", False),
        "response": response,
    }
    if response == "vas":
        anchors = table.str_list("anchors")
        if len(anchors) != 2:
            raise table.error("anchors", "must hold two labels: the low end and the high end")
        item = Item(**common, anchor_low=anchors[0], anchor_high=anchors[1])
    else:
        labels = table.raw("labels")
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels) or not 2 <= len(labels) <= 11:
            raise table.error("labels", 'must list one label per point, 2 to 11 of them, like ["No", "", "Yes"]')
        if not labels[0].strip() or not labels[-1].strip():
            raise table.error("labels", "must name at least the first and the last point")
        item = Item(**common, labels=tuple(labels))
    table.finish()
    return item


def score(responses: pd.DataFrame, questionnaires: dict[str, Questionnaire]) -> pd.DataFrame:
    """Subscale means per phase, with reverse-scored items turned round.

    Parameters
    ----------
    responses : DataFrame
        Rows of responses.csv (columns ``phase``, ``questionnaire``, ``item``, ``value``);
        unanswered items (empty value) are left out of the mean.
    questionnaires : dict
        Item banks by questionnaire id.

    Returns
    -------
    DataFrame
        Columns ``phase``, ``questionnaire``, ``subscale``, ``score``, ``n_items``.
    """
    import pandas as pd  # here, not at the top: sessions and the ledger commands start faster

    columns = ["phase", "questionnaire", "subscale", "score", "n_items"]
    rows = []
    for row in responses.itertuples(index=False):
        if pd.isna(row.value) or row.value == "":
            continue
        item = questionnaires[row.questionnaire].item(row.item)
        rows.append(
            {
                "phase": row.phase,
                "questionnaire": row.questionnaire,
                "subscale": item.subscale,
                "value": item.scored(float(row.value)),
            }
        )
    if not rows:
        return pd.DataFrame(columns=columns)
    grouped = pd.DataFrame(rows).groupby(["phase", "questionnaire", "subscale"], sort=False)
    return grouped["value"].agg(score="mean", n_items="count").reset_index()[columns]


def score_change(
    responses: pd.DataFrame, questionnaires: dict[str, Questionnaire], before: str = "pre", after: str = "post"
) -> pd.DataFrame:
    """Each subscale before and after the audio, and the change (after - before).

    Returns
    -------
    DataFrame
        Columns ``questionnaire``, ``subscale``, ``pre``, ``post``, ``change`` (named after
        ``before`` and ``after``); a subscale missing in one phase has NaN there.
    """
    scores = score(responses, questionnaires)
    wide = scores.pivot_table(index=["questionnaire", "subscale"], columns="phase", values="score", sort=False)
    wide = wide.reindex(columns=[before, after]).reset_index()
    wide.columns.name = None
    wide["change"] = wide[after] - wide[before]
    return wide
