"""Points (积分): versioned policies as data, the append-only ledger, tiers and the ranking.

A policy file (``data/points/*.json``, format in docs/residence-permits.md) is validated and
stored as a ``PointsPolicy`` row; versions are immutable (a changed scheme is a new version).
Computed points follow from facts (``selectors.person_facts``): a recompute compares what the
facts give today with the ledger's sum per indicator and appends the difference, so the ledger
is never edited and a second recompute appends nothing. Deductions are entered by officers
with evidence, their value taken from the policy.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any, TypedDict

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from population.actors import Actor, officer_or_none
from population.clock import today
from population.errors import Conflict, DomainError, NotFound
from population.jurisdiction import actor_require_within
from population.locks import advisory_xact_lock
from population.models import Person
from population.policies import policy_version_in_force, policy_version_store
from population.services import history_context
from residence_permit import rules, selectors
from residence_permit.models import (
    EntrySource,
    PermitStatus,
    PersonFact,
    PersonFactKind,
    PointsAccount,
    PointsEntry,
    PointsPolicy,
    ResidencePermit,
)

DATA_DIR = Path(__file__).resolve().parent / "data" / "points"


# How a policy's codes read to an officer (the policy detail page and points evidence).
METHOD_LABELS = {
    "residence_years": "按连续居住年限",
    "fact_years": "按年限",
    "fact_present": "按是否具备",
    "fact_level": "按等级",
    "fact_quantity": "按数量",
}
LEVEL_LABELS = {
    "senior_secondary": "高中（中专）",
    "junior_college": "大专",
    "bachelor": "本科",
    "master": "硕士研究生",
    "doctorate": "博士研究生",
    "vocational_5": "初级工（五级）",
    "vocational_4": "中级工（四级）",
    "vocational_3": "高级工（三级）",
    "vocational_2": "技师（二级）",
    "vocational_1": "高级技师（一级）",
    "title_junior": "初级职称",
    "title_intermediate": "中级职称",
    "title_senior": "高级职称",
}
TIE_BREAK_LABELS = {
    "points_desc": "积分高者优先",
    "social_insurance_months_desc": "社保缴费月数多者优先",
    "residence_since_asc": "连续居住起算早者优先",
    "issue_date_asc": "居住证签发早者优先",
    "permit_number_asc": "居住证号码小者优先",
}
METHODS = set(METHOD_LABELS)
TIE_BREAKS = set(TIE_BREAK_LABELS)


def value_label(code: str) -> str:
    """A level or fact kind as an officer reads it (the code itself if a policy adds a new one)."""
    if code in LEVEL_LABELS:
        return LEVEL_LABELS[code]
    if code in PersonFactKind.values:
        return PersonFactKind(code).label
    return code


class PolicyFileError(DomainError):
    code = "bad_policy_file"


def _bad(message: str) -> PolicyFileError:
    return PolicyFileError(f"积分政策文件有误：{message}", f"bad points policy file: {message}")


def policy_validate(data: dict[str, Any]) -> dict[str, Any]:
    """Check a policy document; return it unchanged or raise naming the first problem."""
    for key in ("city_code", "version", "name", "document", "source", "effective_from"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise _bad(f"缺少 {key}")
    if not (len(data["city_code"]) == 6 and data["city_code"].isdigit()):
        raise _bad("city_code 应为6位数字")
    for key in ("effective_from", "effective_to"):
        if data.get(key) is not None:
            try:
                dt.date.fromisoformat(data[key])
            except ValueError as exc:
                raise _bad(f"{key} 不是日期") from exc
    codes = set()
    for ind in data.get("indicators") or []:
        code, method = ind.get("code"), ind.get("method")
        if not code or code in codes:
            raise _bad(f"指标代码缺失或重复：{code}")
        codes.add(code)
        if method not in METHODS:
            raise _bad(f"指标 {code} 的计算方法未知：{method}")
        for kind in ind.get("facts", []) + list(
            ind.get("scores", {}) if method == "fact_present" else []
        ):
            if kind not in PersonFactKind.values:
                raise _bad(f"指标 {code} 引用未知事实类别：{kind}")
        numbers = [ind.get(k) for k in ("per_year", "cap", "unit", "per_unit") if k in ind]
        numbers += list(ind.get("scores", {}).values())
        if any(not isinstance(n, int | float) or n < 0 for n in numbers):
            raise _bad(f"指标 {code} 的分值应为非负数")
        if method == "fact_quantity" and not ind.get("unit"):
            raise _bad(f"指标 {code} 缺少 unit")
    if not codes:
        raise _bad("没有指标")
    for ded in data.get("deductions", []):
        if not ded.get("code") or ded["code"] in codes or not ded.get("points", 0) < 0:
            raise _bad(f"扣分项 {ded.get('code')} 代码重复或分值不是负数")
        codes.add(ded["code"])
    thresholds = [t.get("min_points") for t in data.get("tiers", [])]
    if not thresholds or thresholds[0] != 0 or thresholds != sorted(set(thresholds)):
        raise _bad("阶梯门槛应从0起严格递增")
    settlement = data.get("settlement") or {}
    if not set(settlement.get("tie_breaks", [])) <= TIE_BREAKS or "permit_number_asc" not in (
        settlement.get("tie_breaks") or []
    ):
        raise _bad("排序规则未知，或未以唯一的居住证号码兜底")
    return data


def policy_load_file(*, path: Path, model=PointsPolicy) -> tuple[PointsPolicy, bool]:
    """Store one policy file; returns (policy, created). The same file twice changes nothing.

    ``model`` lets a data migration pass its historical model.
    """
    data = policy_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    rules_part = {k: data.get(k) for k in ("interpretation", "indicators", "deductions", "tiers")}
    rules_part["settlement"] = data["settlement"]
    fields = {
        "name": data["name"],
        "document": data["document"][:200],
        "effective_from": dt.date.fromisoformat(data["effective_from"]),
        "effective_to": (
            dt.date.fromisoformat(data["effective_to"]) if data.get("effective_to") else None
        ),
        "rules": rules_part | {"source": data["source"]},
        "source_file": Path(path).name,
    }
    refusal = (
        f"积分政策 {data['city_code']} {data['version']} 已存在且内容不同，请新增版本",
        "this policy version exists with other content; add a new version",
        "policy_version_exists",
    )
    return policy_version_store(model, data, fields, refusal=refusal)


def policies_load_shipped(*, model=PointsPolicy) -> int:
    """Every shipped policy file; returns how many were new."""
    return sum(policy_load_file(path=p, model=model)[1] for p in sorted(DATA_DIR.glob("*.json")))


def city_code_of(region_code: str) -> str:
    return region_code[:4] + "00"


def policy_in_force(*, city_code: str, on: dt.date) -> PointsPolicy | None:
    return policy_version_in_force(PointsPolicy, city_code=city_code, on=on)


# -- computation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    indicator: str
    points: Decimal
    evidence: str


def _years_of(facts: list[selectors.KnownFact], on: dt.date) -> int:
    return sum(rules.whole_years_between(f.start_date, min(f.end_date or on, on)) for f in facts)


def _capped(value: Decimal, ind: dict) -> Decimal:
    return min(value, Decimal(str(ind["cap"]))) if "cap" in ind else value


def points_compute(*, person: Person, permit: ResidencePermit | None, policy, on: dt.date):
    """What the facts give per indicator on ``on`` (no permit: nothing)."""
    if permit is None or permit.status != PermitStatus.ACTIVE:
        return {}
    facts = selectors.person_facts(person=person, on=on)
    out: dict[str, Score] = {}
    for ind in policy.rules["indicators"]:
        method, code = ind["method"], ind["code"]
        chosen = [f for f in facts if f.kind in ind.get("facts", [])]
        if method == "residence_years":
            years = rules.whole_years_between(permit.continuous_since, on)
            value = _capped(Decimal(years * ind["per_year"]), ind)
            evidence = f"自{permit.continuous_since}起连续居住{years}年（居住证{permit.number}）"
        elif method == "fact_years":
            years = _years_of(chosen, on)
            value = _capped(Decimal(years * ind["per_year"]), ind)
            evidence = f"{years}年：" + "；".join(f.describe() for f in chosen)
        elif method == "fact_present":
            present = [f for f in facts if f.kind in ind["scores"] and f.covers(on)]
            best = max(present, key=lambda f: ind["scores"][f.kind], default=None)
            value = Decimal(ind["scores"][best.kind]) if best else Decimal(0)
            evidence = best.describe() if best else ""
        elif method == "fact_level":
            known = [f for f in chosen if f.level in ind["scores"]]
            best = max(known, key=lambda f: ind["scores"][f.level], default=None)
            value = Decimal(ind["scores"][best.level]) if best else Decimal(0)
            evidence = f"{value_label(best.level)}：{best.describe()}" if best else ""
        else:  # fact_quantity
            total = sum((f.quantity or Decimal(0) for f in chosen), Decimal(0))
            units = int(total // Decimal(str(ind["unit"])))
            value = _capped(Decimal(units) * Decimal(str(ind["per_unit"])), ind)
            evidence = f"合计{total.normalize():f}：" + "；".join(f.describe() for f in chosen)
        out[code] = Score(code, value, evidence[:300])
    return out


def _lock_ledger(person: Person, *, actor: Actor) -> None:
    actor_require_within(actor, person)
    advisory_xact_lock(f"popbase.points:{person.pk}")


def _computed_sums(person: Person, policy: PointsPolicy) -> dict[str, Decimal]:
    rows = (
        PointsEntry.objects.filter(person=person, policy=policy, source=EntrySource.COMPUTED)
        .values("indicator")
        .annotate(total=Sum("points"))
    )
    return {r["indicator"]: r["total"] for r in rows}


@transaction.atomic
def points_recompute(
    *, person: Person, on: dt.date | None = None, actor: Actor = None
) -> list[PointsEntry]:
    """Bring the ledger in line with the facts: append one adjusting entry per changed indicator.

    Nothing changed, nothing appended. A holder whose permit ended gets every computed point
    reversed. Serialised per person (advisory lock) so two runs never both append.
    """
    on = on or today()
    if person is None or person.pk is None or not Person.objects.filter(pk=person.pk).exists():
        raise NotFound("人员不存在", "unknown person", code="unknown_person")
    _lock_ledger(person, actor=actor)
    permit = ResidencePermit.objects.filter(person=person).order_by("-id").first()
    appended: list[PointsEntry] = []
    policies = {
        p.pk: p
        for p in PointsPolicy.objects.filter(entries__person=person, entries__source="computed")
    }
    current = policy_in_force(city_code=city_code_of(permit.region_id), on=on) if permit else None
    if current is not None:
        policies[current.pk] = current
    with history_context(actor=actor, reason="积分重算"):
        for policy in policies.values():
            targets = points_compute(
                person=person, permit=permit if policy == current else None, policy=policy, on=on
            )
            sums = _computed_sums(person, policy)
            for indicator in sorted(set(targets) | set(sums)):
                target = targets.get(indicator, Score(indicator, Decimal(0), ""))
                delta = target.points - sums.get(indicator, Decimal(0))
                if delta == 0:
                    continue
                reversal = target.points == 0
                appended.append(
                    PointsEntry.objects.create(
                        person=person,
                        policy=policy,
                        indicator=indicator,
                        points=delta,
                        evidence=(
                            f"{on}重算：{target.evidence}"
                            if not reversal
                            else f"{on}冲销：依据已不成立或居住证已终止"
                        )[:300],
                        source=EntrySource.COMPUTED,
                        source_name="积分重算",
                        officer=officer_or_none(actor),
                        reverses=(
                            PointsEntry.objects.filter(
                                person=person, policy=policy, indicator=indicator
                            )
                            .order_by("-id")
                            .first()
                            if reversal
                            else None
                        ),
                    )
                )
        PointsAccount.objects.update_or_create(
            person=person, defaults={"computed_at": timezone.now(), "computed_on": on}
        )
    return appended


@transaction.atomic
def points_deduction_add(
    *,
    person: Person,
    code: str,
    evidence: str,
    actor: Actor,
    on: dt.date | None = None,
    source: str = EntrySource.OFFICER,
    source_name: str = "窗口",
) -> PointsEntry:
    """An officer (or a department feed) records a deduction the policy defines, with evidence."""
    on = on or today()
    actor_require_within(actor, person)  # first: nothing about a person outside is told
    if not (evidence and evidence.strip()):
        raise DomainError(
            "积分记录须有依据（文书名称及编号）",
            "a points entry needs evidence (document name and number)",
            code="evidence_required",
        )
    if source not in (EntrySource.OFFICER, EntrySource.DEPARTMENT):
        raise DomainError(
            "来源应为窗口或部门", "source must be officer or department", code="bad_source"
        )
    permit = selectors.permit_live_for(person=person) if person and person.pk else None
    if permit is None:
        raise Conflict("此人未持有居住证", "the person holds no permit", code="no_permit")
    policy = policy_in_force(city_code=city_code_of(permit.region_id), on=on)
    deduction = next(
        (d for d in (policy.rules["deductions"] if policy else []) if d["code"] == code), None
    )
    if policy is None or deduction is None:
        raise DomainError(
            f"积分政策中没有扣分项 {code}",
            f"the policy has no deduction {code}",
            code="bad_indicator",
        )
    _lock_ledger(person, actor=actor)
    with history_context(actor=actor, reason=f"积分扣减：{deduction['label']}"):
        return PointsEntry.objects.create(
            person=person,
            policy=policy,
            indicator=code,
            points=Decimal(str(deduction["points"])),
            evidence=evidence.strip(),
            source=source,
            source_name=source_name,
            officer=officer_or_none(actor),
        )


# -- reads ----------------------------------------------------------------------------------------


def points_total(*, person: Person, policy: PointsPolicy) -> Decimal:
    total = PointsEntry.objects.filter(person=person, policy=policy).aggregate(t=Sum("points"))["t"]
    return total or Decimal(0)


def points_by_indicator(*, person: Person, policy: PointsPolicy) -> dict[str, Decimal]:
    rows = (
        PointsEntry.objects.filter(person=person, policy=policy)
        .values("indicator")
        .annotate(total=Sum("points"))
        .order_by("indicator")
    )
    return {r["indicator"]: r["total"] for r in rows if r["total"] != 0}


def points_tier(*, policy: PointsPolicy, total: Decimal) -> tuple[dict, list[str]]:
    """The highest tier reached and every service it opens (tiers are cumulative)."""
    reached = [t for t in policy.rules["tiers"] if total >= t["min_points"]]
    services = [s for t in reached for s in t["services"]]
    return (reached[-1] if reached else policy.rules["tiers"][0]), services


class _Candidate(TypedDict):
    """A holder's figures the ranking sorts by (the policy's tie-break names are these keys)."""

    person_id: int
    permit_number: str
    points: Decimal
    social_insurance_months: Decimal
    residence_since: dt.date
    issue_date: dt.date


@dataclass(frozen=True)
class RankRow:
    rank: int
    person_id: int
    permit_number: str
    points: Decimal
    social_insurance_months: Decimal
    residence_since: dt.date
    issue_date: dt.date
    within_quota: bool


def points_ranking(*, policy: PointsPolicy, quota: int, on: dt.date) -> list[RankRow]:
    """积分落户 ranking: active holders of the city at or above the policy's minimum.

    Ties are broken in the order the policy lists, ending with the unique permit number, so
    the same data always gives the same list; the first ``quota`` rows are within the quota.
    """
    if quota < 0:
        raise DomainError("名额不能为负", "the quota must not be negative", code="bad_quota")
    settlement = policy.rules["settlement"]
    permits = ResidencePermit.objects.filter(
        status=PermitStatus.ACTIVE, region__code__startswith=policy.city_code[:4]
    ).values_list("person_id", "number", "continuous_since", "issue_date")
    totals = dict(
        PointsEntry.objects.filter(policy=policy)
        .values("person_id")
        .annotate(t=Sum("points"))
        .values_list("person_id", "t")
    )
    insured = dict(
        PersonFact.objects.filter(
            kind=PersonFactKind.SOCIAL_INSURANCE, retracted_at__isnull=True, start_date__lte=on
        )
        .values("person_id")
        .annotate(m=Sum("quantity"))
        .values_list("person_id", "m")
    )
    rows: list[_Candidate] = [
        {
            "person_id": pid,
            "permit_number": number,
            "points": totals.get(pid) or Decimal(0),
            "social_insurance_months": insured.get(pid) or Decimal(0),
            "residence_since": since,
            "issue_date": issued,
        }
        for pid, number, since, issued in permits
    ]
    rows = [r for r in rows if r["points"] >= settlement["min_points"]]
    for key in reversed(settlement["tie_breaks"]):  # stable sorts, last key first
        field, direction = key.rsplit("_", 1)
        rows.sort(key=itemgetter(field), reverse=direction == "desc")
    return [RankRow(rank=i, within_quota=i <= quota, **row) for i, row in enumerate(rows, start=1)]
