"""The misreadings found by judging the pre-check against cases written from the documents
(issue 16, "Found" 1–4), and the quoted clause text every channel carries."""

from __future__ import annotations

import json
import re

import pytest

from population.errors import DomainError
from settlement.models import RuleSet
from settlement.rules import DATA_DIR, ruleset_load_file
from settlement.services import settlement_precheck

pytestmark = pytest.mark.django_db

QY, JM, LC = "441800", "440700", "530900"
DOCUMENTS = DATA_DIR.parent / "documents"


def _channel(city, date, facts, code):
    result = settlement_precheck({"city_code": city, "date": date, "facts": facts})
    return next(c for c in result["channels"] if c["code"] == code), result


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("path", sorted(DATA_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_channel_quotes_its_document_word_for_word(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    document = _flat((DOCUMENTS / f"{path.stem}.txt").read_text(encoding="utf-8"))
    for channel in data["channels"]:
        pieces = channel["clause_text"].split("……")
        assert all(_flat(p) and _flat(p) in document for p in pieces), channel["code"]


def test_the_answer_carries_the_clause_and_its_text():
    verdict, _ = _channel(JM, "2019-03-01", {}, "specialist")
    assert verdict["source"] == "二（二）3"
    assert verdict["clause_text"].startswith("3、专才入户。具有本科及以上学历")


# Found 1: 江门 二（三）2 — a relative living in the owner's second home does not live with the
# owner; the document asks that one of two homes is lent to the collateral relative.
def test_jiangmen_sibling_in_the_owners_second_home_qualifies_without_living_with_the_owner():
    owners_home = {"owner": "sponsor", "use": "residential", "area_m2": 80, "registered": True}
    facts = {
        "sponsor_relation_code": "71",  # 兄
        "properties": [owners_home, owners_home | {"area_m2": 60}],
        "lives_in_sponsor_home": True,
        "lives_with_sponsor": False,
    }
    verdict, result = _channel(JM, "2019-03-01", facts, "collateral_in_second_home")
    assert verdict["status"] == "met", verdict
    assert "collateral_in_second_home" in result["qualifies"]
    # a child of the owner is lineal, not collateral: the channel is not theirs
    verdict, _ = _channel(
        JM, "2019-03-01", facts | {"sponsor_relation_code": "51"}, "collateral_in_second_home"
    )
    assert verdict["status"] == "unmet"
    # the owner's homes, not the applicant's, are counted
    mine = owners_home | {"owner": "applicant"}
    verdict, _ = _channel(
        JM,
        "2019-03-01",
        facts | {"properties": [owners_home, mine]},
        "collateral_in_second_home",
    )
    assert verdict["status"] == "unmet"


# Found 2: 清远 四（一）未婚子女投靠父母.
@pytest.mark.parametrize(("married", "status"), [(False, "met"), (True, "unmet")])
def test_qingyuan_only_an_unmarried_child_joins_the_parents(married, status):
    facts = {
        "sponsor_relation_code": "52",  # 母亲
        "married": married,
        "sponsor_hukou_in_city": True,
        "lives_with_sponsor": True,
        "destination_urban_rural_code": "121",
    }
    verdict, _ = _channel(QY, "2016-05-01", facts, "kinship")
    assert verdict["status"] == status, verdict


# Found 3: an urban spouse with a stable job moving to a rural spouse: 五（一）is the rule.
URBAN_SPOUSE_TO_VILLAGE = {
    "sponsor_relation_code": "10",
    "sponsor_hukou_in_city": True,
    "lives_with_sponsor": True,
    "hukou_urban_rural_code": "111",
    "urban_side_stable_job": True,
    "village_two_thirds_consent": True,
    "village_committee_consent": True,
}


def test_urban_spouse_with_a_job_moving_to_a_village_qualifies_on_no_channel():
    facts = URBAN_SPOUSE_TO_VILLAGE | {"destination_urban_rural_code": "220"}
    rural, result = _channel(QY, "2016-05-01", facts, "rural_spouse")
    assert rural["status"] == "unmet"
    kinship = next(c for c in result["channels"] if c["code"] == "kinship")
    assert kinship["status"] == "unmet"
    assert result["qualifies"] == []


def test_without_the_destination_kinship_cannot_be_decided():
    kinship, result = _channel(QY, "2016-05-01", URBAN_SPOUSE_TO_VILLAGE, "kinship")
    assert kinship["status"] == "missing"
    assert "kinship" not in result["qualifies"]
    # into a town household the general kinship channel applies
    kinship, _ = _channel(
        QY,
        "2016-05-01",
        URBAN_SPOUSE_TO_VILLAGE | {"destination_urban_rural_code": "121"},
        "kinship",
    )
    assert kinship["status"] == "met"


def test_urban_spouse_without_a_job_moving_to_a_village_takes_the_rural_channel():
    facts = URBAN_SPOUSE_TO_VILLAGE | {
        "destination_urban_rural_code": "220",
        "urban_side_stable_job": False,
    }
    _, result = _channel(QY, "2016-05-01", facts, "rural_spouse")
    assert result["qualifies"] == ["rural_spouse"]


# Found 4: 临沧 — the policy is chapter 三 of the document (三（二）2 … 三（三）10).
def test_lincang_clause_numbers_are_the_documents():
    rule_set = RuleSet.objects.get(city_code=LC)
    sources = {c["code"]: c["source"] for c in rule_set.content["channels"]}
    assert sources["county_town"] == "三（二）2"
    assert sources["military_family"] == "三（二）7"
    assert sources["permit_holder"] == "三（三）10"
    assert all(s.startswith("三（") for s in sources.values())


def test_a_higher_reading_of_the_same_document_replaces_the_stored_content(tmp_path):
    stored = RuleSet.objects.get(city_code="440200")
    data = json.loads((DATA_DIR / "shaoguan-2017.json").read_text(encoding="utf-8"))
    data["channels"][1]["note"] = "reread"
    path = tmp_path / "shaoguan-2017.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DomainError) as exc:  # the same reading with other content: refused
        ruleset_load_file(path=path)
    assert exc.value.code == "rules_version_exists"
    data["reading"] += 1
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    rule_set, created = ruleset_load_file(path=path)
    assert not created and rule_set.pk == stored.pk
    assert rule_set.content["channels"][1]["note"] == "reread"
    # and a lower reading never goes back
    data["reading"] -= 1
    data["channels"][1]["note"] = "older"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DomainError):
        ruleset_load_file(path=path)
    assert RuleSet.objects.get(pk=stored.pk).content["channels"][1]["note"] == "reread"


def test_the_docs_review_table_is_generated_from_the_rule_files():
    from settlement.docgen import DOC, doc_with_generated

    text = DOC.read_text(encoding="utf-8")
    assert doc_with_generated(text) == text, "run: python manage.py settlement_rules_doc"
    for path in sorted(DATA_DIR.glob("*.json")):
        for channel in json.loads(path.read_text(encoding="utf-8"))["channels"]:
            assert f"`{channel['code']}` {channel['name']}" in text


def test_every_test_a_rule_file_names_exists():
    root = DATA_DIR.parents[2]
    for path in sorted(DATA_DIR.glob("*.json")):
        for channel in json.loads(path.read_text(encoding="utf-8"))["channels"]:
            for name in channel.get("tests", []):
                file, func = name.split("::")
                assert f"def {func}(" in (root / file).read_text(encoding="utf-8"), name
