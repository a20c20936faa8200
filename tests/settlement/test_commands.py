"""The pre-check and rule-loading commands: JSON in, JSON out, bilingual errors."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from settlement.models import RuleSet

pytestmark = pytest.mark.django_db


def _run(*args, stdin=""):
    out = io.StringIO()
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("settlement_precheck", *args, stdout=out)
    finally:
        sys.stdin = old
    return json.loads(out.getvalue())


def test_precheck_from_stdin_lists_the_channels_that_qualify():
    payload = {
        "city_code": "440200",
        "date": "2018-06-01",
        "facts": {
            "insurance": [
                {"kind": "pension", "type": "urban_employee", "region_code": "440203", "months": 12}
            ]
        },
    }
    result = _run(stdin=json.dumps(payload))
    assert result["qualifies"] == ["insured_one_year"]
    assert result["rule_set"]["document_number"] == "韶府办〔2017〕37号"
    verdict = next(c for c in result["channels"] if c["code"] == "insured_one_year")
    assert verdict["conditions"]["value"] == 12 and verdict["conditions"]["status"] == "met"


def test_precheck_from_a_file_with_city_and_date_overridden(tmp_path):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"facts": {"job_transfer": True}}), encoding="utf-8")
    result = _run(str(path), "--city", "440700", "--date", "2019-01-02")
    assert result["qualifies"] == ["job_transfer"]


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        ((), "{not json", "不是有效的 JSON / not valid JSON"),
        (("/nonexistent/facts.json",), "", "无法读取"),
        ((), '{"city_code": "440700", "date": "2019-01-02", "facts": {"x": 1}}', "[bad_facts]"),
        ((), '{"city_code": "440700", "date": "2018-01-02"}', "[no_rules]"),
        ((), "[1, 2]", "[bad_request]"),
    ],
)
def test_precheck_bad_input_is_a_bilingual_error(args, stdin, fragment):
    with pytest.raises(CommandError) as exc:
        _run(*args, stdin=stdin)
    assert fragment in str(exc.value)


def test_loading_the_shipped_rules_again_changes_nothing():
    before = list(RuleSet.objects.values_list("pk", "version"))
    out = io.StringIO()
    call_command("load_settlement_rules", stdout=out)
    assert out.getvalue().count("未变 / unchanged") == 5
    assert list(RuleSet.objects.values_list("pk", "version")) == before


def test_loading_a_bad_file_is_a_command_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"city_code": "1"}', encoding="utf-8")
    with pytest.raises(CommandError, match=r"bad\.json"):
        call_command("load_settlement_rules", str(path), stdout=io.StringIO())


def _apply(payload, *args):
    out = io.StringIO()
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(json.dumps(payload))
    try:
        call_command("settlement_apply", *args, stdout=out)
    finally:
        sys.stdin = old
    return out.getvalue()


def test_apply_registers_a_submitted_application_and_refusals_change_nothing(
    qy_current, officers, family_household
):
    import datetime as dt

    from django.utils import timezone

    from population.identity import build_citizen_id
    from settlement.models import Application, Status

    cid = build_citizen_id("441802", dt.date(1990, 1, 1), 3)
    payload = {
        "city_code": "441800",
        "date": timezone.localdate().isoformat(),
        "channel": "home_purchase",
        "target": "residence",
        "citizen_id": cid,
        "name": "李四",
        "relation": "02",
        "materials": ["居民身份证", "房产证"],
        "evidence": {
            "residence_region_code": "441803104",
            "properties": [
                {"owner": "applicant", "use": "residential", "area_m2": 90, "registered": True}
            ],
        },
        "household_number": family_household.number,
    }
    for bad, message in [
        ({"relation": "10"}, "head_required"),
        ({"materials": []}, "materials_required"),
        ({"date": "2999-01-01"}, "future_date"),
        (
            {"citizen_id": cid[:-1] + "0" if cid[-1] != "0" else cid[:-1] + "1"},
            "invalid_citizen_id",
        ),
        ({"household_number": "000"}, "没有此户号"),
        ({"colour": "red"}, "unknown fields"),
    ]:
        with pytest.raises(CommandError, match=message):
            _apply(payload | bad, "--officer", "officer")
    with pytest.raises(CommandError, match="no officer"):
        _apply(payload, "--officer", "nobody")
    assert not Application.objects.exists()
    out = _apply(payload, "--officer", "officer")
    assert "已登记" in out and cid not in out
    app = Application.objects.get()
    assert app.status == Status.SUBMITTED and app.household == family_household
    assert app.transitions.get().details == {"materials": ["居民身份证", "房产证"]}
