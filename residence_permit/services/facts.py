"""Facts about a person that the permit rules read: recorded, retracted, and the pending
applications judged again.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from population.actors import Actor, officer_or_none
from population.clock import today
from population.errors import require
from population.jurisdiction import actor_require_within
from population.models import Person
from population.services import history_context
from residence_permit import selectors
from residence_permit.models import (
    ApplicationStatus,
    PermitApplication,
    PersonFact,
    PersonFactKind,
    PersonFactSource,
)
from residence_permit.services._common import _lock_person

# -- facts ------------------------------------------------------------------------------------


@transaction.atomic
def person_fact_record(
    *,
    person: Person,
    kind: str,
    start_date: dt.date,
    evidence: str,
    actor: Actor,
    end_date: dt.date | None = None,
    quantity=None,
    level: str = "",
    source: str = PersonFactSource.OFFICER,
    source_name: str = "窗口",
) -> PersonFact:
    """Record a fact with its evidence (material name and number); no evidence, no fact."""
    require(kind in PersonFactKind.values, "未知的事实类别", "unknown fact kind", "bad_fact_kind")
    require(
        bool(evidence and evidence.strip()),
        "须提供证明材料（名称及编号）",
        "evidence (document name and number) is required",
        "evidence_required",
    )
    require(source in PersonFactSource.values, "未知的来源", "unknown source", "bad_source")
    require(
        end_date is None or end_date >= start_date,
        "终止日期早于起始日期",
        "the end date is before the start",
        "date_order",
    )
    require(
        quantity is None or quantity >= 0,
        "数量不能为负",
        "quantity must not be negative",
        "bad_quantity",
    )
    person = _lock_person(person, actor=actor)
    with history_context(actor=actor, reason=f"录入{PersonFactKind(kind).label}"):
        fact = PersonFact.objects.create(
            person=person,
            kind=kind,
            start_date=start_date,
            end_date=end_date,
            quantity=quantity,
            level=level.strip(),
            evidence=evidence.strip(),
            source=source,
            source_name=source_name.strip() or "窗口",
            recorded_by=officer_or_none(actor),
        )
        _applications_rejudge(person)
    return fact


def _applications_rejudge(person: Person) -> None:
    """New or retracted evidence: judge again, on today, the waiting applications it bears on
    (the person's own, or where they are the sponsor), so the queue shows the current verdict.
    The verdict recorded at submission stays as it was."""
    waiting = PermitApplication.objects.filter(
        Q(person=person) | Q(sponsor=person), status=ApplicationStatus.SUBMITTED
    ).select_related("person", "sponsor", "proxy")
    for application in waiting:
        application.eligible_now = selectors.permit_eligibility(
            person=application.person,
            on=today(),
            sponsor=application.sponsor,
            proxy=application.proxy,
        ).eligible
        application.save(update_fields=["eligible_now"])


@transaction.atomic
def person_fact_retract(*, fact: PersonFact, actor: Actor, reason: str) -> PersonFact:
    """A wrong or superseded fact stops counting; the row stays, with why."""
    require(
        bool(reason and reason.strip()), "必须填写原因", "a reason is required", "reason_required"
    )
    fact = PersonFact.objects.select_for_update().get(pk=fact.pk)
    actor_require_within(actor, fact)
    require(fact.retracted_at is None, "该事实已撤销", "the fact is already retracted", "retracted")
    with history_context(actor=actor, reason=reason):
        fact.retracted_at = timezone.now()
        fact.retract_reason = reason.strip()
        fact.save(update_fields=["retracted_at", "retract_reason", "changed_at"])
        _applications_rejudge(fact.person)
    return fact
