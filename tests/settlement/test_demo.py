"""The demo city's settlement part: a demonstration rule set (marked 演示 everywhere, loaded only
by the demo) and applications in every workflow state; deterministic and idempotent."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from population.demo import demo_loaders_run
from population.errors import DomainError
from registry.models import Membership
from settlement import services
from settlement.demo import PLAN, demo_ruleset_ensure, settlement_demo_load
from settlement.models import Application, ApplicationTransition, RuleSet, Status
from settlement.rules import DATA_DIR, ruleset_in_force, ruleset_load_file

pytestmark = pytest.mark.django_db


def test_the_demo_rule_set_copies_the_last_real_one_with_the_window_extended():
    real = RuleSet.objects.get(city_code="441800", version="2015")
    demo = demo_ruleset_ensure(city_code="441800")
    assert demo.version == "2015-演示" and demo.content["demo"] is True
    assert demo.effective_from == dt.date(2020, 3, 15) and demo.effective_to is None
    assert demo.content["channels"] == real.content["channels"]
    assert demo.content["procedure"] == real.content["procedure"]
    assert "演示" in str(demo) and "演示" not in str(real)
    assert ruleset_in_force(city_code="441800", on=timezone.localdate()) == demo
    assert ruleset_in_force(city_code="441800", on=dt.date(2019, 1, 1)) == real
    again = demo_ruleset_ensure(city_code="441800")
    assert again == demo and RuleSet.objects.filter(city_code="441800").count() == 2


def test_every_precheck_answer_on_the_demo_rule_set_says_demo():
    demo_ruleset_ensure(city_code="441800")
    payload = {"city_code": "441800", "date": timezone.localdate().isoformat(), "facts": {}}
    answer = services.settlement_precheck(payload)
    assert answer["rule_set"]["demo"] is True and "演示" in answer["rule_set"]["notice"]
    real = services.settlement_precheck(payload | {"date": "2019-01-01"})
    assert real["rule_set"]["demo"] is False and "notice" not in real["rule_set"]
    out = io.StringIO()
    stdin = io.StringIO(json.dumps(payload))
    import sys

    saved, sys.stdin = sys.stdin, stdin
    try:
        call_command("settlement_precheck", stdout=out)
    finally:
        sys.stdin = saved
    printed = json.loads(out.getvalue())
    assert printed["rule_set"]["demo"] is True and "演示" in printed["rule_set"]["notice"]


def test_a_rule_file_marked_demo_is_never_loaded_outside_the_demo(tmp_path):
    data = json.loads((DATA_DIR / "qingyuan-2015.json").read_text(encoding="utf-8"))
    data.update(version="2099", effective_from="2099-01-01", effective_to=None, demo=True)
    path = tmp_path / "qy-demo.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    before = RuleSet.objects.count()
    with pytest.raises(DomainError) as exc:
        ruleset_load_file(path=path)
    assert exc.value.code == "demo_rules"
    assert RuleSet.objects.count() == before
    assert not any(
        json.loads(p.read_text(encoding="utf-8")).get("demo") for p in DATA_DIR.glob("*.json")
    )


def test_seed_demo_loads_applications_in_every_state_once(db):
    call_command("seed_demo", "--persons", "1500", "--seed", "7", stdout=io.StringIO(), verbosity=0)
    demo = RuleSet.objects.get(city_code="441800", version="2015-演示")
    apps = Application.objects.filter(rule_set=demo)
    statuses = sorted(apps.values_list("status", flat=True))
    assert statuses == sorted(str(s) for s in PLAN)
    assert set(statuses) == {str(s) for s in Status}
    for app in apps.filter(status=Status.COMPLETED):
        joined = Membership.objects.get(person__citizen_id=app.citizen_id, end_date=None)
        assert joined.household == app.household and joined.relation == "10"
        assert Membership.objects.filter(
            household=app.household, relation="02", end_date=None
        ).exists()
    expired = apps.get(status=Status.EXPIRED)
    assert expired.permit_valid_until < timezone.localdate()
    counts = (Application.objects.count(), ApplicationTransition.objects.count())
    summary = settlement_demo_load(timezone.localdate())
    assert "已存在" in summary
    assert dict(demo_loaders_run())["落户"] == summary
    assert (Application.objects.count(), ApplicationTransition.objects.count()) == counts
