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
        "facts": {"social_insurance_months": 12},
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
