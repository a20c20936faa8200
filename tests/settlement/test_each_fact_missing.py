"""For every channel of the five cities: the applicant who qualifies (the table in
test_rules.py, observable facts only) with each one fact left unknown in turn. The channel
then asks for that fact (``ask``: what to state; ``missing``: the rule facts it settles),
unless another alternative of an any-group already carries it."""

from __future__ import annotations

import json

import pytest

from settlement.conditions import MET, MISSING
from settlement.facts import facts_derive
from settlement.rules import DATA_DIR
from settlement.services import channel_evaluate
from tests.settlement.test_rules import CASES

RULES = {}
for path in DATA_DIR.glob("*.json"):
    data = json.loads(path.read_text(encoding="utf-8"))
    RULES[data["city_code"]] = data


def _answer(city: str, code: str, facts: dict) -> dict:
    content = RULES[city]
    channel = next(c for c in content["channels"] if c["code"] == code)
    return channel_evaluate(
        channel=channel,
        facts=facts_derive(facts, content),
        constants=content.get("constants"),
    )


@pytest.mark.parametrize(
    ("city", "date", "channel", "facts", "change"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_each_fact_missing_in_turn(city, date, channel, facts, change):
    assert _answer(city, channel, facts)["status"] == MET
    needed_somewhere = False
    for name in facts:
        rest = {k: v for k, v in facts.items() if k != name}
        answer = _answer(city, channel, rest)
        assert answer["status"] in (MET, MISSING), (name, answer["status"])
        if answer["status"] == MISSING:
            needed_somewhere = True
            assert name in answer["ask"], (name, answer["ask"], answer["missing"])
            assert answer["missing"] and answer["unmet"] == []
    assert needed_somewhere
