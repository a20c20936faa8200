"""Eligibility: the rule set's channels judged against the facts, the public pre-check and
the facts on file for an application.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from population.errors import DomainError
from population.inputcheck import echo, strict_date
from settlement.amendments import basis_of

if TYPE_CHECKING:
    pass
from settlement.conditions import (
    MET,
    MISSING,
    UNMET,
    constant_shown,
    evaluate,
    failing,
    label,
    leaves,
    needed,
)
from settlement.facts import (
    DERIVED_FROM,
    FACTS_VERSION,
    PersonRecordFacts,
    RecordedEvidence,
    ResidencePermitFacts,
    fact_label,
    facts_derive,
    facts_gather,
    facts_to_state,
    facts_validate,
)
from settlement.models import Application, RuleSet
from settlement.rules import ruleset_required

# -- eligibility ------------------------------------------------------------------------------


VERDICT_ZH = {MET: "符合", UNMET: "不符合", MISSING: "需补充事实"}
POPBASE = "popbase"  # a note or value that is popbase's reading, not the document's words


def channel_evaluate(
    *, channel: dict, facts: dict[str, Any], constants: dict | None = None
) -> dict:
    """One channel's answer: the verdict, the clause and its words, and what to act on.

    ``unmet`` (labels) and ``failing`` (structured) list only what fails on an unmet channel, an
    unmet any-group as one list of alternatives; ``missing`` lists only the unknown facts the
    rules read that could still change an undecided channel, and ``ask`` the facts to state for
    them (a derived category is asked as the records or codes it comes from). A met channel
    lists neither.
    """
    tree = evaluate(channel["condition"], facts, constants)
    fails = failing(tree)
    used = [leaf["constant"] for leaf in leaves(tree) if "constant" in leaf]
    needs = needed(tree)
    ask = facts_to_state(needs, facts)
    return {
        "code": channel["code"],
        "name": channel["name"],
        "source": channel["source"],
        "clause_text": channel.get("clause_text", ""),
        "decided_by": channel.get("decided_by", ""),
        **({"note": channel["note"]} if channel.get("note") else {}),
        "notes": (
            [{"zh": channel["note"], "by": POPBASE, "label": "popbase 的理解，非文件原文"}]
            if channel.get("note")
            else []
        ),
        "status": tree["status"],
        "verdict_zh": VERDICT_ZH[tree["status"]],
        "targets": channel["targets"],
        "members": channel.get("members", []),
        "conditions": tree,
        "unmet": [label(item) for item in fails],
        "failing": fails,
        "missing": needs,
        "missing_zh": [fact_label(name) for name in needs],
        "ask": ask,
        "ask_zh": [fact_label(name) for name in ask],
        "observe": {name: list(DERIVED_FROM[name][1]) for name in needs if name in DERIVED_FROM},
        "constants": used,
        "placeholders": [c for c in used if c.get("placeholder")],
    }


def _rule_set_notes(content: dict) -> list[dict]:
    notes = []
    if content.get("reading_note"):
        notes.append({"zh": f"popbase 第{content['reading_note']}", "by": POPBASE})
    for key in ("validity_note", "abolished_note", "collective_fallback"):
        if content.get(key):
            notes.append({"zh": content[key], "by": "document"})
    return notes


def ruleset_evaluate(
    *, rule_set: RuleSet, facts: dict[str, Any], channel: str | None = None
) -> dict:
    chosen = [c for c in rule_set.content["channels"] if channel in (None, c["code"])]
    content = rule_set.content
    constants = content.get("constants", {})
    channels = [channel_evaluate(channel=c, facts=facts, constants=constants) for c in chosen]
    return {
        "rule_set": {
            "city_code": rule_set.city_code,
            "city": rule_set.city,
            "version": rule_set.version,
            "document": rule_set.document,
            "document_number": rule_set.document_number,
            "effective_from": rule_set.effective_from.isoformat(),
            "effective_to": rule_set.effective_to.isoformat() if rule_set.effective_to else None,
            "reading": content.get("reading", 1),
            "basis": basis_of(content),
            "demo": bool(content.get("demo")),
            **(
                {"notice": "演示规则，仅供演示，不是现行政策 / demonstration rules, not policy"}
                if content.get("demo")
                else {}
            ),
        },
        "notes": _rule_set_notes(content),
        "constants": [constant_shown(k, v) for k, v in constants.items()],
        "zones": content.get("zones", {}),
        "abolished": content.get("abolished", []),
        "qualifies": [c["code"] for c in channels if c["status"] == MET],
        "channels": channels,
    }


def _bad(zh: str, en: str) -> DomainError:
    return DomainError(zh, en, code="bad_request")


def settlement_precheck(payload: Any) -> dict:
    """政策计算器: JSON in, JSON out; the person need not be in the database.

    ``{"city_code": "440700", "date": "2019-03-01", "facts": {...}}`` →
    ``{"date", "rule_set", "abolished", "qualifies", "channels": [...]}``; see docs/settlement.md.
    """
    if not isinstance(payload, dict):
        raise _bad("请求须为 JSON 对象", "the request must be a JSON object")
    extra = set(payload) - {"city_code", "date", "facts", "channel", "facts_version"}
    if extra:
        names = echo(sorted(map(str, extra)))
        raise _bad(f"未知字段 {names}", f"unknown fields {names}")
    version = payload.get("facts_version", FACTS_VERSION)
    if version != FACTS_VERSION or isinstance(version, bool):
        raise DomainError(
            f"facts_version {echo([str(version)])} 已停用：当前事实格式为第{FACTS_VERSION}版"
            "（房产 properties、租赁 rents_home/rental_registered、参保 insurance、"
            "住址 residence_region_code 等），见 docs/settlement.md",
            f"facts_version {echo([str(version)])} is retired: facts are version {FACTS_VERSION}"
            " (properties, rents_home/rental_registered, insurance, residence_region_code, …);"
            " see docs/settlement.md",
            code="bad_facts_version",
        )
    city_code = payload.get("city_code")
    if not isinstance(city_code, str) or not re.fullmatch(r"[0-9]{6}", city_code):
        raise _bad("city_code 须为6位城市区划代码", "city_code must be a 6-digit city code")
    on = strict_date(payload.get("date"))
    if on is None:
        raise _bad("date 须为 YYYY-MM-DD", "date must be YYYY-MM-DD")
    facts = facts_validate(payload.get("facts", {}))
    rule_set = ruleset_required(city_code=city_code, on=on)
    facts = facts_derive(facts, rule_set.content)
    channel = payload.get("channel")
    if channel is not None and (not isinstance(channel, str) or rule_set.channel(channel) is None):
        codes = "、".join(c["code"] for c in rule_set.content["channels"])
        asked = echo([str(channel)])
        raise DomainError(
            f"{rule_set.city}规则 {rule_set.version} 没有渠道 {asked}（可选：{codes}）",
            f"rule set {rule_set.version} has no channel {asked} (one of: {codes})",
            code="unknown_channel",
        )
    return {
        "date": on.isoformat(),
        "facts_version": FACTS_VERSION,
        **ruleset_evaluate(rule_set=rule_set, facts=facts, channel=channel),
    }


def application_eligibility(*, application: Application, sources=None) -> dict:
    """The application's channel judged on its facts by its rule set."""
    rule_set = application.rule_set
    channel = rule_set.channel(application.channel)
    if channel is None:  # checked when the application was made; kept here for the type
        raise DomainError(
            f"{rule_set.city}规则 {rule_set.version} 没有渠道 {application.channel}",
            f"rule set {rule_set.version} has no channel {application.channel}",
            code="unknown_channel",
        )
    sources = sources or [ResidencePermitFacts(), RecordedEvidence(), PersonRecordFacts()]
    facts = facts_derive(
        facts_gather(application=application, sources=sources), application.rule_set.content
    )
    return channel_evaluate(
        channel=channel, facts=facts, constants=application.rule_set.content.get("constants")
    )


