"""Reads of the residence-permit app: facts, eligibility, queues.

``person_facts`` is the one interface the eligibility and points rules read facts through.
Today its rows are recorded by officers (``PersonFact`` with source=officer); when the
department sync arrives it writes the same rows with source=department (or this function gains
a second source), and neither the rules nor their tests change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import OuterRef, Q, QuerySet, Subquery

from population.models import Person, PersonStatus
from population.regions import code_prefix
from residence_permit import rules
from residence_permit.models import (
    ApplicationStatus,
    PermitApplication,
    PermitEvent,
    PermitEventKind,
    PermitStatus,
    PersonFact,
    PersonFactKind,
    ResidencePermit,
    ResidenceRegistration,
)


@dataclass(frozen=True)
class KnownFact:
    """A recorded ``PersonFact`` as eligibility and points read it on a day."""

    id: int
    kind: str
    start_date: dt.date
    end_date: dt.date | None
    quantity: Decimal | None
    level: str
    evidence: str
    source: str
    source_name: str

    def covers(self, on: dt.date) -> bool:
        return self.start_date <= on and (self.end_date is None or self.end_date >= on)

    def describe(self) -> str:
        period = f"{self.start_date}至{self.end_date or '今'}"
        return f"{self.evidence}（{self.source_name}，{period}）"


def person_facts(*, person: Person, on: dt.date) -> list[KnownFact]:
    """Every fact of the person known on ``on`` (started by then, not retracted)."""
    rows = (
        PersonFact.objects.filter(person=person, retracted_at__isnull=True, start_date__lte=on)
        .order_by("kind", "start_date", "id")
        .values_list(
            "id",
            "kind",
            "start_date",
            "end_date",
            "quantity",
            "level",
            "evidence",
            "source",
            "source_name",
        )
    )
    return [KnownFact(*row) for row in rows]


def registration_open(*, person: Person) -> ResidenceRegistration | None:
    return (
        ResidenceRegistration.objects.filter(person=person, end_date__isnull=True)
        .select_related("region")
        .first()
    )


def residence_continuous_since(*, person: Person, on: dt.date) -> dt.date | None:
    """Start of the unbroken run of residence registrations that covers ``on``.

    Registrations that follow each other without a gap (a change of address ends one the day
    before the next starts) count as one residence in the city.
    """
    regs = list(
        ResidenceRegistration.objects.filter(person=person, start_date__lte=on)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=on))
        .order_by("start_date")
        .values_list("start_date", "end_date")[:1]
    )
    if not regs:
        return None
    start = regs[0][0]
    earlier = ResidenceRegistration.objects.filter(person=person, start_date__lt=start).order_by(
        "-start_date"
    )
    for reg_start, reg_end in earlier.values_list("start_date", "end_date"):
        if reg_end is not None and reg_end >= start - dt.timedelta(days=1):
            start = reg_start
        else:
            break
    return start


# -- eligibility ---------------------------------------------------------------------------------

MET, UNMET, MISSING = "met", "unmet", "missing_evidence"
BASIS_KINDS = {
    "stable_employment": ([PersonFactKind.EMPLOYMENT], "合法稳定就业"),
    "stable_residence": (
        [PersonFactKind.HOUSING_OWNED, PersonFactKind.HOUSING_RENTED],
        "合法稳定住所",
    ),
    "continuous_study": ([PersonFactKind.STUDY], "连续就读"),
}


@dataclass
class Condition:
    code: str
    label: str
    status: str
    detail: str
    evidence: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "label": self.label,
            "status": self.status,
            "detail": self.detail,
            "evidence": self.evidence,
        }


@dataclass
class Eligibility:
    on: dt.date
    eligible: bool
    conditions: list[Condition]
    blocking: list[Condition] = field(default_factory=list)  # the decisive ones not met

    def as_dict(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "eligible": self.eligible,
            "conditions": [c.as_dict() for c in self.conditions],
            "blocking": [c.code for c in self.blocking],
        }


def _basis_conditions(
    person: Person, on: dt.date, *, via: str = "", prefix: str = ""
) -> list[Condition]:
    facts = person_facts(person=person, on=on)
    out = []
    for code, (kinds, label) in BASIS_KINDS.items():
        found = [f for f in facts if f.kind in kinds and f.covers(on)]
        ended = [f for f in facts if f.kind in kinds and not f.covers(on)]
        if found:
            status, detail = MET, f"有{label}证明"
        elif ended:
            status, detail = UNMET, f"{label}证明已于{ended[-1].end_date}终止"
        else:
            status, detail = MISSING, f"未提供{label}证明"
        evidence = [f.describe() for f in found]
        out.append(Condition(prefix + code, via + label, status, detail, evidence))
    return out


def permit_eligibility(
    *, person: Person, on: dt.date, sponsor: Person | None = None, proxy: Person | None = None
) -> Eligibility:
    """Every condition of 《居住证暂行条例》第二条/第九条 with met / unmet / missing evidence.

    Six months of registered residence, plus at least one of stable employment, stable
    residence, continuous study. A minor, or a dependant living with a family member
    (``sponsor``), may meet the second part through the sponsor's facts (interpretation of
    第二条 for 随迁家属, see docs). Under 16 a guardian or close relative (``proxy``) applies.
    """
    conditions: list[Condition] = []
    active = person.status == PersonStatus.ACTIVE
    conditions.append(
        Condition(
            "person_active",
            "人员状态正常",
            MET if active else UNMET,
            "正常" if active else f"人员状态为{person.get_status_display()}",
        )
    )
    reg = registration_open(person=person)
    same_county = bool(
        reg and person.hukou_region_id and person.hukou_region_id[:6] == reg.region_id[:6]
    )
    conditions.append(
        Condition(
            "away_from_hukou",
            "离开常住户口所在地（跨县级行政区域居住）",
            UNMET if same_county else MET,
            "户籍地与居住地在同一县级行政区域" if same_county else "居住地不在户籍所在县级区域",
        )
    )
    since = residence_continuous_since(person=person, on=on)
    if since is None or reg is None:
        conditions.append(
            Condition("residence_six_months", "居住登记满六个月", MISSING, "无有效居住登记")
        )
    else:
        reached = rules.add_months(since, rules.MIN_RESIDENCE_MONTHS)
        conditions.append(
            Condition(
                "residence_six_months",
                "居住登记满六个月",
                MET if reached <= on else UNMET,
                f"自{since}起连续居住登记，{reached}满六个月",
                [f"居住登记：{reg.address}（{reg.start_date}起）"],
            )
        )
    age = rules.age_on(person.birth_date, on)
    basis = _basis_conditions(person, on)
    own_met = any(c.status == MET for c in basis)
    sponsor_met = False
    if sponsor is not None:
        sponsor_reg = registration_open(person=sponsor)
        together = bool(sponsor_reg and reg and sponsor_reg.address == reg.address)
        conditions.append(
            Condition(
                "lives_with_sponsor",
                "与家庭成员共同居住",
                MET if together else UNMET,
                "居住地址相同" if together else "与所填家庭成员的居住登记地址不同",
            )
        )
        if together:
            sponsor_basis = _basis_conditions(
                sponsor, on, via="共同居住的家庭成员", prefix="sponsor_"
            )
            sponsor_met = any(c.status == MET for c in sponsor_basis)
            basis += [c for c in sponsor_basis if c.status == MET]
    conditions.extend(basis)
    conditions.append(
        Condition(
            "one_basis",
            "合法稳定就业、合法稳定住所、连续就读至少一项",
            MET if own_met or sponsor_met else UNMET,
            "本人符合" if own_met else ("依共同居住的家庭成员符合" if sponsor_met else "均不符合"),
        )
    )
    if age < rules.PROXY_BELOW_AGE:
        conditions.append(
            Condition(
                "proxy",
                "未满16周岁由监护人或近亲属代为申领",
                MET if proxy is not None else MISSING,
                f"申请人{age}周岁" + ("，已填写代办人" if proxy else "，须填写代办人"),
            )
        )
    decisive = {"person_active", "away_from_hukou", "residence_six_months", "one_basis", "proxy"}
    if sponsor is not None and not own_met:
        decisive.add("lives_with_sponsor")
    blocking = [c for c in conditions if c.code in decisive and c.status != MET]
    return Eligibility(on=on, eligible=not blocking, conditions=conditions, blocking=blocking)


# -- queues ------------------------------------------------------------------------------------


def applications_waiting() -> QuerySet[PermitApplication]:
    return PermitApplication.objects.filter(status=ApplicationStatus.SUBMITTED).order_by(
        "submitted_on", "id"
    )


def permits_due_for_endorsement(*, on: dt.date) -> QuerySet[ResidencePermit]:
    """Active permits whose endorsement window is open on ``on`` or which are in grace."""
    return ResidencePermit.objects.filter(
        status=PermitStatus.ACTIVE,
        next_endorsement_due__lte=on + dt.timedelta(days=rules.ENDORSE_WINDOW_DAYS),
    ).order_by("next_endorsement_due", "id")


def permits_to_lapse(*, on: dt.date) -> QuerySet[ResidencePermit]:
    return ResidencePermit.objects.filter(
        status=PermitStatus.ACTIVE,
        next_endorsement_due__lt=on - dt.timedelta(days=rules.GRACE_DAYS),
    ).order_by("id")


def permit_live_for(*, person: Person) -> ResidencePermit | None:
    return (
        ResidencePermit.objects.filter(person=person).exclude(status=PermitStatus.CANCELLED).first()
    )


def permit_valid_for(*, person: Person) -> bool:
    """Holds an active permit (not lapsed, expired or cancelled) today."""
    return ResidencePermit.objects.filter(person=person, status=PermitStatus.ACTIVE).exists()


# -- statistics figures (registered with population.statistics.extra) ----------------------


def permits_issued_in_month(region_code: str, month_end: dt.date) -> int:
    """Permits issued, renewed or reissued in the month ending ``month_end``, in the area."""
    return PermitEvent.objects.filter(
        kind__in=[PermitEventKind.ISSUE, PermitEventKind.RENEW, PermitEventKind.REISSUE],
        on__gte=month_end.replace(day=1),
        on__lte=month_end,
        permit__region__code__startswith=code_prefix(region_code),
    ).count()


def permits_active_at(region_code: str, month_end: dt.date) -> int:
    """Permits in force at the month end: their last status event by then is not an ending."""
    ending = [PermitEventKind.LAPSE, PermitEventKind.EXPIRE, PermitEventKind.CANCEL]
    status_kinds = [
        PermitEventKind.ISSUE,
        PermitEventKind.RENEW,
        PermitEventKind.REISSUE,
        PermitEventKind.ENDORSE,
        PermitEventKind.ENDORSE_LATE,
        *ending,
    ]
    last = (
        PermitEvent.objects.filter(permit=OuterRef("pk"), kind__in=status_kinds, on__lte=month_end)
        .order_by("-on", "-pk")
        .values("kind")[:1]
    )
    return (
        ResidencePermit.objects.filter(region__code__startswith=code_prefix(region_code))
        .annotate(last_kind=Subquery(last))
        .filter(last_kind__isnull=False)
        .exclude(last_kind__in=ending)
        .count()
    )
