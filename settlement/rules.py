"""Loading, validating and choosing settlement rule sets (one JSON file per city version)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from population.errors import Conflict, DomainError, NotFound
from population.policies import policy_version_in_force, policy_version_store
from settlement.conditions import RuleError, condition_validate, constants_validate

DATA_DIR = Path(__file__).resolve().parent / "data" / "rules"
MEMBER_KINDS = {
    "spouse": "配偶",
    "unmarried_child": "未婚子女",
    "minor_child": "未成年子女",
    "parent": "父母",
    "married_child_with_family": "1名已婚子女及其配偶、未婚子女",
    "lineal_relative": "共同居住的直系亲属",
    "collateral_relative": "旁系亲属（借住住房）",
}
TARGETS = {
    "residence",
    "employer_collective",
    "public_collective",
    "talent_collective",
    "school_collective",
    "origin",
}
REQUIRED = ("city_code", "city", "version", "document", "issuer", "effective_from", "channels")


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise RuleError(f"{where}: 日期须为 YYYY-MM-DD / date must be YYYY-MM-DD") from exc


def ruleset_validate(data: Any) -> dict:
    """Refuse a rule file that is malformed, with the path to the first bad part."""
    if not isinstance(data, dict):
        raise RuleError("规则文件须为 JSON 对象 / a rule file must be a JSON object")
    for key in REQUIRED:
        if not data.get(key):
            raise RuleError(f"{key}: 必填 / required")
    if not (isinstance(data["city_code"], str) and len(data["city_code"]) == 6):
        raise RuleError("city_code: 须为6位区划代码 / must be a 6-digit division code")
    if "demo" in data and not isinstance(data["demo"], bool):
        raise RuleError("demo: 须为 true/false / must be a boolean")
    reading = data.get("reading", 1)
    if not isinstance(reading, int) or isinstance(reading, bool) or reading < 1:
        raise RuleError("reading: 须为正整数 / must be a positive integer")
    start = _date(data["effective_from"], "effective_from")
    if data.get("effective_to") is not None and _date(data["effective_to"], "effective_to") < start:
        raise RuleError("effective_to: 早于生效日期 / before effective_from")
    procedure = data.get("procedure", {})
    for key in ("transfer_permit_valid_days",):
        if not isinstance(procedure.get(key), int) or procedure[key] <= 0:
            raise RuleError(f"procedure.{key}: 须为正整数 / must be a positive integer")
    for step, days in procedure.get("deadlines", {}).items():
        if not isinstance(days, int) or days <= 0:
            raise RuleError(f"procedure.deadlines.{step}: 须为正整数 / must be a positive integer")
    constants = constants_validate(data.get("constants", {}))
    seen = set()
    for i, ch in enumerate(data["channels"]):
        where = f"channels[{i}]"
        if not isinstance(ch, dict):
            raise RuleError(f"{where}: 须为对象 / must be an object")
        for key in ("code", "name", "source", "clause_text", "targets", "condition"):
            if not ch.get(key):
                raise RuleError(f"{where}.{key}: 必填 / required")
        tests = ch.get("tests", [])
        if not isinstance(tests, list) or not all(isinstance(t, str) and t for t in tests):
            raise RuleError(f"{where}.tests: 须为测试名列表 / must be a list of test names")
        if not isinstance(ch["clause_text"], str):
            raise RuleError(f"{where}.clause_text: 须为文件原文 / must be the document's text")
        if ch["code"] in seen:
            raise RuleError(f"{where}.code: 重复的渠道 {ch['code']} / duplicate channel")
        seen.add(ch["code"])
        bad = set(ch["targets"]) - TARGETS
        if bad:
            raise RuleError(f"{where}.targets: 未知去向 {sorted(bad)} / unknown targets")
        bad = set(ch.get("members", [])) - set(MEMBER_KINDS)
        if bad:
            raise RuleError(f"{where}.members: 未知随迁类别 {sorted(bad)} / unknown member kinds")
        condition_validate(ch["condition"], f"{where}.condition", constants)
    for i, target in enumerate(data.get("targets", [])):
        where = f"targets[{i}]"
        if not isinstance(target.get("count"), int) or target["count"] <= 0:
            raise RuleError(f"{where}.count: 须为正整数 / must be a positive integer")
        if _date(target.get("to"), f"{where}.to") < _date(target.get("from"), f"{where}.from"):
            raise RuleError(f"{where}: 期间颠倒 / period reversed")
        if target.get("channel") and target["channel"] not in seen:
            raise RuleError(f"{where}.channel: 未知渠道 / unknown channel")
        if bool(target.get("placeholder")) == bool(target.get("source")):
            raise RuleError(f"{where}: 须注明 source 或 placeholder 之一 / source or placeholder")
    return data


def _fields(data: dict, source_file: str) -> dict:
    return {
        "city": data["city"],
        "document": data["document"][:200],
        "document_number": data.get("document_number", ""),
        "issuer": data["issuer"],
        "effective_from": dt.date.fromisoformat(data["effective_from"]),
        "effective_to": (
            dt.date.fromisoformat(data["effective_to"]) if data.get("effective_to") else None
        ),
        "content": data,
        "source_file": source_file,
    }


def ruleset_load_file(*, path: Path, model=None):
    """Store one rule file; returns (rule set, created). The same file twice changes nothing;
    a stored version with other content is refused (a new policy is a new version).

    ``model`` lets a data migration pass its historical model.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ruleset_validate(data)
    except (ValueError, RuleError) as exc:
        raise DomainError(
            f"规则文件 {path.name} 有误：{exc}",
            f"bad rule file {path.name}: {exc}",
            code="bad_rules",
        ) from exc
    if data.get("demo"):
        raise DomainError(
            f"规则文件 {path.name} 标为演示规则，只能由演示数据（seed_demo）载入",
            f"rule file {path.name} is marked demo; only the demo loader (seed_demo) stores one",
            code="demo_rules",
        )
    return ruleset_store(data=data, source_file=path.name, model=model)


