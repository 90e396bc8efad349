"""Issue 14: the independent evaluation set (tests/lookup_eval.py) holds its promises.

0 confidently wrong answers overall, a floor of right answers per class, and
traditional-character, 〇/○ and look-alike variants right at least as often as
their simplified/Arabic twins.
"""

from __future__ import annotations

import pytest
from lookup_eval import FLOORS, evaluate


@pytest.fixture(scope="module")
def table():
    return evaluate(per_class=30)


def test_no_confidently_wrong_answer(table) -> None:
    t, bad = table
    wrong = [b for b in bad if b[0] in t.index and t.loc[b[0], "wrong"]]
    assert int(t["wrong"].sum()) == 0, wrong[:10]


def test_right_answers_per_class_reach_their_floor(table) -> None:
    t, bad = table
    low = {
        c: float(t.loc[c, "right_share"]) for c in t.index if t.loc[c, "right_share"] < FLOORS[c]
    }
    assert not low, (low, [b for b in bad if b[0] in low][:10])
    assert (t["n"] >= 20).all(), t["n"].to_dict()


def test_traditional_and_ling_variants_as_good_as_their_twins(table) -> None:
    t, _ = table
    share = t["right_share"]
    assert share["traditional"] >= share["canonical"]
    assert share["zero_ling"] >= share["zero_arabic"]
    assert share["lookalike"] >= share["lookalike_twin"]
