"""Answers a person can act on (issue 16, "What it must do" 4): per channel met / unmet /
needs facts; for unmet only what fails (an any-group as one list of alternatives); for
needs-facts only the facts that could change the verdict; a fact compared with another names
the one that is unknown; the clause, its words and popbase's notes; one channel asked alone."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from population.errors import DomainError
from settlement.conditions import leaves
from settlement.facts import DERIVED_FROM, FACTS, INPUTS, facts_derive, facts_validate
from settlement.rules import DATA_DIR
from settlement.services import channel_evaluate, settlement_precheck

RULES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in DATA_DIR.glob("*.json")}
CHANNELS = [(stem, ch) for stem, data in sorted(RULES.items()) for ch in data["channels"]]
JM, LC, GZ = "440700", "530900", "440100"


def _rules(stem: str, code: str) -> dict:
    return next(c for c in RULES[stem]["channels"] if c["code"] == code)


def _facts_used(cond: dict) -> list[str]:
    names = []
    for key in ("all", "any"):
        for part in cond.get(key, ()):
            names += _facts_used(part)
    if "fact" in cond:
        names.append(cond["fact"])
        if "other" in cond:
            names.append(cond["other"])
    return names


def _value(name: str, zones: list[str]):
    spec = FACTS[name]
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "int":
        return st.integers(0, 40)
    if spec.type == "number":
        return st.one_of(st.integers(0, 60), st.floats(0, 60, allow_nan=False))
    if spec.type == "enum":
        return st.sampled_from(spec.choices)
    return st.sampled_from([*zones, "elsewhere"])


@st.composite
def channel_and_facts(draw):
    stem, channel = draw(st.sampled_from(CHANNELS))
    zones = list(RULES[stem].get("zones", {}))
    used = list(dict.fromkeys(_facts_used(channel["condition"])))
    known = draw(st.lists(st.sampled_from(used), unique=True))
    facts = {name: draw(_value(name, zones)) for name in known}
    extra = draw(st.sampled_from(used))
    return channel, facts, extra, draw(_value(extra, zones))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channel_and_facts())
def test_a_fact_the_answer_did_not_ask_for_never_changes_the_verdict(case):
    channel, facts, extra, value = case
    constants = next(d for d in RULES.values() if channel in d["channels"]).get("constants")
    answer = channel_evaluate(channel=channel, facts=facts, constants=constants)
    if answer["status"] == "met":
        assert answer["unmet"] == [] and answer["missing"] == []
    elif answer["status"] == "unmet":
        assert answer["unmet"] and answer["missing"] == []
    else:
        assert answer["missing"] and answer["unmet"] == []
    if extra in facts or extra in answer["missing"]:
        return
    again = channel_evaluate(channel=channel, facts=facts | {extra: value}, constants=constants)
    assert again["status"] == answer["status"], (channel["code"], facts, extra, value)


# -- the same, for what a request states (observations): adding a stated fact that ``ask`` did
# not name never changes the verdict.
REGIONS = [
    "441802006001", "441803102", "441803104", "441821100", "441881001", "441823201",
    "440703", "440781", "440106", "530921101", "530921102", "530921201", "440203",
]  # fmt: skip
RELATIONS = ["10", "20", "28", "41", "51", "55", "61", "71", "83", "97", "99"]


def _input_value(name: str):
    assert name in INPUTS, name
    if name.endswith("relation_code"):
        return st.sampled_from(RELATIONS)
    if name.endswith("urban_rural_code"):
        return st.sampled_from(["111", "121", "122", "210", "220"])
    if name.endswith("region_code"):
        return st.sampled_from(REGIONS)
    if name == "properties":
        return st.lists(
            st.fixed_dictionaries(
                {
                    "owner": st.sampled_from(["applicant", "spouse", "sponsor", "other"]),
                    "use": st.sampled_from(["residential", "shop", "factory", "other"]),
                    "area_m2": st.integers(0, 200),
                    "registered": st.booleans(),
                }
            ),
            max_size=3,
        )
    if name == "insurance":
        return st.lists(
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from(["pension", "medical", "other"]),
                    "type": st.sampled_from(["urban_employee", "urban_rural_resident"]),
                    "region_code": st.sampled_from(REGIONS),
                    "months": st.integers(0, 30),
                }
            ),
            max_size=3,
        )
    if name == "household_persons":
        return st.integers(1, 8)
    return _value(name, [])


def _inputs_used(cond: dict) -> list[str]:
    out = []
    for name in _facts_used(cond):
        out += DERIVED_FROM[name][1] if name in DERIVED_FROM else [name]
    return list(dict.fromkeys(out))


@st.composite
def channel_and_stated_facts(draw):
    stem, channel = draw(st.sampled_from(CHANNELS))
    used = _inputs_used(channel["condition"])
    known = draw(st.lists(st.sampled_from(used), unique=True))
    facts = {name: draw(_input_value(name)) for name in known}
    extra = draw(st.sampled_from(used))
    return stem, channel, facts, extra, draw(_input_value(extra))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channel_and_stated_facts())
def test_a_stated_fact_the_answer_did_not_ask_for_never_changes_the_verdict(case):
    stem, channel, facts, extra, value = case
    content = RULES[stem]
    constants = content.get("constants")

    def judge(stated):
        derived = facts_derive(facts_validate(stated), content)
        return channel_evaluate(channel=channel, facts=derived, constants=constants)

    answer = judge(facts)
    assert (answer["status"] == "missing") == bool(answer["ask"]), answer
    if extra in facts or extra in answer["ask"]:
        return
    again = judge(facts | {extra: value})
    assert again["status"] == answer["status"], (channel["code"], facts, extra, value)


def test_every_asked_fact_can_change_the_verdict_alone_or_with_the_others():
    # Filling every asked fact always decides the channel.
    for stem, channel in CHANNELS:
        constants = RULES[stem].get("constants")
        answer = channel_evaluate(channel=channel, facts={}, constants=constants)
        assert answer["status"] == "missing"
        assert set(answer["missing"]) == set(_facts_used(channel["condition"]))


def test_a_met_channel_lists_nothing_to_do():
    channel = _rules("shaoguan-2017", "insured_one_year")
    answer = channel_evaluate(channel=channel, facts={"employee_insurance_months": 12})
    assert (answer["status"], answer["verdict_zh"]) == ("met", "符合")
    assert answer["unmet"] == answer["failing"] == answer["missing"] == answer["ask"] == []


def test_an_unmet_channel_lists_only_what_fails_and_no_facts():
    channel = _rules("jiangmen-2018", "stable_job_core")
    facts = {"residence_zone": "core_district", "employment_months": 7}
    facts["social_insurance_months"] = 5  # residence_kind unknown: it cannot save the channel
    answer = channel_evaluate(channel=channel, facts=facts)
    assert answer["status"] == "unmet" and answer["verdict_zh"] == "不符合"
    assert answer["unmet"] == ["参加社会保险满半年"]
    assert answer["failing"] == [
        {"zh": "参加社会保险满半年", "fact": "social_insurance_months", "value": 5, "expected": 6}
    ]
    assert answer["missing"] == []


def test_an_unmet_any_group_is_one_list_of_alternatives():
    channel = _rules("jiangmen-2018", "specialist")
    facts = {"degree": "junior_college", "professional_title": "none", "skill_level": "none"}
    answer = channel_evaluate(channel=channel, facts=facts)
    assert answer["status"] == "unmet"
    assert len(answer["failing"]) == 1
    group = answer["failing"][0]
    assert [a["zh"] for a in group["any_of"]] == [
        "本科及以上学历",
        "初级及以上专业技术职称",
        "初级工及以上职业资格",
    ]
    assert answer["unmet"] == [
        "以下之一：「本科及以上学历」 或 「初级及以上专业技术职称」 或 「初级工及以上职业资格」"
    ]


def test_an_undecided_channel_asks_only_for_facts_that_could_change_it():
    channel = _rules("jiangmen-2018", "specialist")
    # a met alternative decides the any-group: the other two are not asked
    met = channel_evaluate(channel=channel, facts={"degree": "bachelor"})
    assert met["status"] == "met" and met["missing"] == []
    # nothing met yet: the unknown alternatives are asked, the failed one is not
    answer = channel_evaluate(channel=channel, facts={"degree": "junior_college"})
    assert answer["status"] == "missing" and answer["verdict_zh"] == "需补充事实"
    assert answer["missing"] == ["professional_title", "skill_level"]
    assert answer["missing_zh"] == ["专业技术职称", "职业资格等级"]


def test_the_hardship_standard_is_the_rule_sets_constant_marked_as_popbases_placeholder():
    channel = _rules("lincang-2015", "lineal_kin")
    constants = RULES["lincang-2015"]["constants"]
    base = {"sponsor_relation": "grandparent", "lives_with_sponsor": True}
    answer = channel_evaluate(channel=channel, facts=base, constants=constants)
    assert answer["status"] == "missing"
    assert answer["missing"] == ["housing_area_per_person_m2"]  # never the standard itself
    assert [c["name"] for c in answer["placeholders"]] == ["housing_hardship_standard_m2"]
    assert answer["placeholders"][0]["label"] == "popbase 占位取值，非文件规定"
    answer = channel_evaluate(
        channel=channel, facts=base | {"housing_area_per_person_m2": 14.9}, constants=constants
    )
    assert answer["status"] == "unmet"
    assert len(answer["failing"]) == 1 and "any_of" in answer["failing"][0]


@pytest.mark.django_db
def test_the_applicant_is_told_where_a_retired_fact_went(shipped_rules):
    with pytest.raises(DomainError) as exc:
        settlement_precheck(
            {
                "city_code": LC,
                "date": "2016-01-01",
                "facts": {"housing_hardship_standard_m2": 15, "homes_owned": 2},
            }
        )
    assert exc.value.code == "bad_facts"
    assert "constants.housing_hardship_standard_m2" in exc.value.message_zh
    assert "constants.housing_hardship_standard_m2" in exc.value.message_en
    assert "owner=sponsor" in exc.value.message_zh and "owner=sponsor" in exc.value.message_en


@pytest.mark.django_db
def test_every_policy_constant_and_quota_says_whose_number_it_is(shipped_rules):
    result = settlement_precheck({"city_code": GZ, "date": "2017-01-01", "facts": {}})
    assert result["constants"] == [
        {
            "name": "min_points",
            "value": 85,
            "zh": "积分入户分值线",
            "placeholder": True,
            "by": "popbase",
            "label": "popbase 占位取值，非文件规定",
            "note": RULES["guangzhou-2016"]["constants"]["min_points"]["note"],
        }
    ]
    points = next(c for c in result["channels"] if c["code"] == "points")
    assert points["placeholders"][0]["name"] == "min_points"
    for data in RULES.values():
        for c in [*data.get("constants", {}).values(), *data.get("targets", [])]:
            assert bool(c.get("placeholder")) != bool(c.get("source"))


def test_the_urban_rural_marriage_asks_for_the_spouses_hukou_not_the_applicants():
    channel = _rules("lincang-2015", "urban_rural_marriage")
    facts = {"sponsor_relation": "spouse", "hukou_urban": True, "lives_with_sponsor": True}
    answer = channel_evaluate(channel=channel, facts=facts)
    assert answer["missing"] == ["sponsor_hukou_urban"]


def test_notes_are_marked_as_popbases_reading():
    answer = channel_evaluate(channel=_rules("lincang-2015", "permit_holder"), facts={})
    assert answer["notes"] and all(n["by"] == "popbase" for n in answer["notes"])
    assert "popbase" in answer["notes"][0]["label"]


@pytest.mark.django_db
def test_one_channel_may_be_asked_alone(shipped_rules):
    result = settlement_precheck(
        {
            "city_code": JM,
            "date": "2019-03-01",
            "channel": "specialist",
            "facts": {"degree": "bachelor"},
        }
    )
    assert [c["code"] for c in result["channels"]] == ["specialist"]
    assert result["qualifies"] == ["specialist"]
    assert result["channels"][0]["clause_text"].startswith("3、专才入户")
    with pytest.raises(DomainError) as exc:
        settlement_precheck({"city_code": JM, "date": "2019-03-01", "channel": "points"})
    assert exc.value.code == "unknown_channel"
    assert "points" in exc.value.message_zh and "specialist" in exc.value.message_en
    with pytest.raises(DomainError) as exc:
        settlement_precheck({"city_code": JM, "date": "2019-03-01", "channel": ["spouse"]})
    assert exc.value.code == "unknown_channel"


@pytest.mark.django_db
def test_the_answer_names_popbases_reading_of_the_document(shipped_rules):
    result = settlement_precheck({"city_code": GZ, "date": "2017-01-01", "facts": {}})
    assert result["rule_set"]["reading"] == 3
    assert any(n["by"] == "popbase" for n in result["notes"])
    points = next(c for c in result["channels"] if c["code"] == "points")
    shown = [leaf["constant"] for leaf in leaves(points["conditions"]) if "constant" in leaf]
    assert shown and shown[0]["by"] == "popbase"