def _reading(content: dict) -> int:
    return content.get("reading", 1)


def ruleset_store(*, data: dict, source_file: str, model=None, supersedes=None):
    """Store validated rule-set data; returns (rule set, created). Same version and content
    again changes nothing; other content under a stored version, or an overlapping window, is
    refused.

    One exception: the same document re-read (a higher ``reading``, with ``reading_note`` saying
    what was corrected) replaces the stored content of that version, the only update the
    database lets through (the immutability trigger is skipped for that one statement). A
    misreading is a bug in popbase, not a new policy; applications keep pointing at the row.

    ``supersedes``: the stored rule set a later document partly replaces; its window may
    overlap the new one (the later start wins, see ``ruleset_in_force``).
    """
    if model is None:
        from settlement.models import RuleSet as model
    fields = _fields(data, source_file)

    def refuse_overlap() -> None:
        overlapping = model.objects.filter(city_code=data["city_code"]).exclude(
            effective_to__lt=fields["effective_from"]
        )
        if supersedes is not None:
            overlapping = overlapping.exclude(pk=supersedes.pk)
        if fields["effective_to"] is not None:
            overlapping = overlapping.filter(effective_from__lte=fields["effective_to"])
        if overlapping.exists():
            raise Conflict(
                f"{data['city']} 规则 {data['version']} 的有效期与已有版本重叠",
                "the rule set's effective window overlaps a stored version",
                code="rules_overlap",
            )

    def reread(existing):
        # The same document re-read: replaces the stored content of that version.
        if _reading(data) <= _reading(existing.content):
            return None
        import pgtrigger

        with pgtrigger.ignore("settlement.RuleSet:immutable"):
            model.objects.filter(pk=existing.pk).update(**fields)
        return model.objects.get(pk=existing.pk)

    refusal = (
        f"{data['city']} 规则 {data['version']} 已存在且内容不同，请新增版本",
        "this rule-set version exists with other content; add a new version",
        "rules_version_exists",
    )
    return policy_version_store(
        model, data, fields, refusal=refusal, before_create=refuse_overlap, on_other_content=reread
    )


def rulesets_load_shipped(*, model=None) -> int:
    """Every shipped rule file; returns how many were new."""
    return sum(ruleset_load_file(path=p, model=model)[1] for p in sorted(DATA_DIR.glob("*.json")))


def ruleset_in_force(*, city_code: str, on: dt.date):
    """The rule set of a city in force on a day, or None."""
    from settlement.models import RuleSet

    return policy_version_in_force(RuleSet, city_code=city_code, on=on)


def ruleset_required(*, city_code: str, on: dt.date):
    """The rule set of a city in force on a day; refused (``no_rules``) when there is none."""
    rule_set = ruleset_in_force(city_code=city_code, on=on)
    if rule_set is None:
        raise NotFound(
            f"{city_code} 在 {on} 没有生效的落户政策",
            f"no settlement rule set of {city_code} is in force on {on}",
            code="no_rules",
        )
    return rule_set