def facts_on_file(*, rule_set: RuleSet, citizen_id: str, on: dt.date) -> dict[str, Any]:
    """What the records already say of an applicant (no evidence typed): residence permit,
    age, hukou in the city. Empty for someone not on file."""
    probe = Application(rule_set=rule_set, citizen_id=citizen_id, submitted_on=on)
    return facts_gather(application=probe, sources=[ResidencePermitFacts(), PersonRecordFacts()])


def window_precheck(
    *, rule_set: RuleSet, citizen_id: str, on: dt.date, evidence: dict[str, Any]
) -> tuple[dict[str, Any], list[dict]]:
    """The window's live check: the facts on file, and every channel judged on the typed
    evidence merged with them (typed evidence first, as ``application_eligibility`` does)."""
    on_file = facts_on_file(rule_set=rule_set, citizen_id=citizen_id, on=on) if citizen_id else {}
    facts = {**on_file, **facts_validate(evidence)}
    if "holds_residence_permit" in on_file:  # the permit register outranks what is typed
        facts["holds_residence_permit"] = on_file["holds_residence_permit"]
    facts = facts_derive(facts, rule_set.content)
    constants = rule_set.content.get("constants", {})
    return on_file, [
        channel_evaluate(channel=c, facts=facts, constants=constants)
        for c in rule_set.content["channels"]
    ]
