"""Documents that change (issue 16, "What it must do" 5): a later document extends or partly
replaces a stored rule set, loaded as data; the pre-check says which document decided. The
demo city's 演示 extension is the first amendment."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from population.errors import DomainError
from settlement.amendments import AMENDMENTS_DIR, amendment_load_file, amendment_store
from settlement.demo import demo_ruleset_ensure
from settlement.models import RuleSet
from settlement.rules import DATA_DIR, ruleset_in_force
from settlement.services import settlement_precheck

pytestmark = pytest.mark.django_db

JM = "440700"
DEMO_FILE = AMENDMENTS_DIR / "qingyuan-2015-演示.json"


def _supersede(**changes) -> dict:
    jm = json.loads((DATA_DIR / "jiangmen-2018.json").read_text(encoding="utf-8"))
    spouse = next(c for c in jm["channels"] if c["code"] == "spouse")
    return {
        "city_code": JM,
        "base_version": "2018",
        "version": "2021-修订",
        "kind": "supersede",
        "document": "江门市关于调整夫妻投靠入户条件的通知（测试用）",
        "document_number": "测试〔2021〕1号",
        "issuer": "江门市人民政府",
        "date": "2021-01-01",
        "effective_from": "2021-01-01",
        "effective_to": None,
        "changes": "二（一）1 夫妻投靠不再要求配偶有合法固定住所",
        "channels_replace": [
            spouse
            | {
                "condition": {
                    "fact": "sponsor_relation",
                    "op": "==",
                    "value": "spouse",
                    "zh": "投靠配偶",
                }
            }
        ],
    } | changes


def test_the_demo_extension_is_an_amendment_that_names_its_document():
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    assert data["demo"] is True and data["kind"] == "extend" and "演示" in data["document"]
    demo = demo_ruleset_ensure(city_code="441800")
    assert demo.version == "2015-演示" and demo.is_demo
    assert demo.effective_from == dt.date(2020, 3, 15)
    answer = settlement_precheck(
        {"city_code": "441800", "date": timezone.localdate().isoformat(), "facts": {}}
    )
    basis = answer["rule_set"]["basis"]
    assert [b["role"] for b in basis] == ["base", "extend"]
    assert basis[0]["document"].startswith("清远市人民政府关于进一步推进")
    assert basis[1]["document_number"] == "演示" and "演示" in basis[1]["changes"]
    assert answer["rule_set"]["demo"] is True


def test_a_demo_amendment_is_never_loaded_outside_the_demo():
    before = RuleSet.objects.count()
    with pytest.raises(DomainError) as exc:
        amendment_load_file(path=DEMO_FILE)
    assert exc.value.code == "demo_rules"
    with pytest.raises(CommandError):
        call_command("load_settlement_rules", str(DEMO_FILE), "--amendment", stdout=io.StringIO())
    assert RuleSet.objects.count() == before


def test_a_later_document_replaces_a_channel_and_the_answer_says_which_document_decided():
    rule_set, created = amendment_store(amendment=_supersede(), source_file="t.json")
    assert created and rule_set.version == "2021-修订"
    assert ruleset_in_force(city_code=JM, on=dt.date(2020, 12, 31)).version == "2018"
    assert ruleset_in_force(city_code=JM, on=dt.date(2021, 1, 1)) == rule_set
    facts = {"sponsor_relation_code": "10", "destination_urban_rural_code": "111"}
    before = settlement_precheck({"city_code": JM, "date": "2020-06-01", "facts": facts})
    after = settlement_precheck({"city_code": JM, "date": "2021-06-01", "facts": facts})
    spouse_before = next(c for c in before["channels"] if c["code"] == "spouse")
    spouse_after = next(c for c in after["channels"] if c["code"] == "spouse")
    assert spouse_before["status"] == "missing" and spouse_before["decided_by"] == ""
    assert spouse_after["status"] == "met" and spouse_after["decided_by"] == "测试〔2021〕1号"
    other = next(c for c in after["channels"] if c["code"] == "specialist")
    assert other["decided_by"] == ""  # still the base document's clause
    assert [b["role"] for b in after["rule_set"]["basis"]] == ["base", "supersede"]
    # the same amendment again changes nothing
    assert amendment_store(amendment=_supersede(), source_file="t.json") == (rule_set, False)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"kind": "extend"}, "extension changes no channel"),
        ({"kind": "repeal"}, "kind"),
        ({"changes": ""}, "changes"),
        ({"channels_replace": [{"code": "moon"}]}, "moon"),
        ({"channels_remove": ["moon"], "channels_replace": []}, "moon"),
        ({"effective_from": "2018-10-01"}, "after the rule set"),
    ],
)
def test_a_bad_amendment_is_refused_and_stores_nothing(changes, fragment):
    before = RuleSet.objects.count()
    with pytest.raises(DomainError) as exc:
        amendment_store(amendment=_supersede(**changes), source_file="bad.json")
    assert fragment in exc.value.message_en + exc.value.message_zh
    assert RuleSet.objects.count() == before


def test_an_amendment_of_a_rule_set_not_stored_is_refused():
    with pytest.raises(DomainError) as exc:
        amendment_store(amendment=_supersede(base_version="1999"), source_file="x.json")
    assert exc.value.code == "no_rules"


def test_the_command_loads_an_amendment_file(tmp_path):
    path = tmp_path / "jiangmen-2021.json"
    path.write_text(json.dumps(_supersede(), ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    call_command("load_settlement_rules", str(path), "--amendment", stdout=out)
    assert "2021-修订" in out.getvalue() and "新增" in out.getvalue()
